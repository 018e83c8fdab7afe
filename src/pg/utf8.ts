/**
 * UTF-8 checked where it lies, without making a string of it: a value the renderer writes from
 * the message's bytes must be exactly what a strict decoder (TextDecoder, fatal) would accept:
 * no overlong forms, no surrogates, nothing past U+10FFFF, no sequence cut short.
 */

/** Whether `bytes[start, end)` is well-formed UTF-8. */
export function isUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    // The second byte's range depends on the first (Unicode's table of well-formed sequences).
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) low = 0xa0;
      else if (b === 0xed) high = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) low = 0x90;
      else if (b === 0xf4) high = 0x8f;
    } else return false;
    if (i + length > end) return false;
    const second = bytes[i + 1];
    if (second < low || second > high) return false;
    for (let k = 2; k < length; k++) {
      const next = bytes[i + k];
      if (next < 0x80 || next > 0xbf) return false;
    }
    i += length;
  }
  return true;
}
