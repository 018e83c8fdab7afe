/**
 * When the engine's stream began, seen from PostgreSQL: the slot turns active at
 * START_REPLICATION, and the walsender's sent position passes a transaction's commit once it has
 * read (and, past logical_decoding_work_mem, spilled to disk) every change of it. Neither plugin
 * sends a transaction before its commit (pgoutput protocol 1, wal2json), so until then the
 * walsender works alone: no engine can start on the transaction sooner.
 */
import type postgres from "postgres";

export interface StreamStart {
  /** performance.now() when the slot was first seen active; null if never. */
  readonly activeAt: number | null;
  /** performance.now() when the walsender was first seen past `commitAt`; null if not asked or never. */
  readonly readAt: number | null;
}

/**
 * Polls until both moments are seen (or `stop` is called). `commitAt`: the LSN of the
 * transaction's commit record. The walsender's sent position is the end of the last record it
 * read, which may stop short of the next record's start by alignment (up to 8 bytes); after the
 * record before the commit it stays there until the whole transaction has been sent.
 */
export function watchStreamStart(sql: postgres.Sql, slot: string, commitAt: string | null): { stop(): Promise<StreamStart> } {
  let activeAt: number | null = null;
  let readAt: number | null = null;
  let stopped = false;
  const done = (async () => {
    while (!stopped && (activeAt === null || (commitAt !== null && readAt === null))) {
      const [row] = await sql<{ active: boolean; past: boolean | null }[]>`
        SELECT s.active, r.sent_lsn + 8 >= ${commitAt ?? "0/0"}::pg_lsn AS past
        FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
        WHERE s.slot_name = ${slot}`;
      const now = performance.now();
      if (row?.active && activeAt === null) activeAt = now;
      if (row?.past && commitAt !== null && readAt === null) readAt = now;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return { activeAt, readAt };
    },
  };
}
