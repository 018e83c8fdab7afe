import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "./load.ts";

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
  assert.equal(search.url, "http://127.0.0.1:9200");
  assert.deepEqual(search.batch, { maxDocs: 2000, maxBytes: 5_000_000, timeoutMs: 100 });
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

const invalid: [string, unknown, string[], Record<string, string>?][] = [
  ["not JSON", '{"source": ', ["is not valid JSON: unexpected character at line 1, column 12"]],
  ["duplicate key", '{"source": {"url": "postgres://h/d"}, "tables": {"a": {}, "a": {}}}', [
    'is not valid JSON: duplicate key "a" at line 1, column 59',
  ]],
  ["no source", { tables: { a: {} } }, ["source: is required"]],
  ["no url", { source: {}, tables: { a: {} } }, [
    "source.url: is required: the PostgreSQL URL, e.g. postgres://user:${PGPASSWORD}@host:5432/db",
  ]],
  ["http url as source", { source: { url: "http://x" }, tables: { a: {} } }, [
    "source.url: must be a postgres:// or postgresql:// URL",
  ]],
  ["unset env var", { source: { url: "postgres://u:${NOPE}@h/d" }, tables: { a: {} } }, [
    "source.url: refers to environment variable NOPE, which is not set",
  ]],
  ["malformed env reference", { source: { url: "postgres://u:${1X}@h/d" }, tables: { a: {} } }, [
    'source.url: has a malformed reference "${1X}": write ${NAME}',
  ]],
  ["bad plugin", { source: { url: "postgres://h/d", plugin: "decoderbufs" }, tables: { a: {} } }, [
    'source.plugin: must be "pgoutput" or "wal2json"',
  ]],
  ["bad slot", { source: { url: "postgres://h/d", slot: "My-Slot" }, tables: { a: {} } }, [
    "source.slot: must be 1-63 lower-case letters, digits or underscores, not starting with a digit",
  ]],
  ["unknown source key", { source: { url: "postgres://h/d", passwd: "x" }, tables: { a: {} } }, [
    "source.passwd: is not a known setting",
  ]],
  ["unknown top-level key", { ...minimal, table: {} }, ["table: is not a known setting"]],
  ["no tables", { source: { url: "postgres://h/d" } }, [
    "tables: is required: an object whose keys are the tables to replicate",
  ]],
  ["empty tables", { source: { url: "postgres://h/d" }, tables: {} }, ["tables: must list at least one table"]],
  ["zero concurrency", { source: { url: "postgres://h/d" }, tables: { "public.users": { snapshot: { concurrency: 0 } } } }, [
    'tables."public.users".snapshot.concurrency: must be a positive integer',
  ]],
  ["fractional chunk", { source: { url: "postgres://h/d" }, tables: { users: { snapshot: { chunkRows: 1.5 } } } }, [
    "tables.users.snapshot.chunkRows: must be a positive integer",
  ]],
  ["string concurrency", { source: { url: "postgres://h/d" }, tables: { users: { snapshot: { concurrency: "4" } } } }, [
    "tables.users.snapshot.concurrency: must be a positive integer",
  ]],
  ["huge concurrency", { source: { url: "postgres://h/d" }, tables: { users: { snapshot: { concurrency: 1000 } } } }, [
    "tables.users.snapshot.concurrency: must be at most 64",
  ]],
  ["unquoted spaced name", { source: { url: "postgres://h/d" }, tables: { "my table": {} } }, [
    'tables."my table": is not a table name: it has "my table", which is not a plain identifier: quote it as in SQL, e.g. "\\"my table\\""',
  ]],
  ["three-part name", { source: { url: "postgres://h/d" }, tables: { "a.b.c": {} } }, [
    'tables."a.b.c": is not a table name: it has more than two parts: write schema.table',
  ]],
  ["same table twice", { source: { url: "postgres://h/d" }, tables: { users: {}, "public.Users": {} } }, [
    'tables."public.Users": names the same table as "users" (public.users)',
  ]],
  ["unknown sink", { source: { url: "postgres://h/d" }, tables: { users: { sinks: ["serach"] } } }, [
    'tables.users.sinks[0]: names sink "serach", which is not defined (defined: "search")',
  ]],
  ["empty sink list", { source: { url: "postgres://h/d" }, tables: { users: { sinks: [] } } }, [
    "tables.users.sinks: must name at least one sink",
  ]],
  ["upper-case index", { source: { url: "postgres://h/d" }, tables: { users: { index: "Users" } } }, [
    'tables.users.index: must be a valid Elasticsearch index name: lower case, no spaces or \\/*?"<>|,#:, not starting with -, _ or +',
  ]],
  ["index collision", { source: { url: "postgres://h/d" }, tables: { users: {}, people: { index: "users" } } }, [
    'tables.people.index: index "users" is also used by table "users": give one of them another "index"',
  ]],
  ["unknown sink type", { source: { url: "postgres://h/d" }, sinks: { s: { type: "solr" } }, tables: { a: {} } }, [
    'sinks.s.type: is not a known sink type (known: "elasticsearch")',
  ]],
  ["bad sink url", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", url: "localhost:9200" } },
    tables: { a: {} },
  }, [
    "sinks.s.url: must be an http:// or https:// URL",
  ]],
  ["zero batch docs", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", batch: { maxDocs: 0 } } },
    tables: { a: {} },
  }, [
    "sinks.s.batch.maxDocs: must be a positive integer",
  ]],
  ["unknown batch key", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", batch: { size: 1 } } },
    tables: { a: {} },
  }, [
    "sinks.s.batch.size: is not a known setting",
  ]],
  ["user without password", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", username: "elastic" } },
    tables: { a: {} },
  }, [
    "sinks.s.password: is required when `username`/`password` is set: give both or neither",
  ]],
  ["bad sink name", { source: { url: "postgres://h/d" }, sinks: { "my sink": { type: "elasticsearch" } }, tables: { a: {} } }, [
    'sinks."my sink": sink names are letters, digits, _ and -, starting with a letter',
  ]],
];

for (const [what, config, expected, vars] of invalid) {
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
