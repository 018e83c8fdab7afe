/**
 * The fast path of the wal2json decoder: a record exactly as wal2json writes it (compact JSON,
 * flat fields, column lists of `{"name","type","typeoid","value"}` objects) is read in one pass
 * over its bytes, straight into column arrays, without decoding the whole text, rewriting its
 * numbers and building an object per column first (that cost about 15 us per one-row
 * transaction). Anything else (white space, escapes in keys, a duplicate or nested field, a
 * number or type OID in an unusual form, invalid UTF-8) is not read here: the caller then takes
 * the general path, which accepts or refuses it with its specific error. A differential test
 * holds the two paths to the same results.
 */
import type { ColumnValue } from "../stream/change.ts";
import { asciiCopy, lenientUtf8, SHORT_STRING } from "./ascii_text.ts";

/** A top-level field: everything wal2json puts there is a string, a number or a literal. */
export type CompactScalar = string | number | boolean | null;

export interface CompactColumns {
  readonly names: string[];
  readonly types: number[];
  readonly values: ColumnValue[];
}

export interface CompactRecord {
  readonly fields: { [key: string]: CompactScalar };
  /** `columns` and `identity`, already read into arrays. */
  readonly lists: { [key: string]: CompactColumns };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;
const BYTEA_OID = 17;

/** Thrown inside the scanner when the record is not in the compact form; never leaves this module. */
const NOT_COMPACT = Symbol("not compact");

/** The record read the fast way, or null when it must take the general path. */
export function scanCompactRecord(bytes: Uint8Array): CompactRecord | null {
  try {
    return new Scanner(bytes).record();
  } catch (error) {
    if (error === NOT_COMPACT) return null;
    throw error;
  }
}

class Scanner {
  #pos = 0;
  /** The whole record decoded at its first plain string: exact for every offset before the first non-ASCII byte. */
  #chars: string | null = null;
  /** Whether a byte of 0x80 or more was seen (only strings may hold one). */
  #sawHigh = false;

  constructor(readonly bytes: Uint8Array) {}

  record(): CompactRecord {
    const fields: { [key: string]: CompactScalar } = {};
    const lists: { [key: string]: CompactColumns } = {};
    this.#expect(OPEN_OBJECT);
    if (this.bytes[this.#pos] !== CLOSE_OBJECT) {
      for (;;) {
        const key = this.#string();
        this.#expect(COLON);
        // (A "__proto__" key would set the prototype of a plain object, not a field: the general path's.)
        if (key === "__proto__" || Object.hasOwn(fields, key) || Object.hasOwn(lists, key)) throw NOT_COMPACT;
        if (this.bytes[this.#pos] === OPEN_LIST) lists[key] = this.#columns();
        else fields[key] = this.#scalar();
        if (this.bytes[this.#pos] !== COMMA) break;
        this.#pos++;
      }
    }
    this.#expect(CLOSE_OBJECT);
    if (this.#pos !== this.bytes.length) throw NOT_COMPACT;
    return { fields, lists };
  }

  #expect(byte: number): void {
    if (this.bytes[this.#pos] !== byte) throw NOT_COMPACT;
    this.#pos++;
  }

  /** `[{"name":...,"type":...,"typeoid":...,"value":...},...]`, each key once, in any order. */
  #columns(): CompactColumns {
    const names: string[] = [];
    const types: number[] = [];
    const values: ColumnValue[] = [];
    this.#expect(OPEN_LIST);
    if (this.bytes[this.#pos] === CLOSE_LIST) {
      this.#pos++;
      return { names, types, values };
    }
    for (;;) {
      this.#expect(OPEN_OBJECT);
      let name: string | undefined;
      let typeOid: number | undefined;
      let value: ColumnValue | undefined;
      let type = false;
      for (;;) {
        const key = this.#string();
        this.#expect(COLON);
        if (key === "name" && name === undefined) name = this.#string();
        else if (key === "type" && !type) {
          this.#string();
          type = true;
        } else if (key === "typeoid" && typeOid === undefined) typeOid = this.#typeOid();
        else if (key === "value" && value === undefined) value = this.#value();
        else throw NOT_COMPACT;
        if (this.bytes[this.#pos] !== COMMA) break;
        this.#pos++;
      }
      this.#expect(CLOSE_OBJECT);
      if (name === undefined || typeOid === undefined || value === undefined) throw NOT_COMPACT;
      names.push(name);
      types.push(typeOid);
      // wal2json prints bytea as bare hex; PostgreSQL's own text form (and input) has a \x prefix.
      // (As the general path does: strings and numbers get it, true and false do not.)
      values.push(typeOid === BYTEA_OID && typeof value === "string" && !this.#literalValue ? `\\x${value}` : value);
      if (this.bytes[this.#pos] !== COMMA) break;
      this.#pos++;
    }
    this.#expect(CLOSE_LIST);
    return { names, types, values };
  }

  /** Whether the last column value was `true` or `false`. */
  #literalValue = false;

  /** A column value as PostgreSQL's text: strings as they are, numbers as written, booleans spelled out. */
  #value(): ColumnValue {
    const c = this.bytes[this.#pos];
    this.#literalValue = false;
    if (c === QUOTE) return this.#string(true);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.#number(true);
    if (this.#word("null")) return null;
    this.#literalValue = true;
    if (this.#word("true")) return "true";
    if (this.#word("false")) return "false";
    throw NOT_COMPACT;
  }

  #scalar(): CompactScalar {
    const c = this.bytes[this.#pos];
    if (c === QUOTE) return this.#string();
    // Top-level numbers (xid) are read as JSON.parse reads them: the decoder never needs their digits.
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return Number(this.#number());
    if (this.#word("null")) return null;
    if (this.#word("true")) return true;
    if (this.#word("false")) return false;
    throw NOT_COMPACT;
  }

  #word(word: string): boolean {
    const bytes = this.bytes;
    for (let i = 0; i < word.length; i++) if (bytes[this.#pos + i] !== word.charCodeAt(i)) return false;
    this.#pos += word.length;
    return true;
  }

  /** A positive type OID written as plain digits, at most 0xffffffff. */
  #typeOid(): number {
    const bytes = this.bytes;
    const start = this.#pos;
    if (bytes[start] < 0x31 || bytes[start] > 0x39) throw NOT_COMPACT;
    let oid = 0;
    let pos = start;
    while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 && pos - start < 10) {
      oid = oid * 10 + bytes[pos] - 0x30;
      pos++;
    }
    const next = bytes[pos];
    if (oid > 0xffffffff || next === 0x2e || next === 0x65 || next === 0x45 || (next >= 0x30 && next <= 0x39)) {
      throw NOT_COMPACT;
    }
    this.#pos = pos;
    return oid;
  }

  /** `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as its text; `owned`: see #ascii. */
  #number(owned = false): string {
    const bytes = this.bytes;
    const start = this.#pos;
    let pos = start;
    const digits = () => {
      const from = pos;
      while (pos < bytes.length && bytes[pos] >= 0x30 && bytes[pos] <= 0x39) pos++;
      return pos - from;
    };
    if (bytes[pos] === 0x2d) pos++;
    if (bytes[pos] === 0x30) pos++;
    else if (digits() === 0) throw NOT_COMPACT;
    if (bytes[pos] === 0x2e) {
      pos++;
      if (digits() === 0) throw NOT_COMPACT;
    }
    if (bytes[pos] === 0x65 || bytes[pos] === 0x45) {
      pos++;
      if (bytes[pos] === 0x2b || bytes[pos] === 0x2d) pos++;
      if (digits() === 0) throw NOT_COMPACT;
    }
    // What may follow a value in a compact record; anything else is for the general path to judge.
    const next = bytes[pos];
    if (next !== COMMA && next !== CLOSE_OBJECT && next !== CLOSE_LIST) throw NOT_COMPACT;
    this.#pos = pos;
    return this.#ascii(start, pos, owned);
  }

  /** A string; plain ASCII is sliced, escapes and other characters go through the strict decoders. `owned`: see #ascii. */
  #string(owned = false): string {
    const bytes = this.bytes;
    const start = this.#pos;
    if (bytes[start] !== QUOTE) throw NOT_COMPACT;
    let pos = start + 1;
    let plain = true;
    for (;;) {
      if (pos >= bytes.length) throw NOT_COMPACT;
      const c = bytes[pos];
      if (c === QUOTE) break;
      if (c === 0x5c) {
        plain = false;
        pos += 2;
        continue;
      }
      if (c >= 0x80) {
        plain = false;
        this.#sawHigh = true;
      } else if (c < 0x20) plain = false;
      pos++;
    }
    this.#pos = pos + 1;
    if (plain) return this.#ascii(start + 1, pos, owned);
    try {
      return JSON.parse(utf8.decode(bytes.subarray(start, pos + 1)));
    } catch {
      throw NOT_COMPACT;
    }
  }

  /**
   * `bytes[start, end)`, all ASCII. Everything before `end` has been scanned: while no non-ASCII
   * byte came, the record decoded as a whole has the same offsets there (what follows does not matter).
   * `owned`: a value held until its row is indexed gets characters of its own, because V8 keeps a
   * longer slice as a view of the whole record (measured: 1,850 instead of 830 bytes held per row).
   */
  #ascii(start: number, end: number, owned = false): string {
    if (this.#sawHigh || (owned && end - start > SHORT_STRING)) return asciiCopy(this.bytes, start, end);
    this.#chars ??= lenientUtf8.decode(this.bytes);
    return this.#chars.slice(start, end);
  }
}
