/**
 * postgres.js 3.4.9 (the driver the stack is built on) can write to a connection that has just
 * closed, from a `setImmediate` of its own, and throw there, where no caller can catch it
 * (porsager/postgres#1154, #1208; unfixed upstream at this version). Uncaught, that throw ends
 * the process: the engine, or the test runner, when a server restarts under a busy connection.
 * The query it belonged to has already failed with CONNECTION_CLOSED by then (the pool opens a
 * new connection for the next), so that one throw is stopped here and reported; every other
 * uncaught error still ends the process as before.
 */

/** The driver's throw, recognised by its message and by where it comes from. */
export function isDriverWriteAfterClose(error: unknown): boolean {
  if (!(error instanceof TypeError) || error.message !== "Cannot read properties of null (reading 'write')") return false;
  const stack = error.stack ?? "";
  return stack.includes("nextWrite") && /postgres[\\/]src[\\/]connection\.js/.test(stack);
}

/** Stops that throw from ending the process; `onStopped` reports it. Once per process. */
export function guardDriverWriteAfterClose(onStopped: (error: Error) => void): void {
  globalThis.addEventListener("error", (event) => {
    if (!isDriverWriteAfterClose(event.error)) return;
    event.preventDefault();
    onStopped(event.error);
  });
}
