/**
 * Column names Elasticsearch keeps for its metadata fields: a document with such a top-level
 * field is refused ("is a metadata field and cannot be added inside a document"), or, for
 * `_doc_count`, a number there is taken as how many documents this one stands for. A table with
 * such a column cannot have `_source` = `to_jsonb(row)`, so it is refused before anything is
 * made for it, rather than every row going to the dead-letter index. The names are those
 * Elasticsearch 8.19 refuses (metadata_fields_test.ts asks a real one).
 */
import { OesophagusError } from "../../errors.ts";
import { displayName, quoteIdent, quoteQualified } from "../../pg/identifier.ts";
import type { TableDescription } from "../../pg/catalog.ts";

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

/** The tables' columns named like a metadata field, as one error; null when there are none. */
export function metadataColumnsError(tables: readonly TableDescription[]): OesophagusError | null {
  const found = tables.flatMap((table) =>
    table.columns.filter((c) => METADATA_FIELDS.has(c.name)).map((c) => ({ table, column: c.name }))
  );
  if (found.length === 0) return null;
  return new OesophagusError(
    "table_unindexable",
    `${found.map(({ table, column }) => `column ${column} of ${displayName(table.name)}`).join(", ")}: Elasticsearch keeps ${
      found.length === 1 ? "this name" : "these names"
    } for its metadata fields and refuses documents that hold them`,
    {
      fix: found.map(({ table, column }) =>
        `ALTER TABLE ${quoteQualified(table.name)} RENAME COLUMN ${quoteIdent(column)} TO ...; or remove ${
          displayName(table.name)
        } from "tables"`
      ).join("\n"),
    },
  );
}
