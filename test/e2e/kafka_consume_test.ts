/**
 * Kafka as the bus: `run` publishes change events only, two `oesophagus consume` processes of
 * one group index them into Elasticsearch (the first started before the topics exist), one of them killed with `kill -9` in the middle of a
 * workload and started again. The index ends equal to the table: redelivered events change
 * nothing (versions), none is lost (offsets commit after the bulk request), TRUNCATE included.
 */
import assert from "node:assert/strict";
import { compareIndex, type Comparison } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { type EngineProcess, runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { uniqueTopicPrefix } from "../helpers/kafka.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

/** Polls until the index equals the table; the last comparison if it never does within the time. */
async function settled(compare: () => Promise<Comparison>, timeoutMs = 90_000): Promise<Comparison> {
  const deadline = Date.now() + timeoutMs;
  let last: Comparison | null = null;
  while (Date.now() < deadline) {
    try {
      last = await compare();
      if (last.missing.length + last.extra.length + last.different.length === 0) return last;
    } catch {
      // The index is made by the first consumer that starts.
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return last ?? await compare();
}

Deno.test("kafka consume: two consumers of one group index the topic; one killed with kill -9 and restarted; index = table", async () => {
  const { esUrl, kafkaBrokers } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await using topics = uniqueTopicPrefix();
  const { sql } = db;
  await sql`CREATE TABLE items (id bigint PRIMARY KEY, qty numeric NOT NULL, label text)`;
  await sql`INSERT INTO items SELECT g, g * 1.5, 'start ' || g FROM generate_series(1, 2000) g`;
  const slot = uniqueName("bus");
  const index = `${indices.prefix}_items`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: {
      events: { type: "kafka", brokers: [kafkaBrokers], topicPrefix: topics.prefix, partitions: 4 },
      search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 300 } },
    },
    consume: { from: "events", into: "search", groupId: uniqueName("indexer") },
    tables: { items: { index, sinks: ["events"] } },
    metrics: { enabled: false },
  });
  const compare = () => compareIndex(sql, { schema: "public", name: "items" }, index);
  // A consumer started before anything made the topics waits for them.
  const consumers: EngineProcess[] = [startEngine(["consume", "--config", config])];
  let producer: EngineProcess | null = null;
  try {
    await consumers[0].waitFor(/"msg":"waiting for the topics failed, retrying".*do not exist yet/);
    producer = startEngine(["run", "--config", config, "--progress", "log"]);
    await producer.waitFor(/"msg":"streaming from slot"/);
    consumers.push(startEngine(["consume", "--config", config]));
    await Promise.all(consumers.map((c) => c.waitFor(/"msg":"consuming change events"/, 60_000)));
    assert.deepEqual((await settled(compare)).missing.length, 0, "the copy, indexed");

    // The producer did not write to Elasticsearch itself: the index holds what the consumers wrote.
    const workload = async (round: number) => {
      for (let i = 0; i < 200; i++) {
        const id = 1 + ((round * 211 + i * 37) % 2500);
        await sql`INSERT INTO items VALUES (${id}, ${i}, ${`round ${round}`})
          ON CONFLICT (id) DO UPDATE SET qty = items.qty + 1, label = EXCLUDED.label`;
      }
      await sql`UPDATE items SET qty = qty * 2 WHERE id % 7 = ${round % 7}`;
      await sql`DELETE FROM items WHERE id % 11 = ${round % 11}`;
      await sql`UPDATE items SET id = id + 100000 WHERE id = ${(round * 13) % 2000 + 1}`;
    };
    await workload(1);
    // A burst of 6,000 events, and a consumer killed while the group indexes it.
    for (let i = 0; i < 3; i++) await sql`UPDATE items SET qty = qty + 1`;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killed = consumers.shift()!;
    killed.kill("SIGKILL");
    await killed.exited;
    await workload(2);
    await sql`TRUNCATE items`;
    await sql`INSERT INTO items SELECT g, g, 'after truncate' FROM generate_series(1, 500) g`;
    consumers.push(startEngine(["consume", "--config", config]));
    await workload(3);
    await waitForCatchUp(sql, slot);

    const comparison = await settled(compare);
    assert.deepEqual(
      {
        missing: comparison.missing.slice(0, 5),
        extra: comparison.extra.slice(0, 5),
        different: comparison.different.slice(0, 3),
      },
      { missing: [], extra: [], different: [] },
      `${comparison.missing.length} missing, ${comparison.extra.length} extra, ${comparison.different.length} different`,
    );
    const documents = await allDocuments(index);
    assert.ok([...documents.values()].every((d) => BigInt(d.version) > 0n), "documents carry commit LSNs as versions");
    // The offsets are committed right after the index has the batch: the group's lag reaches 0.
    let lag: string | null = null;
    for (let i = 0; i < 30 && lag !== "0"; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 1_000));
      const status = await runEngine(["status", "--config", config, "--json"]);
      lag = (JSON.parse(status.output) as { consumer: { lag: string | null } }).consumer.lag;
    }
    assert.equal(lag, "0");
  } finally {
    for (const c of consumers) await stopEngine(c);
    if (producer) await stopEngine(producer);
  }
});

Deno.test("kafka consume: a config without `consume` is refused, and a consume naming the wrong kinds of sinks", async () => {
  const { esUrl, kafkaBrokers } = await services();
  const without = await writeConfig({
    source: { url: "postgres://127.0.0.1:1/db" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { items: {} },
  });
  const refused = await runEngine(["consume", "--config", without]);
  assert.equal(refused.code, 2);
  assert.match(refused.output, /no `consume` section/);
  const wrong = await writeConfig({
    source: { url: "postgres://127.0.0.1:1/db" },
    sinks: { search: { type: "elasticsearch", url: esUrl }, events: { type: "kafka", brokers: [kafkaBrokers] } },
    consume: { from: "search", into: "events" },
    tables: { items: { sinks: ["search"] } },
  });
  const named = await runEngine(["consume", "--config", wrong]);
  assert.equal(named.code, 2);
  assert.match(named.output, /consume\.from: names "search", which is not a kafka sink \(kafka sinks: "events"\)/);
  assert.match(
    named.output,
    /consume\.into: names "events", which is not an elasticsearch sink \(elasticsearch sinks: "search"\)/,
  );
});
