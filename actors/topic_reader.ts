/**
 * `oesophagus consume`: reads a Kafka sink's topics as a member of a consumer group and indexes
 * the change events into Elasticsearch through the Elasticsearch sink, with the same versions the
 * engine writes directly (`external_gte`, the commit LSN), so redelivered events are harmless.
 * A partition's events go in order, one batch in flight; its offset is committed only once the
 * sink acknowledged the batch (or the TRUNCATE) that carries them. More processes with the same
 * group share the partitions. With tracing on, an event's `cdc.consume` span continues the trace
 * named by its `traceparent` header and ends with that acknowledgement.
 */
import type { Buffer } from "node:buffer";
import type { Consumer, EachBatchPayload, Kafka } from "kafkajs";
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { type Config, publishedTables } from "../src/config/load.ts";
import type { ElasticsearchSinkConfig, KafkaSinkConfig } from "../src/config/schema.ts";
import type { TableDescription } from "../src/pg/catalog.ts";
import { describeTables } from "../src/pg/catalog.ts";
import { displayName } from "../src/pg/identifier.ts";
import type { Lsn } from "../src/pg/lsn.ts";
import { connect } from "../src/pg/session.ts";
import type { BatchAcked, SinkCommand, TablePrepared } from "../src/protocol/sink.ts";
import { encodeItems } from "../src/sinks/elasticsearch/bulk_body.ts";
import { classifyKafkaError, createKafka } from "../src/sinks/kafka/client.ts";
import { withListenerCheck } from "../src/sinks/kafka/listener_probe.ts";
import { retrying } from "../src/sinks/retrying.ts";
import { OesophagusError } from "../src/errors.ts";
import type { EnvelopeOp } from "../src/sinks/kafka/change_messages.ts";
import { readConsumedEvent } from "../src/sinks/kafka/consumed_event.ts";
import type { BulkItem } from "../src/stream/render.ts";
import { supersededBy } from "../src/stream/superseded.ts";
import { setPhase } from "../src/telemetry/health.ts";
import { logger } from "../src/telemetry/log.ts";
import { type ConsumedSpan, linksToConsumed } from "../src/telemetry/change_spans.ts";
import { counters } from "../src/telemetry/metrics.ts";
import { parseTraceparent } from "../src/telemetry/traceparent.ts";
import { changeSpans } from "../src/telemetry/tracing.ts";
import type { Lifecycle } from "../src/lifecycle.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";

/** Errors of an offset commit that mean the partition is no longer this member's. */
const REASSIGNED = new Set(["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "FENCED_INSTANCE_ID"]);

/** `cdc.op` of a `cdc.consume` span, as the engine's `cdc.change` spans name the kinds. */
const OP_NAMES: Record<EnvelopeOp, string> = { c: "insert", u: "update", d: "delete", r: "read", t: "truncate" };

/** A header's text (kafkajs gives a Buffer, a string or a list of them for a repeated header: the first counts). */
function headerText(value: Buffer | string | (Buffer | string)[] | undefined): string | null {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return null;
  return typeof first === "string" ? first : first.toString("latin1");
}

export type TopicReaderCommand =
  | { readonly type: "Start" }
  | TablePrepared
  | BatchAcked;

export interface TopicReaderDeps {
  readonly config: Config;
  readonly sink: Ref<SinkCommand>;
  readonly lifecycle: Lifecycle;
}

interface Topic {
  readonly index: string;
  readonly table: string;
}

interface ReaderState {
  readonly kafka: Kafka;
  /** Sink acknowledgements awaited by the consumer's batch handlers, by batch id. */
  readonly waiting: Map<string, () => void>;
  /** Indices not yet prepared by the sink; the consumer starts when none is left. */
  readonly unprepared: Set<string>;
  consumer: Consumer | null;
  nextBatch: number;
}

export function topicReader(deps: TopicReaderDeps): Behaviour<ReaderState, TopicReaderCommand> {
  const { config } = deps;
  const consume = config.consume!;
  const from = config.sinks[consume.from] as KafkaSinkConfig;
  const into = config.sinks[consume.into] as ElasticsearchSinkConfig;
  const published = publishedTables(config.tables, consume.from, from);
  const tables = published.map(({ table }) => table);
  const topics = new Map<string, Topic>(
    published.map(({ table, topic }) => [topic, { index: table.index, table: displayName(table.name) }]),
  );
  const tag = crypto.randomUUID().slice(0, 8);

  /**
   * Sends a command to the sink and resolves when it is acknowledged; rejects when this
   * incarnation ends first (its sink is gone with it, and the batch's offset stays uncommitted).
   */
  function acked(state: ReaderState, ctx: ActorContext<TopicReaderCommand>, send: (batchId: string) => void): Promise<void> {
    const { signal } = ctx.scope;
    if (signal.aborted) return Promise.reject(signal.reason);
    const batchId = `${tag}-${state.nextBatch++}`;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    state.waiting.set(batchId, () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
    send(batchId);
    return promise;
  }

  async function indexBatch(state: ReaderState, ctx: ActorContext<TopicReaderCommand>, payload: EachBatchPayload) {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const topic = topics.get(batch.topic)!;
    const traced = changeSpans();
    const batchAttributes = traced?.consumedBatch({
      table: topic.table,
      topic: batch.topic,
      partition: batch.partition,
      group: consume.groupId,
      sink: consume.into,
    });
    const readAt = Date.now();
    let items: BulkItem[] = [];
    /** The traced events among `items`: their spans end when the sink acknowledges them. */
    let spans: ConsumedSpan[] = [];
    let bytes = 0;
    let last: string | null = null;
    /** The group moved the partition to another member meanwhile: it reads on from the last commit. */
    let lost = false;
    const commit = async () => {
      if (last === null) return;
      resolveOffset(last);
      try {
        await state.consumer!.commitOffsets([{
          topic: batch.topic,
          partition: batch.partition,
          offset: (BigInt(last) + 1n).toString(),
        }]);
      } catch (error) {
        if (!REASSIGNED.has((error as { type?: string }).type ?? "")) throw error;
        lost = true;
        logger.info("partition reassigned while indexing; its new owner indexes again from the last commit", {
          actor: ctx.path,
          topic: batch.topic,
          partition: batch.partition,
        });
      }
      last = null;
      if (!lost) await heartbeat();
    };
    const flush = async () => {
      if (items.length > 0) {
        const replacedBy = supersededBy(items.length, () => topic.index, (i) => items[i].id);
        const kept = replacedBy === null ? items : items.filter((_, i) => replacedBy[i] === -1);
        const body = encodeItems(kept.map((item) => ({ index: topic.index, item })));
        const links = spans.length > 0 ? { links: linksToConsumed(spans) } : {};
        await acked(
          state,
          ctx,
          (batchId) => ctx.send(deps.sink, { type: "Write", batchId, batch: body, replyTo: ctx.self, ...links }),
        );
        for (const span of spans) traced!.consumeEnded(span);
        spans = [];
        const deletes = kept.filter((item) => item.action === "delete").length;
        counters.eventsOut.add(kept.length - deletes, { sink: consume.into, table: topic.table, action: "index" });
        counters.eventsOut.add(deletes, { sink: consume.into, table: topic.table, action: "delete" });
        counters.eventsSuperseded.add(items.length - kept.length, { sink: consume.into, table: topic.table });
        items = [];
        bytes = 0;
      }
      await commit();
    };
    // Counted per batch, not per event: a metric update per event would cost more than the event.
    const received = new Map<string, number>();
    try {
      await indexMessages();
    } finally {
      for (const [op, n] of received) counters.eventsIn.add(n, { table: topic.table, op });
    }
    async function indexMessages() {
      for (const message of batch.messages) {
        // Stale: the partition is another member's now, which reads from the last commit. Not running: SIGTERM, flush below.
        if (isStale()) return;
        if (!isRunning() || lost) break;
        const place = `${batch.topic}/${batch.partition}@${message.offset}`;
        const event = readConsumedEvent(
          message.key === null ? null : message.key.toString("utf8"),
          message.value === null ? null : message.value.toString("utf8"),
          place,
        );
        received.set(event.op, (received.get(event.op) ?? 0) + 1);
        const span = batchAttributes === undefined ? null : traced!.consumed(
          parseTraceparent(headerText(message.headers?.traceparent)),
          batchAttributes,
          OP_NAMES[event.op],
          event.id,
          message.offset,
          readAt,
        );
        if (event.op === "t") {
          await flush();
          if (lost) return;
          await acked(state, ctx, (requestId) =>
            ctx.send(deps.sink, {
              type: "Truncate",
              index: topic.index,
              version: event.version as Lsn,
              requestId,
              replyTo: ctx.self,
            }));
          if (span) traced!.consumeEnded(span);
          last = message.offset;
          await commit();
          if (lost) return;
          continue;
        }
        const id = JSON.stringify(event.id);
        items.push(
          event.op === "d"
            ? { action: "delete", id, version: event.version, doc: null }
            : { action: "index", id, version: event.version, doc: event.after },
        );
        if (span) spans.push(span);
        bytes += id.length + (event.after?.length ?? 0) + 120;
        last = message.offset;
        if (items.length >= into.batch.maxDocs || bytes >= into.batch.maxBytes) await flush();
      }
      if (!lost) await flush();
    }
  }

  /** Waits until every topic exists: `run` makes them, and the two may start in any order. */
  async function topicsMade(state: ReaderState, ctx: ActorContext<TopicReaderCommand>) {
    const admin = state.kafka.admin();
    await withListenerCheck(consume.from, from, () => admin.connect());
    try {
      await retrying(
        (error) => classifyKafkaError(error, consume.from, from.brokers),
        "waiting for the topics",
        ctx.scope.signal,
        ctx.path,
        async () => {
          const existing = new Set(await withListenerCheck(consume.from, from, () => admin.listTopics()));
          const missing = [...topics.keys()].filter((topic) => !existing.has(topic));
          if (missing.length > 0) {
            throw new OesophagusError("sink_unreachable", `topics ${missing.join(", ")} do not exist yet`, {
              retriable: true,
              fix: "start `oesophagus run` with this config: it makes them",
            });
          }
        },
      );
    } finally {
      await admin.disconnect();
    }
  }

  async function startConsumer(state: ReaderState, ctx: ActorContext<TopicReaderCommand>) {
    const consumer = state.kafka.consumer({ groupId: consume.groupId, allowAutoTopicCreation: false });
    state.consumer = consumer;
    ctx.scope.own(consumer, (c) => c.disconnect());
    // SIGTERM: stop fetching; the batches being indexed finish (isRunning() turns false) and commit what they wrote.
    ctx.scope.own(deps.lifecycle.register(() => consumer.stop()), (unregister) => unregister());
    await withListenerCheck(consume.from, from, () => consumer.connect());
    await topicsMade(state, ctx);
    await consumer.subscribe({ topics: [...topics.keys()], fromBeginning: true });
    consumer.on(consumer.events.CRASH, (event) => ctx.fail(event.payload.error));
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: consume.partitionsConsumedConcurrently,
      eachBatch: async (payload) => {
        try {
          await indexBatch(state, ctx, payload);
        } catch (error) {
          // A batch that cannot be indexed stops this process (its supervisor decides), not only kafkajs's loop.
          ctx.fail(error);
          throw error;
        }
      },
    });
    setPhase("streaming");
    logger.info("consuming change events", {
      actor: ctx.path,
      group: consume.groupId,
      topics: [...topics.keys()],
      into: consume.into,
    });
  }

  return {
    init(ctx) {
      const kafka = createKafka(consume.from, from);
      ctx.send(ctx.self, { type: "Start" });
      return { kafka, waiting: new Map(), unprepared: new Set(tables.map((t) => t.index)), consumer: null, nextBatch: 0 };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "Start": {
          const sql = connect(config.source.url, { max: 1, applicationName: "oesophagus consume" });
          let described: TableDescription[];
          try {
            described = await describeTables(sql, tables.map((t) => t.name));
          } finally {
            await sql.end({ timeout: 1 });
          }
          for (const table of described) {
            const index = tables.find((t) => displayName(t.name) === displayName(table.name))!.index;
            ctx.send(deps.sink, { type: "PrepareTable", table, index, bulkLoad: false, replyTo: ctx.self });
          }
          return state;
        }
        case "TablePrepared":
          state.unprepared.delete(msg.index);
          if (state.unprepared.size === 0 && state.consumer === null) await startConsumer(state, ctx);
          return state;
        case "BatchAcked": {
          const resolve = state.waiting.get(msg.batchId);
          state.waiting.delete(msg.batchId);
          resolve?.();
          return state;
        }
        default:
          return assertNever(msg);
      }
    },
  };
}
