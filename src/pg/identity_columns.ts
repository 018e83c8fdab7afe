/** The columns a relation's rows are identified by in the catalog: its primary key's and its replica identity index's. */
import type { Sql } from "./session.ts";

export interface IdentityColumns {
  /** In the primary key's order; null without one. */
  readonly pk: string[] | null;
  /** In the replica identity index's order; null without one (none chosen, or dropped since). */
  readonly ri: string[] | null;
}

export async function identityColumns(sql: Sql, oids: readonly number[]): Promise<Map<number, IdentityColumns>> {
  const rows = await sql<{ oid: number; pk: string[] | null; ri: string[] | null }[]>`
    SELECT c.oid,
      (SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
      (SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = c.oid AND i.indisreplident) AS ri
    FROM pg_class c WHERE c.oid = ANY(${oids as number[]}::oid[])`;
  return new Map(rows.map((r) => [Number(r.oid), { pk: r.pk, ri: r.ri }]));
}
