/** Ends every `switch (msg.type)`: adding a message kind without handling it fails to compile. */
export function assertNever(value: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(value)}`);
}
