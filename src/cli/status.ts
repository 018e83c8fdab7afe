/** `oesophagus status`: the slot, how far behind it is, and snapshot progress per table. */
import type { Config } from "../config/load.ts";
import { displayName } from "../pg/identifier.ts";
import { explainConnectionError } from "../pg/connect_errors.ts";
import { formatLsn } from "../pg/lsn.ts";
import { connect } from "../pg/session.ts";
import { inspectSlot } from "../pg/slot.ts";
import { ENGINE_SCHEMA, loadProgress, type TableProgress } from "../snapshot/progress_store.ts";
import { printFatal } from "./run.ts";

export interface StatusReport {
  readonly slot: {
    readonly name: string;
    readonly exists: boolean;
    readonly plugin?: string;
    readonly active?: boolean;
    readonly confirmedFlushLsn?: string | null;
    readonly lagBytes?: string | null;
    readonly retainedWalBytes?: string | null;
  };
  readonly snapshot: readonly {
    readonly table: string;
    readonly state: "not started" | "copying" | "done";
    readonly rowsCopied: number;
    readonly rowsTotal: number | null;
    readonly chunksDone: number;
    readonly chunksTotal: number;
  }[];
}

export async function collectStatus(config: Config): Promise<StatusReport> {
  const sql = connect(config.source.url, { max: 1, applicationName: "oesophagus status" });
  try {
    const slot = await inspectSlot(sql, config.source.slot);
    let lag: { lag: string | null; retained: string | null } = { lag: null, retained: null };
    if (slot) {
      [lag] = await sql<{ lag: string | null; retained: string | null }[]>`
        SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::text AS lag, (pg_current_wal_lsn() - restart_lsn)::text AS retained
        FROM pg_replication_slots WHERE slot_name = ${config.source.slot}`;
    }
    const [schema] = await sql<
      { exists: boolean }[]
    >`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${ENGINE_SCHEMA}) AS exists`;
    const progress: Map<string, TableProgress> = schema.exists ? await loadProgress(sql, config.source.slot) : new Map();
    return {
      slot: {
        name: config.source.slot,
        exists: slot !== null,
        ...(slot && {
          plugin: slot.plugin,
          active: slot.active,
          confirmedFlushLsn: slot.confirmedFlushLsn === null ? null : formatLsn(slot.confirmedFlushLsn),
          lagBytes: lag.lag,
          retainedWalBytes: lag.retained,
        }),
      },
      snapshot: config.tables.map((t) => {
        const name = displayName(t.name);
        const p = progress.get(name);
        if (!p) {
          return { table: name, state: "not started" as const, rowsCopied: 0, rowsTotal: null, chunksDone: 0, chunksTotal: 0 };
        }
        const done = p.chunks.filter((c) => c.doneVersion !== null);
        return {
          table: name,
          state: p.completed ? "done" as const : "copying" as const,
          rowsCopied: done.reduce((sum, c) => sum + (c.rows ?? 0), 0),
          rowsTotal: p.rowsTotal,
          chunksDone: done.length,
          chunksTotal: p.chunks.length,
        };
      }),
    };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export async function status(config: Config, json: boolean): Promise<number> {
  let report: StatusReport;
  try {
    report = await collectStatus(config);
  } catch (error) {
    printFatal(explainConnectionError(error, config.source.url));
    return 1;
  }
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  const s = report.slot;
  console.log(
    s.exists
      ? `slot ${s.name}: plugin ${s.plugin}, ${s.active ? "active" : "inactive"}, confirmed ${s.confirmedFlushLsn ?? "-"}, lag ${
        s.lagBytes ?? "-"
      } bytes, retained WAL ${s.retainedWalBytes ?? "-"} bytes`
      : `slot ${s.name}: not created yet`,
  );
  const width = Math.max(5, ...report.snapshot.map((t) => t.table.length));
  console.log(`${"table".padEnd(width)}  state        rows copied / total       chunks`);
  for (const t of report.snapshot) {
    console.log(
      `${t.table.padEnd(width)}  ${t.state.padEnd(11)}  ${
        `${t.rowsCopied} / ${t.rowsTotal ?? "?"}`.padEnd(24)
      }  ${t.chunksDone}/${t.chunksTotal}`,
    );
  }
  return 0;
}
