/**
 * After a crash, the server keeps the dead engine's walsender (and with it the slot) for a
 * moment, until it notices the connection is gone. Waiting a little beats failing. A slot of
 * the same name in another database is refused outright.
 *
 * A stream this process gave up on as silent (`source.receiveTimeoutMs`) may have left its
 * walsender behind, holding the slot until the server's `wal_sender_timeout` (a minute by
 * default, or never when it is 0). That walsender is ended instead of waited for: its PID is the
 * one the slot's own stream had, so it is ours, never another engine's.
 */
import { errorMessage, OesophagusError } from "../errors.ts";
import { logger } from "../telemetry/log.ts";
import type { Sql } from "./session.ts";
import { inspectSlot, type SlotInfo, slotLostError } from "./slot.ts";

export interface IdleSlotWait {
  readonly signal: AbortSignal;
  readonly timeoutMs?: number;
  /** PIDs of walsenders whose streams this process gave up on; one ended here is taken out. */
  readonly abandoned?: Set<number>;
}

export async function waitForIdleSlot(sql: Sql, slot: string, wait: IdleSlotWait): Promise<SlotInfo | null> {
  const timeoutMs = wait.timeoutMs ?? 30_000;
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
    if (info?.lost) throw slotLostError(slot);
    if (!info?.active) return info;
    if (info.activePid !== null && wait.abandoned?.has(info.activePid)) {
      await endAbandoned(sql, slot, info.activePid, wait.abandoned);
    }
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
    if (wait.signal.aborted) throw wait.signal.reason;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function endAbandoned(sql: Sql, slot: string, pid: number, abandoned: Set<number>): Promise<void> {
  abandoned.delete(pid);
  try {
    const [{ ended }] = await sql<{ ended: boolean }[]>`SELECT pg_terminate_backend(${pid}) AS ended`;
    logger.warn("ended the walsender left behind by a replication stream given up on as silent", { slot, pid, ended });
  } catch (error) {
    // Without the right to (another role's backend), the server's wal_sender_timeout ends it.
    logger.warn("could not end the walsender left behind by a replication stream given up on", {
      slot,
      pid,
      reason: errorMessage(error),
    });
  }
}
