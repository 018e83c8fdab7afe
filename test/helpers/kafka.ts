/** Reading what the engine wrote to Kafka, with a client of the tests' own, and cleaning up topics. */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { canonicalJson, type ExactJson, JsonNumber, parseExactJson } from "../../src/json/exact_json.ts";
import { dropNegativeTimeoutWarnings } from "../../src/sinks/kafka/client.ts";
import { services, uniqueName } from "./services.ts";

export interface ReadMessage {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

async function client(): Promise<Kafka> {
  const { kafkaBrokers } = await services();
  dropNegativeTimeoutWarnings();
  return new Kafka({ clientId: "oesophagus-tests", brokers: kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
}

/** Every message of a topic, partition by partition in offset order, up to its end when called. */
export async function readTopic(topic: string): Promise<ReadMessage[]> {
  const kafka = await client();
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
  const wanted = [...ends.values()].reduce((a, b) => a + b, 0n);
  const messages: ReadMessage[] = [];
  if (wanted === 0n) return messages;
  const consumer = kafka.consumer({ groupId: uniqueName("reader"), retry: { retries: 10 } });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`read ${messages.length} of ${wanted} messages of ${topic} in 60 s`)),
        60_000,
      );
      consumer.run({
        eachMessage: ({ partition, message }) => {
          const offset = BigInt(message.offset);
          if (offset < (ends.get(partition) ?? 0n)) {
            messages.push({
              partition,
              offset,
              key: message.key === null ? null : message.key.toString(),
              value: message.value === null ? null : message.value.toString(),
              headers: Object.fromEntries(
                Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]),
              ),
            });
          }
          if (BigInt(messages.length) >= wanted) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return messages.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

/** A topic prefix of one test; its topics are deleted at the end. */
export function uniqueTopicPrefix(): { prefix: string } & AsyncDisposable {
  const prefix = `${uniqueName("test")}.`;
  return {
    prefix,
    [Symbol.asyncDispose]: async () => {
      const admin = (await client()).admin();
      await admin.connect();
      try {
        const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
        if (topics.length > 0) await admin.deleteTopics({ topics });
      } finally {
        await admin.disconnect();
      }
    },
  };
}

export interface ChangeEvent {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string | null;
  readonly op: string;
  /** Canonical JSON of `before` and `after`, or null. */
  readonly before: string | null;
  readonly after: string | null;
  readonly version: bigint;
  readonly lsn: string;
  readonly table: string;
  readonly snapshot: boolean;
  /** `source.txid`, `ts_ms`, `ts_us` as the JSON has them (number text), or null. */
  readonly txid: string | null;
  readonly tsMs: string | null;
  readonly tsUs: string | null;
}

/** A message of the engine as its envelope says, checked for shape; `after` as canonical JSON. */
export function eventOf(message: ReadMessage): ChangeEvent {
  assert.ok(message.value !== null, "a message without a value");
  const envelope = parseExactJson(message.value) as Record<string, ExactJson>;
  const source = envelope.source as Record<string, ExactJson>;
  assert.deepEqual(Object.keys(envelope), ["op", "before", "after", "source"]);
  assert.equal(typeof source.version, "string", "the version is text, not a number");
  assert.deepEqual(Object.keys(source), ["table", "index", "lsn", "version", "txid", "ts_ms", "ts_us", "snapshot"]);
  const numberText = (name: string) => {
    const value = source[name];
    if (value === null) return null;
    assert.ok(value instanceof JsonNumber, `source.${name} is a number or null`);
    return value.text;
  };
  assert.equal(message.headers["oesophagus-version"], source.version);
  return {
    partition: message.partition,
    offset: message.offset,
    key: message.key,
    op: envelope.op as string,
    before: envelope.before === null ? null : canonicalJson(envelope.before),
    after: envelope.after === null ? null : canonicalJson(envelope.after),
    version: BigInt(source.version as string),
    lsn: source.lsn as string,
    table: source.table as string,
    snapshot: source.snapshot as boolean,
    txid: numberText("txid"),
    tsMs: numberText("ts_ms"),
    tsUs: numberText("ts_us"),
  };
}

/** The last event of each key: what a consumer applying the topic in order ends with. */
export function lastByKey(events: readonly ChangeEvent[]): Map<string, ChangeEvent> {
  const last = new Map<string, ChangeEvent>();
  for (const event of events) if (event.key !== null) last.set(event.key, event);
  return last;
}

/** Deletes a topic as an operator would by hand, and waits until the broker no longer lists it. */
export async function deleteTopic(topic: string): Promise<void> {
  const admin = (await client()).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
    const deadline = Date.now() + 30_000;
    while ((await admin.listTopics()).includes(topic)) {
      assert.ok(Date.now() < deadline, `topic ${topic} still listed 30 s after its deletion`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Makes a topic as an operator would by hand (or a broker's auto.create.topics.enable would): empty. */
export async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = (await client()).admin();
  await admin.connect();
  try {
    assert.ok(
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true }),
      `topic ${topic} exists`,
    );
  } finally {
    await admin.disconnect();
  }
}
