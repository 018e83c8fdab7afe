/**
 * A plain Uint8Array over the same memory as `bytes`. postgres.js hands over Node Buffers, whose
 * indexOf and subarray are Deno's JavaScript polyfills (indexOf alone was 5% of the engine's CPU
 * in a snapshot); a plain view takes V8's builtins, as the decoders and the row batcher expect.
 */
export function plainView(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
