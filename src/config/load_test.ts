import assert from "node:assert/strict";
import { INVALID_CONFIGS } from "../../test/helpers/invalid_configs.ts";
import { ConfigError, parseConfig, topicName } from "./load.ts";

const env = (vars: Record<string, string>) => ({ env: (name: string) => vars[name] });
const minimal = { source: { url: "postgres://u@h/db" }, tables: { users: {} } };

function problemsOf(config: unknown, vars: Record<string, string> = {}): string[] {
  const text = typeof config === "string" ? config : JSON.stringify(config);
  try {
    parseConfig(text, "producer.json", env(vars));
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));
    throw error;
  }
  return [];
}

Deno.test("parseConfig() fills every default from a minimal config", () => {
  const config = parseConfig(JSON.stringify(minimal), "producer.json", env({}));
  assert.equal(config.source.slot, "oesophagus");
  assert.equal(config.source.publication, "oesophagus");
  assert.equal(config.source.plugin, "pgoutput");
  assert.deepEqual(Object.keys(config.sinks), ["search"]);
  const search = config.sinks.search;
  assert.equal(search.type, "elasticsearch");
  assert.equal(search.type === "elasticsearch" && search.url, "http://127.0.0.1:9200");
  assert.deepEqual(search.batch, { maxDocs: 2000, maxBytes: 5_000_000, timeoutMs: 100, lingerMs: 10 });
  assert.equal(search.concurrency, 2);
  assert.deepEqual(config.tables, [{
    key: "users",
    name: { schema: "public", name: "users" },
    index: "users",
    sinks: ["search"],
    snapshot: { concurrency: 2, chunkRows: 50_000 },
  }]);
  assert.ok(Object.isFrozen(config.tables[0].snapshot));
});

Deno.test("parseConfig() fills a Kafka sink's defaults; a table goes to every sink unless it names some", () => {
  const config = parseConfig(
    JSON.stringify({
      source: { url: "postgres://h/d" },
      sinks: { search: { type: "elasticsearch" }, events: { type: "kafka", brokers: ["k1:9092", "k2:9093"] } },
      tables: { users: {}, orders: { sinks: ["search"] } },
    }),
    "producer.json",
    env({}),
  );
  const events = config.sinks.events;
  assert.equal(events.type, "kafka");
  if (events.type !== "kafka") return;
  assert.deepEqual(
    [events.brokers, events.clientId, events.topicPrefix, events.partitions, events.replicationFactor, events.concurrency],
    [["k1:9092", "k2:9093"], "oesophagus", "oesophagus.", 1, 1, 2],
  );
  assert.equal(topicName(events, config.tables[0].index), "oesophagus.users");
  assert.deepEqual(config.tables.map((t) => t.sinks), [["search", "events"], ["search"]]);
});

Deno.test("parseConfig() percent-encodes ${VAR} values in a URL's user and password only", () => {
  const config = parseConfig(
    JSON.stringify({
      source: { url: "postgres://${PGUSER}:${PGPASSWORD}@${PGHOST}/shop?application_name=${APP}" },
      sinks: { search: { type: "elasticsearch", url: "${ES_URL}" } },
      tables: { users: {} },
    }),
    "producer.json",
    env({ PGUSER: "me@corp", PGPASSWORD: "p@ss/w:rd%", PGHOST: "db:5433", APP: "a b", ES_URL: "http://u:p@es:9200" }),
  );
  assert.equal(config.source.url, "postgres://me%40corp:p%40ss%2Fw%3Ard%25@db:5433/shop?application_name=a b");
  assert.equal(decodeURIComponent(new URL(config.source.url).password), "p@ss/w:rd%");
  const search = config.sinks.search;
  assert.equal(search.type === "elasticsearch" && search.url, "http://u:p@es:9200");
});

Deno.test("parseConfig() takes ${VAR:-default} when VAR is unset or empty", () => {
  const text = JSON.stringify({
    source: { url: "postgres://u@${HOST:-db}/shop" },
    metrics: { host: "${METRICS_HOST:-127.0.0.1}" },
    tables: { users: {} },
  });
  const unset = parseConfig(text, "producer.json", env({}));
  assert.deepEqual([unset.source.url, unset.metrics.host], ["postgres://u@db/shop", "127.0.0.1"]);
  const set = parseConfig(text, "producer.json", env({ HOST: "pg", METRICS_HOST: "0.0.0.0" }));
  assert.deepEqual([set.source.url, set.metrics.host], ["postgres://u@pg/shop", "0.0.0.0"]);
  const empty = parseConfig(text, "producer.json", env({ HOST: "", METRICS_HOST: "" }));
  assert.deepEqual([empty.source.url, empty.metrics.host], ["postgres://u@db/shop", "127.0.0.1"]);
});

Deno.test("parseConfig() interpolates ${VAR} and parses quoted table names", () => {
  const config = parseConfig(
    JSON.stringify({
      source: { url: "postgres://app:${PGPASSWORD}@db:5432/shop" },
      tables: { '"Sales"."Order Items"': { snapshot: { concurrency: 4 } }, "public.users": { index: "people" } },
    }),
    "producer.json",
    env({ PGPASSWORD: "s3cret" }),
  );
  assert.equal(config.source.url, "postgres://app:s3cret@db:5432/shop");
  assert.deepEqual(config.tables.map((t) => [t.name.schema, t.name.name, t.index, t.snapshot.concurrency]), [
    ["Sales", "Order Items", "sales.order_items", 4],
    ["public", "users", "people", 2],
  ]);
});

for (const [what, config, expected, vars] of INVALID_CONFIGS) {
  Deno.test(`parseConfig() refuses a config with ${what}, naming the path`, () => {
    assert.deepEqual(problemsOf(config, vars), expected);
  });
}

Deno.test("parseConfig() never echoes an environment value in an error", () => {
  const text = JSON.stringify({ source: { url: "postgres://u:${PW}@h/d", plugin: "nope" }, tables: { a: {} } });
  try {
    parseConfig(text, "producer.json", env({ PW: "canary-7f3a" }));
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.ok(!error.message.includes("canary-7f3a"));
  }
});
