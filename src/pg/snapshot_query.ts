/**
 * The SQL that copies a table: chunk boundaries by primary-key order, and a COPY that makes
 * PostgreSQL render each row as a ready `_bulk` pair. Values never enter SQL text: chunk bounds
 * and the action prefix travel as transaction-local settings set with bound parameters, and
 * identifiers are always quoted.
 */
import type { TableDescription } from "./catalog.ts";
import { quoteIdent, quoteQualified } from "./identifier.ts";

export const SETTING_LOWER = "oesophagus.chunk_lower";
export const SETTING_UPPER = "oesophagus.chunk_upper";
export const SETTING_ACTION = "oesophagus.bulk_action";

/**
 * Whole-row references are written `t.*`: a bare `t` would mean a column named t, if the table
 * has one (it is then rendered instead of the row).
 */

/** COPY in CSV mode with a quote and a delimiter that JSON text cannot contain: no escaping at all. */
export const COPY_OPTIONS = "(FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')";
export const FIELD_SEPARATOR = 0x02;

function keyColumns(table: TableDescription): readonly string[] {
  if (table.key.columns === null) throw new Error(`${table.name.name} has no key columns`);
  return table.key.columns;
}

/**
 * `_id` as JSON text. The key's text for one column, the JSON array of the values for several
 * (`[1, "a"]`), an md5 of the whole row for a keyless REPLICA IDENTITY FULL table. Elasticsearch
 * refuses an empty `_id` and one over 512 bytes, so such keys, and keys that begin with `~`,
 * become `~` + the SHA-256 of the key text: still one document per key, and never the same id
 * as another key. `src/sinks/elasticsearch/document_id.ts` is the same rule in TypeScript.
 */
export function idExpression(table: TableDescription, alias: string, rowJson: string): string {
  // Bytes of UTF-8, as Elasticsearch and the stream's rule count them, in whatever encoding the
  // database keeps its text (in LATIN1, "é" is one byte, in UTF-8 two).
  if (table.key.columns === null) return `to_json(md5(convert_to(${rowJson}, 'UTF8')))::text`;
  const [only, ...more] = table.key.columns;
  // A key column is null only where a change's old image lacks it: no _id (the stream stops on
  // it), rather than "[null, 2]", which names no document and would drop the delete unnoticed.
  const text = more.length === 0
    ? `${alias}.${quoteIdent(only)}::text`
    : `CASE WHEN ${
      table.key.columns.map((c) => `${alias}.${quoteIdent(c)} IS NULL`).join(" OR ")
    } THEN NULL ELSE jsonb_build_array(${table.key.columns.map((c) => `${alias}.${quoteIdent(c)}`).join(", ")})::text END`;
  return `to_json(CASE WHEN octet_length(convert_to(${text}, 'UTF8')) BETWEEN 1 AND 512 AND left(${text}, 1) <> '~'
    THEN ${text} ELSE '~' || encode(sha256(convert_to(${text}, 'UTF8')), 'hex') END)::text`;
}

/** Boundary keys every `chunkRows` rows in key order, and the row count, read inside the snapshot. */
export function boundariesQuery(table: TableDescription): string {
  const columns = keyColumns(table).map(quoteIdent);
  const pairs = keyColumns(table).map((c) => `'${c.replaceAll("'", "''")}', ${quoteIdent(c)}`);
  return `SELECT jsonb_build_object(${pairs.join(", ")})::text AS key FROM (
      SELECT ${columns.join(", ")}, row_number() OVER (ORDER BY ${columns.join(", ")}) AS rn
      FROM ${quoteQualified(table.name)}) k
    WHERE rn % $1 = 0 ORDER BY rn`;
}

export function countQuery(table: TableDescription): string {
  return `SELECT count(*)::text AS rows FROM ${quoteQualified(table.name)}`;
}

function bound(table: TableDescription, setting: string): string {
  const record = `jsonb_populate_record(NULL::${quoteQualified(table.name)}, current_setting('${setting}')::jsonb)`;
  return `(${keyColumns(table).map((c) => `(${record}).${quoteIdent(c)}`).join(", ")})`;
}

/**
 * COPY of one chunk, `lower < key <= upper` (a missing bound is open). Each output line is
 * `<action JSON>\x02<to_jsonb(row)>`: the reader swaps the separator for a newline and has a
 * `_bulk` body without parsing a single row.
 */
export function chunkCopyQuery(table: TableDescription, bounds: { lower: boolean; upper: boolean }): string {
  const name = quoteQualified(table.name);
  const action = (id: string) => `current_setting('${SETTING_ACTION}') || ${id} || '}}'`;
  if (table.key.columns === null) {
    return `COPY (SELECT ${action(idExpression(table, "t", "x.doc"))}, x.doc FROM ${name} t,
      LATERAL (SELECT to_jsonb(t.*)::text AS doc) x) TO STDOUT ${COPY_OPTIONS}`;
  }
  const row = `(${keyColumns(table).map((c) => `t.${quoteIdent(c)}`).join(", ")})`;
  const where: string[] = [];
  if (bounds.lower) where.push(`${row} > ${bound(table, SETTING_LOWER)}`);
  if (bounds.upper) where.push(`${row} <= ${bound(table, SETTING_UPPER)}`);
  return `COPY (SELECT ${action(idExpression(table, "t", ""))}, to_jsonb(t.*)::text FROM ${name} t${
    where.length ? ` WHERE ${where.join(" AND ")}` : ""
  }) TO STDOUT ${COPY_OPTIONS}`;
}

/** The constant head of every action line of a chunk; the row's `_id` and `}}` follow. */
export function bulkActionPrefix(index: string, version: bigint): string {
  return `{"index":{"_index":${JSON.stringify(index)},"version":${version.toString()},"version_type":"external_gte","_id":`;
}
