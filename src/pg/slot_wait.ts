/**
 * After a crash, the server keeps the dead engine's walsender (and with it the slot) for a
 * moment, until it notices the connection is gone. Waiting a little beats failing. A slot of
 * the same name in another database is refused outright.
 */
import { OesophagusError } from "../errors.ts";
import type { Sql } from "./session.ts";
import { inspectSlot, type SlotInfo } from "./slot.ts";

export async function waitForIdleSlot(sql: Sql, slot: string, signal: AbortSignal, timeoutMs = 30_000): Promise<SlotInfo | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await inspectSlot(sql, slot);
    if (info) {
      const [{ database }] = await sql<{ database: string }[]>`SELECT current_database() AS database`;
      if (info.database !== database) {
        throw new OesophagusError(
          "slot_plugin_mismatch",
          `replication slot ${slot} belongs to database ${info.database}, not ${database}`,
          {
            fix: "slot names are shared by all databases of a server: give this pipeline its own source.slot",
          },
        );
      }
    }
    if (!info?.active) return info;
    if (Date.now() > deadline) {
      throw new OesophagusError(
        "source_misconfigured",
        `replication slot ${slot} has been in use by another connection for ${timeoutMs / 1000} s`,
        {
          retriable: true,
          fix: "stop the other engine using this slot, or give this one its own source.slot",
        },
      );
    }
    if (signal.aborted) throw signal.reason;
    await new Promise((r) => setTimeout(r, 200));
  }
}
