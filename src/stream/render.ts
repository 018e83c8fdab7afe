/**
 * Streamed rows rendered by PostgreSQL itself (DESIGN 4b, option 2): the plugins deliver each
 * column's text output, and `jsonb_populate_record(NULL::table, ...)` followed by `to_jsonb`
 * turns them into exactly what the snapshot's `to_jsonb(row)` renders, for every type, with the
 * `_id` computed by the same SQL expression the snapshot uses. One round trip per table per
 * segment; no value is parsed in JavaScript.
 */
import type { PgType, TableDescription } from "../pg/catalog.ts";
import { quoteIdent, quoteQualified } from "../pg/identifier.ts";
import type { Lsn } from "../pg/lsn.ts";
import type { Sql } from "../pg/session.ts";
import { idExpression } from "../pg/snapshot_query.ts";
import { documentId, rowHashId } from "../sinks/elasticsearch/document_id.ts";
import { type ColumnValue, DecodeError, type RowImage, type RowOp, UNCHANGED } from "./change.ts";
import { type Converter, converterFor, jsonbKeyOrder } from "./to_jsonb.ts";

export interface RowChange {
  readonly op: RowOp;
  readonly new: RowImage | null;
  readonly old: RowImage | null;
  /** The commit LSN of the change's transaction: its version. */
  readonly version: Lsn;
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
  /** The document (to_jsonb text) for `index`. */
  readonly doc: string | null;
}

function isJson(type: PgType): boolean {
  return type.kind === "scalar" && (type.name === "json" || type.name === "jsonb");
}

/** What rendering in TypeScript needs: converters per column, jsonb's key order, the key. */
interface FastPath {
  readonly converters: readonly Converter[];
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

  /** `typescript: false` sends every row to PostgreSQL (tests compare the two paths byte for byte). */
  constructor(table: TableDescription, options: { typescript?: boolean } = {}) {
    this.#table = table;
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
    this.#query = `SELECT e.n::int AS n, (${idExpression(table, "t", "to_jsonb(t.*)::text")}) AS id,
      CASE WHEN e.v ? 'd' THEN NULL
           WHEN e.v ? 'u' THEN (to_jsonb(t.*) || COALESCE((
             SELECT jsonb_object_agg(k.k, to_jsonb(cur.*) -> k.k)
             FROM ${name} cur, jsonb_array_elements_text(e.v -> 'u') AS k(k) WHERE ${keyMatch}), '{}'::jsonb))::text
           ELSE to_jsonb(t.*)::text END AS doc
      -- $1 is text: as a jsonb parameter, postgres.js would serialise the string once more.
      FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS e(v, n)
      CROSS JOIN LATERAL jsonb_populate_record(NULL::${name}, e.v -> 'r') AS t
      ORDER BY e.n`;
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
      const before = change.old.values[change.old.columns.indexOf(column)];
      const after = change.new.values[change.new.columns.indexOf(column)];
      if (before !== after) return true;
    }
    return false;
  }

  /** The array of records sent to PostgreSQL, and which item each element becomes. */
  elements(changes: readonly RowChange[]): { json: string; items: { action: "index" | "delete"; version: Lsn }[] } {
    const elements: string[] = [];
    const items: { action: "index" | "delete"; version: Lsn }[] = [];
    for (const change of changes) {
      if (change.op === "delete" || (change.op === "update" && this.#keyChanged(change))) {
        if (!change.old) throw new DecodeError("stream", `${change.op} on ${this.#table.name.name} carries no old key`);
        elements.push(`{"d":1,"r":${this.#row(change.old)}}`);
        items.push({ action: "delete", version: change.version });
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
      items.push({ action: "index", version: change.version });
    }
    return { json: `[${elements.join(",")}]`, items };
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

  /** Items for one change rendered in TypeScript, or null when PostgreSQL must render it. */
  #renderFast(change: RowChange): BulkItem[] | null {
    const fast = this.#fast;
    if (!fast) return null;
    const items: BulkItem[] = [];
    if (change.op === "delete" || (change.op === "update" && this.#keyChanged(change))) {
      if (!change.old) return null;
      const id = this.#fastId(fast, change.old, null);
      if (id === null) return null;
      items.push({ action: "delete", id, version: change.version, doc: null });
    }
    if (change.op !== "delete") {
      if (!change.new) return null;
      const doc = this.#fastDoc(fast, change.new);
      if (doc === null) return null;
      const id = this.#fastId(fast, change.new, doc);
      if (id === null) return null;
      items.push({ action: "index", id, version: change.version, doc });
    }
    return items;
  }

  #fastDoc(fast: FastPath, image: RowImage): string | null {
    if (!this.describes(image)) return null;
    const parts: string[] = new Array(fast.order.length);
    for (let i = 0; i < fast.order.length; i++) {
      const { index, key } = fast.order[i];
      const value = image.values[index];
      if (value === UNCHANGED) return null;
      parts[i] = `${key}: ${value === null ? "null" : fast.converters[index](value)}`;
    }
    return `{${parts.join(", ")}}`;
  }

  /** `_id` (as a JSON literal) from an image; `doc` is the row's rendering when already known. */
  #fastId(fast: FastPath, image: RowImage, doc: string | null): string | null {
    if (fast.key === null) {
      const whole = doc ?? this.#fastDoc(fast, image);
      return whole === null ? null : JSON.stringify(rowHashId(whole));
    }
    if (!this.describes(image)) return null;
    const values = fast.key.map((index) => image.values[index]);
    if (values.some((v) => v === null || v === UNCHANGED)) return null;
    let text: string;
    if (values.length === 1) {
      text = values[0] as string;
      // bool::text is 'true'/'false', while its output function (what the WAL carries) prints 't'/'f'.
      if (fast.keyIsBool) text = text === "t" ? "true" : text === "f" ? "false" : text;
    } else {
      text = `[${values.map((v, i) => fast.converters[fast.key![i]](v as string)).join(", ")}]`;
    }
    return JSON.stringify(documentId(text));
  }

  async render(sql: Sql, changes: readonly RowChange[]): Promise<BulkItem[]> {
    if (changes.length === 0) return [];
    const rendered: (BulkItem[] | null)[] = changes.map((change) => this.#renderFast(change));
    const slow = changes.filter((_, i) => rendered[i] === null);
    if (slow.length > 0) {
      const { json, items } = this.elements(slow);
      const rows = await sql.unsafe<{ n: number; id: string | null; doc: string | null }[]>(this.#query, [json]);
      if (rows.length !== items.length) {
        throw new DecodeError("stream", `rendering ${items.length} rows of ${this.#table.name.name} returned ${rows.length}`);
      }
      // Hand the rendered items back to their changes, in order (a change makes one or two).
      let next = 0;
      for (let i = 0; i < changes.length; i++) {
        if (rendered[i] !== null) continue;
        const count = this.itemCount(changes[i]);
        rendered[i] = rows.slice(next, next + count).map((row, j) => ({
          action: items[next + j].action,
          id: row.id ?? this.#keyless(),
          version: items[next + j].version,
          doc: row.doc,
        }));
        next += count;
      }
      if (next !== items.length) throw new DecodeError("stream", `rendering ${this.#table.name.name} lost track of its items`);
    }
    return rendered.flat() as BulkItem[];
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
    return this.#renderFast(change) !== null;
  }
}

function fastPath(table: TableDescription): FastPath | null {
  const converters: Converter[] = [];
  for (const column of table.columns) {
    const converter = converterFor(column.type);
    if (converter === null) return null;
    converters.push(converter);
  }
  const names = table.columns.map((c) => c.name);
  const order = names.map((name, index) => ({ index, key: JSON.stringify(name), name }))
    .sort((a, b) => jsonbKeyOrder(a.name, b.name))
    .map(({ index, key }) => ({ index, key }));
  const key = table.key.columns === null ? null : table.key.columns.map((c) => names.indexOf(c));
  if (key?.some((i) => i < 0)) return null;
  const keyType = key?.length === 1 ? table.columns[key[0]].type : null;
  return { converters, order, key, keyIsBool: keyType?.kind === "scalar" && keyType.name === "bool" };
}
