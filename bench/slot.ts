/** Where the server's WAL is, and waiting for a slot's confirmed LSN to reach a position. */
import type postgres from "postgres";
import { parseLsn } from "../src/pg/lsn.ts";

export async function currentLsn(sql: postgres.Sql): Promise<string> {
  const [{ lsn }] = await sql<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
  return lsn;
}

/** The engine acknowledges only what Elasticsearch has, so this is "everything up to `target` is indexed". */
export async function waitForLsn(
  sql: postgres.Sql,
  slot: string,
  target: string,
  timeoutMs: number,
  reportEveryMs?: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const goal = parseLsn(target);
  let reported = Date.now();
  for (;;) {
    const [row] = await sql<{ confirmed: string | null }[]>`
      SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = ${slot}`;
    if (row?.confirmed && parseLsn(row.confirmed) >= goal) return;
    if (reportEveryMs !== undefined && Date.now() - reported > reportEveryMs) {
      reported = Date.now();
      console.log(`   slot at ${row?.confirmed ?? "(not created yet)"}, waiting for ${target}`);
    }
    if (Date.now() > deadline) throw new Error(`slot ${slot} did not reach ${target}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until the engine recorded the snapshot of every table as complete. */
export async function waitForSnapshot(sql: postgres.Sql, slot: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM oesophagus.snapshot_table WHERE slot = ${slot} AND completed_at IS NOT NULL`.catch(
      () => [{ n: 0 }],
    );
    if (done[0].n > 0) return;
    if (Date.now() > deadline) throw new Error(`the snapshot for ${slot} did not complete`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until a process streams from the slot (the engine started and opened its replication stream). */
export async function waitForActiveSlot(sql: postgres.Sql, slot: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ active: boolean }[]>`SELECT active FROM pg_replication_slots WHERE slot_name = ${slot}`;
    if (row?.active) return;
    if (Date.now() > deadline) throw new Error(`nothing streams from slot ${slot}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
