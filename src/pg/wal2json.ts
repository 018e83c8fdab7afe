/**
 * wal2json format-version 2 records to change events. Numbers arrive unquoted and are kept as
 * their exact text; every value becomes the text PostgreSQL's input function accepts. Known
 * limit of wal2json 2.5: NaN and ±Infinity in float and numeric columns arrive as null.
 */
import { type ExactJson, JsonNumber } from "../json/exact_json.ts";
import { type ChangeEvent, type ColumnValue, DecodeError, type RowImage } from "../stream/change.ts";
import { MessageRow } from "../stream/message_row.ts";
import { type Lsn, parseLsn } from "./lsn.ts";
import { RecentStrings, scanCompactRecord } from "./wal2json_compact.ts";
import { RecordTemplates } from "./wal2json_template.ts";
import { readTransactionRecord } from "./wal2json_transaction.ts";

/**
 * The plugin options the engine starts wal2json with. `tables: null` streams every table: a
 * partitioned table's changes come under its partitions' names, and a partition created later
 * would not be in any list given now.
 */
export function wal2jsonOptions(
  tables: readonly { schema: string; name: string }[] | null,
  options: { readonly xids?: boolean } = {},
): Record<string, string> {
  // add-tables takes schema.table with `\` escaping of `,` `.` `\` `*` and white space inside names.
  const escape = (s: string) => s.replace(/[\\,.*\s]/g, (c) => `\\${c}`);
  return {
    "format-version": "2",
    "include-transaction": "true",
    "include-lsn": "true",
    "include-timestamp": "true",
    // Every record then carries it, 15-20 bytes each: only for sinks of change events (`source.txid`).
    ...(options.xids ? { "include-xids": "true" } : {}),
    "include-type-oids": "true",
    // Type names are not read (the OIDs say it all), and the walsender would format them for
    // every column of every row.
    "include-types": "false",
    "actions": "insert,update,delete,truncate",
    ...(tables === null ? {} : { "add-tables": tables.map((t) => `${escape(t.schema)}.${escape(t.name)}`).join(",") }),
  };
}

type Record_ = { [key: string]: ExactJson };
// ignoreBOM: what is decoded is the plugin's text, all of it (the default drops a leading U+FEFF).
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function field(record: Record_, key: string): ExactJson {
  if (!(key in record)) throw new DecodeError("wal2json", `record ${JSON.stringify(record.action)} has no "${key}"`);
  return record[key];
}

function str(record: Record_, key: string): string {
  const value = field(record, key);
  if (typeof value !== "string") throw new DecodeError("wal2json", `"${key}" is not a string`);
  return value;
}

function lsn(record: Record_, key: string): Lsn {
  try {
    return parseLsn(str(record, key));
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    throw new DecodeError("wal2json", `"${key}": ${(error as Error).message}`);
  }
}

/**
 * wal2json's "timestamp" is timestamptz output under the session's pinned DateStyle ISO and
 * TimeZone UTC: `2026-11-24 11:00:00.123456+00`. Anything else is no time, not an error: it only
 * feeds the lag gauge and the events' commit time. Read once into the whole seconds (ms since the
 * epoch) and the fraction's digits.
 */
function recordTime(record: Record_): { seconds: number; fraction: string } | null {
  const text = record.timestamp;
  if (typeof text !== "string") return null;
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))?\+00$/.exec(text);
  const seconds = match ? Date.parse(`${match[1]}T${match[2]}Z`) : NaN;
  return Number.isNaN(seconds) ? null : { seconds, fraction: match![3] ?? "" };
}

/** The time in milliseconds, as Date.parse reads it (the fraction's digits past the third dropped). */
function commitTime(record: Record_): number | null {
  const time = recordTime(record);
  return time === null ? null : time.seconds + Number(time.fraction.slice(0, 3).padEnd(3, "0"));
}

/**
 * The same time in microseconds, every digit kept (timestamptz prints at most six); null as
 * above, and outside the years 1685-2255, where a number would lose digits.
 */
function commitMicros(record: Record_): number | null {
  const time = recordTime(record);
  if (time === null || time.fraction.length > 6) return null;
  const micros = time.seconds * 1000 + Number(time.fraction.padEnd(6, "0"));
  return Number.isSafeInteger(micros) ? micros : null;
}

/** A begin record's `xid` (with `include-xids`): 0 without one. */
function xidOf(record: Record_): number {
  if (!("xid" in record)) return 0;
  const xid = record.xid;
  if (typeof xid !== "number" || !Number.isInteger(xid) || xid < 1 || xid > 0xffff_ffff) {
    throw new DecodeError("wal2json", `record "B" has xid ${JSON.stringify(xid)}, not a transaction id`);
  }
  return xid;
}

const BYTEA_OID_NUMBER = 17;

/** A JSON number as the grammar has it: anything else after `"value":` is left for JSON.parse to refuse. */
const BARE_NUMBER_VALUE = /"value":(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?=[,}\s])/g;

function valueText(value: ExactJson, column: string, typeOid: ExactJson | undefined): ColumnValue {
  if (value === null) return null;
  // wal2json prints bytea as bare hex; PostgreSQL's own text form (and input) has a \x prefix.
  if (typeof value === "string") return (typeOid as unknown) === BYTEA_OID_NUMBER ? `\\x${value}` : value;
  if (typeof value === "boolean") return value ? "true" : "false";
  throw new DecodeError("wal2json", `column ${JSON.stringify(column)} has a ${Array.isArray(value) ? "array" : "object"} value`);
}

/**
 * Every row of a table names the same columns: one shared array per column list, as pgoutput's
 * relation cache gives, instead of a fresh array of fresh names per row held while in flight
 * (and the renderer recognises a shared array at once).
 */
const MAX_COLUMN_LISTS = 4_096;

function image(record: Record_, key: string, lists: ColumnLists): RowImage | null {
  if (!(key in record)) return null;
  const list = record[key];
  if (!Array.isArray(list)) throw new DecodeError("wal2json", `"${key}" is not a list`);
  const names: string[] = [];
  const types: number[] = [];
  const values: ColumnValue[] = [];
  for (const entry of list) {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry) || entry instanceof JsonNumber) {
      throw new DecodeError("wal2json", `"${key}" has an entry that is not an object`);
    }
    const name = str(entry, "name");
    names.push(name);
    types.push(typeOid(entry.typeoid, name));
    values.push(valueText(field(entry, "value"), name, entry.typeoid));
  }
  const shared = lists.share(key, record, names, types);
  return { columns: shared.columns, types: shared.types, values };
}

/**
 * One shared array per column list (names and types: a column whose type changed is another
 * list, as after a pgoutput Relation message). A table's rows nearly always repeat its last list,
 * so that is compared first, element by element; only another list costs a key of all its names.
 */
class ColumnLists {
  readonly #byKey = new Map<string, ColumnList>();
  readonly #lastByTable = new Map<string, ColumnList>();
  /**
   * The last lists shared, by the arrays asked with: a record read by its shape's template comes
   * with that template's arrays, the same for every row of the shape, so no key is built for it.
   */
  readonly #recent: { names: readonly string[]; types: readonly number[]; shared: ColumnList }[] = [];
  #nextRecent = 0;

  /** The shared arrays of a row's list; `role`: which list of the record (`columns`, `identity`). */
  share(
    role: string,
    record: { readonly schema?: unknown; readonly table?: unknown },
    names: readonly string[],
    types: readonly number[],
  ): ColumnList {
    for (const recent of this.#recent) {
      if (recent.names === names && recent.types === types) return recent.shared;
    }
    const shared = this.#share(role, record, names, types);
    this.#recent[this.#nextRecent] = { names, types, shared };
    this.#nextRecent = (this.#nextRecent + 1) % RECENT_LISTS;
    return shared;
  }

  #share(
    role: string,
    record: { readonly schema?: unknown; readonly table?: unknown },
    names: readonly string[],
    types: readonly number[],
  ): ColumnList {
    const table = `${role}\u0000${record.schema}\u0000${record.table}`;
    const last = this.#lastByTable.get(table);
    if (last !== undefined && sameList(last, names, types)) return last;
    const listKey = `${names.join("\u0000")}\u0001${types.join(",")}`;
    let shared = this.#byKey.get(listKey);
    if (shared === undefined) {
      if (this.#byKey.size >= MAX_COLUMN_LISTS) this.#byKey.clear();
      this.#byKey.set(listKey, shared = { columns: names, types });
    }
    if (this.#lastByTable.size >= MAX_COLUMN_LISTS) this.#lastByTable.clear();
    this.#lastByTable.set(table, shared);
    return shared;
  }
}

/** Lists remembered by their arrays: a row's two (columns, identity) of two tables taking turns. */
const RECENT_LISTS = 4;

function sameList(list: ColumnList, names: readonly string[], types: readonly number[]): boolean {
  if (list.columns.length !== names.length) return false;
  for (let i = 0; i < names.length; i++) {
    if (list.columns[i] !== names[i] || list.types[i] !== types[i]) return false;
  }
  return true;
}

type ColumnList = { readonly columns: readonly string[]; readonly types: readonly number[] };

function typeOid(value: ExactJson | undefined, column: string): number {
  const oid = value instanceof JsonNumber ? Number(value.text) : value;
  if (typeof oid !== "number" || !Number.isInteger(oid) || oid <= 0 || oid > 0xffffffff) {
    throw new DecodeError("wal2json", `column ${JSON.stringify(column)} has no type OID (include-type-oids)`);
  }
  return oid;
}

export class Wal2jsonDecoder {
  readonly #columnLists = new ColumnLists();
  readonly #recent = new RecentStrings();
  readonly #templates: RecordTemplates | null;

  readonly #compact: boolean;

  /**
   * `compact: false` reads every record the general way, `templates: false` every record whole
   * on the compact path (tests compare the paths).
   */
  constructor(options: { compact?: boolean; templates?: boolean } = {}) {
    this.#compact = options.compact ?? true;
    this.#templates = options.templates === false ? null : new RecordTemplates();
  }

  decode(payload: Uint8Array): ChangeEvent | null {
    const transaction = this.#compact ? readTransactionRecord(payload) : null;
    if (transaction !== null) {
      const { commitLsn, endLsn, commitTime, commitMicros, xid } = transaction;
      return transaction.action === "B"
        ? { kind: "begin", commitLsn, xid: xid ?? 0, commitMicros }
        : { kind: "commit", commitLsn, endLsn, commitTime };
    }
    const compact = this.#compact ? scanCompactRecord(payload, this.#recent, this.#templates) : null;
    // A column list where a scalar should be is the general path's to name.
    if (compact !== null && !Object.hasOwn(compact.fields, "columns") && !Object.hasOwn(compact.fields, "identity")) {
      const { fields, lists } = compact;
      return this.#event(fields as Record_, (key) => {
        const list = Object.hasOwn(lists, key) ? lists[key] : undefined;
        if (list === undefined) return null;
        const shared = this.#columnLists.share(key, fields, list.names, list.types);
        return new MessageRow(shared.columns, shared.types, payload, list.spans, list.values);
      });
    }
    let record: ExactJson;
    try {
      // Column values that are bare numbers become strings before parsing, so JSON.parse keeps
      // every digit and needs no reviver. The pattern cannot match inside a JSON string: there a
      // quote is always escaped, so `value":` never appears with a bare quote after `value`.
      record = JSON.parse(textDecoder.decode(payload).replace(BARE_NUMBER_VALUE, '"value":"$1"'));
    } catch (error) {
      throw new DecodeError("wal2json", `not a JSON record: ${(error as Error).message}`);
    }
    if (record === null || typeof record !== "object" || Array.isArray(record) || record instanceof JsonNumber) {
      throw new DecodeError("wal2json", "record is not a JSON object");
    }
    const parsed = record;
    return this.#event(parsed, (key) => image(parsed, key, this.#columnLists));
  }

  /** The change event of a record; `image` reads one of its column lists (`columns`, `identity`). */
  #event(record: Record_, image: (key: string) => RowImage | null): ChangeEvent | null {
    switch (str(record, "action")) {
      case "B": {
        // wal2json's B and C both carry the commit LSN ("lsn") and the end of the commit record
        // ("nextlsn"): a begin needs only the first, but one without both is not wal2json's.
        const commitLsn = lsn(record, "lsn");
        lsn(record, "nextlsn");
        return { kind: "begin", commitLsn, xid: xidOf(record), commitMicros: commitMicros(record) };
      }
      case "C":
        return { kind: "commit", commitLsn: lsn(record, "lsn"), endLsn: lsn(record, "nextlsn"), commitTime: commitTime(record) };
      case "I":
        return {
          kind: "row",
          op: "insert",
          schema: str(record, "schema"),
          table: str(record, "table"),
          new: image("columns"),
          old: null,
        };
      case "U":
        return {
          kind: "row",
          op: "update",
          schema: str(record, "schema"),
          table: str(record, "table"),
          new: image("columns"),
          old: image("identity"),
        };
      case "D":
        return {
          kind: "row",
          op: "delete",
          schema: str(record, "schema"),
          table: str(record, "table"),
          new: null,
          old: image("identity"),
        };
      case "T":
        return { kind: "truncate", tables: [{ schema: str(record, "schema"), table: str(record, "table") }] };
      case "M":
        return null;
      default:
        throw new DecodeError("wal2json", `unknown action ${JSON.stringify(record.action)}`);
    }
  }
}
