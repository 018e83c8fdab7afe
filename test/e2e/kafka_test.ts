/**
 * Change events in Kafka, both plugins, beside an Elasticsearch sink: the copy as `r` events,
 * then every streamed change as its own event (none superseded, unlike documents), keyed by the
 * `_id`, in commit order per key, with exact values and the commit LSN as version; a TRUNCATE
 * as a `t` event on every partition. Elasticsearch ends equal to the table at the same time.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex, expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { type EngineProcess, runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { eventOf, lastByKey, readTopic, uniqueTopicPrefix } from "../helpers/kafka.ts";
import { Jaeger, type JaegerSpan } from "../helpers/jaeger.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`kafka (${plugin}): the copy and every streamed change as exact change events, beside Elasticsearch`, async () => {
    const { esUrl, kafkaBrokers } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    await using topics = uniqueTopicPrefix();
    const { sql } = db;
    await sql`CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric NOT NULL, big bigint, note text, tags text[])`;
    await sql`INSERT INTO accounts VALUES
      (1, 12345678901234567890.123456789, 9223372036854775807, 'one', '{a,b}'),
      (2, 0.1, -9223372036854775808, 'two', NULL),
      (3, 3, 3, NULL, '{}')`;
    const slot = uniqueName("kafka");
    const index = `${indices.prefix}_accounts`;
    const topic = `${topics.prefix}${index}`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: {
        search: { type: "elasticsearch", url: esUrl },
        events: { type: "kafka", brokers: [kafkaBrokers], topicPrefix: topics.prefix, partitions: 3 },
      },
      // No consumer of this group runs: `status` reports every event as its lag.
      consume: { from: "events", into: "search", groupId: uniqueName("idle_group") },
      tables: { accounts: { index } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      const copied = await expectedDocuments(sql, { schema: "public", name: "accounts" });
      const streamedFrom = await currentWalLsn(sql);

      await sql`INSERT INTO accounts VALUES (4, 99999999999999999999999.5, 4, 'four', '{x}')`;
      // Three updates of one row in one transaction: Elasticsearch gets the last, Kafka all three. Its id, and
      // the clock just before and after its commit (microseconds since the epoch): the events name it by both.
      const micros = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS now";
      const { xid, before } = await sql.begin(async (tx) => {
        for (let i = 1; i <= 3; i++) await tx`UPDATE accounts SET balance = balance + ${i}, note = ${`update ${i}`} WHERE id = 2`;
        const [{ xid }] = await tx`SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text AS xid`;
        const [{ now }] = await tx.unsafe(micros);
        return { xid: xid as string, before: BigInt(now) };
      });
      const after = BigInt((await sql.unsafe(micros))[0].now);
      await sql`DELETE FROM accounts WHERE id = 3`;
      await sql`UPDATE accounts SET id = 10 WHERE id = 1`;
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "accounts" }, index));

      const events = (await readTopic(topic)).map(eventOf);
      const snapshot = events.filter((e) => e.snapshot);
      assert.deepEqual(snapshot.map((e) => e.op), ["r", "r", "r"]);
      for (const event of snapshot) {
        assert.equal(event.after, copied.get(event.key!), `row ${event.key} as copied`);
        assert.equal(event.table, "public.accounts");
        assert.deepEqual([event.txid, event.tsMs, event.tsUs], [null, null, null], "no transaction committed a copied row");
      }
      const streamed = events.filter((e) => !e.snapshot);
      assert.ok(streamed.every((e) => e.version > streamedFrom), "streamed events carry commit LSNs after the copy");
      const ops = (key: string) => streamed.filter((e) => e.key === key).map((e) => e.op);
      assert.deepEqual(ops("4"), ["c"]);
      assert.deepEqual(ops("2"), ["u", "u", "u"]);
      assert.deepEqual(ops("3"), ["d"]);
      // A key change: the old key's delete, the new key's row.
      assert.deepEqual(ops("1"), ["d"]);
      assert.deepEqual(ops("10"), ["u"]);
      const updates = streamed.filter((e) => e.key === "2");
      assert.equal(new Set(updates.map((e) => e.version)).size, 1, "one transaction, one version");
      assert.deepEqual(updates.map((e) => JSON.parse(e.after!).note), ["update 1", "update 2", "update 3"]);
      for (const update of updates) {
        assert.equal(update.txid, xid, "the transaction's id");
        const at = BigInt(update.tsUs!);
        assert.ok(before <= at && at <= after, `committed at ${at}, between ${before} and ${after}`);
        assert.equal(BigInt(update.tsMs!), at / 1000n);
      }
      const others = streamed.filter((e) => e.key !== "2");
      assert.ok(others.every((e) => e.txid !== null && e.txid !== xid && e.tsUs !== null), "each change names its transaction");

      // Per key: one partition, versions never going back; the last event is the row (or its delete).
      const partitionOf = new Map<string, number>();
      const versionOf = new Map<string, bigint>();
      for (const event of events) {
        const key = event.key!;
        assert.equal(partitionOf.get(key) ?? event.partition, event.partition, `key ${key} in one partition`);
        partitionOf.set(key, event.partition);
        assert.ok((versionOf.get(key) ?? 0n) <= event.version, `key ${key} went back to version ${event.version}`);
        versionOf.set(key, event.version);
      }
      const expected = await expectedDocuments(sql, { schema: "public", name: "accounts" });
      const last = lastByKey(events);
      for (const [key, doc] of expected) assert.equal(last.get(key)?.after, doc, `row ${key}`);
      for (const [key, event] of last) if (!expected.has(key)) assert.equal(event.op, "d", `key ${key} has no row`);

      // TRUNCATE: a `t` event on each partition, ordered before the rows written after it.
      const read = new Set(events.map((e) => `${e.partition}/${e.offset}`));
      await sql`TRUNCATE accounts`;
      await sql`INSERT INTO accounts VALUES (7, 7, 7, 'after', NULL)`;
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "accounts" }, index));
      const later = (await readTopic(topic)).map(eventOf).filter((e) => !read.has(`${e.partition}/${e.offset}`));
      const truncates = later.filter((e) => e.op === "t");
      assert.deepEqual(truncates.map((e) => e.partition).sort(), [0, 1, 2]);
      assert.ok(truncates.every((e) => e.key === null && e.after === null));
      assert.ok(truncates.every((e) => e.txid !== null && e.tsUs !== null && !e.snapshot), "the TRUNCATE's transaction");
      const inserted = later.find((e) => e.key === "7")!;
      assert.equal(inserted.op, "c");
      assert.ok(inserted.version > truncates[0].version);
      assert.equal(inserted.after, (await expectedDocuments(sql, { schema: "public", name: "accounts" })).get("7"));

      const status = await runEngine(["status", "--config", config, "--json"]);
      assert.equal(status.code, 0, status.output);
      const consumer = (JSON.parse(status.output) as { consumer: { lag: string; topics: { partition: number }[] } }).consumer;
      assert.equal(consumer.lag, String(events.length + later.length), "every event, as none is consumed");
      assert.deepEqual(consumer.topics.map((t) => t.partition).sort(), [0, 1, 2]);
    } finally {
      await stopEngine(engine);
    }
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`kafka (${plugin}): with REPLICA IDENTITY FULL an update's and a delete's event carry the old row as before`, async () => {
    const { kafkaBrokers } = await services();
    await using db = await createTestDatabase();
    await using topics = uniqueTopicPrefix();
    const { sql } = db;
    await sql`CREATE TABLE audited (id int PRIMARY KEY, v text, amount numeric, big text)`;
    await sql`ALTER TABLE audited REPLICA IDENTITY FULL`;
    await sql`CREATE TABLE plain_t (id int PRIMARY KEY, v text)`;
    // big: 9,600 characters of md5 text, stored out of line; the updates leave it unchanged.
    await sql`INSERT INTO audited SELECT g, 'v' || g, g * 1.5 + 0.000000000000000001,
      (SELECT string_agg(md5(g::text || x::text), '') FROM generate_series(1, 300) x) FROM generate_series(1, 3) g`;
    await sql`INSERT INTO plain_t VALUES (1, 'a'), (2, 'b')`;
    const slot = uniqueName("kafka_before");
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { events: { type: "kafka", brokers: [kafkaBrokers], topicPrefix: topics.prefix } },
      tables: { audited: {}, plain_t: {} },
      metrics: { enabled: false },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      const old = await expectedDocuments(sql, { schema: "public", name: "audited" });
      await sql`UPDATE audited SET v = 'changed' WHERE id = 1`;
      await sql`DELETE FROM audited WHERE id = 2`;
      await sql`UPDATE audited SET id = 30 WHERE id = 3`;
      await sql`INSERT INTO audited VALUES (4, 'new', 4, 'small')`;
      await sql`UPDATE plain_t SET v = 'c' WHERE id = 1`;
      await sql`DELETE FROM plain_t WHERE id = 2`;
      await waitForCatchUp(sql, slot);

      const events = (await readTopic(`${topics.prefix}audited`)).map(eventOf).filter((e) => !e.snapshot);
      // A key change: the old key's delete has the old row, the new key's row none (it was another key's).
      // Which old row each before is (the rows are 10 kB: a failure names them, not prints them).
      const which = (before: string | null) =>
        before === null ? null : [...old].find(([, doc]) => doc === before)?.[0] ?? "other";
      // Keys are in commit order each, not with each other (the sink's lanes publish in parallel).
      const byKey = (e: { key: string | null }) => e.key!;
      assert.deepEqual(events.map((e) => [e.key, e.op, which(e.before)]).sort(), [
        ["1", "u", "1"],
        ["2", "d", "2"],
        ["3", "d", "3"],
        ["30", "u", null],
        ["4", "c", null],
      ]);
      const now = await expectedDocuments(sql, { schema: "public", name: "audited" });
      assert.deepEqual(events.filter((e) => e.after !== null).map((e) => [byKey(e), e.after === now.get(byKey(e))]).sort(), [
        ["1", true],
        ["30", true],
        ["4", true],
      ]);
      // The default identity: the WAL has the old key only, so no before.
      const plain = (await readTopic(`${topics.prefix}plain_t`)).map(eventOf).filter((e) => !e.snapshot);
      assert.deepEqual(plain.map((e) => [e.key, e.op, e.before]).sort(), [["1", "u", null], ["2", "d", null]]);
    } finally {
      await stopEngine(engine);
    }
  });
}

Deno.test("kafka: a traced change's event carries its trace as traceparent, and consume continues it with cdc.consume", async () => {
  const { esUrl, kafkaBrokers } = await services();
  await using jaeger = await Jaeger.start();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await using topics = uniqueTopicPrefix();
  const { sql } = db;
  await sql`CREATE TABLE traced (id int PRIMARY KEY, v text)`;
  await sql`INSERT INTO traced VALUES (1, 'copied')`;
  const slot = uniqueName("kafka_traced");
  const service = uniqueName("oesophagus_kafka");
  const indexer = `${service}_indexer`;
  const index = `${indices.prefix}_traced`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    tracing: { enabled: true, endpoint: jaeger.otlpUrl, samplingRatio: 1 },
    sinks: {
      events: { type: "kafka", brokers: [kafkaBrokers], topicPrefix: topics.prefix },
      search: { type: "elasticsearch", url: esUrl },
    },
    consume: { from: "events", into: "search", groupId: uniqueName("traced_group") },
    tables: { traced: { index, sinks: ["events"] } },
    metrics: { enabled: false },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"], { OTEL_SERVICE_NAME: service });
  let consumer: EngineProcess | null = null;
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    // Started once the topics exist, so it does not back off waiting for them.
    // Sampling nothing of its own: every cdc.consume span it records continues a published change's trace.
    consumer = startEngine(["consume", "--config", config], {
      OTEL_SERVICE_NAME: indexer,
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0",
    });
    await sql`INSERT INTO traced VALUES (7, 'traced')`;
    await waitForCatchUp(sql, slot);
    const [message] = (await readTopic(`${topics.prefix}${index}`)).filter((m) => m.key === "7");
    const traceparent = message.headers.traceparent;
    assert.match(traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, spanId] = traceparent.split("-");
    const found = async (name: string, from: string, match: (s: JaegerSpan) => boolean) => {
      for (let i = 0; i < 300; i++) {
        const span = (await jaeger.traces(from, name)).flat().find((s) => s.operationName === name && match(s));
        if (span) return span;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.fail(`no ${name} span of ${from} in Jaeger`);
    };
    const change = await found("cdc.change", service, (s) => s.tags.some((t) => t.key === "cdc.key" && t.value === "7"));
    assert.deepEqual([change.traceID, change.spanID], [traceId, spanId]);

    // The indexer's span for the event is the change's child, in the same trace; its bulk request links to it.
    const consumed = await found("cdc.consume", indexer, (s) => s.tags.some((t) => t.key === "cdc.key" && t.value === "7"));
    assert.equal(consumed.traceID, traceId);
    assert.ok(consumed.references.some((r) => r.refType === "CHILD_OF" && r.spanID === spanId), "not the change's child");
    const tag = (name: string) => consumed.tags.find((t) => t.key === name)?.value;
    assert.equal(tag("messaging.destination.name"), `${topics.prefix}${index}`);
    assert.equal(tag("messaging.kafka.offset"), String(message.offset));
    assert.equal(tag("cdc.op"), "insert");
    await found("sink.flush", indexer, (s) => s.references.some((r) => r.traceID === traceId && r.spanID === consumed.spanID));
    assert.equal(message.offset, 1n, "the copied row is the topic's first event");
    // The copy's event had no traceparent, and this indexer samples none of its own.
    const roots = (await jaeger.traces(indexer, "cdc.consume")).flat().filter((s) => s.operationName === "cdc.consume");
    assert.ok(roots.every((s) => s.traceID === traceId), `cdc.consume spans outside the change's trace: ${roots.length}`);
  } finally {
    if (consumer) await stopEngine(consumer);
    await stopEngine(engine);
  }
});
