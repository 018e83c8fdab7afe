/**
 * bench/stream, for each plugin: (a) 100,000 one-row UPDATE transactions, (b) one 1,000,000-row
 * UPDATE transaction. The WAL is written first; then, on the same range, the ceilings
 * (pg_recvlogical with the same plugin and options to /dev/null; a plain _bulk load of as many
 * documents) and the engine end to end (from process start until the slot's confirmed LSN, which
 * moves only when Elasticsearch acknowledged, reaches the end of the range). That is one sample;
 * (a), seconds long, takes three (--samples), each on its own WAL, and the sample of median ratio
 * is printed in full, the others' ratios beside it. Then (c): commit to
 * acknowledged latency at a steady 2,000 transactions/s. Before any of it, the engine that takes
 * the snapshot also streams a warm-up UPDATE (--warmup rows, not counted), so that Elasticsearch
 * runs its versioned overwrites warm, as a running one does, in every measured run. After the
 * engine's runs of (a) and (b), a running engine takes the same workload too: started and warmed
 * on a tenth of it, stopped (SIGSTOP) while the workload is written, then timed from SIGCONT until
 * the slot is confirmed past it, which is the catch-up of an engine that has been streaming.
 * Targets (issue #4): ratio >= 0.7; p99 <= 500 ms at 2,000 tx/s; peak RSS <= 300 MB in (b).
 *
 *   deno run -A bench/stream.ts [--plugin pgoutput|wal2json|both] [--rows 1000000] [--transactions 100000]
 *                               [--workloads abc] [--samples 3] [--samples-b 1] [--repeat N]
 *                               [--sampling 0..1 [--collector discard|jaeger]]
 *                               [--sslmode disable|prefer|...] [--source JSON] [--batch JSON] [--concurrency 2]
 *                               [--warmup 300000]
 *
 * Besides the ratio, each engine run prints what Elasticsearch was asked meanwhile and the best an
 * engine costing no CPU could do on these cores (the walsender's and Elasticsearch's CPU in the
 * run, shared out over the cores): on a small machine that bound, not the engine, may be what
 * keeps the ratio under the target. After the engine, Elasticsearch alone takes the engine's
 * writes again (versioned updates of the existing documents, which is what a change stream asks
 * of it, unlike the ceiling's fresh index), and the bound is printed from that too. Last, the CPU
 * an engine may use at all to reach the target in such a run: the cores for the time the target
 * allows, less the walsender's CPU, Elasticsearch's for the same writes (the lower of the two
 * runs) and the cores idle while the walsender reads a transaction alone.
 *
 * Connections are plain (sslmode=disable, as on loopback in the compose stack) unless --sslmode
 * says otherwise; pg_recvlogical then uses the same. BENCH_V8_FLAGS adds V8 flags to the engine
 * (e.g. --prof); BENCH_ENGINE_LOG=dir keeps each measured engine's log there.
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { describeTables } from "../src/pg/catalog.ts";
import { parseLsn } from "../src/pg/lsn.ts";
import { wal2jsonOptions } from "../src/pg/wal2json.ts";
import { indexMapping } from "../src/sinks/elasticsearch/mapping.ts";
import { ENGINE_ARGS } from "../test/helpers/engine.ts";
import { tempFile } from "../test/helpers/temp_files.ts";
import { Jaeger } from "../test/helpers/jaeger.ts";
import {
  bulkCeiling,
  describeWork,
  elasticsearchWork,
  quietElasticsearch,
  recvlogicalCeiling,
  versionedWritesAlone,
} from "./ceilings.ts";
import { benchServices } from "./bench_services.ts";
import { createBenchDatabase } from "./fixture.ts";
import { cpuSeconds, elasticsearchPid, percentile, startMeasured } from "./measure.ts";
import { oneRowUpdates } from "./one_row_updates.ts";
import { watchStreamStart } from "./stream_start.ts";
import { currentLsn, waitForActiveSlot, waitForLsn as waitForSlot, waitForSnapshot } from "./slot.ts";

const TRACE_EVERY_MS = Deno.env.get("BENCH_TRACE") ? 1_000 : undefined;
const waitForLsn = (sql: postgres.Sql, slot: string, target: string, timeoutMs: number) =>
  waitForSlot(sql, slot, target, timeoutMs, TRACE_EVERY_MS);

const { values } = parseArgs({
  options: {
    plugin: { type: "string", default: "both" },
    rows: { type: "string", default: "1000000" },
    transactions: { type: "string", default: "100000" },
    rate: { type: "string", default: "2000" },
    /** Bulk requests in flight: the sink's `concurrency` and the ceilings' alike. */
    concurrency: { type: "string", default: "2" },
    workloads: { type: "string", default: "abc" },
    /**
     * What tracing costs: each workload's engine run alternates untraced and traced at this
     * sampling ratio, `--repeat` times each, every run on freshly written WAL, and the cost is
     * the ratio of the medians (default: tracing off, one run). Alternating keeps a machine
     * whose speed drifts over minutes from deciding the comparison.
     */
    sampling: { type: "string" },
    /** Engine runs per workload (median printed); default 3 with --sampling, else 1. */
    repeat: { type: "string" },
    /**
     * Samples of (a): each on freshly written WAL, its ceilings measured right before its engine
     * run; the sample of median ratio is printed in full, the others' ratios beside it. (a) lasts
     * seconds, and on a small shared machine one ceiling run of it may take half as long as the
     * next. Default 3, or 1 with --sampling (which alternates engine runs instead).
     */
    samples: { type: "string" },
    /** Samples of (b), likewise; default 1 (a sample of it takes minutes). */
    "samples-b": { type: "string", default: "1" },
    /**
     * Where traces go: "jaeger" (real, on these same two cores, so its ingest CPU counts against
     * the engine) or "discard" (an OTLP endpoint in this process that answers and drops, to see
     * the engine's own cost, as with a collector on another machine).
     */
    collector: { type: "string", default: "jaeger" },
    /** libpq sslmode of every connection; the bench servers have TLS, so prefer measures it encrypted. */
    sslmode: { type: "string", default: "disable" },
    /** Extra `source` settings as JSON, e.g. '{"maxInFlightEvents": 30000}', to see what they do. */
    source: { type: "string", default: "{}" },
    /** Extra `batch` settings of the sink as JSON, e.g. '{"lingerMs": 20}'. */
    batch: { type: "string", default: "{}" },
    /**
     * Rows of the warm-up UPDATE the snapshot's engine streams before anything is measured (0: none).
     * A freshly started Elasticsearch has spent up to about twice the CPU on its first pass of
     * versioned overwrites (its JIT), which a running one does not: without the warm-up the first
     * measured run may pay that.
     */
    warmup: { type: "string", default: "300000" },
  },
});
const ROWS = Number(values.rows);
const TRANSACTIONS = Number(values.transactions);
const RATE = Number(values.rate);
const WARMUP_ROWS = Math.min(Number(values.warmup), ROWS);
if (!Number.isInteger(WARMUP_ROWS) || WARMUP_ROWS < 0) throw new Error(`--warmup must be a row count, not ${values.warmup}`);
const MAX_DOCS = 2_000;
const CONCURRENCY = Number(values.concurrency);
const plugins = values.plugin === "both" ? ["pgoutput", "wal2json"] as const : [values.plugin as "pgoutput" | "wal2json"];
const { pgUrl, esUrl, heapLine } = await benchServices();
const collector = values.sampling === undefined
  ? null
  : values.collector === "discard"
  ? discardCollector()
  : await Jaeger.start();
const tracing = collector ? { enabled: true, endpoint: collector.otlpUrl, samplingRatio: Number(values.sampling) } : null;
const ROUNDS = values.repeat !== undefined ? Number(values.repeat) : collector ? 3 : 1;
const SAMPLES = { a: Number(values.samples ?? (collector ? 1 : 3)), b: Number(values["samples-b"]) };
for (const [workload, n] of Object.entries(SAMPLES)) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--samples${workload === "b" ? "-b" : ""} must be a positive integer`);
}
// Elasticsearch's CPU in each run: on two shared cores, it is what bounds the engine.
const ES_PID = elasticsearchPid();
const esCpu = () => ES_PID === null ? NaN : cpuSeconds(ES_PID);
const CORES = navigator.hardwareConcurrency;
/** Issue #4's target for engine / min(ceilings). */
const TARGET_RATIO = 0.7;

const medianOf = (values: readonly number[]) => medianBy(values, (v) => v);
const fmt = (n: number) => Math.round(n).toLocaleString("en");

for (const plugin of plugins) {
  console.log(`[${plugin}] loading ${fmt(ROWS)} rows ...`);
  const db = await createBenchDatabase(pgUrl, `bench_stream_${plugin}`, ROWS);
  const { sql } = db;
  // The engine and pg_recvlogical on the same connection: loopback without TLS unless --sslmode says.
  const url = `${db.url}?sslmode=${values.sslmode}`;
  const [table] = await describeTables(sql, [{ schema: "public", name: "items" }]);
  const mapping = indexMapping(table);
  const slot = `bench_${plugin}`;
  const argsWith = async (tracing: Record<string, unknown>) => {
    const config = await tempFile(".json");
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        source: { url, slot, plugin, ...JSON.parse(values.source!) },
        tracing,
        sinks: {
          search: {
            type: "elasticsearch",
            url: esUrl,
            batch: { maxDocs: MAX_DOCS, ...JSON.parse(values.batch!) },
            concurrency: CONCURRENCY,
          },
        },
        tables: { items: { index: `bench_stream_${plugin}` } },
      }),
    );
    // BENCH_V8_FLAGS (e.g. "--prof") are added to the engine's V8 flags, to profile it in place.
    const v8Extra = Deno.env.get("BENCH_V8_FLAGS");
    return [
      ...ENGINE_ARGS.map((arg) => arg.startsWith("--v8-flags=") && v8Extra ? `${arg},${v8Extra.split(/\s+/).join(",")}` : arg),
      "run",
      "--config",
      config,
      "--progress",
      "log",
    ];
  };
  const engineArgs = await argsWith({ enabled: false });
  const tracedArgs = tracing ? await argsWith(tracing) : null;
  const options: Record<string, string> = plugin === "pgoutput"
    ? { proto_version: "1", publication_names: "oesophagus" }
    : wal2jsonOptions([{ schema: "public", name: "items" }]);

  // The engine's snapshot, once, so the measured runs only stream.
  console.log(`[${plugin}] engine snapshot ...`);
  const first = startMeasured(Deno.execPath(), engineArgs);
  await Promise.race([waitForSnapshot(sql, slot, 900_000), first.failed]);
  await Promise.race([waitForLsn(sql, slot, await currentLsn(sql), 600_000), first.failed]);
  const warmup = WARMUP_ROWS > 0 ? await warmUp(sql, slot, first) : null;
  await first.stop();
  const ceilingSlot = `bench_ceiling_${plugin}`;
  await sql`SELECT pg_create_logical_replication_slot(${ceilingSlot}, ${plugin})`;

  /**
   * Writes the workload's WAL; returns how many changes it made and, for (b), where its commit
   * record went.
   */
  const writeWorkload = async (
    workload: "a" | "b",
    size = workload === "a" ? TRANSACTIONS : ROWS,
  ): Promise<{ changes: number; commitAt: string | null }> => {
    if (workload === "a") {
      console.log(`[${plugin}] (a) writing ${fmt(size)} one-row UPDATE transactions ...`);
      return { changes: await oneRowUpdates(url, ROWS, size), commitAt: null };
    }
    console.log(`[${plugin}] (b) one UPDATE of ${fmt(size)} rows ...`);
    const commitAt = await sql.begin(async (tx) => {
      await tx`UPDATE items SET score = score + 1 WHERE id <= ${size}`;
      const [{ lsn }] = await tx<{ lsn: string }[]>`SELECT pg_current_wal_insert_lsn()::text AS lsn`;
      return lsn;
    });
    return { changes: size, commitAt };
  };

  /** The ceiling's slot skips WAL written only for the engine's runs. */
  const skipCeilingTo = (lsn: string) => sql`SELECT pg_replication_slot_advance(${ceilingSlot}, ${lsn}::pg_lsn)`;

  /** Stops a measured engine; it must exit 0. BENCH_ENGINE_LOG=dir keeps its log there as `label`.log. */
  const stopEngine = async (engine: ReturnType<typeof startMeasured>, label: string) => {
    const stopped = await engine.stop();
    if (stopped.code !== 0) throw new Error(`engine exited ${stopped.code}:\n${stopped.output.slice(-3000)}`);
    const logTo = Deno.env.get("BENCH_ENGINE_LOG");
    if (logTo) await Deno.writeTextFile(`${logTo}/${label}.log`, stopped.output);
  };

  /**
   * A running engine catching up: started, warmed on a tenth of the workload, stopped (SIGSTOP)
   * while the workload is written, then continued and timed until the slot is confirmed past it.
   * No process start, no cold JIT, no wait for the walsender to read a transaction before its
   * commit: what an engine that has been streaming for a while takes for the same changes.
   */
  const runRunning = async (workload: "a" | "b"): Promise<EngineRun & { writeSeconds: number }> => {
    // A stopped engine answers no keepalive: its walsender must not give up on it meanwhile.
    await sql.unsafe(`ALTER DATABASE bench_stream_${plugin} SET wal_sender_timeout = '15min'`);
    const engine = startMeasured(Deno.execPath(), engineArgs);
    const pid = engine.child.pid;
    let frozen = false;
    let run: EngineRun & { writeSeconds: number };
    try {
      await Promise.race([waitForActiveSlot(sql, slot, 120_000), engine.failed]);
      await writeWorkload(workload, (workload === "a" ? TRANSACTIONS : ROWS) / 10);
      await Promise.race([waitForLsn(sql, slot, await currentLsn(sql), 600_000), engine.failed]);
      Deno.kill(pid, "SIGSTOP");
      frozen = true;
      const writing = performance.now();
      await writeWorkload(workload);
      const writeSeconds = (performance.now() - writing) / 1000;
      const end = await currentLsn(sql);
      await skipCeilingTo(end);
      await quietElasticsearch(esUrl);
      const before = { cpu: cpuSeconds(pid), es: esCpu(), walsender: await walsenderCpu(sql, slot) };
      const workBefore = await elasticsearchWork(esUrl);
      const started = performance.now();
      Deno.kill(pid, "SIGCONT");
      frozen = false;
      await Promise.race([waitForLsn(sql, slot, end, 900_000), engine.failed]);
      const seconds = (performance.now() - started) / 1000;
      run = {
        seconds,
        streamSeconds: seconds,
        readAloneSeconds: 0,
        peakRssMb: engine.peakRssMb(),
        cpu: cpuSeconds(pid) - before.cpu,
        esCpu: esCpu() - before.es,
        walsenderCpu: await walsenderCpu(sql, slot) - before.walsender,
        esWork: describeWork(workBefore, await elasticsearchWork(esUrl)),
        writeSeconds,
      };
    } catch (error) {
      if (frozen) Deno.kill(pid, "SIGCONT");
      await engine.stop();
      throw error;
    }
    await stopEngine(engine, `${plugin}-${workload}-running`);
    await sql.unsafe(`ALTER DATABASE bench_stream_${plugin} RESET wal_sender_timeout`);
    return run;
  };

  /** The engine from process start until the slot's confirmed LSN reaches `end`. */
  const runEngine = async (args: string[], end: string, commitAt: string | null, label: string): Promise<EngineRun> => {
    await quietElasticsearch(esUrl);
    const esBefore = esCpu();
    const workBefore = await elasticsearchWork(esUrl);
    const engine = startMeasured(Deno.execPath(), args);
    const started = performance.now();
    const watch = watchStreamStart(sql, slot, commitAt);
    await Promise.race([waitForLsn(sql, slot, end, 900_000), engine.failed]);
    const finished = performance.now();
    const seconds = (finished - started) / 1000;
    const { activeAt, readAt } = await watch.stop();
    const run = {
      seconds,
      streamSeconds: activeAt === null ? seconds : (finished - activeAt) / 1000,
      readAloneSeconds: activeAt === null || readAt === null ? 0 : (readAt - activeAt) / 1000,
      peakRssMb: engine.peakRssMb(),
      cpu: cpuSeconds(engine.child.pid),
      esCpu: esCpu() - esBefore,
      walsenderCpu: await walsenderCpu(sql, slot),
      esWork: describeWork(workBefore, await elasticsearchWork(esUrl)),
    };
    await stopEngine(engine, label);
    return run;
  };
  const engineLine = (what: string, changes: number, run: EngineRun) =>
    `    ${what.padEnd(34)}${run.seconds.toFixed(1)} s   ${fmt(changes / run.seconds)} changes/s   (engine CPU ${
      run.cpu.toFixed(1)
    } s, Elasticsearch CPU ${run.esCpu.toFixed(1)} s)`;

  const results: string[] = [];
  for (const workload of (["a", "b"] as const).filter((w) => values.workloads!.includes(w))) {
    // Rows the workload updates have this transaction id or a later one as their xmin.
    const [{ firstXid }] = await sql<{ firstXid: string }[]>`
      SELECT (txid_snapshot_xmax(txid_current_snapshot()) % 4294967296)::text AS "firstXid"`;
    /**
     * One sample: the workload's WAL written, then on that range the two ceilings and the
     * engine, one right after the other, so the ratio compares runs made moments apart; the machine's
     * speed drifts by more than the engine's differences over a whole bench.
     */
    const measureSample = async () => {
      const { changes, commitAt } = await writeWorkload(workload);
      const end = await currentLsn(sql);
      await quietElasticsearch(esUrl);
      const recv = await recvlogicalCeiling(url, ceilingSlot, end, options);
      const esBeforeBulk = esCpu();
      const bulkWorkBefore = await elasticsearchWork(esUrl);
      const bulk = await bulkCeiling(
        sql,
        esUrl,
        mapping,
        `SELECT id::text AS id, to_jsonb(t.*)::text AS doc FROM items t WHERE id <= ${changes}`,
        MAX_DOCS,
        CONCURRENCY,
      );
      const esBulk = esCpu() - esBeforeBulk;
      const bulkWork = describeWork(bulkWorkBefore, await elasticsearchWork(esUrl));
      const ceiling = Math.min(changes / recv, changes / bulk.seconds);
      const untraced: EngineRun[] = [];
      const traced: EngineRun[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (const variant of tracedArgs ? ["untraced", "traced"] as const : ["untraced"] as const) {
          let until = end;
          let commit = commitAt;
          if (round > 0 || variant === "traced") {
            commit = (await writeWorkload(workload)).commitAt;
            until = await currentLsn(sql);
            await skipCeilingTo(until);
          }
          const run = await runEngine(
            variant === "traced" ? tracedArgs! : engineArgs,
            until,
            commit,
            `${plugin}-${workload}-${samples.length}-${variant}-${round}`,
          );
          (variant === "traced" ? traced : untraced).push(run);
          if (tracedArgs) {
            console.log(
              `[${plugin}] (${workload}) ${variant} ${fmt(changes / run.seconds)} changes/s, engine CPU ${
                run.cpu.toFixed(1)
              } s, Elasticsearch CPU ${run.esCpu.toFixed(1)} s`,
            );
          }
        }
      }
      const engine = median(untraced);
      return {
        changes,
        recv,
        bulk,
        esBulk,
        bulkWork,
        ceiling,
        untraced,
        traced,
        engine,
        ratio: (changes / engine.seconds) / ceiling,
      };
    };
    const samples: Awaited<ReturnType<typeof measureSample>>[] = [];
    for (let n = 0; n < SAMPLES[workload]; n++) samples.push(await measureSample());
    // The median sample by ratio, whole: its ceilings, its engine run and that run's CPU figures belong together.
    const { changes, recv, bulk, esBulk, bulkWork, ceiling, untraced, traced, engine } = medianBy(samples, (x) => x.ratio);
    const running = await runRunning(workload);
    // The engine's writes again, by Elasticsearch alone: what versioned updates of existing
    // documents cost these cores with no decoding and no engine beside them.
    await quietElasticsearch(esUrl);
    const esBeforeVersioned = esCpu();
    const versioned = await versionedWritesAlone(
      sql,
      esUrl,
      `bench_stream_${plugin}`,
      `SELECT id::text AS id, to_jsonb(t.*)::text AS doc FROM items t WHERE xmin::text::bigint >= ${firstXid}`,
      parseLsn(await currentLsn(sql)),
      MAX_DOCS,
      CONCURRENCY,
    );
    const esVersioned = esCpu() - esBeforeVersioned;
    // Overwrites leave segments full of deleted documents, which Elasticsearch merges away after
    // the writes are acknowledged: a replay this short leaves that work after its window, where
    // the engine's longer runs take much of it inside theirs. quietElasticsearch forces a refresh and
    // a flush first, so this figure holds their CPU too.
    await quietElasticsearch(esUrl);
    const esVersionedSettled = esCpu() - esBeforeVersioned;
    results.push(
      `(${workload}) ${workload === "a" ? `${fmt(TRANSACTIONS)} one-row transactions` : `one ${fmt(ROWS)}-row transaction`}`,
      `    ceiling pg_recvlogical ${plugin}     ${recv.toFixed(1)} s   ${fmt(changes / recv)} changes/s`,
      `    ceiling plain _bulk               ${bulk.seconds.toFixed(1)} s   ${
        fmt(changes / bulk.seconds)
      } docs/s   (Elasticsearch CPU ${esBulk.toFixed(1)} s)`,
      `        Elasticsearch: ${bulkWork}`,
      engineLine(ROUNDS > 1 ? `engine end to end (median of ${ROUNDS})` : "engine end to end", changes, engine),
      `        Elasticsearch: ${engine.esWork}`,
      `        from START_REPLICATION ${engine.streamSeconds.toFixed(1)} s   ${
        fmt(changes / engine.streamSeconds)
      } changes/s   (${(engine.seconds - engine.streamSeconds).toFixed(1)} s of process start and checks before it${
        workload === "b"
          ? `; then the walsender read the transaction alone for ${
            engine.readAloneSeconds.toFixed(1)
          } s: neither plugin sends one before its commit`
          : ""
      })`,
      `    ratio engine / min(ceilings)      ${((changes / engine.seconds) / ceiling).toFixed(2)}   (target >= ${TARGET_RATIO}; ${
        ((changes / engine.streamSeconds) / ceiling).toFixed(2)
      } from START_REPLICATION${samples.length > 1 ? `; the median of ${samples.length} samples` : ""})`,
      ...(samples.length > 1
        ? [
          `        samples (ceiling s, engine s, ratio; from START_REPLICATION): ${
            samples.map((x) =>
              `${(x.changes / x.ceiling).toFixed(1)}, ${x.engine.seconds.toFixed(1)}, ${x.ratio.toFixed(2)}; ${
                ((x.changes / x.engine.streamSeconds) / x.ceiling).toFixed(2)
              }`
            ).join("   ")
          }`,
        ]
        : []),
      engineLine("running engine, caught up", changes, running),
      `        Elasticsearch: ${running.esWork}`,
      `        ratio running engine / min(ceilings)   ${((changes / running.seconds) / ceiling).toFixed(2)}   (walsender CPU ${
        running.walsenderCpu.toFixed(1)
      } s; stopped while the workload was written (${running.writeSeconds.toFixed(1)} s), warmed on a tenth of it before)`,
      `    Elasticsearch alone, versioned    ${versioned.seconds.toFixed(1)} s   ${
        fmt(versioned.docs / versioned.seconds)
      } docs/s   (Elasticsearch CPU ${esVersioned.toFixed(1)} s, ${
        esVersionedSettled.toFixed(1)
      } s until its merges ended after a refresh and a flush; the engine's writes of ${
        fmt(versioned.docs)
      } rows replayed: external_gte over existing documents)`,
      freeEngineLine(changes, ceiling, recv, bulk.seconds, engine),
      anyEngineLine(changes, ceiling, recv, versioned, esVersioned, engine),
      cpuBudgetLine(changes, ceiling, versioned, esVersioned, engine),
      `    engine peak RSS                   ${
        Math.max(...[...samples.flatMap((x) => x.untraced), running].map((r) => r.peakRssMb)).toFixed(0)
      } MB${workload === "b" ? "   (target <= 300 MB)" : ""}`,
    );
    if (tracedArgs) {
      const withTracing = median(traced);
      results.push(
        engineLine(`traced at ${values.sampling} (median of ${ROUNDS})`, changes, withTracing),
        `    tracing cost                      ${
          (100 * (1 - engine.seconds / withTracing.seconds)).toFixed(1)
        }% of throughput (target <= 15%); engine CPU per change ${
          (1e6 * medianOf(untraced.map((r) => r.cpu)) / changes).toFixed(1)
        } µs untraced, ${(1e6 * medianOf(traced.map((r) => r.cpu)) / changes).toFixed(1)} µs traced (medians)`,
        `    runs untraced ${untraced.map((r) => fmt(changes / r.seconds)).join(", ")}; traced ${
          traced.map((r) => fmt(changes / r.seconds)).join(", ")
        } changes/s`,
      );
    }
  }

  if (values.workloads!.includes("c")) results.push(...await latencyAtSteadyRate(plugin, sql, slot, engineArgs));
  console.log(
    `\n== bench/stream, plugin ${plugin}, sslmode=${values.sslmode}${
      collector ? `, tracing at ${values.sampling} into ${values.collector}` : ""
    } ==\n${heapLine}\n${
      warmup === null
        ? "Elasticsearch not warmed up (--warmup 0): the first measured run may be its first pass of versioned overwrites"
        : `Warm-up, not counted: the snapshot's engine streamed one UPDATE of ${fmt(WARMUP_ROWS)} rows in ${
          warmup.seconds.toFixed(1)
        } s (Elasticsearch CPU ${warmup.esCpu.toFixed(1)} s)`
    }\n${results.join("\n")}\n`,
  );
  await db.drop();
  await fetch(`${esUrl}/bench_stream_${plugin}`, { method: "DELETE" }).then((r) => r.body?.cancel());
}
await collector?.[Symbol.asyncDispose]();

/**
 * Streams one UPDATE of the first WARMUP_ROWS rows through the running engine: Elasticsearch's
 * versioned overwrites and the walsender's decoding are then warm, as on a source that has been
 * running, for every measured run after it.
 */
async function warmUp(
  sql: postgres.Sql,
  slot: string,
  engine: { failed: Promise<never> },
): Promise<{ seconds: number; esCpu: number }> {
  console.log(`[warm-up] one UPDATE of ${fmt(WARMUP_ROWS)} rows, not counted ...`);
  const esBefore = esCpu();
  const started = performance.now();
  await sql`UPDATE items SET score = score + 1 WHERE id <= ${WARMUP_ROWS}`;
  await Promise.race([waitForLsn(sql, slot, await currentLsn(sql), 600_000), engine.failed]);
  return { seconds: (performance.now() - started) / 1000, esCpu: esCpu() - esBefore };
}

interface EngineRun {
  /** From the engine's process start until the slot is confirmed past the workload. */
  readonly seconds: number;
  /**
   * The same, from the engine's START_REPLICATION: what is left when its start (process, checks,
   * catalog reads) is not counted, as for a running engine when the workload commits.
   */
  readonly streamSeconds: number;
  /** From START_REPLICATION until the walsender had read (b)'s transaction to its commit; 0 for (a). */
  readonly readAloneSeconds: number;
  readonly peakRssMb: number;
  readonly cpu: number;
  readonly esCpu: number;
  /** CPU of the walsender decoding for the engine (its process lives as long as the engine's stream). */
  readonly walsenderCpu: number;
  /** What Elasticsearch was asked to do meanwhile (requests, items, refreshes, merges). */
  readonly esWork: string;
}

/**
 * What an engine costing no CPU at all could reach on this machine: the walsender and
 * Elasticsearch still need the CPU they used in the run, on the same cores. Where that bound is
 * below the target, the target cannot be met here, whatever the engine does.
 */
function freeEngineLine(changes: number, ceiling: number, recv: number, bulk: number, run: EngineRun): string {
  const seconds = Math.max(recv, bulk, (run.walsenderCpu + run.esCpu) / CORES);
  return `    a free engine, at best            ${seconds.toFixed(1)} s   ratio ${
    ((changes / seconds) / ceiling).toFixed(2)
  }   (walsender CPU ${run.walsenderCpu.toFixed(1)} s + Elasticsearch CPU ${
    run.esCpu.toFixed(1)
  } s in the run above, on ${CORES} cores)`;
}

/**
 * The best any engine could do here, from what PostgreSQL and Elasticsearch need with nothing
 * else running: the walsender's decoding (its CPU in the engine's run) and Elasticsearch's
 * versioned writes (timed alone, scaled to the run's change count) share the same cores.
 */
function anyEngineLine(
  changes: number,
  ceiling: number,
  recv: number,
  versioned: { seconds: number; docs: number },
  esVersionedCpu: number,
  run: EngineRun,
): string {
  const scale = changes / versioned.docs;
  const alone = run.readAloneSeconds;
  const seconds = Math.max(
    recv,
    alone + versioned.seconds * scale,
    alone + (Math.max(0, run.walsenderCpu - alone) + esVersionedCpu * scale) / CORES,
  );
  return `    any engine, at best               ${seconds.toFixed(1)} s   ratio ${
    ((changes / seconds) / ceiling).toFixed(2)
  }   (${
    alone > 0 ? `the walsender's ${alone.toFixed(1)} s alone before the commit, then ` : ""
  }the walsender's CPU beside Elasticsearch's for versioned writes alone, on ${CORES} cores; from START_REPLICATION)`;
}

/**
 * The CPU an engine may spend, start included, and still reach the target ratio here: the cores
 * for the time the target allows, less what the walsender used in the run, what Elasticsearch
 * used for the same writes (in the run, or alone and scaled to the run if that was less), and
 * the cores that had nothing to do: while the walsender read a transaction alone, and, but one,
 * while the engine started (until its START_REPLICATION nobody else has work: its start is one
 * thread's); as if no core were ever idle otherwise. None left: no engine that starts as this one
 * did can reach the target on this machine.
 */
function cpuBudgetLine(
  changes: number,
  ceiling: number,
  versioned: { docs: number },
  esVersionedCpu: number,
  run: EngineRun,
): string {
  const allowed = changes / (TARGET_RATIO * ceiling);
  const es = Math.min(run.esCpu, esVersionedCpu * changes / versioned.docs);
  const idle = (CORES - 1) * run.readAloneSeconds;
  const start = run.seconds - run.streamSeconds;
  const idleAtStart = (CORES - 1) * start;
  const budget = CORES * allowed - run.walsenderCpu - es - idle - idleAtStart;
  return `    engine CPU allowed for ${TARGET_RATIO}         ${
    budget > 0 ? `${budget.toFixed(1)} s` : "none"
  }   (${CORES} cores x ${allowed.toFixed(1)} s, less the walsender's ${run.walsenderCpu.toFixed(1)} s, Elasticsearch's ${
    es.toFixed(1)
  } s, ${idleAtStart.toFixed(1)} s of cores idle during its ${start.toFixed(1)} s of start${
    idle > 0 ? ` and ${idle.toFixed(1)} s before the commit` : ""
  }, no core idle otherwise; this engine used ${run.cpu.toFixed(1)} s)`;
}

/** CPU seconds of the walsender serving the slot (the engine's, while it runs). */
async function walsenderCpu(sql: postgres.Sql, slot: string): Promise<number> {
  const [row] = await sql<{ pid: number | null }[]>`SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return row?.pid ? cpuSeconds(row.pid) : NaN;
}

/** The item of median `key` (the lower of the two middle ones for an even count). */
function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];
}

/** The run of median duration. */
function median(runs: readonly EngineRun[]): EngineRun {
  return medianBy(runs, (run) => run.seconds);
}

/** An OTLP/HTTP endpoint that reads each export and answers success, keeping nothing. */
function discardCollector(): { otlpUrl: string } & AsyncDisposable {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    await request.arrayBuffer();
    const proto = request.headers.get("content-type")?.includes("protobuf");
    return new Response(proto ? new Uint8Array(0) : "{}", {
      headers: { "content-type": proto ? "application/x-protobuf" : "application/json" },
    });
  });
  return {
    otlpUrl: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** (c) Latency at a steady rate: commit time -> the slot's confirmed LSN passing the commit. */
async function latencyAtSteadyRate(plugin: string, sql: postgres.Sql, slot: string, engineArgs: string[]): Promise<string[]> {
  console.log(`[${plugin}] (c) ${fmt(RATE)} tx/s for 15 s ...`);
  await quietElasticsearch(esUrl);
  const engine = startMeasured(Deno.execPath(), engineArgs);
  // Streaming, not merely caught up: the slot is already at the end when the engine starts, and
  // the first commits would otherwise wait for the engine's start-up (0.6-0.9 s p99 once).
  await Promise.race([waitForActiveSlot(sql, slot, 120_000), engine.failed]);
  await Promise.race([waitForLsn(sql, slot, await currentLsn(sql), 120_000), engine.failed]);
  const workBefore = await elasticsearchWork(esUrl);
  const esCpuBefore = esCpu();
  const engineCpuBefore = cpuSeconds(engine.child.pid);
  const samples = await steadyLatency(sql, slot, RATE, 15_000, ROWS);
  const work = describeWork(workBefore, await elasticsearchWork(esUrl));
  const esCpuUsed = esCpu() - esCpuBefore;
  const engineCpu = cpuSeconds(engine.child.pid) - engineCpuBefore;
  await engine.stop();
  const latencies = samples.map((s) => s.latency).sort((a, b) => a - b);
  // When the slow ones were committed: one stall, or slow throughout.
  const slow = samples.filter((s) => s.latency > 500).map((s) => s.at);
  const slowNote = slow.length === 0
    ? ""
    : `\n    ${fmt(slow.length)} over 500 ms, committed between ${(Math.min(...slow) / 1000).toFixed(1)} s and ${
      (Math.max(...slow) / 1000).toFixed(1)
    } s into the run`;
  return [
    `(c) ${fmt(RATE)} one-row transactions/s for 15 s, commit -> acknowledged by Elasticsearch`,
    `    p50 ${percentile(latencies, 50).toFixed(0)} ms   p99 ${percentile(latencies, 99).toFixed(0)} ms   max ${
      latencies[latencies.length - 1].toFixed(0)
    } ms   (${fmt(latencies.length)} transactions; target p99 <= 500 ms)${slowNote}`,
    `        Elasticsearch: ${work}`,
    `        CPU in the 15 s: engine ${engineCpu.toFixed(1)} s, Elasticsearch ${esCpuUsed.toFixed(1)} s`,
  ];
}

/**
 * Issues `rate` one-row UPDATE transactions per second for `durationMs`; for each, the time from
 * its commit to the slot's confirmed LSN passing the WAL position right after it.
 */
async function steadyLatency(
  sql: postgres.Sql,
  slot: string,
  rate: number,
  durationMs: number,
  rows: number,
): Promise<{ at: number; latency: number }[]> {
  const pending: { lsn: bigint; at: number }[] = [];
  const latencies: { at: number; latency: number }[] = [];
  let running = true;
  const start = performance.now();
  const poller = (async () => {
    while (running || pending.length > 0) {
      const [row] = await sql<
        { confirmed: string }[]
      >`SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = ${slot}`;
      const confirmed = parseLsn(row.confirmed);
      const now = performance.now();
      for (let i = pending.length - 1; i >= 0; i--) {
        if (pending[i].lsn <= confirmed) {
          latencies.push({ at: pending[i].at - start, latency: now - pending[i].at });
          pending.splice(i, 1);
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  let issued = 0;
  const workers = Array.from({ length: 8 }, async () => {
    while (performance.now() - start < durationMs) {
      const due = start + (issued / rate) * 1000;
      if (performance.now() < due) {
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
        continue;
      }
      issued++;
      const id = 1 + Math.floor(Math.random() * rows);
      await sql`UPDATE items SET score = score + 1 WHERE id = ${id}`;
      const at = performance.now();
      const [{ lsn }] = await sql<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
      pending.push({ lsn: parseLsn(lsn), at });
    }
  });
  await Promise.all(workers);
  running = false;
  await Promise.race([poller, new Promise((r) => setTimeout(r, 30_000))]);
  const achieved = issued / (durationMs / 1000);
  if (achieved < rate * 0.9) console.log(`   note: the load generator reached ${fmt(achieved)} tx/s of ${fmt(rate)}`);
  return latencies;
}
