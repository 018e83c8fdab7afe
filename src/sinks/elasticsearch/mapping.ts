/**
 * Index mappings derived from column types (DESIGN contract 2: no row is refused for its
 * values). `dynamic: false` keeps anything unmapped in `_source` without indexing it, every
 * number and date field tolerates what Elasticsearch cannot represent (NaN, infinity, BC dates,
 * 39-digit numerics) through `ignore_malformed`, and keywords skip values too long to index.
 * `_source` is always the full row; only what is searchable differs.
 */
import type { PgType, TableDescription } from "../../pg/catalog.ts";

export type FieldMapping = Record<string, unknown>;

export interface IndexMapping {
  readonly dynamic: false;
  readonly properties: Record<string, FieldMapping>;
}

/** Longest keyword Elasticsearch indexes: 32766 bytes, and a character is at most 4 bytes. */
const KEYWORD_MAX_CHARS = 8191;

const keyword: FieldMapping = { type: "keyword", ignore_above: KEYWORD_MAX_CHARS };
const text: FieldMapping = { type: "text", fields: { keyword: { type: "keyword", ignore_above: 256 } } };
/** Kept in `_source`, not searchable: arbitrary JSON, or values no field type can take. */
const opaque: FieldMapping = { type: "object", enabled: false };
const stored: FieldMapping = { type: "keyword", index: false, doc_values: false };
const number = (type: string): FieldMapping => ({ type, ignore_malformed: true });
const date: FieldMapping = { type: "date", ignore_malformed: true };

const SCALARS: Record<string, FieldMapping> = {
  bool: { type: "boolean" },
  int2: number("short"),
  int4: number("integer"),
  int8: number("long"),
  float4: number("float"),
  float8: number("double"),
  // A double loses digits in the index only: _source keeps every digit, and range queries work.
  numeric: number("double"),
  oid: number("long"),
  text,
  varchar: text,
  bpchar: text,
  name: keyword,
  char: keyword,
  citext: text,
  uuid: keyword,
  date,
  timestamp: date,
  timestamptz: date,
  time: keyword,
  timetz: keyword,
  interval: keyword,
  money: keyword,
  inet: keyword,
  cidr: keyword,
  macaddr: keyword,
  macaddr8: keyword,
  bit: keyword,
  varbit: keyword,
  pg_lsn: keyword,
  bytea: stored,
  json: opaque,
  jsonb: opaque,
  xml: { type: "text" },
  tsvector: { type: "text" },
  tsquery: stored,
  point: keyword,
  line: keyword,
  lseg: keyword,
  box: keyword,
  path: stored,
  polygon: stored,
  circle: keyword,
};

export function fieldMapping(type: PgType): FieldMapping {
  switch (type.kind) {
    case "scalar":
      // Types from extensions (hstore renders as a JSON object) are kept opaque, never guessed.
      return SCALARS[type.name] ?? opaque;
    case "enum":
    case "range":
      return keyword;
    case "array":
      // Elasticsearch fields are multi-valued, and nested arrays flatten into one list of values.
      return fieldMapping(type.element);
    case "composite":
      return {
        type: "object",
        dynamic: false,
        properties: Object.fromEntries(type.fields.map((f) => [f.name, fieldMapping(f.type)])),
      };
  }
}

/**
 * Elasticsearch reads dots in field names as object paths: `a.b` and an object `a` with field
 * `b` would clash, and a column literally named `a.b` cannot be mapped as itself.
 */
function mappable(name: string): boolean {
  return name.length > 0 && !name.includes(".") && name.trim() === name && !name.startsWith("_");
}

export function indexMapping(table: TableDescription): IndexMapping {
  const properties: Record<string, FieldMapping> = {};
  for (const column of table.columns) {
    if (mappable(column.name)) properties[column.name] = fieldMapping(column.type);
  }
  return { dynamic: false, properties };
}

export function countFields(mapping: { properties?: Record<string, FieldMapping> }): number {
  let count = 0;
  for (const field of Object.values(mapping.properties ?? {})) {
    count += 1 + countFields(field as { properties?: Record<string, FieldMapping> });
    const subfields = (field as { fields?: Record<string, FieldMapping> }).fields;
    if (subfields) count += Object.keys(subfields).length;
  }
  return count;
}
