/**
 * Snapshot progress for people and for machines. On a terminal: a bar per table with rows
 * done/total, rows/s and ETA, redrawn in place. Otherwise: a JSON log line per table every few
 * seconds and at start and end.
 */
import { gauges } from "../telemetry/metrics.ts";
import type { SnapshotProgress } from "../snapshot/progress.ts";
import { logger, setLogSink } from "../telemetry/log.ts";

interface TableLine {
  total: number;
  done: number;
  startedAt: number;
  startDone: number;
  finished: boolean;
}

function rate(line: TableLine, now: number): number {
  const seconds = (now - line.startedAt) / 1_000;
  return seconds > 0 ? (line.done - line.startDone) / seconds : 0;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

export function logProgress(intervalMs = 5_000): SnapshotProgress & { stop(): void } {
  const tables = new Map<string, TableLine>();
  const report = (table: string, line: TableLine) => {
    const now = Date.now();
    const perSecond = rate(line, now);
    logger.info("snapshot progress", {
      table,
      rowsDone: line.done,
      rowsTotal: line.total,
      rowsPerSecond: Math.round(perSecond),
      etaSeconds: perSecond > 0 ? Math.round((line.total - line.done) / perSecond) : null,
    });
  };
  const timer = setInterval(() => {
    for (const [table, line] of tables) if (!line.finished) report(table, line);
  }, intervalMs);
  return {
    tableStarted(table, total, done) {
      tables.set(table, { total, done, startedAt: Date.now(), startDone: done, finished: false });
    },
    rowsCopied(table, rows) {
      const line = tables.get(table);
      if (line) line.done += rows;
    },
    tableCopied(table) {
      const line = tables.get(table);
      if (line) {
        line.finished = true;
        report(table, line);
      }
    },
    stop: () => clearInterval(timer),
  };
}

export function terminalProgress(): SnapshotProgress & { stop(): void } {
  const encoder = new TextEncoder();
  const tables = new Map<string, TableLine>();
  let drawn = 0;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  const width = () => {
    try {
      return Deno.consoleSize().columns;
    } catch {
      return 100;
    }
  };
  const render = () => {
    const now = Date.now();
    const columns = width();
    const nameWidth = Math.min(28, Math.max(...[...tables.keys()].map((t) => t.length), 5));
    const lines = [...tables].map(([table, line]) => {
      const fraction = line.total > 0 ? Math.min(1, line.done / line.total) : line.finished ? 1 : 0;
      const perSecond = rate(line, now);
      const eta = line.finished ? "done" : `ETA ${duration(perSecond > 0 ? (line.total - line.done) / perSecond : Infinity)}`;
      const stats = ` ${line.done.toLocaleString("en")}/${line.total.toLocaleString("en")} ${
        Math.round(perSecond).toLocaleString("en")
      } rows/s ${eta}`;
      const barWidth = Math.max(10, columns - nameWidth - stats.length - 6);
      const filled = Math.round(fraction * barWidth);
      const name = table.length > nameWidth ? `${table.slice(0, nameWidth - 1)}…` : table.padEnd(nameWidth);
      return `${name} [${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${
        String(Math.round(fraction * 100)).padStart(3)
      }%${stats}`;
    });
    write(`${drawn > 0 ? `\x1b[${drawn}F` : ""}${lines.map((l) => `\x1b[2K${l}`).join("\n")}\n`);
    drawn = lines.length;
  };
  // Log lines go above the bars instead of through them.
  setLogSink((line) => {
    write(`${drawn > 0 ? `\x1b[${drawn}F` : ""}\x1b[J${line}\n`);
    drawn = 0;
    if (tables.size > 0) render();
  });
  const timer = setInterval(() => tables.size > 0 && render(), 250);
  return {
    tableStarted(table, total, done) {
      tables.set(table, { total, done, startedAt: Date.now(), startDone: done, finished: false });
      render();
    },
    rowsCopied(table, rows) {
      const line = tables.get(table);
      if (line) line.done += rows;
    },
    tableCopied(table) {
      const line = tables.get(table);
      if (line) line.finished = true;
      render();
    },
    stop() {
      clearInterval(timer);
      if (tables.size > 0) render();
    },
  };
}

/** The same progress, also kept for `/metrics` (snapshot rows done and planned per table). */
export function withSnapshotGauges<P extends SnapshotProgress>(progress: P): P {
  return {
    ...progress,
    tableStarted(table, rowsTotal, rowsDone) {
      gauges.snapshot.set(table, { done: rowsDone, total: rowsTotal });
      progress.tableStarted(table, rowsTotal, rowsDone);
    },
    rowsCopied(table, rows) {
      const entry = gauges.snapshot.get(table);
      if (entry) entry.done += rows;
      progress.rowsCopied(table, rows);
    },
    tableCopied(table) {
      progress.tableCopied(table);
    },
  };
}
