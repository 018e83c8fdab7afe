/**
 * Which relations the configured tables are (their OIDs), and what the catalog calls those
 * relations now, with the key their rows are identified by. A plugin reports changes by the name
 * a table has when they are decoded, so a table renamed, dropped or given another key while
 * streaming is something the engine must notice on its own: neither plugin writes DDL to the
 * stream.
 */
import { keyText, rowKeyOf } from "./catalog.ts";
import type { QualifiedName } from "./identifier.ts";
import type { Sql } from "./session.ts";

export interface TableIdentity {
  readonly oid: number;
  readonly name: QualifiedName;
  /** The key columns `_id`s are made from, as JSON (`null`: the whole row): what the snapshot records as its id key. */
  readonly key: string;
  /** A partitioned table's leaf partitions (OIDs, ascending), at any depth; null for a plain table. */
  readonly leaves: readonly number[] | null;
}

type IdentityRow = {
  oid: number;
  schema: string;
  name: string;
  replident: string;
  pk: string[] | null;
  ri: string[] | null;
  leaves: string[] | null;
};

const identityOf = (r: IdentityRow): TableIdentity => ({
  oid: r.oid,
  name: { schema: r.schema, name: r.name },
  key: keyText(rowKeyOf(r.pk, r.replident, r.ri)),
  leaves: r.leaves === null ? null : r.leaves.map(Number),
});

/** The configured tables that exist, with their OIDs (a missing one is the router's to report). */
export async function tableIdentities(sql: Sql, tables: readonly QualifiedName[]): Promise<TableIdentity[]> {
  if (tables.length === 0) return [];
  const rows = await sql<IdentityRow[]>`
    SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relreplident AS replident, k.pk, k.ri, ${leaves(sql)}
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN unnest(${tables.map((t) => t.schema)}::text[], ${tables.map((t) => t.name)}::text[]) AS t(schema, name)
      ON n.nspname = t.schema AND c.relname = t.name
    CROSS JOIN LATERAL ${keyColumns(sql)}`;
  return rows.map(identityOf);
}

/** What the relations `oids` are now; a dropped one is absent. */
export async function currentIdentities(sql: Sql, oids: readonly number[]): Promise<Map<number, TableIdentity>> {
  const rows = await sql<IdentityRow[]>`
    SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relreplident AS replident, k.pk, k.ri, ${leaves(sql)}
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL ${keyColumns(sql)}
    WHERE c.oid = ANY(${oids as number[]}::oid[])`;
  return new Map(rows.map((r) => [r.oid, identityOf(r)]));
}

/** The primary key's and the replica identity index's columns of relation `c`, in index order. */
function keyColumns(sql: Sql) {
  return sql`(
      SELECT array_agg(a.attname ORDER BY k.ord) FILTER (WHERE i.indisprimary) AS pk,
             array_agg(a.attname ORDER BY k.ord) FILTER (WHERE i.indisreplident) AS ri
      FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident)) AS k`;
}

/** Relation `c`'s leaf partitions when it is partitioned (as text: OIDs may pass 2^31). */
function leaves(sql: Sql) {
  return sql`CASE WHEN c.relkind = 'p' THEN ARRAY(
      SELECT t.relid::oid::text FROM pg_partition_tree(c.oid) t WHERE t.isleaf ORDER BY t.relid::oid) END AS leaves`;
}
