/**
 * Each partition of a partitioned table logs its changes under its own REPLICA IDENTITY, which
 * need not be the table's: one with NOTHING logs no old key (and with pgoutput the engine's
 * publication makes PostgreSQL refuse its updates and deletes), one identified by another unique
 * index logs other columns, so a delete there cannot name its document. Such partitions are found
 * before anything is made, like a table without a key.
 */
import { displayName, type QualifiedName, quoteQualified } from "./identifier.ts";
import { identityColumns } from "./identity_columns.ts";
import type { Sql } from "./session.ts";
import type { RowKey } from "./catalog.ts";

/** What a leaf partition logs as the old row of an update or delete. */
export interface LeafIdentity {
  readonly name: QualifiedName;
  /** `relreplident`: d(efault), f(ull), i(ndex), n(othing). */
  readonly replident: string;
  readonly pk: readonly string[] | null;
  /** The replica identity index's columns; null when there is none (dropped, or not `i`). */
  readonly ri: readonly string[] | null;
}

/** A replica identity that logs no old key at all for an update or delete. */
export type MissingOldKey = "nothing" | "index_gone" | "no_key";

/** What a relation with that identity "has", for a message about a table or a partition. */
export const MISSING_OLD_KEY: Readonly<Record<MissingOldKey, string>> = {
  nothing: "has REPLICA IDENTITY NOTHING",
  // PostgreSQL then logs no old key, as with NOTHING.
  index_gone: "has REPLICA IDENTITY USING INDEX, but that index is gone",
  no_key: "has no primary key and its REPLICA IDENTITY is not FULL",
};

/**
 * Why a relation's updates and deletes log no old key, or null when they log one (FULL: the whole
 * row; otherwise the primary key's or the replica identity index's columns).
 */
export function missingOldKey(
  replident: string,
  pk: readonly string[] | null,
  ri: readonly string[] | null,
): MissingOldKey | null {
  if (replident === "f") return null;
  if (replident === "n") return "nothing";
  if (replident === "i") return ri === null ? "index_gone" : null;
  return pk === null ? "no_key" : null;
}

/** Why the leaf's old rows do not hold `key`, or null when they do. */
export function leafIdentityGap(key: RowKey, leaf: LeafIdentity): string | null {
  const missing = missingOldKey(leaf.replident, leaf.pk, leaf.ri);
  if (missing !== null) return MISSING_OLD_KEY[missing];
  if (leaf.replident === "f") return null;
  const logged = (leaf.replident === "i" ? leaf.ri : leaf.pk)!;
  const wanted = key.columns === null ? "the whole row" : `(${key.columns.join(", ")})`;
  if (key.columns === null || !key.columns.every((c) => logged.includes(c))) {
    return `logs (${logged.join(", ")}) as the old key of an update or delete, not ${wanted}, which identifies the table's rows`;
  }
  return null;
}

/** The leaf partitions of the partitioned table `oid` and what each logs. */
export async function leafIdentities(sql: Sql, oid: number): Promise<LeafIdentity[]> {
  const leaves = await sql<{ oid: number; schema: string; name: string; replident: string }[]>`
    SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relreplident AS replident
    FROM pg_partition_tree(${oid}::oid::regclass) t
    JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE t.isleaf
    ORDER BY n.nspname, c.relname`;
  const columns = await identityColumns(sql, leaves.map((l) => Number(l.oid)));
  return leaves.map((l) => ({
    name: { schema: l.schema, name: l.name },
    replident: l.replident,
    ...columns.get(Number(l.oid))!,
  }));
}

/** Problems and fixes, in describeTables' terms, for the partitions of `table` that do not log its key. */
export function partitionIdentityProblems(
  table: QualifiedName,
  key: RowKey,
  leaves: readonly LeafIdentity[],
): { problems: string[]; fixes: string[] } {
  const problems: string[] = [];
  const fixes: string[] = [];
  for (const leaf of leaves) {
    const gap = leafIdentityGap(key, leaf);
    if (gap === null) continue;
    problems.push(
      `partition ${displayName(leaf.name)} of ${
        displayName(table)
      } ${gap}, so the WAL does not say which of its rows an update or delete changed: its rows cannot be identified`,
    );
    const name = quoteQualified(leaf.name);
    const byDefault = key.columns !== null && leaf.pk !== null && key.columns.every((c) => leaf.pk!.includes(c));
    fixes.push(`ALTER TABLE ${name} REPLICA IDENTITY ${byDefault ? "DEFAULT" : "FULL"};`);
  }
  return { problems, fixes };
}
