/**
 * bench/kafka: the Kafka sink and `oesophagus consume`, against their ceilings in the same run.
 *
 *   deno run -A bench/kafka.ts [--rows 1000000] [--transactions 100000] [--partitions 4]
 *
 * Publishing (pgoutput, the engine with a Kafka sink only): (a) one-row UPDATE transactions and
 * (b) one UPDATE of every row, each timed from the engine's process start until the slot is
 * confirmed past the workload (the engine confirms only what the brokers acknowledged, acks=all),
 * against `pg_recvlogical` decoding the same range to /dev/null and a plain kafkajs producer
 * writing as many messages of the same size (acks=all, the sink's batch size and concurrency, and
 * the engine's faster varint writers for kafkajs).
 * Indexing: `oesophagus consume` reading everything the topic holds then (the copy's `r` events
 * and both workloads) into an empty index, timed from its process start until the group's
 * committed offsets reach the topic's end, against a plain `_bulk` load of as many documents.
 * Prints each rate and the ratio engine / min(ceilings); not a test.
 */
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { describeTables } from "../src/pg/catalog.ts";
import type { Lsn } from "../src/pg/lsn.ts";
import { encodeItems } from "../src/sinks/elasticsearch/bulk_body.ts";
import { changeMessages } from "../src/sinks/kafka/change_messages.ts";
import { dropNegativeTimeoutWarnings } from "../src/sinks/kafka/client.ts";
import { speedUpKafkajsEncoder } from "../src/sinks/kafka/kafkajs_encoder.ts";
import { indexMapping } from "../src/sinks/elasticsearch/mapping.ts";
import { ENGINE_ARGS } from "../test/helpers/engine.ts";
import { services } from "../test/helpers/services.ts";
import { tempFile } from "../test/helpers/temp_files.ts";
import { benchServices } from "./bench_services.ts";
import { bulkCeiling, es, recvlogicalCeiling } from "./ceilings.ts";
import { createBenchDatabase } from "./fixture.ts";
import { cpuSeconds, startMeasured } from "./measure.ts";
import { oneRowUpdates } from "./one_row_updates.ts";
import { currentLsn, waitForLsn, waitForSnapshot } from "./slot.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "1000000" },
    transactions: { type: "string", default: "100000" },
    partitions: { type: "string", default: "4" },
  },
});
const ROWS = Number(values.rows);
const TRANSACTIONS = Number(values.transactions);
const PARTITIONS = Number(values.partitions);
const MAX_DOCS = 2_000;
const CONCURRENCY = 2;
const fmt = (n: number) => Math.round(n).toLocaleString("en");

const { pgUrl, esUrl, heapLine } = await benchServices();
const { kafkaBrokers } = await services();
dropNegativeTimeoutWarnings();
// The ceiling's producer encodes with the same varint writers as the engine's.
speedUpKafkajsEncoder();
const kafka = new Kafka({ clientId: "oesophagus-bench", brokers: kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();

const PREFIX = "bench.";
const TOPIC = `${PREFIX}bench_kafka`;
const GROUP = `bench-indexer-${crypto.randomUUID().slice(0, 8)}`;
const dropTopics = async () => {
  const existing = (await admin.listTopics()).filter((t) => t.startsWith(PREFIX));
  if (existing.length > 0) await admin.deleteTopics({ topics: existing });
};
await dropTopics();
await fetch(`${esUrl}/bench_kafka`, { method: "DELETE" }).then((r) => r.body?.cancel());

console.log(`loading ${fmt(ROWS)} rows ...`);
const db = await createBenchDatabase(pgUrl, "bench_kafka", ROWS);
const { sql } = db;
const url = `${db.url}?sslmode=disable`;
const slot = "bench_kafka";
const config = await tempFile(".json");
await Deno.writeTextFile(
  config,
  JSON.stringify({
    source: { url, slot },
    metrics: { enabled: false },
    sinks: {
      events: {
        type: "kafka",
        brokers: [kafkaBrokers],
        topicPrefix: PREFIX,
        partitions: PARTITIONS,
        batch: { maxDocs: MAX_DOCS },
        concurrency: CONCURRENCY,
      },
      search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: MAX_DOCS }, concurrency: CONCURRENCY },
    },
    consume: { from: "events", into: "search", groupId: GROUP },
    tables: { items: { index: "bench_kafka", sinks: ["events"] } },
  }),
);
/** `deno run ... src/main.ts <command> --config ...`, as the tests start the engine. */
const engineCommand = (command: "run" | "consume") => [
  ...ENGINE_ARGS,
  command,
  "--config",
  config,
  ...(command === "run" ? ["--progress", "log"] : []),
];

console.log("engine snapshot into Kafka ...");
const copyStarted = performance.now();
const first = startMeasured(Deno.execPath(), engineCommand("run"));
await Promise.race([waitForSnapshot(sql, slot, 900_000), first.failed]);
await Promise.race([waitForLsn(sql, slot, await currentLsn(sql), 600_000), first.failed]);
const copySeconds = (performance.now() - copyStarted) / 1000;
await first.stop();
await sql`SELECT pg_create_logical_replication_slot('bench_kafka_ceiling', 'pgoutput')`;

/**
 * The average size of an event's value, what the producer ceiling writes per message: the row, in
 * the envelope of a streamed update (its source with a version, txid and commit time of today's sizes).
 */
const [{ doc }] = await sql<{ doc: number }[]>`
  SELECT avg(length(to_jsonb(t)::text))::int AS doc FROM (SELECT * FROM items LIMIT 10000) t`;
const envelope = changeMessages(
  encodeItems([{
    index: TOPIC.slice(PREFIX.length),
    item: { action: "index", id: '"1000000"', version: 4_000_000_000n as Lsn, doc: "{}" },
  }]),
  () => ({ topic: TOPIC, table: "public.items" }),
  { ops: "u", transactions: [{ xid: 21_000_000, commitMicros: Date.now() * 1000 }] },
)[0].messages[0].value.length - "{}".length;
const bytes = doc + envelope;

/** Seconds a plain kafkajs producer takes to write `count` messages of `bytes` into a fresh topic. */
async function produceCeiling(count: number): Promise<number> {
  const topic = `${PREFIX}ceiling`;
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const value = Buffer.from("x".repeat(bytes));
  const batches: { key: string; value: Buffer }[][] = [];
  for (let at = 0; at < count; at += MAX_DOCS) {
    batches.push(Array.from({ length: Math.min(MAX_DOCS, count - at) }, (_, i) => ({ key: String(at + i), value })));
  }
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < batches.length) await producer.send({ topic, acks: -1, messages: batches[next++] });
  }));
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] });
  return seconds;
}

async function writeWorkload(workload: "a" | "b"): Promise<number> {
  if (workload === "a") return await oneRowUpdates(url, ROWS, TRANSACTIONS);
  await sql`UPDATE items SET score = score + 1`;
  return ROWS;
}

const lines: string[] = [heapLine, `events ${bytes} bytes on average, ${PARTITIONS} partitions, acks=all`];
lines.push(`copy of ${fmt(ROWS)} rows into Kafka (engine, process start to slot confirmed): ${copySeconds.toFixed(1)} s`);
for (const workload of ["a", "b"] as const) {
  const changes = await writeWorkload(workload);
  const end = await currentLsn(sql);
  const recv = await recvlogicalCeiling(url, "bench_kafka_ceiling", end, { proto_version: "1", publication_names: "oesophagus" });
  const produced = await produceCeiling(changes);
  const engine = startMeasured(Deno.execPath(), engineCommand("run"));
  const started = performance.now();
  await Promise.race([waitForLsn(sql, slot, end, 900_000), engine.failed]);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(engine.child.pid);
  const peak = engine.peakRssMb();
  const stopped = await engine.stop();
  if (stopped.code !== 0) throw new Error(`engine exited ${stopped.code}:\n${stopped.output.slice(-3000)}`);
  const ceiling = changes / Math.max(recv, produced);
  const what = workload === "a" ? `${fmt(changes)} one-row transactions` : `one ${fmt(changes)}-row transaction`;
  lines.push(
    `(${workload}) ${what}:`,
    `    pg_recvlogical                    ${recv.toFixed(1)} s   ${fmt(changes / recv)} changes/s`,
    `    plain kafkajs producer            ${produced.toFixed(1)} s   ${fmt(changes / produced)} messages/s`,
    `    engine, from process start        ${seconds.toFixed(1)} s   ${fmt(changes / seconds)} changes/s   ratio ${
      ((changes / seconds) / ceiling).toFixed(2)
    }   CPU ${cpu.toFixed(1)} s   peak RSS ${peak.toFixed(0)} MB`,
  );
  console.log(lines.slice(-4).join("\n"));
}

// Indexing: everything the topic holds, into an empty index.
const ends = await admin.fetchTopicOffsets(TOPIC);
const events = ends.reduce((sum, p) => sum + Number(p.high), 0);
const [table] = await describeTables(sql, [{ schema: "public", name: "items" }]);
const bulk = await bulkCeiling(
  sql,
  esUrl,
  indexMapping(table),
  `SELECT id::text AS id, to_jsonb(t)::text AS doc FROM items t`,
  MAX_DOCS,
  CONCURRENCY,
);
const consumer = startMeasured(Deno.execPath(), engineCommand("consume"));
const consumeStarted = performance.now();
for (;;) {
  const committed = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
  const done = committed[0].partitions.every((p) =>
    BigInt(p.offset) >= BigInt(ends.find((e) => e.partition === p.partition)!.high)
  );
  if (done) break;
  if (performance.now() - consumeStarted > 1_800_000) throw new Error("consume did not reach the topic's end in 30 min");
  await Promise.race([new Promise((r) => setTimeout(r, 100)), consumer.failed]);
}
const consumeSeconds = (performance.now() - consumeStarted) / 1000;
const consumeCpu = cpuSeconds(consumer.child.pid);
const consumePeak = consumer.peakRssMb();
await consumer.stop();
const count = JSON.parse(await es(esUrl, "GET", "/bench_kafka/_count")) as { count: number };
const bulkRate = bulk.docs / bulk.seconds;
lines.push(
  `indexing ${fmt(events)} events (the copy and both workloads; ${fmt(count.count)} documents at the end):`,
  `    plain _bulk of ${fmt(bulk.docs)} documents    ${bulk.seconds.toFixed(1)} s   ${fmt(bulkRate)} documents/s`,
  `    oesophagus consume, from process start  ${consumeSeconds.toFixed(1)} s   ${
    fmt(events / consumeSeconds)
  } events/s   ratio ${((events / consumeSeconds) / bulkRate).toFixed(2)}   CPU ${consumeCpu.toFixed(1)} s   peak RSS ${
    consumePeak.toFixed(0)
  } MB`,
);

console.log(`\n${lines.join("\n")}`);
await sql`SELECT pg_drop_replication_slot('bench_kafka_ceiling')`;
await dropTopics();
await admin.disconnect();
await db.drop();
await fetch(`${esUrl}/bench_kafka`, { method: "DELETE" }).then((r) => r.body?.cancel());
