/**
 * Reading inside the exported snapshot: import it, count the rows and pick chunk boundaries
 * every `chunkRows` keys. Boundaries are keys, not offsets, so the same plan serves any later
 * snapshot of the table on resume.
 */
import type postgres from "postgres";
import type { TableDescription } from "../pg/catalog.ts";
import { boundariesQuery, countQuery } from "../pg/snapshot_query.ts";
import type { Sql } from "../pg/session.ts";
import { typeStampQuery, typesWatched } from "../stream/type_watch.ts";

type Session = postgres.ReservedSql | postgres.TransactionSql | Sql;

/** Starts a transaction that sees exactly the exported snapshot. */
export async function beginInSnapshot(session: Session, snapshotName: string): Promise<void> {
  await session.unsafe("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  // SET TRANSACTION SNAPSHOT takes no bind parameters; the name comes from the server and is
  // checked to be its documented shape before it is quoted into the command.
  if (!/^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/i.test(snapshotName)) {
    throw new Error(`unexpected snapshot name ${JSON.stringify(snapshotName)}`);
  }
  await session.unsafe(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
}

export interface TablePlan {
  readonly rowsTotal: number;
  readonly boundaries: readonly string[];
  /**
   * A partitioned table's leaf partitions (OIDs, ascending) as the snapshot sees them, which are
   * exactly those the copy reads; null for a plain table.
   */
  readonly leaves: readonly number[] | null;
  /** The stamp of the table's composite types' attributes as the snapshot sees them; null if not watched (type_watch.ts). */
  readonly typeStamp: string | null;
}

/**
 * The leaves of `oid` when it is partitioned, read from `pg_inherits` by SQL, so in the
 * transaction's snapshot (`pg_partition_tree` would read the catalog as it is now).
 */
const LEAVES_QUERY = `
  WITH RECURSIVE tree(relid) AS (
    SELECT $1::oid UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid)
  SELECT CASE WHEN (SELECT relkind FROM pg_class WHERE oid = $1::oid) = 'p' THEN ARRAY(
    SELECT t.relid::text FROM tree t JOIN pg_class c ON c.oid = t.relid WHERE c.relkind <> 'p' ORDER BY t.relid) END AS leaves`;

export async function planTable(sql: Sql, snapshotName: string, table: TableDescription, chunkRows: number): Promise<TablePlan> {
  const session = await sql.reserve();
  try {
    await beginInSnapshot(session, snapshotName);
    const [{ rows }] = await session.unsafe<{ rows: string }[]>(countQuery(table));
    const boundaries = table.key.columns === null || Number(rows) <= chunkRows
      ? []
      : (await session.unsafe<{ key: string }[]>(boundariesQuery(table), [chunkRows])).map((r) => r.key);
    const [{ leaves }] = await session.unsafe<{ leaves: string[] | null }[]>(LEAVES_QUERY, [table.oid]);
    const [stamped] = typesWatched(table) ? await session.unsafe<{ stamp: string }[]>(typeStampQuery(table.oid)) : [];
    await session.unsafe("COMMIT");
    return {
      rowsTotal: Number(rows),
      boundaries,
      leaves: leaves === null ? null : leaves.map(Number),
      typeStamp: stamped?.stamp ?? null,
    };
  } catch (error) {
    await session.unsafe("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    session.release();
  }
}
