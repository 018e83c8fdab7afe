/**
 * Streamed rows rendered by PostgreSQL itself (DESIGN 4b, option 2): the plugins deliver each
 * column's text output, and `jsonb_populate_record(NULL::table, ...)` followed by `to_jsonb`
 * turns them into exactly what the snapshot's `to_jsonb(row)` renders, for every type, with the
 * `_id` computed by the same SQL expression the snapshot uses. One round trip per table per
 * segment; no value is parsed in JavaScript.
 */
import type { PgType, TableDescription } from "../pg/catalog.ts";
import { type QualifiedName, quoteIdent, quoteQualified } from "../pg/identifier.ts";
import type { Lsn } from "../pg/lsn.ts";
import type { Sql } from "../pg/session.ts";
import { idExpression } from "../pg/snapshot_query.ts";
import { documentId, rowHashId } from "../sinks/elasticsearch/document_id.ts";
import { type ColumnValue, DecodeError, type RawTuple, type RowImage, type RowOp, UNCHANGED, valueAt } from "./change.ts";
import { DocWriter } from "./doc_writer.ts";
import { type Converter, converterFor, jsonbKeyOrder } from "./to_jsonb.ts";
import { type ByteConverter, byteConverterFor, room } from "./to_jsonb_bytes.ts";
import { type TypeStamp, typeStampQuery, typesWatched, TypeWatch } from "./type_watch.ts";

export interface RowChange {
  readonly op: RowOp;
  readonly new: RowImage | null;
  readonly old: RowImage | null;
  /** The commit LSN of the change's transaction: its version. */
  readonly version: Lsn;
  /**
   * Where its transaction's first change was logged (the Begin message's position): whether its
   * composite values read under the attributes their types have now (see type_watch.ts).
   */
  readonly begunAt?: Lsn;
}

/**
 * A change whose image has no value for the key the renderer was made with: the table's key
 * changed since it was described (the plugins then send the new key's columns as the old image).
 */
export class KeylessChange extends Error {
  constructor(table: string, key: readonly string[]) {
    super(`a change of ${table} carries no value for its key (${key.join(", ")})`);
    this.name = "KeylessChange";
  }
}

export interface BulkItem {
  readonly action: "index" | "delete";
  /** `_id` as a JSON string literal, ready for the action line. */
  readonly id: string;
  readonly version: Lsn;
  /** The document for `index`: its to_jsonb text, or that text's UTF-8 bytes. */
  readonly doc: string | Uint8Array | null;
  /** The kind of change it comes from (a key change: an update that makes a delete and an index). */
  readonly op?: RowOp;
}

const TYPES_CHANGED = "the attributes of a composite type the table has changed";

/** What an element sent to PostgreSQL becomes. */
interface PlannedItem {
  readonly action: "index" | "delete";
  readonly version: Lsn;
  readonly op: RowOp;
  readonly begunAt: Lsn | undefined;
}

/** Rows rendered as they are now, their values being ones the catalog no longer takes (see `#renderElements`). */
export interface StaleValues {
  readonly table: QualifiedName;
  readonly rows: number;
  /** PostgreSQL's error for the last of them. */
  readonly reason: string;
}

interface RenderedRow {
  readonly n: number;
  readonly id: string | null;
  readonly doc: string | null;
  /** Set (true) only by the rendering as the row is now: the row is no longer in the table. */
  readonly gone?: boolean;
}

/**
 * A value the types as they are now do not take: a data exception (class 22: a composite's text
 * with other attributes, an enum label renamed since) or a domain's constraint (23502, 23514).
 */
function isStaleValue(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && (code.startsWith("22") || code === "23502" || code === "23514");
}

function isJson(type: PgType): boolean {
  return type.kind === "scalar" && (type.name === "json" || type.name === "jsonb");
}

/** Whether column i of `a` and column j of `b` are both text left in their messages, byte for byte the same. */
function sameSpans(a: RawTuple | undefined, i: number, b: RawTuple | undefined, j: number): boolean {
  if (a === undefined || b === undefined || i < 0 || j < 0) return false;
  const start = a.spans[2 * i];
  const length = a.spans[2 * i + 1] - start;
  const from = b.spans[2 * j];
  if (start < 0 || from < 0 || b.spans[2 * j + 1] - from !== length) return false;
  const x = a.bytes;
  const y = b.bytes;
  for (let k = 0; k < length; k++) if (x[start + k] !== y[from + k]) return false;
  return true;
}

/** What rendering in TypeScript needs: converters per column, jsonb's key order, the key. */
interface FastPath {
  readonly converters: readonly Converter[];
  /** The same conversions from bytes, for values still in their pgoutput message. */
  readonly byteConverters: readonly ByteConverter[];
  /** Per entry of `order`: `"name": `, after `, ` for all but the first, as UTF-8. */
  readonly keyBytes: readonly Uint8Array[];
  /** Column indexes in jsonb key order, with their JSON-quoted names. */
  readonly order: readonly { readonly index: number; readonly key: string }[];
  /** Column indexes of the key; null for a keyless REPLICA IDENTITY FULL table. */
  readonly key: readonly number[] | null;
  readonly keyIsBool: boolean;
}

/**
 * Renders changes of one table. Rows whose every value has a TypeScript converter and arrived
 * whole are rendered here, byte for byte as to_jsonb would; the rest (unchanged TOAST values,
 * json or composite columns, a row shape that no longer matches the table) go to PostgreSQL in
 * one query per batch.
 */
export class TableRenderer {
  readonly #table: TableDescription;
  readonly #query: string;
  readonly #jsonColumns: Set<string>;
  readonly #columns: readonly string[];
  readonly #key: readonly string[] | null;
  readonly #fast: FastPath | null;
  /** Per decoder column array: whether that shape (names and types, in order) is this table's. */
  readonly #shapes = new WeakMap<readonly string[], boolean>();
  #lastShape: readonly string[] | null = null;
  /** Bytes per document written lately, to size the next render's chunk. */
  #docBytes = 512;

  /**
   * Elements rendered from their key alone: a delete as it was; an index as its row is now (a
   * later version of the row, which the changes after it write over in turn), or, the row being
   * gone by now, as a delete at its version (the delete that removed it comes later in the stream).
   */
  readonly #asNowQuery: string;
  readonly #onStale: ((stale: StaleValues) => void) | undefined;
  readonly #onTypesSeen: ((seen: TypeStamp) => Promise<void>) | undefined;
  /** The attributes of the table's composite types, watched (null: nothing to watch, see `typesWatched`). */
  readonly #watch: TypeWatch | null;
  readonly #stampQuery: string;
  readonly #stampedQuery: string;

  /**
   * `typescript: false` sends every row to PostgreSQL (tests compare the two paths byte for byte);
   * `onStale` hears of rows rendered as they are now because their values no longer parse;
   * `onTypesSeen` of each new stamp of the table's composite types (to record, see type_watch.ts).
   */
  constructor(
    table: TableDescription,
    options: {
      typescript?: boolean;
      onStale?: (stale: StaleValues) => void;
      onTypesSeen?: (seen: TypeStamp) => Promise<void>;
    } = {},
  ) {
    this.#table = table;
    this.#onStale = options.onStale;
    this.#onTypesSeen = options.onTypesSeen;
    this.#columns = table.columns.map((c) => c.name);
    this.#jsonColumns = new Set(table.columns.filter((c) => isJson(c.type)).map((c) => c.name));
    this.#key = table.key.columns;
    this.#fast = options.typescript === false ? null : fastPath(table);
    const name = quoteQualified(table.name);
    const keyMatch = this.#key === null
      ? "false"
      : `(${this.#key.map((c) => `cur.${quoteIdent(c)}`).join(", ")}) = (${
        this.#key.map((c) => `t.${quoteIdent(c)}`).join(", ")
      })`;
    const fromValues = `SELECT e.n::int AS n, (${idExpression(table, "t", "to_jsonb(t.*)::text")}) AS id,
      CASE WHEN e.v ? 'd' THEN NULL
           WHEN e.v ? 'u' THEN (to_jsonb(t.*) || COALESCE((
             SELECT jsonb_object_agg(k.k, to_jsonb(cur.*) -> k.k)
             FROM ${name} cur, jsonb_array_elements_text(e.v -> 'u') AS k(k) WHERE ${keyMatch}), '{}'::jsonb))::text
           ELSE to_jsonb(t.*)::text END AS doc
      -- $1 is text: as a jsonb parameter, postgres.js would serialise the string once more.
      FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS e(v, n)
      CROSS JOIN LATERAL jsonb_populate_record(NULL::${name}, e.v -> 'r') AS t`;
    this.#query = `${fromValues} ORDER BY e.n`;
    // Only the key's values are read ($2: its columns), into k; the rest is the row as it is now (cur).
    // A keyless table has no row to read again: its elements are never rendered so.
    const key = this.#key ?? [];
    const byKey = `(${key.map((c) => `cur.${quoteIdent(c)}`).join(", ")}) = (${key.map((c) => `k.${quoteIdent(c)}`).join(", ")})`;
    this.#asNowQuery = key.length === 0 ? "" : `SELECT e.n::int AS n, (${idExpression(table, "k", "NULL")}) AS id,
      CASE WHEN e.v ? 'd' THEN NULL ELSE to_jsonb(cur.*)::text END AS doc,
      NOT (e.v ? 'd') AND cur.${quoteIdent(key[0])} IS NULL AS gone
      FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS e(v, n)
      CROSS JOIN LATERAL jsonb_populate_record(NULL::${name},
        (SELECT jsonb_object_agg(f.key, f.value) FROM jsonb_each(e.v -> 'r') f WHERE f.key = ANY($2::text[]))) AS k
      LEFT JOIN ${name} cur ON NOT (e.v ? 'd') AND ${byKey}
      ORDER BY e.n`;
    this.#watch = typesWatched(table) ? new TypeWatch() : null;
    this.#stampQuery = this.#watch === null ? "" : typeStampQuery(table.oid);
    this.#stampedQuery = this.#watch === null ? "" : `WITH stamp AS MATERIALIZED (${this.#stampQuery})
      SELECT r.*, stamp.stamp, stamp.at FROM (${fromValues}) r CROSS JOIN stamp ORDER BY r.n`;
  }

  /** A row image as the JSON object jsonb_populate_record reads; unchanged TOAST values are left out. */
  #row(image: RowImage): string {
    const parts: string[] = [];
    for (let i = 0; i < image.columns.length; i++) {
      const column = image.columns[i];
      const value = image.values[i];
      if (value === UNCHANGED) continue;
      const text = value === null ? "null" : this.#jsonColumns.has(column) ? value : JSON.stringify(value);
      parts.push(`${JSON.stringify(column)}:${text}`);
    }
    return `{${parts.join(",")}}`;
  }

  #keyChanged(change: RowChange): boolean {
    if (!change.old || !change.new) return false;
    if (this.#key === null) return true;
    for (const column of this.#key) {
      const i = change.old.columns.indexOf(column);
      const j = change.new.columns.indexOf(column);
      // Both still in their messages (wal2json's identity beside its columns): the same bytes are the same text.
      if (sameSpans(change.old.raw, i, change.new.raw, j)) continue;
      if (valueAt(change.old, i) !== valueAt(change.new, j)) return true;
    }
    return false;
  }

  /** The records sent to PostgreSQL (one JSON object each), and which item each becomes. */
  elements(changes: readonly RowChange[]): { elements: string[]; items: PlannedItem[] } {
    const elements: string[] = [];
    const items: PlannedItem[] = [];
    for (const change of changes) {
      if (change.op === "delete" || (change.op === "update" && this.#keyChanged(change))) {
        if (!change.old) throw new DecodeError("stream", `${change.op} on ${this.#table.name.name} carries no old key`);
        elements.push(`{"d":1,"r":${this.#row(change.old)}}`);
        items.push({ action: "delete", version: change.version, op: change.op, begunAt: change.begunAt });
      }
      if (change.op === "delete") continue;
      if (!change.new) throw new DecodeError("stream", `${change.op} on ${this.#table.name.name} carries no new row`);
      // Unchanged TOAST values: take them from the old row image when it has them (REPLICA
      // IDENTITY FULL); otherwise PostgreSQL reads the current value while rendering.
      const present = new Set(change.new.columns);
      const unchanged = this.#columns.filter((c, _) =>
        !present.has(c) || change.new!.values[change.new!.columns.indexOf(c)] === UNCHANGED
      );
      let fill: Map<string, ColumnValue> | null = null;
      const missing: string[] = [];
      for (const column of unchanged) {
        const at = change.old?.columns.indexOf(column) ?? -1;
        const value = at >= 0 ? change.old!.values[at] : UNCHANGED;
        if (value !== UNCHANGED && this.#table.replicaIdentity === "full") {
          fill ??= new Map();
          fill.set(column, value);
        } else missing.push(column);
      }
      const image = fill ? this.#withFill(change.new, fill) : change.new;
      elements.push(`{${missing.length > 0 ? `"u":${JSON.stringify(missing)},` : ""}"r":${this.#row(image)}}`);
      items.push({ action: "index", version: change.version, op: change.op, begunAt: change.begunAt });
    }
    return { elements, items };
  }

  #withFill(image: RowImage, fill: Map<string, ColumnValue>): RowImage {
    const columns = [...image.columns];
    const types = [...image.types];
    const values = [...image.values];
    for (const [column, value] of fill) {
      const at = columns.indexOf(column);
      if (at >= 0) values[at] = value;
      else {
        columns.push(column);
        types.push(this.#table.columns.find((c) => c.name === column)?.typeOid ?? 0);
        values.push(value);
      }
    }
    return { columns, types, values };
  }

  /** The table as it was described when this renderer was made. */
  get table(): TableDescription {
    return this.#table;
  }

  /**
   * Whether the image has this description's columns, names and types in order. After a schema
   * change it does not: the renderer is then stale (the router describes the table again), and
   * in any case its TypeScript converters no longer apply.
   */
  describes(image: RowImage): boolean {
    if (image.columns === this.#lastShape) return true;
    let known = this.#shapes.get(image.columns);
    if (known === undefined) {
      const { columns } = this.#table;
      known = image.columns.length === columns.length &&
        columns.every((c, i) => image.columns[i] === c.name && image.types[i] === c.typeOid);
      // Decoders share one columns array per shape (names and types): the answer holds for every image with it.
      this.#shapes.set(image.columns, known);
    }
    if (known) this.#lastShape = image.columns;
    return known;
  }

  /**
   * Whether an old image is the old row, every column with its value (REPLICA IDENTITY FULL):
   * not pgoutput's old key, not wal2json's identity of the key's columns, no unchanged TOAST
   * value left out. Only such an image is rendered as a change event's `before`.
   */
  wholeRow(image: RowImage): boolean {
    if (image.keyOnly || !this.describes(image)) return false;
    const raw = image.raw;
    for (let i = 0; i < image.columns.length; i++) {
      if (raw && raw.spans[2 * i] >= 0) continue;
      if (valueAt(image, i) === UNCHANGED) return false;
    }
    return true;
  }

  /**
   * Appends the items of one change rendered in TypeScript to `items`; false (nothing appended)
   * when PostgreSQL must render it. Documents of pgoutput rows are written as bytes by `out`.
   */
  #renderFast(change: RowChange, out: DocWriter, items: BulkItem[]): boolean {
    const fast = this.#fast;
    if (!fast) return false;
    let deleted: BulkItem | null = null;
    if (change.op === "delete" || (change.op === "update" && this.#keyChanged(change))) {
      if (!change.old) return false;
      const id = this.#fastId(fast, change.old, null, out);
      if (id === null) return false;
      deleted = { action: "delete", id, version: change.version, doc: null, op: change.op };
    }
    if (change.op !== "delete") {
      if (!change.new) return false;
      const doc = this.#fastDoc(fast, change.new, out);
      if (doc === null) return false;
      const id = this.#fastId(fast, change.new, doc, out);
      if (id === null) return false;
      if (deleted) items.push(deleted);
      items.push({ action: "index", id, version: change.version, doc, op: change.op });
    } else items.push(deleted!);
    return true;
  }

  #fastDoc(fast: FastPath, image: RowImage, out: DocWriter): string | Uint8Array | null {
    if (!this.describes(image)) return null;
    if (image.raw) return this.#bytesDoc(fast, image.raw, out);
    const parts: string[] = new Array(fast.order.length);
    for (let i = 0; i < fast.order.length; i++) {
      const { index, key } = fast.order[i];
      const value = image.values[index];
      if (value === UNCHANGED) return null;
      parts[i] = `${key}: ${value === null ? "null" : fast.converters[index](value)}`;
    }
    return `{${parts.join(", ")}}`;
  }

  /**
   * The document of a row left in its message: each value by its byte converter, or by its
   * string converter where that declines (and for a value decoded already).
   */
  #bytesDoc(fast: FastPath, raw: RawTuple, out: DocWriter): Uint8Array | null {
    const { bytes, spans } = raw;
    out.begin();
    out.ensure(1);
    out.byte(0x7b); // {
    for (let i = 0; i < fast.order.length; i++) {
      const index = fast.order[i].index;
      const key = fast.keyBytes[i];
      const start = spans[2 * index];
      if (start >= 0) {
        const end = spans[2 * index + 1];
        out.ensure(key.length + room(end - start));
        out.bytes(key);
        const mark = out.pos;
        if (fast.byteConverters[index](bytes, start, end, out)) continue;
        out.pos = mark;
        out.text(fast.converters[index](raw.value(index) as string));
        continue;
      }
      const value = raw.value(index);
      if (value === UNCHANGED) {
        out.abort();
        return null;
      }
      out.ensure(key.length + 4);
      out.bytes(key);
      if (value === null) out.text("null");
      else out.text(fast.converters[index](value));
    }
    out.ensure(1);
    out.byte(0x7d); // }
    return out.end();
  }

  /** `_id` (as a JSON literal) from an image; `doc` is the row's rendering when already known. */
  #fastId(fast: FastPath, image: RowImage, doc: string | Uint8Array | null, out: DocWriter): string | null {
    if (fast.key === null) {
      const whole = doc ?? this.#fastDoc(fast, image, out);
      return whole === null ? null : JSON.stringify(rowHashId(whole));
    }
    if (!this.describes(image)) return null;
    if (fast.key.length === 1) {
      const value = valueAt(image, fast.key[0]);
      if (value === null || value === UNCHANGED || value === undefined) return null;
      // bool::text is 'true'/'false', while its output function (what the WAL carries) prints 't'/'f'.
      const text = fast.keyIsBool ? (value === "t" ? "true" : value === "f" ? "false" : value) : value;
      return JSON.stringify(documentId(text));
    }
    const values = fast.key.map((index) => valueAt(image, index));
    if (values.some((v) => v === null || v === UNCHANGED || v === undefined)) return null;
    const text = `[${values.map((v, i) => fast.converters[fast.key![i]](v as string)).join(", ")}]`;
    return JSON.stringify(documentId(text));
  }

  /**
   * The changes' items, in order. `befores`: the changes are old rows for change events' `before`,
   * which must be as they were: one that cannot be read as it was gets no document (null) rather
   * than the row as it is now.
   */
  async render(sql: Sql, changes: readonly RowChange[], options: { befores?: boolean } = {}): Promise<BulkItem[]> {
    if (changes.length === 0) return [];
    const out = new DocWriter(changes.length * this.#docBytes);
    const items: BulkItem[] = [];
    /** Changes PostgreSQL renders, and where in `items` theirs go. */
    const slow: { change: RowChange; at: number }[] = [];
    for (const change of changes) {
      if (!this.#renderFast(change, out, items)) slow.push({ change, at: items.length });
    }
    if (items.length > 0) this.#docBytes = Math.ceil(out.pos / items.length) + 16;
    if (slow.length === 0) return items;

    const { elements, items: planned } = this.elements(slow.map((s) => s.change));
    const rows = await this.#renderElements(sql, elements, planned, options.befores === true);
    if (rows.length !== planned.length) {
      throw new DecodeError("stream", `rendering ${planned.length} rows of ${this.#table.name.name} returned ${rows.length}`);
    }
    // Rendered items go back in their changes' places (a change makes one or two).
    const merged: BulkItem[] = [];
    let fastNext = 0;
    let next = 0;
    for (const { change, at } of slow) {
      while (fastNext < at) merged.push(items[fastNext++]);
      const count = this.itemCount(change);
      for (let j = 0; j < count; j++, next++) {
        // An index whose row is gone by now (see #asNowQuery) deletes its document at its version.
        merged.push({
          action: planned[next].action === "index" && rows[next].gone ? "delete" : planned[next].action,
          id: rows[next].id ?? this.#keyless(),
          version: planned[next].version,
          doc: rows[next].gone ? null : rows[next].doc,
          op: planned[next].op,
        });
      }
    }
    if (next !== planned.length) throw new DecodeError("stream", `rendering ${this.#table.name.name} lost track of its items`);
    while (fastNext < items.length) merged.push(items[fastNext++]);
    return merged;
  }

  /**
   * The rendering of each element, in order, from its values where they read as they were
   * logged, else as its row is now (see #asNowQuery):
   * - a change of a table whose composite types may have had other attributes where it was
   *   logged (see type_watch.ts);
   * - a value the catalog as it is now no longer takes: a composite's text with more or fewer
   *   attributes, a domain's constraint added since. It fails the whole batch's query, and every
   *   attempt after it: the stream stopped for good on "malformed record literal". Such a batch
   *   is rendered element by element, the elements that fail as their rows are now.
   */
  async #renderElements(
    sql: Sql,
    elements: readonly string[],
    planned: readonly PlannedItem[],
    befores: boolean,
  ): Promise<RenderedRow[]> {
    const watch = this.#watch;
    if (watch !== null && !watch.seen) await this.#observe(sql);
    const rows = new Array<RenderedRow>(elements.length);
    const typed: number[] = [];
    const asNow: number[] = [];
    for (let i = 0; i < elements.length; i++) (watch === null || watch.current(planned[i].begunAt) ? typed : asNow).push(i);
    // Set in typesChanged too, which TypeScript does not follow: hence the cast.
    let said = null as StaleValues | null;
    const typesChanged = (from = 0) => {
      said = { table: this.#table.name, rows: typed.length - from, reason: TYPES_CHANGED };
      asNow.push(...typed.slice(from));
    };
    if (typed.length > 0) {
      let whole: RenderedRow[] | null = null;
      let failed = false;
      try {
        whole = await this.#fromValues(sql, typed.map((i) => elements[i]));
        if (whole === null) typesChanged();
      } catch (error) {
        if (!isStaleValue(error) || this.#key === null) throw error;
        failed = true;
      }
      if (whole !== null) typed.forEach((i, j) => rows[i] = whole![j]);
      else if (failed && watch !== null && await this.#observe(sql)) typesChanged();
      else if (failed) {
        let stale = 0;
        let reason = "";
        for (let k = 0; k < typed.length; k++) {
          const i = typed[k];
          try {
            const one = await this.#fromValues(sql, [elements[i]]);
            if (one === null) {
              // The types changed meanwhile: what is left may have been logged under other attributes.
              typesChanged(k);
              break;
            }
            rows[i] = one[0];
          } catch (error) {
            if (!isStaleValue(error)) throw error;
            stale++;
            reason = (error as Error).message;
            asNow.push(i);
          }
        }
        if (stale > 0) said = { table: this.#table.name, rows: stale + (said?.rows ?? 0), reason };
      }
    }
    if (asNow.length > 0) {
      const now = await sql.unsafe<RenderedRow[]>(this.#asNowQuery, [`[${asNow.map((i) => elements[i]).join(",")}]`, this.#key!]);
      asNow.forEach((i, j) => rows[i] = befores ? { ...now[j], doc: null, gone: false } : now[j]);
    }
    if (said !== null) this.#onStale?.(said);
    return rows;
  }

  /**
   * Elements rendered from their values. For a watched table, with the stamp of its types read in
   * the same statement: null if that differs from the one seen before (the rows are not to be
   * trusted, see type_watch.ts).
   */
  async #fromValues(sql: Sql, elements: readonly string[]): Promise<RenderedRow[] | null> {
    const json = `[${elements.join(",")}]`;
    if (this.#watch === null) return await sql.unsafe<RenderedRow[]>(this.#query, [json]);
    const rows = await sql.unsafe<(RenderedRow & { stamp: string; at: string })[]>(this.#stampedQuery, [json]);
    return await this.#saw(rows[0]) ? null : rows;
  }

  /** `TypeWatch.saw`, and a new stamp told to `onTypesSeen`. */
  async #saw({ stamp, at }: { stamp: string; at: string }): Promise<boolean> {
    if (!this.#watch!.saw(stamp, at)) return false;
    await this.#onTypesSeen?.(this.#watch!.last!);
    return true;
  }

  /**
   * Reads the stamp of the table's composite types now, if it has any and none was read yet:
   * changes whose transactions begin from here on, or from `recorded`'s position if the stamp is
   * still the one recorded, are rendered from their values (see type_watch.ts). Otherwise the
   * first rendering reads it, and renders what began before as the rows are now.
   */
  async watchTypes(sql: Sql, recorded?: TypeStamp): Promise<void> {
    if (this.#watch === null || this.#watch.seen) return;
    if (recorded) this.#watch.restore(recorded);
    await this.#observe(sql);
  }

  /** Reads the stamp of the table's types; true if it changed since the one seen before (or is the first). */
  async #observe(sql: Sql): Promise<boolean> {
    const [row] = await sql.unsafe<{ stamp: string; at: string }[]>(this.#stampQuery);
    return await this.#saw(row);
  }

  #keyless(): never {
    throw new KeylessChange(this.#table.name.name, this.#key ?? []);
  }

  /** How many items `elements` makes of a change (a delete and/or an index). */
  itemCount(change: RowChange): number {
    return change.op === "delete" ? 1 : (change.op === "update" && this.#keyChanged(change) ? 2 : 1);
  }

  /** For tests: whether a change would be rendered in TypeScript. */
  rendersInTypeScript(change: RowChange): boolean {
    return this.#renderFast(change, new DocWriter(), []);
  }
}

function fastPath(table: TableDescription): FastPath | null {
  const converters: Converter[] = [];
  for (const column of table.columns) {
    const converter = converterFor(column.type);
    if (converter === null) return null;
    converters.push(converter);
  }
  const byteConverters = table.columns.map((c) => byteConverterFor(c.type));
  if (byteConverters.some((c) => c === null)) return null;
  const names = table.columns.map((c) => c.name);
  const order = names.map((name, index) => ({ index, key: JSON.stringify(name), name }))
    .sort((a, b) => jsonbKeyOrder(a.name, b.name))
    .map(({ index, key }) => ({ index, key }));
  const utf8 = new TextEncoder();
  const keyBytes = order.map(({ key }, i) => utf8.encode(`${i === 0 ? "" : ", "}${key}: `));
  const key = table.key.columns === null ? null : table.key.columns.map((c) => names.indexOf(c));
  if (key?.some((i) => i < 0)) return null;
  const keyType = key?.length === 1 ? table.columns[key[0]].type : null;
  return {
    converters,
    byteConverters: byteConverters as ByteConverter[],
    keyBytes,
    order,
    key,
    keyIsBool: keyType?.kind === "scalar" && keyType.name === "bool",
  };
}
