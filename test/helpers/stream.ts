/** Waiting for the engine to have applied everything committed so far. */
import type postgres from "postgres";
import { formatLsn, type Lsn, parseLsn } from "../../src/pg/lsn.ts";

/**
 * Resolves when the slot's confirmed LSN reaches the WAL position of this moment: the engine
 * acknowledges only what every sink has, so then every change committed before now is indexed.
 */
export async function waitForCatchUp(sql: postgres.Sql, slot: string, timeoutMs = 120_000): Promise<void> {
  const target = await currentWalLsn(sql);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ confirmed: string | null }[]>`
      SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = ${slot}`;
    if (row?.confirmed && parseLsn(row.confirmed) >= target) return;
    if (Date.now() > deadline) {
      throw new Error(`slot ${slot} stayed at ${row?.confirmed} and did not reach ${formatLsn(target)} within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The slot's confirmed LSN now. */
export async function confirmedLsn(sql: postgres.Sql, slot: string): Promise<Lsn> {
  const [{ confirmed }] = await sql<{ confirmed: string }[]>`
    SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return parseLsn(confirmed);
}

/** The server's WAL position now: after every commit made so far. */
export async function currentWalLsn(sql: postgres.Sql): Promise<Lsn> {
  const [{ lsn }] = await sql<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
  return parseLsn(lsn);
}
