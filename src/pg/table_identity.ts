/**
 * Which relations the configured tables are (their OIDs), and what the catalog calls those
 * relations now. A plugin reports changes by the name a table has when they are decoded, so a
 * table renamed or dropped while streaming is something the engine must notice on its own:
 * neither plugin writes DDL to the stream.
 */
import type { QualifiedName } from "./identifier.ts";
import { type Lsn, parseLsn } from "./lsn.ts";
import type { Sql } from "./session.ts";

export interface TableIdentity {
  readonly oid: number;
  readonly name: QualifiedName;
}

/** The configured tables that exist, with their OIDs (a missing one is the router's to report). */
export async function tableIdentities(sql: Sql, tables: readonly QualifiedName[]): Promise<TableIdentity[]> {
  if (tables.length === 0) return [];
  const rows = await sql<{ oid: number; schema: string; name: string }[]>`
    SELECT c.oid, n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN unnest(${tables.map((t) => t.schema)}::text[], ${tables.map((t) => t.name)}::text[]) AS t(schema, name)
      ON n.nspname = t.schema AND c.relname = t.name`;
  return rows.map((r) => ({ oid: r.oid, name: { schema: r.schema, name: r.name } }));
}

/** The present names of the relations `oids`; a dropped one is absent. */
export async function currentNames(sql: Sql, oids: readonly number[]): Promise<Map<number, QualifiedName>> {
  const rows = await sql<{ oid: number; schema: string; name: string }[]>`
    SELECT c.oid, n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = ANY(${oids as number[]}::oid[])`;
  return new Map(rows.map((r) => [r.oid, { schema: r.schema, name: r.name }]));
}

/**
 * A position past every commit visible now, which the server is sure to stream: a transaction
 * of the engine's own holding one logical message (wal2json and pgoutput as configured pass it
 * on as an empty transaction, or leave it out), flushed at its commit even on an idle server.
 */
export async function markPosition(sql: Sql): Promise<Lsn> {
  const [row] = await sql<{ lsn: string }[]>`SELECT pg_logical_emit_message(true, 'oesophagus', 'mark')::text AS lsn`;
  return parseLsn(row.lsn);
}
