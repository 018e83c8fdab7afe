/**
 * Every few seconds, how far the slot is behind the server's WAL and how much WAL it holds,
 * for the lag gauges. On its own small connection; a failed probe only leaves the last value
 * (the stream notices a lost server itself).
 */
import { connect } from "../pg/session.ts";
import { gauges } from "./metrics.ts";

export function startSlotProbe(url: string, slot: string, intervalMs = 5_000): Disposable {
  const sql = connect(url, { max: 1, applicationName: "oesophagus slot probe" });
  let running = false;
  const probe = async () => {
    if (running) return;
    running = true;
    try {
      const [row] = await sql<{ lag: string | null; retained: string | null }[]>`
        SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag, (pg_current_wal_lsn() - restart_lsn)::text AS retained
        FROM pg_replication_slots WHERE slot_name = ${slot}`;
      if (row?.lag != null && row.retained != null) {
        gauges.slot.set(slot, { lagBytes: BigInt(row.lag.split(".")[0]), retainedBytes: BigInt(row.retained.split(".")[0]) });
      }
    } catch {
      // Keep the last value; the stream reports the failure.
    } finally {
      running = false;
    }
  };
  void probe();
  const timer = setInterval(probe, intervalMs);
  return {
    [Symbol.dispose]() {
      clearInterval(timer);
      void sql.end({ timeout: 1 });
    },
  };
}
