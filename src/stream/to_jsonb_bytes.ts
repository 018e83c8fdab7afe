/**
 * The converters of to_jsonb.ts, from bytes to bytes, for values left in their message as text
 * (well-formed UTF-8, checked at decode): the document is written straight from the message,
 * with no string made of either. Each handles the shapes PostgreSQL's output functions print for nearly every value and
 * declines (returns false, having written nothing that counts) anything else: an exponent, an
 * infinity, a quoted array element, text that is not the type's at all. The caller then takes
 * the string converter, which renders it or says what is wrong, so both paths give the same
 * bytes by construction where this one answers (to_jsonb_bytes_test.ts holds them to it).
 */
import type { PgType } from "../pg/catalog.ts";
import type { DocWriter } from "./doc_writer.ts";
import { converterOf, type Rendering } from "./to_jsonb.ts";

/**
 * Writes the to_jsonb text of the value `bytes[start, end)` (well-formed UTF-8); false when the string
 * converter must render it. Writes at most 6 bytes per byte of the value plus 8 (see `room`).
 */
export type ByteConverter = (bytes: Uint8Array, start: number, end: number, out: DocWriter) => boolean;

/** Room a ByteConverter may need for a value of `length` bytes: a control character escapes to 6. */
export const room = (length: number) => 6 * length + 8;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const COLON = 0x3a;
const SPACE = 0x20;
const ZERO = 0x30;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const TRUE = new TextEncoder().encode("true");
const FALSE = new TextEncoder().encode("false");
const NULL = new TextEncoder().encode("null");
const HEX = new TextEncoder().encode("0123456789abcdef");

/** Digits after an optional minus, then optionally a point and more digits: where it ends, or -1. */
function decimalEnd(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  if (bytes[i] === MINUS) i++;
  const digits = i;
  while (i < end && isDigit(bytes[i])) i++;
  if (i === digits) return -1;
  if (i < end && bytes[i] === DOT) {
    const fraction = ++i;
    while (i < end && isDigit(bytes[i])) i++;
    if (i === fraction) return -1;
  }
  return i;
}

/** int2, int4, int8, oid, numeric: their text is the JSON number. */
const numeric: ByteConverter = (bytes, start, end, out) => {
  if (end === start || decimalEnd(bytes, start, end) !== end) return false;
  out.copy(bytes, start, end);
  return true;
};

/**
 * float4, float8 without an exponent: the same digits, as numeric prints them. Negative zero and
 * a leading zero (which numeric drops) are left to the string converter.
 */
const float: ByteConverter = (bytes, start, end, out) => {
  if (end === start || decimalEnd(bytes, start, end) !== end) return false;
  const whole = bytes[start] === MINUS ? start + 1 : start;
  if (bytes[whole] === ZERO && whole + 1 < end && isDigit(bytes[whole + 1])) return false;
  if (whole > start) {
    let nonZero = false;
    for (let i = whole; i < end && !nonZero; i++) nonZero = bytes[i] > ZERO && bytes[i] <= 0x39;
    if (!nonZero) return false;
  }
  out.copy(bytes, start, end);
  return true;
};

/** `t`, `f` (boolout), and `true`, `false` (wal2json's literals). */
const bool: ByteConverter = (bytes, start, end, out) => {
  const length = end - start;
  if (bytes[start] === 0x74 && (length === 1 || (length === 4 && spells(bytes, start, TRUE)))) out.bytes(TRUE);
  else if (bytes[start] === 0x66 && (length === 1 || (length === 5 && spells(bytes, start, FALSE)))) out.bytes(FALSE);
  else return false;
  return true;
};

function spells(bytes: Uint8Array, start: number, word: Uint8Array): boolean {
  for (let i = 0; i < word.length; i++) if (bytes[start + i] !== word[i]) return false;
  return true;
}

/**
 * A JSON string of the text, escaped as JSON.stringify and PostgreSQL's escape_json both do;
 * bytes beyond ASCII as they are (both leave such characters alone, and UTF-8 has no lone surrogate).
 */
const str: ByteConverter = (bytes, start, end, out) => {
  const buf = out.buf;
  let at = out.pos;
  buf[at++] = QUOTE;
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b >= SPACE && b !== QUOTE && b !== BACKSLASH) {
      buf[at++] = b;
      continue;
    }
    buf[at++] = BACKSLASH;
    if (b === QUOTE || b === BACKSLASH) buf[at++] = b;
    else if (b === 0x08) buf[at++] = 0x62; // \b
    else if (b === 0x0c) buf[at++] = 0x66; // \f
    else if (b === 0x0a) buf[at++] = 0x6e; // \n
    else if (b === 0x0d) buf[at++] = 0x72; // \r
    else if (b === 0x09) buf[at++] = 0x74; // \t
    else {
      buf[at++] = 0x75; // \u00XX
      buf[at++] = ZERO;
      buf[at++] = ZERO;
      buf[at++] = HEX[b >> 4];
      buf[at++] = HEX[b & 15];
    }
  }
  buf[at++] = QUOTE;
  out.pos = at;
  return true;
};

/** Only characters a JSON string carries as they are, so a quoted copy needs no escaping. */
function plain(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b < SPACE || b === QUOTE || b === BACKSLASH) return false;
  }
  return true;
}

function firstSpace(bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (bytes[i] === SPACE) return i;
  return -1;
}

/** The opening quote and `bytes[start, end)` with the space at `space` made a `T`; the closing quote is the caller's. */
function isoOpen(bytes: Uint8Array, start: number, space: number, end: number, out: DocWriter): void {
  out.byte(QUOTE);
  out.copy(bytes, start, space);
  out.byte(0x54); // T
  out.copy(bytes, space + 1, end);
}

/** "2024-02-29 05:11:12.5" -> "2024-02-29T05:11:12.5"; infinities are the string converter's. */
const timestamp: ByteConverter = (bytes, start, end, out) => {
  const space = firstSpace(bytes, start, end);
  if (space === -1 || !plain(bytes, start, end)) return false;
  isoOpen(bytes, start, space, end, out);
  out.byte(QUOTE);
  return true;
};

const isSign = (b: number) => b === PLUS || b === MINUS;
const twoDigits = (bytes: Uint8Array, at: number) => isDigit(bytes[at]) && isDigit(bytes[at + 1]);

/**
 * As timestamp, and an hour-only offset gains its minutes ("+00" -> "+00:00"). Only offsets at
 * the very end, after a digit (no " BC"), are taken here.
 */
const timestamptz: ByteConverter = (bytes, start, end, out) => {
  const length = end - start;
  let hourOnly: boolean;
  let sign: number;
  if (length >= 4 && isSign(bytes[end - 3]) && twoDigits(bytes, end - 2)) {
    sign = end - 3;
    hourOnly = true;
  } else if (
    length >= 7 && isSign(bytes[end - 6]) && twoDigits(bytes, end - 5) && bytes[end - 3] === COLON && twoDigits(bytes, end - 2)
  ) {
    sign = end - 6;
    hourOnly = false;
  } else if (
    length >= 10 && isSign(bytes[end - 9]) && twoDigits(bytes, end - 8) && bytes[end - 6] === COLON &&
    twoDigits(bytes, end - 5) && bytes[end - 3] === COLON && twoDigits(bytes, end - 2)
  ) {
    sign = end - 9;
    hourOnly = false;
  } else return false;
  if (!isDigit(bytes[sign - 1])) return false;
  const space = firstSpace(bytes, start, sign);
  if (space === -1 || !plain(bytes, start, end)) return false;
  isoOpen(bytes, start, space, end, out);
  if (hourOnly) {
    out.byte(COLON);
    out.byte(ZERO);
    out.byte(ZERO);
  }
  out.byte(QUOTE);
  return true;
};

/** jsonb's text output is what to_jsonb embeds. */
const jsonb: ByteConverter = (bytes, start, end, out) => {
  out.copy(bytes, start, end);
  return true;
};

/**
 * A one-dimensional array with default bounds and no element quoted (the common shape; see
 * to_jsonb.ts's flatArrayToJson), each element by the element's converter.
 */
function flatArray(element: ByteConverter): ByteConverter {
  return (bytes, start, end, out) => {
    const last = end - 1;
    if (end - start < 2 || bytes[start] !== 0x7b || bytes[last] !== 0x7d) return false;
    const mark = out.pos;
    out.byte(0x5b); // [
    let from = start + 1;
    if (from < last) {
      for (let i = from;; i++) {
        const b = i < last ? bytes[i] : 0x2c;
        if (b === 0x7b || b === 0x7d || b === QUOTE || b === BACKSLASH) {
          out.pos = mark;
          return false;
        }
        if (b !== 0x2c) continue;
        if (i === from || !(isNull(bytes, from, i) ? (out.bytes(NULL), true) : element(bytes, from, i, out))) {
          out.pos = mark;
          return false;
        }
        if (i >= last) break;
        out.byte(0x2c);
        out.byte(SPACE);
        from = i + 1;
      }
    }
    out.byte(0x5d); // ]
    return true;
  };
}

const isNull = (bytes: Uint8Array, start: number, end: number) =>
  end - start === 4 && bytes[start] === 0x4e && bytes[start + 1] === 0x55 && bytes[start + 2] === 0x4c &&
  bytes[start + 3] === 0x4c;

const BYTE_CONVERTERS: Record<Rendering, ByteConverter> = { bool, numeric, float, str, timestamp, timestamptz, jsonb };

/** The byte converter of a type whose string converter (to_jsonb.ts) exists; null: strings only. */
export function byteConverterFor(type: PgType): ByteConverter | null {
  return converterOf(type, BYTE_CONVERTERS, flatArray);
}
