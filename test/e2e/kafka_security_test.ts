/**
 * Kafka with credentials and TLS: a sink with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) publishes
 * through the broker's SASL listener, and over TLS through its SASL_SSL one; with a wrong password
 * the engine stops at once with the fix, and the password is in none of its output. A sink whose
 * settings do not match the listener it names (TLS or not, SASL or not) stops at once with the
 * setting to change, and so does one whose brokers name another server's port (Elasticsearch's,
 * PostgreSQL's). A broker whose metadata advertises an address the engine cannot reach is named as
 * such, with advertised.listeners, in run's warnings and check's findings.
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../helpers/database.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { eventOf, readTopic, uniqueTopicPrefix } from "../helpers/kafka.ts";
import { KAFKA_SASL_TEST_PASSWORD, services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

const SASL_CASES = [
  { mechanism: "plain", overTls: false },
  { mechanism: "scram-sha-256", overTls: false },
  { mechanism: "scram-sha-512", overTls: false },
  { mechanism: "scram-sha-512", overTls: true },
] as const;

for (const { mechanism, overTls } of SASL_CASES) {
  const listener = overTls ? "SASL_SSL" : "SASL_PLAINTEXT";
  Deno.test(`kafka: a sink with SASL (${mechanism}, ${listener}) credentials publishes; wrong ones stop the engine with the fix and without the password`, async () => {
    const { kafkaSaslBrokers, kafkaSaslTlsBrokers, pgCaFile } = await services();
    await using db = await createTestDatabase();
    await using topics = uniqueTopicPrefix();
    const { sql } = db;
    await sql`CREATE TABLE secrets (id int PRIMARY KEY, note text)`;
    await sql`INSERT INTO secrets VALUES (1, 'copied')`;
    const sink = (password: string) => ({
      type: "kafka",
      brokers: [overTls ? kafkaSaslTlsBrokers : kafkaSaslBrokers],
      topicPrefix: topics.prefix,
      sasl: { mechanism, username: "oesophagus_sasl_test", password: "${KAFKA_PASSWORD}" },
      ...(overTls ? { caFile: pgCaFile } : {}),
      env: password,
    });
    const slot = uniqueName(`sasl_${mechanism.replaceAll("-", "_")}${overTls ? "_tls" : ""}`);
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
}

Deno.test("kafka: a sink over TLS publishes with the brokers' CA; with another CA the engine stops with the fix", async () => {
  const { kafkaTlsBrokers, pgCaFile } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  const { sql } = db;
  await sql`CREATE TABLE notes (id int PRIMARY KEY, note text)`;
  await sql`INSERT INTO notes VALUES (1, 'copied')`;
  const slot = uniqueName("kafka_tls");
  // scripts/services signs the broker's certificate with the test CA; the other CA signed nothing.
  const config = (caFile: string) =>
    writeConfig({
      source: { url: db.url, slot },
      sinks: { events: { type: "kafka", brokers: [kafkaTlsBrokers], topicPrefix: topics.prefix, caFile } },
      tables: { notes: {} },
    });

  const refused = await runEngine(["run", "--config", await config(pgCaFile.replace(/ca\.crt$/, "other-ca.crt"))]);
  assert.equal(refused.code, 1, refused.output);
  assert.match(refused.output, /the brokers' certificate is not trusted/);
  assert.match(refused.output, /fix: set sinks\.events\.caFile to the CA that signed the brokers' certificates/);

  const engine = startEngine(["run", "--config", await config(pgCaFile), "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql`INSERT INTO notes VALUES (2, 'streamed')`;
    await waitForCatchUp(sql, slot);
    const events = (await readTopic(`${topics.prefix}notes`)).map(eventOf);
    assert.deepEqual(events.map((e) => [e.key, e.op]), [["1", "r"], ["2", "c"]]);
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("kafka: a sink whose TLS or SASL settings do not match the listener it names stops at once with the setting to change", async () => {
  const { kafkaBrokers, kafkaSaslBrokers, kafkaSaslTlsBrokers, pgCaFile } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  await db.sql`CREATE TABLE notes (id int PRIMARY KEY, note text)`;
  const sasl = { mechanism: "scram-sha-512", username: "oesophagus_sasl_test", password: "${KAFKA_PASSWORD}" };
  const cases = [
    {
      // What a hosted Kafka asks for, with the sink left at its defaults.
      sink: { brokers: [kafkaSaslTlsBrokers] },
      listener: /listener at \S+ is SASL_SSL, and the sink connects to it as PLAINTEXT/,
      fix: /fix: set sinks\.events\.tls to true .*; set sinks\.events\.sasl \(mechanism, username and password\)/,
    },
    {
      sink: { brokers: [kafkaSaslBrokers], caFile: pgCaFile, sasl },
      listener: /listener at \S+ is SASL_PLAINTEXT, and the sink connects to it as SASL_SSL/,
      fix: /fix: remove sinks\.events\.tls and sinks\.events\.caFile; or, if the brokers have one, list their SASL_SSL listener/,
    },
    {
      sink: { brokers: [kafkaSaslBrokers] },
      listener: /listener at \S+ is SASL_PLAINTEXT, and the sink connects to it as PLAINTEXT/,
      fix: /fix: set sinks\.events\.sasl \(mechanism, username and password\); or/,
    },
    {
      sink: { brokers: [kafkaBrokers], sasl },
      listener: /listener at \S+ is PLAINTEXT, and the sink connects to it as SASL_PLAINTEXT/,
      fix: /fix: remove sinks\.events\.sasl; or/,
    },
  ];
  for (const { sink, listener, fix } of cases) {
    const config = await writeConfig({
      source: { url: db.url, slot: uniqueName("kafka_listener") },
      sinks: { events: { type: "kafka", topicPrefix: topics.prefix, ...sink } },
      tables: { notes: {} },
    });
    for (const command of ["run", "check"]) {
      const stopped = await runEngine([command, "--config", config], { KAFKA_PASSWORD: KAFKA_SASL_TEST_PASSWORD });
      assert.equal(stopped.code, 1, stopped.output);
      assert.match(stopped.output, listener, `${command}: ${stopped.output}`);
      assert.match(stopped.output, fix, `${command}: ${stopped.output}`);
      assert.ok(!stopped.output.includes(KAFKA_SASL_TEST_PASSWORD), "the password appears in the engine's output");
    }
  }
});

Deno.test("kafka: brokers at another server's port (Elasticsearch's HTTP, PostgreSQL's) stop run and check at once, named as such", async () => {
  const { esUrl, pgUrl } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  await db.sql`CREATE TABLE notes (id int PRIMARY KEY, note text)`;
  const cases = [
    // Elasticsearch's HTTP server never answers a Kafka request (it waits for a line end): kafkajs would retry its timeout for minutes.
    { broker: new URL(esUrl).host, speaks: "an HTTP server" },
    // PostgreSQL answers with an error and closes: kafkajs would retry "Closed connection" for ever.
    { broker: new URL(pgUrl).host, speaks: "a PostgreSQL server" },
  ];
  for (const { broker, speaks } of cases) {
    const config = await writeConfig({
      source: { url: db.url, slot: uniqueName("kafka_foreign") },
      sinks: { events: { type: "kafka", brokers: [broker], topicPrefix: topics.prefix } },
      tables: { notes: {} },
    });
    for (const command of ["run", "check"]) {
      const started = Date.now();
      const stopped = await runEngine([command, "--config", config]);
      assert.equal(stopped.code, 1, stopped.output);
      assert.ok(
        stopped.output.includes(`${broker}, in sinks.events.brokers, is no Kafka listener: it answers as ${speaks}`),
        `${command}: ${stopped.output}`,
      );
      assert.match(
        stopped.output,
        /fix: list the brokers' own listeners in sinks\.events\.brokers/,
        `${command}: ${stopped.output}`,
      );
      // Within the probe's wait and its own timeouts, long before kafkajs's retries of a 30 s request timeout would end.
      assert.ok(Date.now() - started < 25_000, `${command} took ${Date.now() - started} ms`);
    }
  }
});

Deno.test("kafka: a broker advertised where the engine cannot reach it is named with advertised.listeners by run and check", async () => {
  const { kafkaElsewhereBrokers } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  await db.sql`CREATE TABLE notes (id int PRIMARY KEY, note text)`;
  const config = await writeConfig({
    source: { url: db.url, slot: uniqueName("kafka_elsewhere") },
    sinks: { events: { type: "kafka", brokers: [kafkaElsewhereBrokers], topicPrefix: topics.prefix } },
    tables: { notes: {} },
  });
  // scripts/services: the listener answers here and advertises 127.0.0.1:1, where nothing listens.
  const named = /broker 127\.0\.0\.1:1, as the cluster's metadata lists it \(its advertised\.listeners\), cannot be reached/;
  const checked = await runEngine(["check", "--config", config]);
  assert.equal(checked.code, 1, checked.output);
  assert.match(checked.output, named);
  assert.match(checked.output, /fix: if that broker runs, set its advertised\.listeners to an address this machine can reach/);
  // Retried (a broker that is down shows the same way), with the reason in the warning.
  const engine = startEngine(["run", "--config", config]);
  try {
    await engine.waitFor(new RegExp(`"msg":"topic creation failed, retrying".*${named.source}`));
  } finally {
    await stopEngine(engine);
  }
});
