/**
 * The fast path of the wal2json decoder: a record exactly as wal2json writes it (compact JSON,
 * flat fields, column lists of `{"name","typeoid","value"}` objects, and `"type"` if asked for)
 * is read in one pass over its bytes, straight into column arrays, without decoding the whole
 * text, rewriting its numbers and building an object per column first (that cost about 15 us per
 * one-row transaction). Values whose text stands in the record as it is stay there as spans, for
 * the renderer to read as bytes (MessageRow). Anything else (white space, escapes in keys, a
 * duplicate or nested field, a number or type OID in an unusual form, invalid UTF-8) is not read
 * here: the caller then takes the general path, which accepts or refuses it with its specific
 * error. A differential test holds the two paths to the same results.
 */
import type { ColumnValue } from "../stream/change.ts";
import { asciiCopy, lenientUtf8, SHORT_STRING, spanText } from "./ascii_text.ts";
import { isUtf8 } from "./utf8.ts";
import {
  HASH_START,
  hashBytes,
  holdsLiteral,
  literalLength,
  makeTemplate,
  type RecordTemplate,
  type RecordTemplates,
  type TokenBounds,
} from "./wal2json_template.ts";

/** A top-level field: everything wal2json puts there is a string, a number or a literal. */
export type CompactScalar = string | number | boolean | null;

export interface CompactColumns {
  readonly names: string[];
  readonly types: number[];
  /** undefined: the value is the text (well-formed UTF-8) at `spans[2i]`..`spans[2i + 1]` of the record (see MessageRow). */
  readonly values: (ColumnValue | undefined)[];
  readonly spans: number[];
}

export interface CompactRecord {
  /** Top-level fields; of a row read by its shape's template only action, schema and table (see readAs). */
  readonly fields: { readonly [key: string]: CompactScalar };
  /** `columns` and `identity`, already read into arrays. */
  readonly lists: { [key: string]: CompactColumns };
}

// ignoreBOM: what is decoded is the plugin's text, all of it (the default drops a leading U+FEFF).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;
const BYTEA_OID = 17;
/** Records up to this long are decoded whole for their strings (see #ascii). */
const WHOLE_RECORD_BYTES = 256;

/** Thrown inside the scanner when the record is not in the compact form; never leaves this module. */
const NOT_COMPACT = Symbol("not compact");

/**
 * Strings of the previous records, by where they stood (a table's schema and name, its column
 * names by position): a record that repeats one (nearly every record) takes it again instead of
 * a new copy of the same text.
 */
export class RecentStrings {
  readonly #byPlace = new Map<number, { readonly bytes: Uint8Array; readonly text: string }>();

  /**
   * The string whose quoted bytes are at `at`, if it is the one last seen at `place`. Only plain
   * ASCII is remembered, so it spans its length and its quotes.
   */
  match(place: number, bytes: Uint8Array, at: number): string | null {
    const recent = this.#byPlace.get(place);
    if (recent === undefined) return null;
    const want = recent.bytes;
    if (bytes[at] !== QUOTE || at + want.length + 1 >= bytes.length || bytes[at + want.length + 1] !== QUOTE) return null;
    for (let i = 0; i < want.length; i++) if (bytes[at + 1 + i] !== want[i]) return null;
    return recent.text;
  }

  remember(place: number, bytes: Uint8Array, text: string): void {
    this.#byPlace.set(place, { bytes, text });
  }
}

/** Places of RecentStrings: schema, table, then the column names of each list. */
const SCHEMA_PLACE = -1;
const TABLE_PLACE = -2;
const COLUMNS_PLACE = 0;
const IDENTITY_PLACE = 100_000;

/** The keys wal2json writes, as the constant strings (already internalised) and their quoted bytes. */
const KEYS = [
  "action",
  "schema",
  "table",
  "columns",
  "identity",
  "name",
  "type",
  "typeoid",
  "value",
  "lsn",
  "nextlsn",
  "timestamp",
  "xid",
  "transactional",
  "prefix",
  "content",
].map((text) => ({ text, bytes: new TextEncoder().encode(`"${text}"`) }));

/** Top-level fields whose text is part of a row record's template (see wal2json_template.ts), not a value of it. */
const TEMPLATE_CONSTANTS = ["action", "schema", "table"];
const ROW_ACTIONS = ["I", "U", "D"];
const ROW_ACTION_BYTES = ROW_ACTIONS.map((action) => action.charCodeAt(0));

/**
 * The record read the fast way, or null when it must take the general path. With `templates`, a
 * row record is first read as one of the shapes seen last, and one read whole leaves its shape.
 */
export function scanCompactRecord(
  bytes: Uint8Array,
  recent = new RecentStrings(),
  templates: RecordTemplates | null = null,
): CompactRecord | null {
  try {
    if (templates === null) return new Scanner(bytes, recent).record();
    const last = templates.last;
    if (last !== null) {
      const read = new Scanner(bytes, recent).readAs(last);
      if (read !== null) return read;
    }
    const key = new Scanner(bytes, recent).tableKey();
    if (key === null) return new Scanner(bytes, recent).record();
    const known = templates.get(key);
    if (known !== undefined && known !== last) {
      const read = new Scanner(bytes, recent).readAs(known);
      if (read !== null) {
        templates.last = known;
        return read;
      }
    }
    const scanner = new Scanner(bytes, recent, true);
    const record = scanner.record();
    const template = scanner.template(record);
    if (template !== null) templates.remember(key, template);
    return record;
  } catch (error) {
    if (error === NOT_COMPACT) return null;
    throw error;
  }
}

/** Appends a column's value (see CompactColumns) as #value read it. */
function pushColumn(
  list: { values: (ColumnValue | undefined)[]; spans: number[] },
  bytes: Uint8Array,
  typeOid: number,
  value: ColumnValue | undefined,
  start: number,
  end: number,
  literal: boolean,
): void {
  // wal2json prints bytea as bare hex; PostgreSQL's own text form (and input) has a \x prefix.
  // (As the general path does: strings and numbers get it, true and false do not.)
  if (typeOid === BYTEA_OID && !literal && value !== null) {
    list.values.push(`\\x${value === undefined ? asciiCopy(bytes, start, end) : value as string}`);
    list.spans.push(-1, -1);
  } else {
    list.values.push(value);
    list.spans.push(start, end);
  }
}

class Scanner {
  #pos = 0;
  /** The whole record decoded at its first plain string: exact for every offset before the first non-ASCII byte. */
  #chars: string | null = null;
  /** Whether a byte of 0x80 or more was seen (only strings may hold one). */
  #sawHigh = false;

  /** Where each value was, when the record's template is to be made. */
  readonly #bounds: TokenBounds[] | null;

  constructor(readonly bytes: Uint8Array, readonly recent: RecentStrings, collect = false) {
    this.#bounds = collect ? [] : null;
  }

  /**
   * The record, if it has `template`'s shape: the template's bytes where it has them, column
   * values between them read as the whole record's are. null: another shape. Its fields are the
   * template's constants (action, schema, table): the others (a row's timestamp and lsn, which
   * no change event carries) are checked to be what a whole read accepts, but no string is made
   * of them (that cost a decode of the whole record per row, for its timestamp).
   */
  readAs(template: RecordTemplate): CompactRecord | null {
    const bytes = this.bytes;
    // Another action (a transaction's begin or commit between rows) differs in the first bytes: nothing made for it.
    if (!holdsLiteral(bytes, 0, template, 0)) return null;
    // The offsets #ascii may take from the record decoded whole hold only before a byte beyond ASCII.
    this.#sawHigh = template.highBytes;
    const lists: { [key: string]: CompactColumns } = {};
    for (const list of template.lists) {
      lists[list.key] = { names: list.names as string[], types: list.types as number[], values: [], spans: [] };
    }
    const { tokens } = template;
    let pos = 0;
    for (let i = 0; i < tokens.length; i++) {
      if (!holdsLiteral(bytes, pos, template, i)) return null;
      this.#pos = pos + literalLength(template, i);
      const token = tokens[i];
      if (token.field !== undefined) this.#checkScalar();
      else {
        const list = lists[token.list];
        const value = this.#value();
        const left = value === undefined;
        pushColumn(
          list,
          bytes,
          list.types[token.column],
          value,
          left ? this.#spanStart : -1,
          left ? this.#spanEnd : -1,
          this.#literalValue,
        );
      }
      pos = this.#pos;
    }
    const end = tokens.length;
    if (!holdsLiteral(bytes, pos, template, end) || pos + literalLength(template, end) !== bytes.length) return null;
    return { fields: template.constants, lists };
  }

  /**
   * A hash of a row record's action, schema and table, read from its first fields, or null when
   * it is no row record or names its table after a column list. Nothing is made of the record.
   */
  tableKey(): number | null {
    try {
      return this.#tableKey();
    } catch (error) {
      // Not for this to judge: the record is read whole next.
      if (error === NOT_COMPACT) return null;
      throw error;
    }
  }

  #tableKey(): number | null {
    const bytes = this.bytes;
    this.#expect(OPEN_OBJECT);
    let hash = HASH_START;
    let found = 0;
    for (;;) {
      const at = this.#pos;
      const key = this.#key();
      this.#expect(COLON);
      if (bytes[this.#pos] === OPEN_LIST) return null;
      const start = this.#pos;
      this.#skipScalar();
      if (key === "action" || key === "schema" || key === "table") {
        if (key === "action" && !(this.#pos - start === 3 && ROW_ACTION_BYTES.includes(bytes[start + 1]))) return null;
        hash = hashBytes(hashBytes(hash, bytes, at, start), bytes, start, this.#pos);
        if (++found === 3) return hash;
      }
      if (bytes[this.#pos] !== COMMA) return null;
      this.#pos++;
    }
  }

  /** The template of the row record just read whole, or null for any other record. */
  template(record: CompactRecord): RecordTemplate | null {
    if (this.#bounds === null || !ROW_ACTIONS.includes(record.fields.action as string)) return null;
    const constants: { [key: string]: string } = {};
    for (const key of TEMPLATE_CONSTANTS) {
      const value = record.fields[key];
      if (typeof value === "string") constants[key] = value;
    }
    const lists = Object.entries(record.lists).map(([key, list]) => ({ key, names: list.names, types: list.types }));
    return makeTemplate(this.bytes, this.#bounds, constants, lists);
  }

  record(): CompactRecord {
    const fields: { [key: string]: CompactScalar } = {};
    const lists: { [key: string]: CompactColumns } = {};
    this.#expect(OPEN_OBJECT);
    if (this.bytes[this.#pos] !== CLOSE_OBJECT) {
      for (;;) {
        const key = this.#key();
        this.#expect(COLON);
        // (A "__proto__" key would set the prototype of a plain object, not a field: the general path's.)
        if (key === "__proto__" || Object.hasOwn(fields, key) || Object.hasOwn(lists, key)) throw NOT_COMPACT;
        if (this.bytes[this.#pos] === OPEN_LIST) {
          lists[key] = this.#columns(key, key === "identity" ? IDENTITY_PLACE : COLUMNS_PLACE);
        } else if (key === "schema" || key === "table") {
          fields[key] = this.#recentString(key === "schema" ? SCHEMA_PLACE : TABLE_PLACE);
        } else {
          const start = this.#pos;
          fields[key] = this.#scalar();
          if (!TEMPLATE_CONSTANTS.includes(key)) this.#bounds?.push({ token: { field: key }, start, end: this.#pos });
        }
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

  /**
   * `[{"name":...,"typeoid":...,"value":...},...]` (a `"type"` is skipped), each key once, in
   * any order. A value whose text is in the record as it is (a string without escapes, a number,
   * true or false) is left there: only its span is taken.
   */
  #columns(listKey: string, place: number): CompactColumns {
    const names: string[] = [];
    const types: number[] = [];
    const list = { values: [] as (ColumnValue | undefined)[], spans: [] as number[] };
    const { values, spans } = list;
    this.#expect(OPEN_LIST);
    if (this.bytes[this.#pos] === CLOSE_LIST) {
      this.#pos++;
      return { names, types, values, spans };
    }
    for (;;) {
      this.#expect(OPEN_OBJECT);
      let name: string | undefined;
      let typeOid: number | undefined;
      let value: ColumnValue | undefined;
      let hasValue = false;
      let start = -1;
      let end = -1;
      let literal = false;
      let type = false;
      for (;;) {
        const key = this.#key();
        this.#expect(COLON);
        if (key === "name" && name === undefined) name = this.#recentString(place + names.length);
        else if (key === "type" && !type) {
          this.#skipString();
          type = true;
        } else if (key === "typeoid" && typeOid === undefined) typeOid = this.#typeOid();
        else if (key === "value" && !hasValue) {
          const at = this.#pos;
          value = this.#value();
          hasValue = true;
          literal = this.#literalValue;
          if (value === undefined) [start, end] = [this.#spanStart, this.#spanEnd];
          this.#bounds?.push({ token: { list: listKey, column: names.length }, start: at, end: this.#pos });
        } else throw NOT_COMPACT;
        if (this.bytes[this.#pos] !== COMMA) break;
        this.#pos++;
      }
      this.#expect(CLOSE_OBJECT);
      if (name === undefined || typeOid === undefined || !hasValue) throw NOT_COMPACT;
      names.push(name);
      types.push(typeOid);
      pushColumn(list, this.bytes, typeOid, value, start, end, literal);
      if (this.bytes[this.#pos] !== COMMA) break;
      this.#pos++;
    }
    this.#expect(CLOSE_LIST);
    return { names, types, values, spans };
  }

  /** Whether the last column value was `true` or `false`. */
  #literalValue = false;
  /** Where the last column value's text is, when #value left it in the record. */
  #spanStart = -1;
  #spanEnd = -1;

  /**
   * A column value as PostgreSQL's text: strings as they are, numbers as written, booleans
   * spelled out. undefined: that text is `bytes[#spanStart, #spanEnd)`, well-formed UTF-8.
   */
  #value(): ColumnValue | undefined {
    const bytes = this.bytes;
    const c = bytes[this.#pos];
    this.#literalValue = false;
    if (c === QUOTE) {
      const start = this.#pos + 1;
      let pos = start;
      let high = false;
      while (pos < bytes.length) {
        const b = bytes[pos];
        if (b === QUOTE || b === 0x5c || b < 0x20) break;
        if (b >= 0x80) high = true;
        pos++;
      }
      // Escapes, and UTF-8 that is not well-formed (the strict decoder there refuses it), are #string's.
      if (bytes[pos] !== QUOTE || (high && !isUtf8(bytes, start, pos))) return this.#string(true);
      if (high) this.#sawHigh = true;
      this.#pos = pos + 1;
      this.#spanStart = start;
      this.#spanEnd = pos;
      return undefined;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      this.#spanStart = this.#pos;
      this.#spanEnd = this.#numberEnd();
      this.#pos = this.#spanEnd;
      return undefined;
    }
    if (this.#word("null")) return null;
    this.#literalValue = true;
    this.#spanStart = this.#pos;
    if (this.#word("true") || this.#word("false")) {
      this.#spanEnd = this.#pos;
      return undefined;
    }
    throw NOT_COMPACT;
  }

  /** A key: one of wal2json's as its constant string, any other as read. */
  #key(): string {
    const bytes = this.bytes;
    const at = this.#pos;
    const second = bytes[at + 1];
    if (bytes[at] !== QUOTE) throw NOT_COMPACT;
    for (const key of KEYS) {
      const want = key.bytes;
      if (want[1] !== second) continue;
      let i = 2;
      while (i < want.length && bytes[at + i] === want[i]) i++;
      if (i === want.length) {
        this.#pos = at + i;
        return key.text;
      }
    }
    return this.#string();
  }

  /** A string that is often the same as the previous record's at `place` (RecentStrings). */
  #recentString(place: number): string {
    const known = this.recent.match(place, this.bytes, this.#pos);
    if (known !== null) {
      this.#pos += known.length + 2;
      return known;
    }
    const start = this.#pos;
    const text = this.#string(true);
    // Only plain ASCII (its bytes are its characters, one each) is worth matching again.
    if (this.#pos - start - 2 === text.length) {
      this.recent.remember(place, this.bytes.slice(start + 1, this.#pos - 1), text);
    }
    return text;
  }

  /** A string whose text is not needed: plain ones are only scanned past, others read (and so checked). */
  #skipString(): void {
    const bytes = this.bytes;
    if (bytes[this.#pos] !== QUOTE) throw NOT_COMPACT;
    let pos = this.#pos + 1;
    while (pos < bytes.length) {
      const b = bytes[pos];
      if (b === QUOTE) {
        this.#pos = pos + 1;
        return;
      }
      if (b === 0x5c || b < 0x20 || b >= 0x80) break;
      pos++;
    }
    this.#string();
  }

  /**
   * Past a top-level field's value that #scalar would read, making no string of a plain one
   * (#skipString reads, and so checks, one with an escape, a control character or a byte beyond ASCII).
   */
  #checkScalar(): void {
    if (this.bytes[this.#pos] === QUOTE) this.#skipString();
    else this.#skipScalar();
  }

  /** Past a top-level field's value, as #scalar would read it but making nothing (its string is checked when read). */
  #skipScalar(): void {
    const bytes = this.bytes;
    const c = bytes[this.#pos];
    if (c === QUOTE) {
      let pos = this.#pos + 1;
      for (;;) {
        if (pos >= bytes.length) throw NOT_COMPACT;
        const b = bytes[pos];
        if (b === QUOTE) break;
        if (b >= 0x80) this.#sawHigh = true;
        pos += b === 0x5c ? 2 : 1;
      }
      this.#pos = pos + 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) this.#pos = this.#numberEnd();
    else if (!this.#word("null") && !this.#word("true") && !this.#word("false")) throw NOT_COMPACT;
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

  /** `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as its text. */
  #number(): string {
    const start = this.#pos;
    this.#pos = this.#numberEnd();
    return this.#ascii(start, this.#pos);
  }

  /** Where the number at the current position ends (followed by what may follow a value in a compact record). */
  #numberEnd(): number {
    const bytes = this.bytes;
    let pos = this.#pos;
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
    return pos;
  }

  /** A string; plain ASCII is sliced, escapes and other characters go through the strict decoders. `owned`: see #ascii. */
  #string(owned = false): string {
    const bytes = this.bytes;
    const start = this.#pos;
    if (bytes[start] !== QUOTE) throw NOT_COMPACT;
    let pos = start + 1;
    let plain = true;
    let high = false;
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
        high = true;
      } else if (c < 0x20) plain = false;
      pos++;
    }
    this.#pos = pos + 1;
    if (high) this.#sawHigh = true;
    if (plain) return this.#ascii(start + 1, pos, owned);
    try {
      // ASCII (escapes and all) is well-formed UTF-8: only other bytes need the strict decoder's check.
      return JSON.parse((high ? utf8 : lenientUtf8).decode(bytes.subarray(start, pos + 1)));
    } catch {
      throw NOT_COMPACT;
    }
  }

  /**
   * `bytes[start, end)`, all ASCII. Everything before `end` has been scanned: while no non-ASCII
   * byte came, the record decoded as a whole has the same offsets there (what follows does not
   * matter). A short record (begin, commit) is decoded whole once and sliced. A longer one (a
   * row's) has few strings outside its spans and may hold text beyond ASCII, which makes decoding
   * it whole several times slower: its short strings are made char by char.
   * `owned`: a value held until its row is indexed gets characters of its own, because V8 keeps a
   * longer slice as a view of the whole record (measured: 1,850 instead of 830 bytes held per row).
   */
  #ascii(start: number, end: number, owned = false): string {
    const short = end - start <= SHORT_STRING;
    if (short && (this.#sawHigh || (this.#chars === null && this.bytes.length > WHOLE_RECORD_BYTES))) {
      return spanText(this.bytes, start, end);
    }
    if (this.#sawHigh || (owned && !short)) return asciiCopy(this.bytes, start, end);
    this.#chars ??= lenientUtf8.decode(this.bytes);
    return this.#chars.slice(start, end);
  }
}
