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
import { type ColumnValue, DecodeError, type RowImage, type RowOp, UNCHANGED } from "./change.ts";

export interface RowChange {
  readonly op: RowOp;
  readonly new: RowImage | null;
  readonly old: RowImage | null;
  /** The commit LSN of the change's transaction: its version. */
  readonly version: Lsn;
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

/** The SQL and the per-table facts rendering needs, computed once per table. */
export class TableRenderer {
  readonly #table: TableDescription;
  readonly #query: string;
  readonly #jsonColumns: Set<string>;
  readonly #columns: readonly string[];
  readonly #key: readonly string[] | null;

  constructor(table: TableDescription) {
    this.#table = table;
    this.#columns = table.columns.map((c) => c.name);
    this.#jsonColumns = new Set(table.columns.filter((c) => isJson(c.type)).map((c) => c.name));
    this.#key = table.key.columns;
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

  get table(): TableDescription {
    return this.#table;
  }

  #row(image: RowImage, fill: Map<string, ColumnValue> | null): string {
    const parts: string[] = [];
    for (let i = 0; i < image.columns.length; i++) {
      const column = image.columns[i];
      let value = image.values[i];
      if (value === UNCHANGED) {
        if (!fill?.has(column)) continue;
        value = fill.get(column)!;
        if (value === UNCHANGED) continue;
      }
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
        elements.push(`{"d":1,"r":${this.#row(change.old, null)}}`);
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
      elements.push(`{${missing.length > 0 ? `"u":${JSON.stringify(missing)},` : ""}"r":${this.#row(image, null)}}`);
      items.push({ action: "index", version: change.version });
    }
    return { json: `[${elements.join(",")}]`, items };
  }

  #withFill(image: RowImage, fill: Map<string, ColumnValue>): RowImage {
    const columns = [...image.columns];
    const values = [...image.values];
    for (const [column, value] of fill) {
      const at = columns.indexOf(column);
      if (at >= 0) values[at] = value;
      else {
        columns.push(column);
        values.push(value);
      }
    }
    return { columns, values };
  }

  async render(sql: Sql, changes: readonly RowChange[]): Promise<BulkItem[]> {
    if (changes.length === 0) return [];
    const { json, items } = this.elements(changes);
    const rows = await sql.unsafe<{ n: number; id: string; doc: string | null }[]>(this.#query, [json]);
    if (rows.length !== items.length) {
      throw new DecodeError("stream", `rendering ${items.length} rows of ${this.#table.name.name} returned ${rows.length}`);
    }
    return rows.map((row, i) => ({ action: items[i].action, id: row.id, version: items[i].version, doc: row.doc }));
  }
}
