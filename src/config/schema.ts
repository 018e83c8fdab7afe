/**
 * producer.json: the one source of truth for the engine's configuration. Types, defaults,
 * validation messages and the README's reference table all come from this file
 * (`deno task docs` renders it; a test keeps the README in step).
 */
import { z } from "zod";
import { parseQualifiedName } from "../pg/identifier.ts";
import { SSL_MODES, urlQuery } from "../pg/tls.ts";
import { urlHosts } from "../pg/url_hosts.ts";

const positiveInt = (max: number) =>
  z.int({ error: "must be a positive integer" })
    .min(1, { error: "must be a positive integer" })
    .max(max, { error: `must be at most ${max}` });

/** Slot and publication names end up in replication commands; keep them to what PostgreSQL allows unquoted. */
const pgObjectName = z.string({ error: "must be a string" }).regex(/^[a-z_][a-z0-9_]{0,62}$/, {
  error: "must be 1-63 lower-case letters, digits or underscores, not starting with a digit",
});

export const SINK_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

const httpUrl = z.string({ error: "must be a string" }).refine((value) => {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}, { error: "must be an http:// or https:// URL" });

const indexName = z.string({ error: "must be a string" })
  .regex(/^[a-z0-9][a-z0-9_.+-]{0,254}$/, {
    error: 'must be a valid Elasticsearch index name: lower case, no spaces or \\/*?"<>|,#:, not starting with -, _ or +',
  })
  .refine((name) => name !== "." && name !== "..", { error: "cannot be . or .." });

/** Bulk requests a sink may have in flight at once: its lanes. */
export const MAX_SINK_CONCURRENCY = 64;

export const batchSchema = z.strictObject({
  maxDocs: positiveInt(100_000).default(2_000).describe(
    "Items per request at most: documents of a `_bulk` request, change events of a Kafka produce request.",
  ),
  maxBytes: positiveInt(100_000_000).default(5_000_000).describe(
    "Bytes per request at most (a single larger item still goes alone).",
  ),
  timeoutMs: positiveInt(60_000).default(100).describe(
    "How long a partly filled batch waits for more changes before it is sent.",
  ),
  lingerMs: z.int({ error: "must be a non-negative integer" }).min(0, { error: "must be a non-negative integer" })
    .max(60_000, { error: "must be at most 60000" }).default(10).describe(
      "How long a partly filled batch of committed changes waits when nothing else is in flight (at most `timeoutMs`): low latency when the sink keeps up, fuller batches when it does not.",
    ),
});

export const elasticsearchSinkSchema = z.strictObject({
  type: z.literal("elasticsearch").describe("Sink kind."),
  url: httpUrl.default("http://127.0.0.1:9200").describe("Elasticsearch 8 node URL."),
  username: z.string().min(1).optional().describe("Basic-auth user (with `password`)."),
  password: z.string().min(1).optional().describe("Basic-auth password; use `${ENV_VAR}`."),
  apiKey: z.string().min(1).optional().describe("API key (base64 id:key); use `${ENV_VAR}`."),
  caFile: z.string({ error: "must be a path" }).min(1, { error: "must be a path" }).optional().describe(
    "PEM file of the CA that signed the cluster's certificate, for an https:// url (default: the system's CAs).",
  ),
  batch: batchSchema.prefault({}).describe("Batch bounds for bulk requests."),
  concurrency: positiveInt(MAX_SINK_CONCURRENCY).default(2).describe("Bulk requests in flight at once."),
  requestTimeoutMs: positiveInt(600_000).default(60_000).describe(
    "A bulk request taking longer is abandoned and retried.",
  ),
  deadLetterIndex: indexName.default("oesophagus-dead-letter").describe(
    "Where documents Elasticsearch refuses for good go, with table, key, commit LSN and reason.",
  ),
}).superRefine((sink, ctx) => {
  if ((sink.username === undefined) !== (sink.password === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: [sink.username === undefined ? "username" : "password"],
      message: "is required when `username`/`password` is set: give both or neither",
    });
  }
  if (sink.apiKey !== undefined && sink.username !== undefined) {
    ctx.addIssue({ code: "custom", path: ["apiKey"], message: "cannot be combined with username/password" });
  }
});

/** Characters Kafka allows in a topic name. */
export const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

const brokerAddress = z.string({ error: "must be a host:port string" }).regex(/^[^\s:/]+:\d{1,5}$/, {
  error: "must be host:port, e.g. 127.0.0.1:9092",
});

export const kafkaSinkSchema = z.strictObject({
  type: z.literal("kafka").describe("Sink kind."),
  brokers: z.array(brokerAddress, { error: "must be a list of host:port strings" })
    .min(1, { error: "must name at least one broker" }).default(["127.0.0.1:9092"])
    .describe("Bootstrap brokers, `host:port` each."),
  clientId: z.string({ error: "must be a string" }).min(1).default("oesophagus").describe("Client id the brokers see."),
  sasl: z.strictObject({
    mechanism: z.enum(["plain", "scram-sha-256", "scram-sha-512"], {
      error: 'must be "plain", "scram-sha-256" or "scram-sha-512"',
    }).describe("SASL mechanism."),
    username: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }).describe("SASL user."),
    password: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }).describe(
      "SASL password; use `${ENV_VAR}`.",
    ),
  }).optional().describe("SASL authentication (with `tls` for SASL_SSL listeners)."),
  tls: z.boolean({ error: "must be true or false" }).default(false).describe(
    "Connect to the brokers over TLS, verifying their certificates against the system's CAs or `caFile`.",
  ),
  caFile: z.string({ error: "must be a path" }).min(1, { error: "must be a path" }).optional().describe(
    "PEM file of the CA that signed the brokers' certificates (implies `tls`).",
  ),
  topicPrefix: z.string({ error: "must be a string" }).regex(/^[A-Za-z0-9._-]{0,200}$/, {
    error: "must be letters, digits, ., _ or -, at most 200 of them",
  }).default("oesophagus.").describe(
    "A table's topic is this prefix and the table's index name (`oesophagus.orders`); the topic is created if missing.",
  ),
  partitions: positiveInt(10_000).default(1).describe(
    "Partitions of a topic the engine creates: a row's changes always go to the partition of its key; more partitions let more consumers share a topic.",
  ),
  replicationFactor: positiveInt(100).default(1).describe("Replicas of each partition of a topic the engine creates."),
  batch: batchSchema.prefault({}).describe("Batch bounds: messages per produce request."),
  concurrency: positiveInt(MAX_SINK_CONCURRENCY).default(2).describe("Produce requests in flight at once."),
  requestTimeoutMs: positiveInt(600_000).default(30_000).describe(
    "A produce request taking longer is abandoned and retried.",
  ),
});

/** The one place a sink type is listed. */
export const sinkSchema = z.discriminatedUnion("type", [elasticsearchSinkSchema, kafkaSinkSchema]).describe(
  "One sink; `type` says which kind.",
);

export const snapshotSchema = z.strictObject({
  concurrency: positiveInt(64).default(2).describe("Chunk readers for this table, each on its own connection."),
  chunkRows: positiveInt(10_000_000).default(50_000).describe("Rows per primary-key range chunk (the unit of resume)."),
});

export const tableSchema = z.strictObject({
  sinks: z.array(z.string({ error: "must be a sink name" }), { error: "must be a list of sink names" })
    .min(1, { error: "must name at least one sink" }).optional()
    .describe("Sinks this table goes to (default: every sink)."),
  index: indexName.optional()
    .describe("Index name (default: the table name, lower-cased, `schema.table` outside `public`)."),
  snapshot: snapshotSchema.prefault({}).describe("How the table is copied on first start."),
}).describe("One table; `{}` takes every default.");

export const sourceSchema = z.strictObject({
  url: z.string({ error: "is required: the PostgreSQL URL, e.g. postgres://user:${PGPASSWORD}@host:5432/db" })
    .refine((value) => /^postgres(ql)?:\/\/./.test(value), { error: "must be a postgres:// or postgresql:// URL" })
    .refine((value) => {
      const mode = urlQuery(value).get("sslmode");
      return mode === null || (SSL_MODES as readonly string[]).includes(mode);
    }, { error: `has an unknown sslmode: use one of ${SSL_MODES.join(", ")}` })
    .refine((value) => {
      try {
        urlHosts(value, () => undefined);
        return true;
      } catch {
        return false;
      }
    }, { error: "has a list of hosts that is not host1:port1,host2:port2" })
    .describe("PostgreSQL connection URL; put the password in `${ENV_VAR}`."),
  slot: pgObjectName.default("oesophagus").describe("Logical replication slot (created if missing)."),
  publication: pgObjectName.default("oesophagus").describe(
    "Publication for pgoutput (created and kept to exactly the configured tables).",
  ),
  plugin: z.enum(["pgoutput", "wal2json"], { error: 'must be "pgoutput" or "wal2json"' })
    .default("pgoutput").describe("Logical decoding output plugin."),
  maxInFlightEvents: positiveInt(10_000_000).default(8_000).describe(
    "Row changes read from the slot but not yet in every sink, at most; past it the wal reader stops reading (BEGIN and COMMIT records count toward `maxInFlightBytes` only).",
  ),
  maxInFlightBytes: positiveInt(4_000_000_000).default(16_000_000).describe(
    "Bytes of such changes at most (the bound on the engine's memory for the stream).",
  ),
  statusIntervalMs: positiveInt(60_000).default(10_000).describe(
    "Standby status updates are sent at least this often, also while reading is paused.",
  ),
  receiveTimeoutMs: z.int({ error: "must be a whole number of milliseconds" }).min(1_000, { error: "must be at least 1000" })
    .max(3_600_000, { error: "must be at most 3600000" }).default(60_000).describe(
      "A replication stream silent this long while being read is taken for lost and opened again (after half of it the server is asked for a reply); a walsender left behind on the lost connection is ended.",
    ),
  heartbeatIntervalMs: z.int({ error: "must be a whole number of milliseconds" }).min(0, { error: "must be 0 or more" })
    .max(3_600_000, { error: "must be at most 3600000" })
    .refine((ms) => ms === 0 || ms >= 1_000, { error: "must be 0 (off) or at least 1000" }).default(30_000).describe(
      "While no configured table changes, a logical message is written to the source database this often and read back through the slot, so the slot is confirmed past other tables' and databases' WAL without relying on the server's keepalives alone (0: off).",
    ),
});

export const supervisionSchema = z.strictObject({
  maxRestarts: z.int({ error: "must be a whole number" }).min(0, { error: "must be 0 or more" }).max(1_000, {
    error: "must be at most 1000",
  }).default(5).describe(
    "Pipeline restarts allowed within `withinMs`; one more ends the process (exit 1) with the reason.",
  ),
  withinMs: positiveInt(86_400_000).default(60_000).describe("The window in which restarts are counted."),
  backoffMinMs: positiveInt(600_000).default(1_000).describe("Wait before the first restart; doubles each time."),
  backoffMaxMs: positiveInt(3_600_000).default(30_000).describe("Longest wait between restarts."),
}).refine((s) => s.backoffMinMs <= s.backoffMaxMs, {
  path: ["backoffMaxMs"],
  error: "must be at least backoffMinMs",
});

export const metricsSchema = z.strictObject({
  enabled: z.boolean({ error: "must be true or false" }).default(true).describe(
    "Serve `/metrics` (Prometheus), `/healthz` and `/readyz`.",
  ),
  host: z.string({ error: "must be a host name or address" }).min(1).default("127.0.0.1").describe(
    "Address to listen on (`0.0.0.0` in a container).",
  ),
  port: z.int({ error: "must be a port number" }).min(0, { error: "must be a port number" }).max(65_535, {
    error: "must be a port number",
  }).default(9464).describe("Port to listen on; 0 picks a free one (logged at start)."),
});

export const tracingSchema = z.strictObject({
  enabled: z.boolean({ error: "must be true or false" }).default(false).describe(
    "Send traces over OTLP/HTTP (also on when OTEL_EXPORTER_OTLP_ENDPOINT is set).",
  ),
  endpoint: httpUrl.default("http://127.0.0.1:4318").describe(
    "OTLP/HTTP base URL (`/v1/traces` is appended); OTEL_EXPORTER_OTLP_ENDPOINT wins.",
  ),
  samplingRatio: z.number({ error: "must be a number from 0 to 1" }).min(0, { error: "must be a number from 0 to 1" })
    .max(1, { error: "must be a number from 0 to 1" }).default(1).describe(
      "Share of change events traced; OTEL_TRACES_SAMPLER_ARG wins.",
    ),
});

export const consumeSchema = z.strictObject({
  from: z.string({ error: "must be the name of a kafka sink" }).describe(
    "The Kafka sink whose topics `oesophagus consume` reads: each table that goes to it, from its topic.",
  ),
  into: z.string({ error: "must be the name of an elasticsearch sink" }).describe(
    "The Elasticsearch sink the events are indexed into, each table into its index.",
  ),
  groupId: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }).default("oesophagus-indexer")
    .describe("Consumer group: every `oesophagus consume` with the same group shares the topics' partitions."),
  partitionsConsumedConcurrently: positiveInt(64).default(2).describe(
    "Partitions one process indexes at once (each in order, one batch in flight).",
  ),
});

export const configSchema = z.strictObject({
  source: sourceSchema.describe("The PostgreSQL database to replicate."),
  metrics: metricsSchema.prefault({}).describe("The engine's HTTP port for Prometheus and health checks."),
  tracing: tracingSchema.prefault({}).describe("Traces to Jaeger or any OTLP collector: a trace per change event."),
  supervision: supervisionSchema.prefault({}).describe(
    "How a crashed pipeline is restarted: every actor restarts from its checkpoint, with jittered exponential backoff.",
  ),
  sinks: z.record(
    z.string().regex(SINK_NAME, { error: "sink names are letters, digits, _ and -, starting with a letter" }),
    sinkSchema,
  ).prefault({ search: { type: "elasticsearch" } })
    .describe("Named targets. Default: one Elasticsearch sink `search` at http://127.0.0.1:9200."),
  consume: consumeSchema.optional().describe(
    "For `oesophagus consume`: index a Kafka sink's change events into Elasticsearch as a consumer group.",
  ),
  tables: z.record(
    z.string().superRefine((key, ctx) => {
      const name = parseQualifiedName(key);
      if ("error" in name) ctx.addIssue({ code: "custom", message: `is not a table name: it ${name.error}` });
    }),
    tableSchema,
    { error: "is required: an object whose keys are the tables to replicate" },
  )
    .refine((tables) => Object.keys(tables).length > 0, { error: "must list at least one table" })
    .describe(
      'Tables to replicate, keyed by name: `users`, `public.users`, `"Sales"."Order Items"` (SQL rules: unquoted names fold to lower case).',
    ),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type ElasticsearchSinkConfig = z.output<typeof elasticsearchSinkSchema>;
export type KafkaSinkConfig = z.output<typeof kafkaSinkSchema>;
export type SinkConfig = z.output<typeof sinkSchema>;
