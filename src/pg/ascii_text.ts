/**
 * Text of byte ranges in decoded messages (ASCII, or UTF-8 checked where it lies), for the
 * decoders' hot paths. Short values are cheapest as slices of the message decoded once; a longer
 * slice is a view in V8 that keeps the whole message alive while its row is in flight, so longer
 * values get characters of their own.
 */

/** Slices up to this length are copies in V8; longer ones are views of the string sliced. */
export const SHORT_STRING = 12;

/**
 * Exact on ASCII and on UTF-8 checked beforehand (utf8.ts), and three times faster than the
 * strict decoder. ignoreBOM: a text that starts with U+FEFF keeps it.
 */
export const lenientUtf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** `bytes[start, end)`, ASCII or well-formed UTF-8, as a string of its own. */
export function asciiCopy(bytes: Uint8Array, start: number, end: number): string {
  return lenientUtf8.decode(bytes.subarray(start, end));
}

/**
 * `bytes[start, end)`, ASCII or UTF-8 already checked to be well-formed, as a string: short ASCII
 * ones char by char (no call out of V8), the rest by the decoder.
 */
export function spanText(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > SHORT_STRING) return asciiCopy(bytes, start, end);
  let text = "";
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b >= 0x80) return asciiCopy(bytes, start, end);
    text += String.fromCharCode(b);
  }
  return text;
}
