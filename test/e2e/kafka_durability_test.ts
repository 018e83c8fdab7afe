/**
 * The slot is never acknowledged past a change that is not in Kafka: with the broker stopped,
 * changes are written and the engine is killed; once both are back, every change arrives, and a
 * consumer applying the topic in order ends with the table. A topic deleted by hand is made anew
 * with its table copied into it.
 */
import assert from "node:assert/strict";
import { formatLsn } from "../../src/pg/lsn.ts";
import { expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { createTopic, deleteTopic, eventOf, lastByKey, readTopic, uniqueTopicPrefix } from "../helpers/kafka.ts";
import { serviceControl } from "../helpers/service_control.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

Deno.test("kafka: with the broker down the slot does not move past unwritten changes; after a kill -9 they still arrive", async () => {
  const { kafkaBrokers } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  const { sql } = db;
  await sql`CREATE TABLE notes (id int PRIMARY KEY, body text)`;
  await sql`INSERT INTO notes SELECT g, 'before' FROM generate_series(1, 100) g`;
  const slot = uniqueName("kafka_durable");
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { events: { type: "kafka", brokers: [kafkaBrokers], topicPrefix: topics.prefix, requestTimeoutMs: 2_000 } },
    tables: { notes: {} },
  });

  const first = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await first.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
    await serviceControl("stop", "kafka");
    await sql`UPDATE notes SET body = 'written while Kafka was down' WHERE id <= 10`;
    await sql`DELETE FROM notes WHERE id > 90`;
    const written = await currentWalLsn(sql);
    await first.waitFor(/"msg":"produce request failed, retrying"/, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const confirmed = await confirmedLsn(sql, slot);
    assert.ok(confirmed < written, `the slot moved to ${formatLsn(confirmed)}, past unwritten changes at ${formatLsn(written)}`);
  } finally {
    first.kill("SIGKILL");
    await first.exited;
    await serviceControl("start", "kafka");
  }

  const second = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await second.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
    const events = (await readTopic(`${topics.prefix}notes`)).map(eventOf);
    const expected = await expectedDocuments(sql, { schema: "public", name: "notes" });
    const last = lastByKey(events);
    for (const [key, doc] of expected) assert.equal(last.get(key)?.after, doc, `row ${key}`);
    for (let id = 91; id <= 100; id++) assert.equal(last.get(String(id))?.op, "d", `row ${id} deleted`);
    assert.equal(last.size, 100);
  } finally {
    second.kill("SIGTERM");
    await second.exited;
  }
});

Deno.test("kafka: a topic deleted while the engine runs, or while it is stopped (and made anew by hand), is made anew with its table copied into it", async () => {
  const { kafkaBrokers } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  const { sql } = db;
  await sql`CREATE TABLE notes (id int PRIMARY KEY, body text)`;
  await sql`INSERT INTO notes SELECT g, 'copied' FROM generate_series(1, 50) g`;
  // Empty when copied, its rows only streamed; and one that never has a row.
  await sql`CREATE TABLE later (id int PRIMARY KEY, body text)`;
  await sql`CREATE TABLE never (id int PRIMARY KEY, body text)`;
  const slot = uniqueName("kafka_deleted");
  const topic = `${topics.prefix}notes`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { events: { type: "kafka", brokers: [kafkaBrokers], topicPrefix: topics.prefix, requestTimeoutMs: 2_000 } },
    tables: { notes: {}, later: {}, never: {} },
  });
  /** The table's topic, applied in order, is the table: every row, rows no change touched included. */
  const assertTopicIsTable = async (name = "notes") => {
    const last = lastByKey((await readTopic(`${topics.prefix}${name}`)).map(eventOf));
    const expected = await expectedDocuments(sql, { schema: "public", name });
    assert.equal(last.size, expected.size, name);
    for (const [key, doc] of expected) assert.equal(last.get(key)?.after, doc, `${name} row ${key}`);
  };

  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql`INSERT INTO later SELECT g, 'streamed' FROM generate_series(1, 20) g`;
    await waitForCatchUp(sql, slot);
    await deleteTopic(topic);
    await sql`UPDATE notes SET body = 'after the topic was deleted' WHERE id <= 5`;
    await engine.waitFor(/the topic \S+ is gone/, 90_000);
    await engine.waitFor(/"msg":"a table's index was made anew since its copy: copying the table again"/, 90_000);
    await waitForCatchUp(sql, slot);
    await assertTopicIsTable();
  } finally {
    await stopEngine(engine);
  }

  await deleteTopic(topic);
  await sql`UPDATE notes SET body = 'while stopped' WHERE id BETWEEN 6 AND 10`;
  const second = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await second.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
    await assertTopicIsTable();
  } finally {
    await stopEngine(second);
  }

  // Made anew by hand, empty, under the same name: kafkajs reads no topic id, the empty topic shows it.
  // For `later`, whose copy had no row, too: what streamed into the old topic is gone with it.
  for (const name of ["notes", "later"]) {
    await deleteTopic(`${topics.prefix}${name}`);
    await createTopic(`${topics.prefix}${name}`, 2);
  }
  await sql`UPDATE notes SET body = 'while remade' WHERE id BETWEEN 11 AND 15`;
  const third = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await third.waitFor(/"msg":"a table's index was made anew since its copy: copying the table again"/);
    await third.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
    await assertTopicIsTable();
    await assertTopicIsTable("later");
  } finally {
    await stopEngine(third);
  }

  // A topic that holds events is not copied into again at a start; nor is `never`'s, which holds the sweep of its copy again.
  const fourth = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await fourth.waitFor(/"msg":"streaming from slot"/);
  } finally {
    const output = await stopEngine(fourth);
    assert.doesNotMatch(output, /copying the table again/);
  }
});
