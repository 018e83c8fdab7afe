/**
 * Partitioned tables. Both plugins report a change under the partition that holds the row (a
 * leaf), never under the partitioned table the config names, so the router maps leaves back to
 * the nearest configured table above them; and a TRUNCATE is mirrored only when it covers every
 * leaf of that table.
 */
import { logger } from "../telemetry/log.ts";
import { displayName, type QualifiedName, quoteQualified } from "./identifier.ts";
import type { Sql } from "./session.ts";

/** The partitioned tables among `tables` (relkind p). */
export async function partitionedTables(sql: Sql, tables: readonly QualifiedName[]): Promise<QualifiedName[]> {
  if (tables.length === 0) return [];
  const rows = await sql<{ schema: string; name: string }[]>`
    SELECT n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN unnest(${tables.map((t) => t.schema)}::text[], ${tables.map((t) => t.name)}::text[]) AS t(schema, name)
      ON n.nspname = t.schema AND c.relname = t.name
    WHERE c.relkind = 'p'`;
  return rows.map((r) => ({ schema: r.schema, name: r.name }));
}

/**
 * The partitioned tables `name` is a partition of, nearest first (its parent, the parent's parent,
 * up to the root); none when it is not a partition or does not exist.
 */
export async function partitionAncestors(sql: Sql, name: QualifiedName): Promise<QualifiedName[]> {
  const rows = await sql<{ schema: string; name: string }[]>`
    SELECT an.nspname AS schema, a.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL pg_partition_ancestors(c.oid) WITH ORDINALITY AS p(relid, ord)
    JOIN pg_class a ON a.oid = p.relid JOIN pg_namespace an ON an.oid = a.relnamespace
    WHERE n.nspname = ${name.schema} AND c.relname = ${name.name} AND p.relid <> c.oid
    ORDER BY p.ord`;
  return rows.map((r) => ({ schema: r.schema, name: r.name }));
}

/** The partitions that hold rows (leaves, at any depth) of the partitioned table `root`. */
export async function leafPartitions(sql: Sql, root: QualifiedName): Promise<QualifiedName[]> {
  const rows = await sql<{ schema: string; name: string }[]>`
    SELECT n.nspname AS schema, c.relname AS name
    FROM pg_partition_tree((SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = ${root.schema} AND c.relname = ${root.name})) t
    JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE t.isleaf`;
  return rows.map((r) => ({ schema: r.schema, name: r.name }));
}

/**
 * Which of `leaves`, partitions of `root` since a moment ago, hold rows written before their
 * latest link to it (ATTACH PARTITION of a table with rows: the WAL has none of them as changes of
 * `root`), as opposed to rows written since (CREATE TABLE ... PARTITION OF, then INSERT: each in
 * the WAL). A row is older than the link when its `xmin` is (its age is greater; a frozen row's
 * age is the greatest), or when both are of one transaction and the row's command came first
 * (`cmin`: INSERT, then ATTACH, in one transaction). A leaf gone meanwhile holds nothing. A leaf
 * the engine may not read by itself (SELECT granted on the partitioned table only) is taken to
 * hold such rows, and `onUnreadable` is told: copying again is what cannot lose a row.
 */
export async function leavesWithEarlierRows(
  sql: Sql,
  root: number,
  leaves: readonly number[],
  onUnreadable: (leaf: QualifiedName, reason: string) => void,
): Promise<QualifiedName[]> {
  const holding: QualifiedName[] = [];
  for (const leaf of leaves) {
    const [found] = await sql<{ schema: string; name: string; age: number; xid: string; cid: string }[]>`
      SELECT n.nspname AS schema, c.relname AS name, l.age, l.xid, l.cid
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL (
        SELECT age(i.xmin) AS age, i.xmin::text AS xid, i.cmin::text AS cid FROM pg_inherits i
        WHERE i.inhrelid IN (SELECT a.relid FROM pg_partition_ancestors(c.oid) a WHERE a.relid::oid <> ${root}::oid)
        ORDER BY age(i.xmin), i.cmin::text::bigint DESC LIMIT 1) l
      WHERE c.oid = ${leaf}::oid`;
    if (!found) continue;
    const name = { schema: found.schema, name: found.name };
    try {
      const [{ earlier }] = await sql.unsafe<{ earlier: boolean }[]>(
        `SELECT EXISTS (SELECT 1 FROM ONLY ${quoteQualified(name)}
                        WHERE age(xmin) > $1 OR (xmin = $2::xid AND cmin::text::bigint < $3::bigint)) AS earlier`,
        [found.age, found.xid, found.cid],
      );
      if (earlier) holding.push(name);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "42501") {
        onUnreadable(name, (error as Error).message);
        holding.push(name);
        // undefined_table: dropped (or renamed) between the two queries.
      } else if (code !== "42P01") throw error;
    }
  }
  return holding;
}

/** Reports a partition `leavesWithEarlierRows` could not read, with the grant that spares the copy next time. */
export const unreadableLeaf = (actor: string) => (leaf: QualifiedName, reason: string) =>
  logger.warn("a new partition cannot be read by the engine's role: the table is copied again to be sure of its rows", {
    actor,
    partition: displayName(leaf),
    reason,
    fix: `GRANT SELECT ON ${
      quoteQualified(leaf)
    } TO <the engine's role> (or on the partitions to come: ALTER DEFAULT PRIVILEGES)`,
  });
