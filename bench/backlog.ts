/**
 * bench/backlog: the engine stopped while 10,000,000 row changes pile up in the slot, then
 * started. Prints peak RSS, time to drain and changes/s, next to the same engine draining a
 * 1,000,000-change stream of the same shape in the same run (the streaming rate it must stay
 * within 10% of). The changes are UPDATEs of 10,000 rows per transaction on a 1,000,000-row,
 * 10-column table: one-row transactions would take PostgreSQL most of an hour to write.
 * Targets (issue #5): peak RSS <= 300 MB; drain rate >= 0.9 x the streaming rate.
 *
 *   deno run -A bench/backlog.ts [--plugin pgoutput|wal2json] [--changes 10000000] [--reference 1000000]
 *                                [--sslmode disable|prefer|...] [--source JSON]
 */
import { parseArgs } from "node:util";
import { ENGINE_ARGS } from "../test/helpers/engine.ts";
import { tempFile } from "../test/helpers/temp_files.ts";
import { quietElasticsearch } from "./ceilings.ts";
import { createBenchDatabase } from "./fixture.ts";
import { startMeasured } from "./measure.ts";
import { currentLsn, waitForLsn, waitForSnapshot } from "./slot.ts";
import { benchServices } from "./bench_services.ts";

const { values } = parseArgs({
  options: {
    plugin: { type: "string", default: "pgoutput" },
    rows: { type: "string", default: "1000000" },
    changes: { type: "string", default: "10000000" },
    reference: { type: "string", default: "1000000" },
    /**
     * The replication stream's TLS, as bench/stream: without TLS by default; `--sslmode prefer`
     * against the bench's TLS server measures the encrypted stream (postgres.js on node:tls).
     */
    sslmode: { type: "string", default: "disable" },
    /** Extra `source` settings as JSON, e.g. '{"maxInFlightEvents": 5000}', to see what they cost. */
    source: { type: "string", default: "{}" },
  },
});
const ROWS = Number(values.rows);
const CHANGES = Number(values.changes);
const REFERENCE = Number(values.reference);
const PER_TRANSACTION = 10_000;
const plugin = values.plugin as "pgoutput" | "wal2json";
const { pgUrl, esUrl, heapLine } = await benchServices();
const fmt = (n: number) => Math.round(n).toLocaleString("en");

console.log(`[backlog] loading ${fmt(ROWS)} rows ...`);
const db = await createBenchDatabase(pgUrl, "bench_backlog", ROWS);
const { sql } = db;
const url = `${db.url}?sslmode=${values.sslmode}`;
const slot = "bench_backlog";
const config = await tempFile(".json");
await Deno.writeTextFile(
  config,
  JSON.stringify({
    source: { url, slot, plugin, ...JSON.parse(values.source!) },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 2_000 }, concurrency: 2 } },
    tables: { items: { index: "bench_backlog" } },
  }),
);
const engineArgs = [...ENGINE_ARGS, "run", "--config", config, "--progress", "log"];

console.log("[backlog] engine snapshot ...");
const first = startMeasured(Deno.execPath(), engineArgs);
await Promise.race([waitForSnapshot(sql, slot, 1_800_000), first.failed]);
await Promise.race([waitForLsn(sql, slot, await currentLsn(sql), 600_000), first.failed]);
await first.stop();

/** Writes `changes` row updates with the engine stopped, then times the engine draining them. */
async function drain(changes: number): Promise<{ seconds: number; peakMb: number }> {
  console.log(`[backlog] engine stopped; writing ${fmt(changes)} row changes ...`);
  const written = performance.now();
  for (let done = 0; done < changes; done += PER_TRANSACTION) {
    const from = 1 + (done % ROWS);
    await sql`UPDATE items SET score = score + 1 WHERE id BETWEEN ${from} AND ${from + PER_TRANSACTION - 1}`;
  }
  const end = await currentLsn(sql);
  console.log(`[backlog] written in ${((performance.now() - written) / 1000).toFixed(0)} s; draining ...`);
  await quietElasticsearch(esUrl);
  const engine = startMeasured(Deno.execPath(), engineArgs);
  const started = performance.now();
  await Promise.race([waitForLsn(sql, slot, end, 7_200_000, 30_000), engine.failed]);
  const seconds = (performance.now() - started) / 1000;
  const peakMb = engine.peakRssMb();
  const stopped = await engine.stop();
  if (stopped.code !== 0) throw new Error(`engine exited ${stopped.code}:\n${stopped.output.slice(-3000)}`);
  return { seconds, peakMb };
}

const reference = await drain(REFERENCE);
const backlog = await drain(CHANGES);
const referenceRate = REFERENCE / reference.seconds;
const backlogRate = CHANGES / backlog.seconds;
console.log(`
== bench/backlog, plugin ${plugin}, sslmode=${values.sslmode}, ${fmt(PER_TRANSACTION)} row changes per transaction ==
${heapLine}
stream of ${fmt(REFERENCE).padStart(10)} changes   ${reference.seconds.toFixed(1)} s   ${
  fmt(referenceRate)
} changes/s   peak RSS ${reference.peakMb.toFixed(0)} MB
backlog of ${fmt(CHANGES).padStart(9)} changes   ${backlog.seconds.toFixed(1)} s   ${fmt(backlogRate)} changes/s   peak RSS ${
  backlog.peakMb.toFixed(0)
} MB   (target <= 300 MB)
drain rate / stream rate            ${(backlogRate / referenceRate).toFixed(2)}   (target >= 0.9)
`);
await db.drop();
await fetch(`${esUrl}/bench_backlog`, { method: "DELETE" }).then((r) => r.body?.cancel());
