/**
 * Durable snapshot progress, kept in the source database itself (schema `oesophagus`): it
 * survives container restarts without a volume, and it is written in the same place the slot
 * lives, so the two cannot drift apart across backups.
 */
import { OesophagusError } from "../errors.ts";
import { formatLsn, type Lsn, parseLsn } from "../pg/lsn.ts";
import type { Sql } from "../pg/session.ts";
import type { TypeStamp } from "../stream/type_watch.ts";
import type { TablePlan } from "./plan.ts";

export const ENGINE_SCHEMA = "oesophagus";

export interface Chunk {
  /** Row id in oesophagus.snapshot_chunk (bigserial, as text). */
  readonly id: string;
  readonly no: number;
  /** Exclusive lower key as jsonb text; null: from the first row. */
  readonly lower: string | null;
  /** Inclusive upper key as jsonb text; null: to the last row. */
  readonly upper: string | null;
  readonly doneVersion: Lsn | null;
  readonly rows: number | null;
}

/**
 * Where a copy went: sink -> index -> the index's UUID then. An index made anew since (deleted by
 * hand, a new cluster, another index or sink in the config) has not got the copy.
 */
export type CopyTargets = Readonly<Record<string, Readonly<Record<string, string>>>>;

export interface TableProgress {
  readonly table: string;
  readonly rowsTotal: number;
  readonly completed: boolean;
  /**
   * Copied while the slot already streamed (a table added to the config later, or again): its
   * index may hold documents of rows deleted meanwhile, which the copy does not overwrite, so they
   * are removed once it is done.
   */
  readonly sweep: boolean;
  /** What the copy goes into; null for copies older engine versions planned. */
  readonly targets: CopyTargets | null;
  /**
   * The key columns the copy's `_id`s were made from (JSON of the column list, `null` for whole-row
   * identity); null for copies older engine versions planned. Another key means other `_id`s.
   */
  readonly idKey: string | null;
  /**
   * The table's OID when it was copied; null for copies older engine versions planned. Another
   * OID is a table dropped and made anew under the name: the copy is not of it.
   */
  readonly tableOid: number | null;
  /**
   * A partitioned table's leaf partitions (OIDs) when it was copied, or when a start last found
   * them changed; null for a plain table and for copies older engine versions planned.
   */
  readonly leaves: readonly number[] | null;
  /**
   * The table's columns when the copy was planned (`columnSignature`); null for copies older
   * engine versions planned. Other columns now: an ALTER TABLE since, which rows unchanged since
   * do not show in their documents (see `oesophagus recopy`).
   */
  readonly columns: string | null;
  readonly chunks: readonly Chunk[];
}

/** Columns of snapshot_table added after its first version, with their types, in the order they came. */
const ADDED_COLUMNS: readonly (readonly [string, string])[] = [
  ["sweep", "boolean NOT NULL DEFAULT false"],
  ["targets", "jsonb"],
  ["id_key", "text"],
  ["table_oid", "oid"],
  ["leaves", "jsonb"],
  // The snapshot of the first attempt at the copy that may have written documents (copyVersions).
  ["first_version", "pg_lsn"],
  ["columns", "text"],
  // The stamp of the table's composite types' attributes the stream saw last, and since where (type_watch.ts).
  ["type_stamp", "text"],
  ["type_stamp_since", "pg_lsn"],
];

export async function ensureEngineSchema(sql: Sql): Promise<void> {
  try {
    await sql.unsafe(`
      CREATE SCHEMA IF NOT EXISTS ${ENGINE_SCHEMA};
      CREATE TABLE IF NOT EXISTS ${ENGINE_SCHEMA}.snapshot_table (
        slot text NOT NULL,
        table_name text NOT NULL,
        rows_total bigint NOT NULL,
        planned_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        PRIMARY KEY (slot, table_name)
      );
      CREATE TABLE IF NOT EXISTS ${ENGINE_SCHEMA}.snapshot_chunk (
        id bigserial PRIMARY KEY,
        slot text NOT NULL,
        table_name text NOT NULL,
        chunk_no int NOT NULL,
        lower_key jsonb,
        upper_key jsonb,
        done_version pg_lsn,
        rows_copied bigint,
        done_at timestamptz,
        UNIQUE (slot, table_name, chunk_no),
        FOREIGN KEY (slot, table_name) REFERENCES ${ENGINE_SCHEMA}.snapshot_table ON DELETE CASCADE
      );
      -- Added in later versions. Asked first: ALTER TABLE takes an exclusive lock and wants the
      -- table's owner even when the column is there.
      DO $$ BEGIN${
      ADDED_COLUMNS.map(([column, type]) => `
        IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = '${ENGINE_SCHEMA}.snapshot_table'::regclass
                       AND attname = '${column}' AND NOT attisdropped) THEN
          ALTER TABLE ${ENGINE_SCHEMA}.snapshot_table ADD COLUMN ${column} ${type};
        END IF;`).join("")
    }
      END $$;`);
  } catch (error) {
    throw new OesophagusError(
      "source_misconfigured",
      `cannot create the engine's progress tables in schema ${ENGINE_SCHEMA}: ${(error as Error).message}`,
      {
        fix: `GRANT CREATE ON DATABASE <db> TO <user>; or create schema ${ENGINE_SCHEMA} owned by the engine's user`,
        cause: error,
      },
    );
  }
}

export async function loadProgress(sql: Sql, slot: string): Promise<Map<string, TableProgress>> {
  const tables = await sql<
    {
      table_name: string;
      rows_total: string;
      completed: boolean;
      sweep: boolean;
      targets: string | null;
      id_key: string | null;
      table_oid: string | null;
      leaves: string | null;
      columns: string | null;
    }[]
  >`SELECT table_name, rows_total::text, completed_at IS NOT NULL AS completed, sweep, targets::text, id_key,
      table_oid::text, leaves::text, columns
    FROM oesophagus.snapshot_table WHERE slot = ${slot}`;
  const chunks = await sql<
    {
      id: string;
      table_name: string;
      chunk_no: number;
      lower_key: string | null;
      upper_key: string | null;
      done_version: string | null;
      rows_copied: string | null;
    }[]
  >`SELECT id::text, table_name, chunk_no, lower_key::text, upper_key::text, done_version::text, rows_copied::text
    FROM oesophagus.snapshot_chunk WHERE slot = ${slot} ORDER BY table_name, chunk_no`;
  const progress = new Map<string, TableProgress>();
  for (const t of tables) {
    progress.set(t.table_name, {
      table: t.table_name,
      rowsTotal: Number(t.rows_total),
      completed: t.completed,
      sweep: t.sweep,
      targets: t.targets === null ? null : JSON.parse(t.targets),
      idKey: t.id_key,
      tableOid: t.table_oid === null ? null : Number(t.table_oid),
      leaves: t.leaves === null ? null : JSON.parse(t.leaves),
      columns: t.columns,
      chunks: chunks.filter((c) => c.table_name === t.table_name).map((c) => ({
        id: c.id,
        no: c.chunk_no,
        lower: c.lower_key,
        upper: c.upper_key,
        doneVersion: c.done_version ? parseLsn(c.done_version) : null,
        rows: c.rows_copied === null ? null : Number(c.rows_copied),
      })),
    });
  }
  return progress;
}

/** Records a table's chunk plan in one transaction: a plan is there whole or not at all. */
export async function savePlan(
  sql: Sql,
  slot: string,
  table: string,
  { rowsTotal, boundaries, leaves, typeStamp }: TablePlan,
  { sweep, targets, idKey, tableOid, columns, snapshotVersion }:
    & { readonly sweep: boolean; readonly columns: string; readonly snapshotVersion: Lsn }
    & CopyIdentity,
): Promise<TableProgress> {
  const bounds = [null, ...boundaries, null];
  const chunks = await sql.begin(async (tx) => {
    await tx`DELETE FROM oesophagus.snapshot_table WHERE slot = ${slot} AND table_name = ${table}`;
    // The snapshot's stamp of the composite types holds from its position: the stream starts there (type_watch.ts).
    await tx`INSERT INTO oesophagus.snapshot_table (slot, table_name, rows_total, sweep, targets, id_key, table_oid, leaves,
                                                    columns, type_stamp, type_stamp_since)
             VALUES (${slot}, ${table}, ${rowsTotal}, ${sweep}, ${JSON.stringify(targets)}::text::jsonb, ${idKey},
                     ${tableOid}::oid, ${leaves === null ? null : JSON.stringify(leaves)}::text::jsonb, ${columns},
                     ${typeStamp}, ${typeStamp === null ? null : formatLsn(snapshotVersion)}::pg_lsn)`;
    const lowers = bounds.slice(0, -1);
    const uppers = bounds.slice(1);
    return await tx<{ id: string; chunk_no: number }[]>`
      INSERT INTO oesophagus.snapshot_chunk (slot, table_name, chunk_no, lower_key, upper_key)
      SELECT ${slot}, ${table}, n - 1, l::jsonb, u::jsonb
      FROM unnest(${lowers}::text[], ${uppers}::text[]) WITH ORDINALITY AS b(l, u, n)
      RETURNING id::text, chunk_no`;
  });
  return {
    table,
    rowsTotal,
    completed: false,
    sweep,
    targets,
    idKey,
    tableOid,
    leaves,
    columns,
    chunks: chunks.sort((a, b) => a.chunk_no - b.chunk_no).map((c) => ({
      id: c.id,
      no: c.chunk_no,
      lower: bounds[c.chunk_no],
      upper: bounds[c.chunk_no + 1],
      doneVersion: null,
      rows: null,
    })),
  };
}

/**
 * Records, before an attempt at a table's copy writes any document, the snapshot it reads in, if
 * no attempt before it read in an older one. An attempt killed before finishing a chunk leaves
 * that chunk's documents as of its snapshot; the attempt that copies the chunk again, later,
 * writes only the rows still there then. The stream must replay the changes between the two (a
 * delete is what removes the document of a row gone meanwhile), so copyVersions counts from here.
 */
export async function markCopyStarted(sql: Sql, slot: string, table: string, version: Lsn): Promise<void> {
  const lsn = formatLsn(version);
  await sql`UPDATE oesophagus.snapshot_table SET first_version = LEAST(COALESCE(first_version, ${lsn}::pg_lsn), ${lsn}::pg_lsn)
            WHERE slot = ${slot} AND table_name = ${table}`;
}

export async function markChunkDone(sql: Sql, chunkId: string, version: Lsn, rows: number): Promise<void> {
  await sql`UPDATE oesophagus.snapshot_chunk SET done_version = ${
    formatLsn(version)
  }::pg_lsn, rows_copied = ${rows}, done_at = now()
            WHERE id = ${chunkId}::bigint`;
}

/**
 * The copy is in every target: `targets` as in TableProgress. (Sent as text: a jsonb parameter
 * would have postgres.js serialise the JSON once more, into a string.)
 */
export async function markTableDone(
  sql: Sql,
  slot: string,
  table: string,
  targets: CopyTargets,
): Promise<void> {
  await sql`UPDATE oesophagus.snapshot_table SET completed_at = now(), targets = ${JSON.stringify(targets)}::text::jsonb
            WHERE slot = ${slot} AND table_name = ${table}`;
}

/** What a copy is of and where it went, as recorded with it. */
export interface CopyIdentity {
  readonly targets: CopyTargets;
  readonly idKey: string;
  readonly tableOid: number;
}

/** Records what a finished copy of an older engine version did not say (what it did say stays). */
export async function recordTargets(
  sql: Sql,
  slot: string,
  table: string,
  { targets, idKey, tableOid }: CopyIdentity,
): Promise<void> {
  await sql`UPDATE oesophagus.snapshot_table
            SET targets = COALESCE(targets, ${JSON.stringify(targets)}::text::jsonb), id_key = COALESCE(id_key, ${idKey}),
                table_oid = COALESCE(table_oid, ${tableOid}::oid)
            WHERE slot = ${slot} AND table_name = ${table}`;
}

/** The leaf partitions each copy of the slot recorded (partitioned tables, recorded by this version on). */
/** What the stream saw last of each table's composite types (see type_watch.ts), where recorded. */
export async function recordedTypeStamps(sql: Sql, slot: string): Promise<Map<string, TypeStamp>> {
  const rows = await sql<{ table_name: string; stamp: string; since: string }[]>`
    SELECT table_name, type_stamp AS stamp, type_stamp_since::text AS since FROM oesophagus.snapshot_table
    WHERE slot = ${slot} AND type_stamp IS NOT NULL AND type_stamp_since IS NOT NULL`;
  return new Map(rows.map((r) => [r.table_name, { stamp: r.stamp, since: parseLsn(r.since) }]));
}

/** Records a stamp of the table's composite types, seen as it is since `since` (a table not copied yet records none). */
export async function recordTypeStamp(sql: Sql, slot: string, table: string, seen: TypeStamp): Promise<void> {
  await sql`UPDATE oesophagus.snapshot_table SET type_stamp = ${seen.stamp}, type_stamp_since = ${formatLsn(seen.since)}::pg_lsn
            WHERE slot = ${slot} AND table_name = ${table}`;
}

export async function recordedLeaves(sql: Sql, slot: string): Promise<Map<string, readonly number[]>> {
  const rows = await sql<{ table_name: string; leaves: string }[]>`
    SELECT table_name, leaves::text FROM oesophagus.snapshot_table WHERE slot = ${slot} AND leaves IS NOT NULL`;
  return new Map(rows.map((r) => [r.table_name, JSON.parse(r.leaves)]));
}

/** Records a partitioned table's leaves as they are now: its copy holds what they hold. */
export async function recordLeaves(sql: Sql, slot: string, table: string, leaves: readonly number[]): Promise<void> {
  await sql`UPDATE oesophagus.snapshot_table SET leaves = ${JSON.stringify(leaves)}::text::jsonb
            WHERE slot = ${slot} AND table_name = ${table}`;
}

/**
 * The position each table's copy stands at: the oldest snapshot any attempt at it read in (a copy
 * resumed after a crash reads later chunks, and chunks it did not finish, in a later snapshot;
 * markCopyStarted). Every transaction committed before it is in the copy, and no document an
 * attempt wrote is older.
 */
export async function copyVersions(sql: Sql, slot: string): Promise<Map<string, Lsn>> {
  const rows = await sql<{ table_name: string; version: string }[]>`
    SELECT table_name, min(version)::text AS version FROM (
      SELECT table_name, done_version AS version FROM oesophagus.snapshot_chunk WHERE slot = ${slot} AND done_version IS NOT NULL
      UNION ALL
      SELECT table_name, first_version FROM oesophagus.snapshot_table WHERE slot = ${slot} AND first_version IS NOT NULL
    ) AS attempts GROUP BY table_name`;
  return new Map(rows.map((r) => [r.table_name, parseLsn(r.version)]));
}

/** Forgets one table's copy: it is not in one of its targets any more, so it is made again. */
export async function forgetTable(sql: Sql, slot: string, table: string): Promise<void> {
  await sql`DELETE FROM oesophagus.snapshot_table WHERE slot = ${slot} AND table_name = ${table}`;
}

/**
 * Forgets the copies of tables no longer configured, and returns their names. The slot moves past
 * their changes from now on, so such a copy no longer says anything about the table: configured
 * again, it must be copied anew, not taken for done.
 */
export async function forgetUnconfigured(sql: Sql, slot: string, configured: readonly string[]): Promise<string[]> {
  const rows = await sql<{ table_name: string }[]>`
    DELETE FROM oesophagus.snapshot_table WHERE slot = ${slot} AND NOT (table_name = ANY(${configured}::text[]))
    RETURNING table_name`;
  return rows.map((r) => r.table_name);
}

/** Forgets everything recorded for a slot (the slot itself is dropped separately). */
export async function forgetSlot(sql: Sql, slot: string): Promise<void> {
  await sql`DELETE FROM oesophagus.snapshot_table WHERE slot = ${slot}`;
}
