/**
 * Text of ASCII byte ranges in decoded messages, for the decoders' hot paths. Short values are
 * cheapest as slices of the message decoded once; a longer slice is a view in V8 that keeps the
 * whole message alive while its row is in flight, so longer values get characters of their own.
 */

/** Slices up to this length are copies in V8; longer ones are views of the string sliced. */
export const SHORT_STRING = 12;

/** Exact on ASCII, and three times faster than the strict decoder: only ever given ASCII that matters. */
export const lenientUtf8 = new TextDecoder("utf-8");

/** `bytes[start, end)`, all ASCII, as a string of its own. */
export function asciiCopy(bytes: Uint8Array, start: number, end: number): string {
  return lenientUtf8.decode(bytes.subarray(start, end));
}

/** `bytes[start, end)`, all ASCII, as a string: short ones char by char (no call out of V8), longer by the decoder. */
export function asciiText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > SHORT_STRING) return asciiCopy(bytes, start, end);
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
  return text;
}
