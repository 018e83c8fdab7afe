/**
 * Configs a person could get wrong, each with the problems the engine must name (path: message).
 * Checked by parseConfig's unit test and, through the real command line (exit code 2), by the CLI test.
 */
const minimal = { source: { url: "postgres://u@h/db" }, tables: { users: {} } };

export const INVALID_CONFIGS: [string, unknown, string[], Record<string, string>?][] = [
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
    "source.url: refers to environment variable NOPE, which is not set: set it, or give a default as ${NOPE:-value}",
  ]],
  ["malformed env reference", { source: { url: "postgres://u:${1X}@h/d" }, tables: { a: {} } }, [
    'source.url: has a malformed reference "${1X}": write ${NAME}',
  ]],
  ["bad plugin", { source: { url: "postgres://h/d", plugin: "decoderbufs" }, tables: { a: {} } }, [
    'source.plugin: must be "pgoutput" or "wal2json"',
  ]],
  ["heartbeat too often", { source: { url: "postgres://h/d", heartbeatIntervalMs: 500 }, tables: { a: {} } }, [
    "source.heartbeatIntervalMs: must be 0 (off) or at least 1000",
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
    'sinks.s.type: is not a known sink type (known: "elasticsearch", "kafka")',
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
  ["upper-case dead-letter index", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", deadLetterIndex: "Dead" } },
    tables: { a: {} },
  }, [
    'sinks.s.deadLetterIndex: must be a valid Elasticsearch index name: lower case, no spaces or \\/*?"<>|,#:, not starting with -, _ or +',
  ]],
  ["a Kafka broker without a port", {
    source: { url: "postgres://h/d" },
    sinks: { k: { type: "kafka", brokers: ["kafka"] } },
    tables: { a: {} },
  }, [
    "sinks.k.brokers[0]: must be host:port, e.g. 127.0.0.1:9092",
  ]],
  ["no Kafka brokers", { source: { url: "postgres://h/d" }, sinks: { k: { type: "kafka", brokers: [] } }, tables: { a: {} } }, [
    "sinks.k.brokers: must name at least one broker",
  ]],
  ["a Kafka topic prefix with a slash", {
    source: { url: "postgres://h/d" },
    sinks: { k: { type: "kafka", topicPrefix: "cdc/" } },
    tables: { a: {} },
  }, [
    "sinks.k.topicPrefix: must be letters, digits, ., _ or -, at most 200 of them",
  ]],
  ["an index name Kafka refuses as a topic", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch" }, k: { type: "kafka" } },
    tables: { a: { index: "a+b" }, '"x+y"': {} },
  }, [
    'tables.a.index: makes topic "oesophagus.a+b" for sink "k", which Kafka does not allow (letters, digits, ., _ and -, at most 249): give the table another "index"',
    'tables."\\"x+y\\"": makes topic "oesophagus.x+y" for sink "k", which Kafka does not allow (letters, digits, ., _ and -, at most 249): give the table another "index"',
  ]],
  ["api key with basic auth", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", username: "u", password: "p", apiKey: "k" } },
    tables: { a: {} },
  }, [
    "sinks.s.apiKey: cannot be combined with username/password",
  ]],
  ["zero in-flight events", { source: { url: "postgres://h/d", maxInFlightEvents: 0 }, tables: { a: {} } }, [
    "source.maxInFlightEvents: must be a positive integer",
  ]],
  ["status interval over a minute", { source: { url: "postgres://h/d", statusIntervalMs: 120000 }, tables: { a: {} } }, [
    "source.statusIntervalMs: must be at most 60000",
  ]],
  ["bad publication", { source: { url: "postgres://h/d", publication: "pub; DROP TABLE x" }, tables: { a: {} } }, [
    "source.publication: must be 1-63 lower-case letters, digits or underscores, not starting with a digit",
  ]],
  ["zero batch timeout", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", batch: { timeoutMs: 0 } } },
    tables: { a: {} },
  }, [
    "sinks.s.batch.timeoutMs: must be a positive integer",
  ]],
  ["negative linger", {
    source: { url: "postgres://h/d" },
    sinks: { s: { type: "elasticsearch", batch: { lingerMs: -1 } } },
    tables: { a: {} },
  }, [
    "sinks.s.batch.lingerMs: must be a non-negative integer",
  ]],
  ["tables as a list", { source: { url: "postgres://h/d" }, tables: ["users"] }, [
    "tables: is required: an object whose keys are the tables to replicate",
  ]],
  ["empty table name", { source: { url: "postgres://h/d" }, tables: { "": {} } }, [
    'tables."": is not a table name: it has an empty name part',
  ]],
  ["unknown sslmode", { source: { url: "postgres://h/d?sslmode=verify" }, tables: { a: {} } }, [
    "source.url: has an unknown sslmode: use one of disable, allow, prefer, require, verify-ca, verify-full",
  ]],
  ["unknown sslmode, several hosts", { source: { url: "postgres://h1:5432,h2:5432/d?sslmode=on" }, tables: { a: {} } }, [
    "source.url: has an unknown sslmode: use one of disable, allow, prefer, require, verify-ca, verify-full",
  ]],
  ["a host of several without a port number", { source: { url: "postgres://h1:5432,h2:pg/d" }, tables: { a: {} } }, [
    "source.url: has a list of hosts that is not host1:port1,host2:port2",
  ]],
  ["config that is not an object", "[1, 2]", ["must be an object"]],
];
