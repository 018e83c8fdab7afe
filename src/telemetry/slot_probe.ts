/**
 * Every few seconds, how far the slot is behind the server's WAL and how much WAL it holds,
 * for the lag gauges. On its own small connection; a failed probe only leaves the last value
 * (the stream notices a lost server itself).
 */
import { connect } from "../pg/session.ts";
import { slotLag } from "../pg/slot.ts";
import { gauges } from "./metrics.ts";

export function startSlotProbe(url: string, slot: string, intervalMs = 5_000): Disposable {
  const sql = connect(url, { max: 1, applicationName: "oesophagus slot probe" });
  let running = false;
  const probe = async () => {
    if (running) return;
    running = true;
    try {
      const row = await slotLag(sql, slot);
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
