/**
 * The replication slot and the publication: create, inspect, validate. The slot is created on a
 * walsender connection with EXPORT_SNAPSHOT, so the copy and the stream meet at one LSN.
 */
import { OesophagusError } from "../errors.ts";
import { type QualifiedName, quoteIdent, quoteQualified } from "./identifier.ts";
import { type Lsn, parseLsn } from "./lsn.ts";
import type { Sql } from "./session.ts";

/** What the engine's publication must publish: every change a document follows. */
const ALL_CHANGES = "insert, update, delete, truncate";

export interface SlotInfo {
  readonly plugin: string;
  readonly database: string;
  readonly active: boolean;
  /** The walsender streaming the slot now, if any. */
  readonly activePid: number | null;
  readonly temporary: boolean;
  readonly confirmedFlushLsn: Lsn | null;
  readonly restartLsn: Lsn | null;
  /** Invalidated by the server (`wal_status` lost): it held more WAL than `max_slot_wal_keep_size`. */
  readonly lost: boolean;
}

export async function inspectSlot(sql: Sql, slot: string): Promise<SlotInfo | null> {
  const [row] = await sql<
    {
      plugin: string;
      database: string;
      active: boolean;
      active_pid: number | null;
      temporary: boolean;
      confirmed: string | null;
      restart: string | null;
      lost: boolean;
    }[]
  >`SELECT plugin, database, active, active_pid, temporary, confirmed_flush_lsn::text AS confirmed, restart_lsn::text AS restart,
      wal_status IS NOT DISTINCT FROM 'lost' AS lost
    FROM pg_replication_slots WHERE slot_name = ${slot} AND slot_type = 'logical'`;
  if (!row) return null;
  return {
    plugin: row.plugin,
    database: row.database,
    active: row.active,
    activePid: row.active_pid,
    temporary: row.temporary,
    confirmedFlushLsn: row.confirmed ? parseLsn(row.confirmed) : null,
    restartLsn: row.restart ? parseLsn(row.restart) : null,
    lost: row.lost,
  };
}

/** A slot the server invalidated: what it held is gone, and only a new snapshot can go on. */
export function slotLostError(slot: string, cause?: unknown): OesophagusError {
  return new OesophagusError(
    "slot_invalidated",
    `replication slot ${slot} was invalidated by the server (it held more WAL than max_slot_wal_keep_size allows): the changes it held are lost to the engine`,
    {
      fix:
        `start over with a new snapshot: SELECT pg_drop_replication_slot('${slot}'); DELETE FROM oesophagus.snapshot_table WHERE slot = '${slot}'; then start the engine again (documents of rows deleted meanwhile stay in Elasticsearch until the index is rebuilt). To keep the slot, raise max_slot_wal_keep_size (or set it to -1) above the WAL written while the engine or its sinks are down`,
      cause,
    },
  );
}

/**
 * How far the slot is behind the server's WAL (confirmed LSN) and how much WAL it holds (restart
 * LSN), as PostgreSQL's exact numeric text; null when the slot does not exist.
 */
export async function slotLag(sql: Sql, slot: string): Promise<{ lag: string | null; retained: string | null } | null> {
  const [row] = await sql<{ lag: string | null; retained: string | null }[]>`
    SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag, (pg_current_wal_lsn() - restart_lsn)::text AS retained
    FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return row ?? null;
}

export interface ExportedSnapshot {
  /** LSN C: every transaction committed before it is in the snapshot, every later one in the stream. */
  readonly consistentPoint: Lsn;
  readonly snapshotName: string;
}

/**
 * Runs CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT. The snapshot stays importable only while
 * `replication` stays open and idle: send nothing else on it until every reader has imported it.
 */
export async function createSlotWithSnapshot(
  replication: Sql,
  slot: string,
  plugin: string,
  options: { temporary: boolean },
): Promise<ExportedSnapshot> {
  const command = `CREATE_REPLICATION_SLOT ${quoteIdent(slot)}${options.temporary ? " TEMPORARY" : ""} LOGICAL ${
    quoteIdent(plugin)
  } EXPORT_SNAPSHOT`;
  try {
    const [row] = await replication.unsafe<{ consistent_point: string; snapshot_name: string }[]>(command);
    return { consistentPoint: parseLsn(row.consistent_point), snapshotName: row.snapshot_name };
  } catch (error) {
    throw explainSlotError(error, slot, plugin);
  }
}

export function explainSlotError(error: unknown, slot: string, plugin: string): unknown {
  const message = (error as Error)?.message ?? String(error);
  const detail = (error as { detail?: string })?.detail ?? "";
  const code = (error as { code?: string })?.code;
  if (/invalidated/.test(`${message} ${detail}`)) return slotLostError(slot, error);
  if (/wal_level/.test(message)) {
    return new OesophagusError("source_misconfigured", `logical decoding is off on the source: ${message}`, {
      fix: "set wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL",
      cause: error,
    });
  }
  if (/may not be used as an output plugin|output_plugin_libraries/.test(message)) {
    return new OesophagusError("source_misconfigured", `the server does not allow output plugin ${plugin}: ${message}`, {
      fix:
        `add it to output_plugin_libraries: ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, ${plugin}; then SELECT pg_reload_conf() (or restart)`,
      cause: error,
    });
  }
  if (/could not access file|No such file/.test(message)) {
    return new OesophagusError("source_misconfigured", `output plugin ${plugin} is not installed on the source: ${message}`, {
      fix: plugin === "wal2json"
        ? "install wal2json on the database server (Debian: apt-get install postgresql-15-wal2json), or use plugin pgoutput"
        : `install the ${plugin} output plugin on the database server`,
      cause: error,
    });
  }
  if (
    code === "42501" ||
    /must be superuser or replication role|permission denied to start WAL sender|replication connection/.test(message)
  ) {
    return new OesophagusError("source_misconfigured", `the source user may not replicate: ${message}`, {
      fix:
        "ALTER ROLE <user> WITH REPLICATION; and allow it in pg_hba.conf (a line for database 'replication' is not needed for logical slots, but one for the database is)",
      cause: error,
    });
  }
  if (/all replication slots are in use|max_replication_slots/.test(message)) {
    return new OesophagusError("source_misconfigured", `no free replication slot on the source: ${message}`, {
      fix: "raise max_replication_slots (and restart), or drop unused slots (SELECT pg_drop_replication_slot(name))",
      cause: error,
    });
  }
  if (/already exists/.test(message)) {
    return new OesophagusError("source_misconfigured", `replication slot ${slot} already exists: ${message}`, {
      retriable: true,
      cause: error,
    });
  }
  return error;
}

/** What `ensurePublication` changed in a publication made beforehand, for the log. */
export interface PublicationChanges {
  /** The kinds of change it published, when it left some out; null when it published all. */
  readonly widenedFrom: string | null;
  /** It published partitions' changes as their root's, and no longer does. */
  readonly viaRootReset: boolean;
  /** It is FOR ALL TABLES: its table list was left as it is. */
  readonly allTables: boolean;
}

/**
 * Creates the publication, or sets its table list to exactly the configured tables. One made
 * beforehand is made to publish what the stream needs: every kind of change (`WITH (publish =
 * 'insert')` would have the stream skip the rest), each partition under its own name (with
 * `publish_via_partition_root` pgoutput sends nothing at all for a TRUNCATE of one partition, so
 * its rows would stay in the index). A FOR ALL TABLES publication already holds every configured
 * table and cannot be given a list: its list is left alone, and the router drops the other tables'
 * changes.
 */
export async function ensurePublication(
  sql: Sql,
  publication: string,
  tables: readonly QualifiedName[],
): Promise<PublicationChanges> {
  const list = tables.map(quoteQualified).join(", ");
  const plan = await publicationPlan(sql, publication, tables);
  try {
    if (plan === null) {
      await sql.unsafe(`CREATE PUBLICATION ${quoteIdent(publication)} FOR TABLE ${list}`);
      return { widenedFrom: null, viaRootReset: false, allTables: false };
    }
    if (plan.setTables) await sql.unsafe(`ALTER PUBLICATION ${quoteIdent(publication)} SET TABLE ${list}`);
    if (plan.setOptions) {
      await sql.unsafe(
        `ALTER PUBLICATION ${quoteIdent(publication)} SET (publish = '${ALL_CHANGES}', publish_via_partition_root = false)`,
      );
    }
    return plan.changes;
  } catch (error) {
    const message = (error as Error).message;
    throw new OesophagusError(
      "source_misconfigured",
      `cannot ${plan ? "alter" : "create"} publication ${publication}: ${message}`,
      {
        fix: plan
          ? `as the publication's owner, make it what the engine needs, and the engine uses it as it is: ALTER PUBLICATION ${
            quoteIdent(publication)
          } SET TABLE ${list}; ALTER PUBLICATION ${
            quoteIdent(publication)
          } SET (publish = '${ALL_CHANGES}', publish_via_partition_root = false); (or let the source user own the tables and the publication)`
          : "the source user must own the replicated tables (or be superuser) to manage the publication; or create it yourself, as it must be, and the engine uses it as it is: CREATE PUBLICATION " +
            `${
              quoteIdent(publication)
            } FOR TABLE ${list}; (it must publish every kind of change, the default, and each partition under its own name, publish_via_partition_root = false, the default)`,
        cause: error,
      },
    );
  }
}

/** Whether `ensurePublication` would leave the publication as it is (so its owner need not be the source user). */
export async function publicationUsableAsIs(sql: Sql, publication: string, tables: readonly QualifiedName[]): Promise<boolean> {
  const plan = await publicationPlan(sql, publication, tables);
  return plan !== null && !plan.setTables && !plan.setOptions;
}

/**
 * What an existing publication needs to publish what the stream needs, and what that changes
 * (for the log); null when there is none. Only what must change is changed: the source user may
 * not own a publication an operator made for it.
 */
async function publicationPlan(
  sql: Sql,
  publication: string,
  tables: readonly QualifiedName[],
): Promise<{ setTables: boolean; setOptions: boolean; changes: PublicationChanges } | null> {
  const [existing] = await sql<{ kinds: string; allTables: boolean; viaRoot: boolean }[]>`
    SELECT concat_ws(', ', CASE WHEN pubinsert THEN 'insert' END, CASE WHEN pubupdate THEN 'update' END,
                     CASE WHEN pubdelete THEN 'delete' END, CASE WHEN pubtruncate THEN 'truncate' END) AS kinds,
           puballtables AS "allTables", pubviaroot AS "viaRoot"
    FROM pg_publication WHERE pubname = ${publication}`;
  if (!existing) return null;
  const widen = existing.kinds !== ALL_CHANGES;
  return {
    setTables: !existing.allTables && !(await holdsExactly(sql, publication, tables)),
    setOptions: widen || existing.viaRoot,
    changes: { widenedFrom: widen ? existing.kinds : null, viaRootReset: existing.viaRoot, allTables: existing.allTables },
  };
}

/**
 * Whether the publication holds exactly `tables`, whole: no other table or schema, no row filter,
 * no column list (PostgreSQL 15's; read through to_jsonb so older servers answer too).
 */
async function holdsExactly(sql: Sql, publication: string, tables: readonly QualifiedName[]): Promise<boolean> {
  const held = await sql<{ schema: string; name: string; partial: boolean }[]>`
    SELECT n.nspname AS schema, c.relname AS name,
           (to_jsonb(pr) ->> 'prqual') IS NOT NULL OR (to_jsonb(pr) ->> 'prattrs') IS NOT NULL AS partial
    FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
    JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE p.pubname = ${publication}`;
  if (held.length !== tables.length || held.some((t) => t.partial)) return false;
  if (!tables.every((t) => held.some((h) => h.schema === t.schema && h.name === t.name))) return false;
  const [{ schemas }] = await sql<{ schemas: boolean }[]>`
    SELECT to_regclass('pg_catalog.pg_publication_namespace') IS NOT NULL AS schemas`;
  if (!schemas) return true;
  const [{ n }] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_publication_namespace pn JOIN pg_publication p ON p.oid = pn.pnpubid
    WHERE p.pubname = ${publication}`;
  return n === 0;
}

/**
 * Whether a walsender that has sent nothing for a while is at work, seen from another connection:
 * replaying a large transaction whose changes the plugin filters out (wal2json's table filter)
 * sends nothing and answers no ping until it is done. Waiting for WAL, or blocked writing to its
 * client, it is not: its client would have heard from it. False when it is gone.
 */
export async function walsenderBusy(sql: Sql, pid: number): Promise<boolean> {
  const [row] = await sql<{ wait_event: string | null }[]>`
    SELECT wait_event FROM pg_stat_activity WHERE pid = ${pid} AND backend_type = 'walsender'`;
  if (!row) return false;
  return !["WalSenderMain", "WalSenderWaitForWAL", "WalSenderWriteData"].includes(row.wait_event ?? "");
}
