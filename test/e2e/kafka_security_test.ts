/**
 * Kafka with credentials: a sink with SASL (PLAIN) publishes through the broker's SASL listener;
 * with a wrong password the engine stops at once with the fix, and the password is in none of
 * its output.
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../helpers/database.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { eventOf, readTopic, uniqueTopicPrefix } from "../helpers/kafka.ts";
import { KAFKA_SASL_TEST_PASSWORD, services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

Deno.test("kafka: a sink with SASL credentials publishes; wrong ones stop the engine with the fix and without the password", async () => {
  const { kafkaSaslBrokers } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  const { sql } = db;
  await sql`CREATE TABLE secrets (id int PRIMARY KEY, note text)`;
  await sql`INSERT INTO secrets VALUES (1, 'copied')`;
  const sink = (password: string) => ({
    type: "kafka",
    brokers: [kafkaSaslBrokers],
    topicPrefix: topics.prefix,
    sasl: { mechanism: "plain", username: "oesophagus_sasl_test", password: "${KAFKA_PASSWORD}" },
    env: password,
  });
  const slot = uniqueName("sasl");
  const config = async (password: string) => {
    const { env: _, ...events } = sink(password);
    return await writeConfig({ source: { url: db.url, slot }, sinks: { events }, tables: { secrets: {} } });
  };

  const wrong = "not-the-password-7c1e";
  const refused = await runEngine(["run", "--config", await config(wrong)], { KAFKA_PASSWORD: wrong });
  assert.equal(refused.code, 1, refused.output);
  assert.match(refused.output, /Kafka refused the SASL credentials/);
  assert.match(refused.output, /fix: check sinks\.events\.sasl/);
  assert.ok(!refused.output.includes(wrong), "the password appears in the engine's output");

  const engine = startEngine(["run", "--config", await config(KAFKA_SASL_TEST_PASSWORD), "--progress", "log"], {
    KAFKA_PASSWORD: KAFKA_SASL_TEST_PASSWORD,
  });
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql`INSERT INTO secrets VALUES (2, 'streamed')`;
    await waitForCatchUp(sql, slot);
    const events = (await readTopic(`${topics.prefix}secrets`)).map(eventOf);
    assert.deepEqual(events.map((e) => [e.key, e.op]), [["1", "r"], ["2", "c"]]);
  } finally {
    const output = await stopEngine(engine);
    assert.ok(!output.includes(KAFKA_SASL_TEST_PASSWORD), "the password appears in the engine's output");
  }
});
