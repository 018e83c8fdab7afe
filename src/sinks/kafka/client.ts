/**
 * The kafkajs client for one sink, and what its errors mean: try again (a broker down, a leader
 * moving) or refused for good (a message over the topic's size limit, a topic that cannot be
 * made). kafkajs logs through the engine's logger, so its lines are JSON like every other.
 */
import process from "node:process";
import { type Admin, Kafka, type KafkaConfig, logLevel, type SASLOptions } from "kafkajs";
import type { KafkaSinkConfig } from "../../config/schema.ts";
import { causes, OesophagusError } from "../../errors.ts";
import { readPemFile } from "../../pem.ts";
import { isTlsTrustFailure } from "../../tls_errors.ts";
import { logger } from "../../telemetry/log.ts";
import { speedUpKafkajsEncoder } from "./kafkajs_encoder.ts";
import { isKafkaConnectionError, withListenerCheck } from "./listener_probe.ts";

let warningsFiltered = false;

/**
 * kafkajs 2.2.4 schedules its request queue's check with a negative delay when nothing is
 * throttled (tulios/kafkajs#1751); the runtime then prints a TimeoutNegativeWarning (and runs the
 * timer at once, as kafkajs expects). That line would be the only non-JSON line of the engine's
 * output: it is dropped, every other warning still printed.
 */
export function dropNegativeTimeoutWarnings(): void {
  if (warningsFiltered) return;
  warningsFiltered = true;
  const emit = process.emitWarning;
  process.emitWarning = function (warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === "TimeoutNegativeWarning" || (warning instanceof Error && warning.name === "TimeoutNegativeWarning")) return;
    return (emit as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
}

export function createKafka(name: string, config: KafkaSinkConfig, retry: { retries: number } = { retries: 3 }): Kafka {
  dropNegativeTimeoutWarnings();
  speedUpKafkajsEncoder();
  const tls = config.tls || config.caFile !== undefined;
  const options: KafkaConfig = {
    clientId: config.clientId,
    brokers: [...config.brokers],
    ...(tls
      ? {
        ssl: config.caFile === undefined ? true : {
          ca: readPemFile(config.caFile, { name: `sinks.${name}.caFile`, code: "sink_misconfigured", certificate: true }),
          rejectUnauthorized: true,
        },
      }
      : {}),
    ...(config.sasl ? { sasl: { ...config.sasl } as SASLOptions } : {}),
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: 5_000,
    // The sink retries with its own backoff; kafkajs's own retries are for a leader moving.
    retry: { ...retry, initialRetryTime: 100, maxRetryTime: 2_000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log }) => {
      const fields = { sink: name, kafkajs: log.logger, broker: log.broker, error: log.error };
      if (level <= logLevel.WARN) logger.warn(`kafka: ${log.message}`, fields);
    },
  };
  return new Kafka(options);
}

/** kafkajs errors carry `retriable`; a wrapped one (retries exhausted) has the reason as `cause`. */
interface KafkaJsError {
  readonly name?: string;
  readonly message?: string;
  readonly retriable?: boolean;
  readonly type?: string;
  readonly cause?: KafkaJsError;
}

/** Protocol errors that waiting cannot fix. */
const FOR_GOOD: Readonly<Record<string, string>> = {
  MESSAGE_TOO_LARGE: "raise the topic's max.message.bytes (and the broker's message.max.bytes), or lower batch.maxBytes",
  RECORD_LIST_TOO_LARGE: "lower the sink's batch.maxBytes, or raise the broker's message.max.bytes",
  TOPIC_AUTHORIZATION_FAILED: "grant the engine's principal Write and Describe on the topic",
  CLUSTER_AUTHORIZATION_FAILED: "grant the engine's principal the cluster permissions it needs (IdempotentWrite, Create)",
  INVALID_TOPIC_EXCEPTION: "give the table another index name, so its topic name is valid",
  INVALID_REPLICATION_FACTOR: "lower the sink's replicationFactor to at most the number of brokers",
  POLICY_VIOLATION: "create the topic yourself, as the cluster's policy allows",
};

/** The innermost kafkajs error with a protocol error type (a retry's error wraps the request's). */
function innerKafkaError(error: unknown): KafkaJsError | undefined {
  let inner = error as KafkaJsError | undefined;
  while (inner?.cause && inner.type === undefined) inner = inner.cause;
  return inner;
}

/** The Kafka protocol error type (UNKNOWN_TOPIC_OR_PARTITION, ...) of a kafkajs error, if it has one. */
export function kafkaErrorType(error: unknown): string | undefined {
  return innerKafkaError(error)?.type;
}

/** The broker (`host:port`) a kafkajs connection error names, if the error or one it wraps is one. */
function unreachableBroker(error: unknown): string | undefined {
  for (const e of causes(error)) {
    const { broker } = e as { broker?: string };
    if (isKafkaConnectionError(e) && broker) return broker;
  }
  return undefined;
}

/**
 * An error of a Kafka request as the pipeline should see it. `seeds` are the sink's `brokers`: a
 * broker the engine cannot connect to that is none of them came from the cluster's metadata, as its
 * advertised.listeners name it.
 */
export function classifyKafkaError(error: unknown, sink: string, seeds: readonly string[] = []): OesophagusError {
  if (error instanceof OesophagusError) return error;
  const inner = innerKafkaError(error);
  const type = inner?.type;
  const message = `sink ${sink}: Kafka: ${(error as Error)?.message ?? String(error)}${
    type && !(error as Error)?.message?.includes(type) ? ` (${type})` : ""
  }`;
  if ((error as Error)?.name === "KafkaJSSASLAuthenticationError" || type === "SASL_AUTHENTICATION_FAILED") {
    return new OesophagusError(
      "sink_misconfigured",
      `sink ${sink}: Kafka refused the SASL credentials: ${(error as Error).message}`,
      {
        fix: `check sinks.${sink}.sasl (mechanism, username and password) against the user the brokers know`,
        cause: error,
      },
    );
  }
  if (type === "UNSUPPORTED_SASL_MECHANISM" || type === "ILLEGAL_SASL_STATE") {
    return new OesophagusError("sink_misconfigured", message, {
      fix: `set sinks.${sink}.sasl.mechanism to one the brokers' listener enables (or remove sasl for a PLAINTEXT listener)`,
      cause: error,
    });
  }
  if (isTlsTrustFailure(error)) {
    return new OesophagusError("sink_misconfigured", `sink ${sink}: TLS: the brokers' certificate is not trusted: ${message}`, {
      fix: `set sinks.${sink}.caFile to the CA that signed the brokers' certificates (PEM)`,
      cause: error,
    });
  }
  if (type !== undefined && type in FOR_GOOD) {
    return new OesophagusError("sink_rejected", message, { fix: FOR_GOOD[type], cause: error });
  }
  if (type !== undefined && inner?.retriable === false && /AUTHORIZATION|INVALID|UNSUPPORTED/.test(type)) {
    return new OesophagusError("sink_rejected", message, { cause: error });
  }
  const broker = unreachableBroker(error);
  if (broker !== undefined && seeds.length > 0 && !seeds.includes(broker)) {
    // Retried: a broker that is down shows the same way, and comes back.
    return new OesophagusError(
      "sink_unreachable",
      `sink ${sink}: Kafka: broker ${broker}, as the cluster's metadata lists it (its advertised.listeners), cannot be reached: ${
        (error as Error)?.message ?? String(error)
      }`,
      {
        retriable: true,
        fix:
          `if that broker runs, set its advertised.listeners to an address this machine can reach: clients connect to every broker the metadata lists, not only to sinks.${sink}.brokers`,
        cause: error,
      },
    );
  }
  return new OesophagusError("sink_unreachable", message, {
    retriable: true,
    fix: "check that the brokers in the sink's `brokers` run and are reachable",
    cause: error,
  });
}

/** Runs `work` with an admin client that answers within a few seconds or fails, without retries: for `check` and `status`. */
async function withQuickAdmin<T>(name: string, config: KafkaSinkConfig, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createKafka(name, { ...config, requestTimeoutMs: 5_000 }, { retries: 0 }).admin();
  try {
    return await withListenerCheck(name, config, async () => {
      await admin.connect();
      return await work(admin);
    });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The cluster's brokers as its metadata lists them. */
export function describeKafka(name: string, config: KafkaSinkConfig): Promise<{ brokers: number }> {
  return withQuickAdmin(name, config, async (admin) => ({ brokers: (await admin.describeCluster()).brokers.length }));
}

/**
 * How far a consumer group is behind on the topics: per partition, the events after its
 * committed offset (from the partition's first event when it committed none, or one retention
 * has deleted since, as `consume` then reads it).
 * Offsets stay decimal text: they are 64-bit.
 */
export function groupLag(
  name: string,
  config: KafkaSinkConfig,
  groupId: string,
  topics: readonly string[],
): Promise<{ readonly topic: string; readonly partition: number; readonly lag: string }[]> {
  return withQuickAdmin(name, config, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((topic) => existing.has(topic));
    const committed = present.length === 0 ? [] : await admin.fetchOffsets({ groupId, topics: present });
    const lags = [];
    for (const topic of present) {
      const marks = await admin.fetchTopicOffsets(topic);
      const done = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const { partition, high, low } of marks) {
        // No commit yet, or one below what retention kept: reading starts at the partition's first event.
        const offset = BigInt(done.find((p) => p.partition === partition)?.offset ?? "-1");
        const from = offset > BigInt(low) ? offset : BigInt(low);
        lags.push({ topic, partition, lag: (BigInt(high) - from).toString() });
      }
    }
    return lags;
  });
}
