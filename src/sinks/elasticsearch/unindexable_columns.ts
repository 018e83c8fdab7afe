/**
 * Columns whose names Elasticsearch will not take as a document's fields. A table with one
 * cannot have `_source` = `to_jsonb(row)`: it is refused before anything is made for it, rather
 * than every row going to the dead-letter index. What Elasticsearch 8.19 refuses (probed, and
 * held to it by unindexable_columns_test.ts against the server under test):
 *
 * - the names of its metadata fields ("is a metadata field and cannot be added inside a
 *   document"; a number in `_doc_count` would be taken as how many documents this one stands for);
 * - a name of white space only, of dots only, starting with a dot or holding two in a row: it
 *   reads dots as a path through objects;
 * - for the same reason `a.b` beside a column `a` that the index maps as a value, not an object.
 */
import { OesophagusError } from "../../errors.ts";
import { displayName, quoteIdent, quoteQualified } from "../../pg/identifier.ts";
import type { TableDescription } from "../../pg/catalog.ts";
import { type IndexMapping, indexMapping } from "./mapping.ts";

export const METADATA_FIELDS: ReadonlySet<string> = new Set([
  "_id",
  "_index",
  "_source",
  "_routing",
  "_version",
  "_seq_no",
  "_field_names",
  "_ignored",
  "_ignored_source",
  "_doc_count",
  "_tier",
  "_data_stream_timestamp",
  "_nested_path",
]);

/**
 * Why Elasticsearch refuses `column` of `table` as a field, or null when it takes it. `mapped`:
 * the table's fields as the engine maps them (given once per table by a caller asking of each column).
 */
export function refusal(
  table: TableDescription,
  column: string,
  mapped: IndexMapping["properties"] = indexMapping(table).properties,
): string | null {
  if (METADATA_FIELDS.has(column)) return "the name of an Elasticsearch metadata field";
  if (column.trim() === "") return "a name of white space only";
  if (column.startsWith(".") || column.includes("..")) return "a name Elasticsearch reads as a path with an empty step";
  const dot = column.indexOf(".");
  if (dot > 0) {
    const parent = mapped[column.slice(0, dot)];
    if (parent !== undefined && parent.type !== "object") {
      return `a path into column ${column.slice(0, dot)}, which the index holds as a ${parent.type} value`;
    }
  }
  return null;
}

/** The tables' columns Elasticsearch refuses, as one error; null when there are none. */
export function unindexableColumnsError(tables: readonly TableDescription[]): OesophagusError | null {
  const found = tables.flatMap((table) => {
    const mapped = indexMapping(table).properties;
    return table.columns.map((c) => ({ table, column: c.name, why: refusal(table, c.name, mapped) }))
      .filter((f) => f.why !== null);
  });
  if (found.length === 0) return null;
  return new OesophagusError(
    "table_unindexable",
    `Elasticsearch refuses documents with ${
      found.map(({ table, column, why }) => `column ${JSON.stringify(column)} of ${displayName(table.name)} (${why})`).join(", ")
    }`,
    {
      fix: found.map(({ table, column }) =>
        `ALTER TABLE ${quoteQualified(table.name)} RENAME COLUMN ${quoteIdent(column)} TO ...; or remove ${
          displayName(table.name)
        } from "tables"`
      ).join("\n"),
    },
  );
}
