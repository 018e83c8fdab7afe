/**
 * `oesophagus status`: the slot, how far behind it is, each sink's health and dead letters, the
 * consumer group's lag (with a `consume` section), and snapshot progress per table.
 */
import { type Config, publishedTables } from "../config/load.ts";
import type { KafkaSinkConfig, SinkConfig } from "../config/schema.ts";
import { createClient } from "../sinks/elasticsearch/client.ts";
import { describeKafka, groupLag } from "../sinks/kafka/client.ts";
import { withSchemeCheck } from "../sinks/elasticsearch/scheme_probe.ts";
import { redact } from "../telemetry/redact.ts";
import { displayName } from "../pg/identifier.ts";
import { explainConnectionError } from "../pg/connect_errors.ts";
import { formatLsn } from "../pg/lsn.ts";
import { columnsChangedSince, describeTables, type TableDescription } from "../pg/catalog.ts";
import { connect, type Sql } from "../pg/session.ts";
import { inspectSlot, slotLag } from "../pg/slot.ts";
import { ENGINE_SCHEMA, loadProgress, type TableProgress } from "../snapshot/progress_store.ts";
import { printFatal } from "./fatal.ts";

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
  readonly sinks: readonly {
    readonly name: string;
    /** Elasticsearch: cluster health (green, yellow, red); Kafka: how many brokers; or "unreachable". */
    readonly health: string;
    readonly deadLetters: number | null;
    readonly error?: string;
  }[];
  /** With a `consume` section: how far its consumer group is behind on the Kafka sink's topics (events). */
  readonly consumer?: {
    readonly group: string;
    readonly from: string;
    readonly into: string;
    /** Events not yet indexed, over every partition; null when Kafka could not be asked. */
    readonly lag: string | null;
    readonly topics: readonly { readonly topic: string; readonly partition: number; readonly lag: string }[];
    readonly error?: string;
  };
  readonly snapshot: readonly {
    readonly table: string;
    readonly state: "not started" | "copying" | "done";
    readonly rowsCopied: number;
    readonly rowsTotal: number | null;
    readonly chunksDone: number;
    readonly chunksTotal: number;
    /**
     * A done copy of a table whose columns changed since (ALTER TABLE, or ALTER TYPE of a
     * composite type a column has): documents of rows unchanged since may show the old ones until
     * `recopy`. Absent when the copy recorded no columns (an older engine's), or the table could
     * not be described.
     */
    readonly columnsChanged?: boolean;
  }[];
}

export async function collectStatus(config: Config): Promise<StatusReport> {
  const sql = connect(config.source.url, { max: 1, applicationName: "oesophagus status" });
  try {
    const slot = await inspectSlot(sql, config.source.slot);
    const lag = (slot ? await slotLag(sql, config.source.slot) : null) ?? { lag: null, retained: null };
    const [schema] = await sql<
      { exists: boolean }[]
    >`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${ENGINE_SCHEMA}) AS exists`;
    const progress: Map<string, TableProgress> = schema.exists ? await loadProgress(sql, config.source.slot) : new Map();
    const columns = await columnsNow(sql, config);
    const sinks = await Promise.all(Object.entries(config.sinks).map(([name, sink]) => sinkStatus(name, sink)));
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
      sinks,
      ...(config.consume ? { consumer: await consumerStatus(config) } : {}),
      snapshot: config.tables.map((t) => {
        const name = displayName(t.name);
        const p = progress.get(name);
        if (!p) {
          return { table: name, state: "not started" as const, rowsCopied: 0, rowsTotal: null, chunksDone: 0, chunksTotal: 0 };
        }
        const done = p.chunks.filter((c) => c.doneVersion !== null);
        const now = columns.get(name);
        return {
          table: name,
          state: p.completed ? "done" as const : "copying" as const,
          rowsCopied: done.reduce((sum, c) => sum + (c.rows ?? 0), 0),
          rowsTotal: p.rowsTotal,
          chunksDone: done.length,
          chunksTotal: p.chunks.length,
          ...(p.completed && p.columns !== null && now !== undefined
            ? { columnsChanged: columnsChangedSince(p.columns, now) }
            : {}),
        };
      }),
    };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Each configured table's description now; none if the tables cannot be described (one is missing, say). */
async function columnsNow(sql: Sql, config: Config): Promise<Map<string, TableDescription>> {
  try {
    const tables = await describeTables(sql, config.tables.map((t) => t.name));
    return new Map(tables.map((t) => [displayName(t.name), t]));
  } catch {
    return new Map();
  }
}

async function sinkStatus(name: string, sink: SinkConfig): Promise<StatusReport["sinks"][number]> {
  if (sink.type === "kafka") {
    try {
      const { brokers } = await describeKafka(name, sink);
      return { name, health: `${brokers} broker(s)`, deadLetters: null };
    } catch (error) {
      return { name, health: "unreachable", deadLetters: null, error: redact((error as Error).message) };
    }
  }
  const client = createClient(name, { ...sink, requestTimeoutMs: 5_000 });
  try {
    const health = await withSchemeCheck(name, sink.url, () => client.cluster.health({ timeout: "5s" }));
    const count = await client.count({ index: sink.deadLetterIndex, ignore_unavailable: true, allow_no_indices: true });
    return { name, health: health.status, deadLetters: count.count };
  } catch (error) {
    return { name, health: "unreachable", deadLetters: null, error: redact((error as Error).message) };
  } finally {
    await client.close();
  }
}

async function consumerStatus(config: Config): Promise<NonNullable<StatusReport["consumer"]>> {
  const { from, into, groupId } = config.consume!;
  const sink = config.sinks[from] as KafkaSinkConfig;
  const topics = publishedTables(config.tables, from, sink).map(({ topic }) => topic);
  try {
    const lags = await groupLag(from, sink, groupId, topics);
    return { group: groupId, from, into, lag: lags.reduce((sum, p) => sum + BigInt(p.lag), 0n).toString(), topics: lags };
  } catch (error) {
    return { group: groupId, from, into, lag: null, topics: [], error: redact((error as Error).message) };
  }
}

/** 1536 -> "1.5 KiB": lag and WAL in units a person reads at a glance (the JSON keeps exact bytes). */
export function humanBytes(text: string | null | undefined): string {
  if (text === null || text === undefined) return "-";
  let value = Number(text);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
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
      ? `slot ${s.name}  ${s.plugin}  ${s.active ? "active" : "inactive"}  confirmed ${s.confirmedFlushLsn ?? "-"}  lag ${
        humanBytes(s.lagBytes)
      }  retained WAL ${humanBytes(s.retainedWalBytes)}`
      : `slot ${s.name}  not created yet`,
  );
  console.log();
  printTable(["sink", "health", "dead letters"], report.sinks.map((k) => [k.name, k.health, String(k.deadLetters ?? "-")]));
  console.log();
  const c = report.consumer;
  if (c) {
    console.log(`consumer group ${c.group} (${c.from} -> ${c.into})  lag ${c.lag ?? `unknown: ${c.error}`} events`);
    console.log();
  }
  printTable(
    ["table", "snapshot", "rows copied / total", "chunks"],
    report.snapshot.map((t) => [t.table, t.state, `${t.rowsCopied} / ${t.rowsTotal ?? "?"}`, `${t.chunksDone}/${t.chunksTotal}`]),
  );
  for (const t of report.snapshot.filter((t) => t.columnsChanged)) {
    console.log();
    console.log(
      `${t.table}: its columns changed since its copy (ALTER TABLE, or ALTER TYPE of a composite type it has): documents of rows unchanged since may show the old ones\n` +
        `  fix: stop the engine, run "oesophagus recopy ${t.table}", start it`,
    );
  }
  return 0;
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
