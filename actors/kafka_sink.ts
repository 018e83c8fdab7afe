/**
 * The batching sink for one Kafka cluster: change events, one topic per table. Like the
 * Elasticsearch sink it runs `concurrency` lanes with one produce request in flight each, so a
 * row's events (same lane, same partition) reach their partition in commit order. A batch is
 * acked once every broker in the partition's in-sync set has it (acks=all). After a crash the
 * stream is replayed from the slot: events may appear twice, never go missing, and each carries
 * its commit LSN as its version, so a consumer applies them as Elasticsearch does.
 */
import { Buffer } from "node:buffer";
import type { Admin, Producer } from "kafkajs";
import { Partitioners } from "kafkajs";
import { assertNever } from "../src/assert_never.ts";
import { publishedTables, type TableConfig } from "../src/config/load.ts";
import type { KafkaSinkConfig } from "../src/config/schema.ts";
import { displayName } from "../src/pg/identifier.ts";
import type { SinkCommand } from "../src/protocol/sink.ts";
import { changeMessages, type Destination, type TopicMessages, truncateMessages } from "../src/sinks/kafka/change_messages.ts";
import { classifyKafkaError, createKafka, kafkaErrorType } from "../src/sinks/kafka/client.ts";
import { withListenerCheck } from "../src/sinks/kafka/listener_probe.ts";
import { OesophagusError } from "../src/errors.ts";
import { logger } from "../src/telemetry/log.ts";
import { Lanes } from "../src/sinks/lanes.ts";
import { type PendingWrite, settleWrite, startWrites } from "./sink_writes.ts";
import { retrying } from "../src/sinks/retrying.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";

interface SinkState {
  readonly producer: Producer;
  readonly admin: Admin;
  /** Whether producer and admin are connected (at the first request that needs them). */
  connected: boolean;
  /** Whether a request has succeeded: the sink's settings match the brokers' listener (see `withListenerCheck`). */
  listenerMatched: boolean;
  readonly lanes: Lanes<PendingWrite>;
}

export function kafkaSink(
  name: string,
  config: KafkaSinkConfig,
  tables: readonly TableConfig[],
): Behaviour<SinkState, SinkCommand> {
  const classify = (error: unknown) => classifyKafkaError(error, name, config.brokers);
  const destinations = new Map<string, Destination>(
    publishedTables(tables, name, config).map(({ table, topic }) => [table.index, { topic, table: displayName(table.name) }]),
  );
  const destinationOf = (index: string): Destination => {
    const destination = destinations.get(index);
    if (!destination) throw new Error(`sink ${name} got a batch for index ${index}, which no table of it has`);
    return destination;
  };

  const connected = async (state: SinkState) => {
    if (state.connected) return;
    await state.producer.connect();
    await state.admin.connect();
    state.connected = true;
  };

  const produce = async (state: SinkState, topicMessages: TopicMessages[]) => {
    await connected(state);
    await state.producer.sendBatch({
      topicMessages: topicMessages.map(({ topic, messages }) => ({
        topic,
        messages: messages.map((m) => ({
          key: m.key,
          // kafkajs encodes only a Buffer as bytes (a plain Uint8Array makes a record the broker refuses).
          value: Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength),
          headers: m.headers,
          ...(m.partition === undefined ? {} : { partition: m.partition }),
        })),
      })),
      acks: -1,
      timeout: config.requestTimeoutMs,
    });
  };

  /** Creates the topic if it is missing; true if this call made it. */
  const ensureTopic = async (state: SinkState, topic: string): Promise<boolean> => {
    await connected(state);
    const existing = await state.admin.listTopics();
    if (existing.includes(topic)) return false;
    return await state.admin.createTopics({
      topics: [{ topic, numPartitions: config.partitions, replicationFactor: config.replicationFactor }],
      waitForLeaders: true,
      timeout: config.requestTimeoutMs,
    });
  };

  /**
   * Whether no event was ever written to the topic: every partition's end offset is 0 (retention
   * and compaction remove events, never that offset). A topic the engine copied into holds at least
   * the copy's rows or the sweep that follows a copy again, so such a topic was made anew while the
   * engine was stopped (or its table has never had a row).
   */
  const neverWritten = async (state: SinkState, topic: string): Promise<boolean> => {
    await connected(state);
    return (await state.admin.fetchTopicOffsets(topic)).every(({ high }) => high === "0");
  };

  const partitionsOf = async (state: SinkState, topic: string): Promise<number[]> => {
    await connected(state);
    const { topics } = await state.admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0].partitions.map((p) => p.partitionId).sort((a, b) => a - b);
  };

  /**
   * A produce request that failed because a topic is gone (deleted by hand): retrying would wait
   * forever, so the pipeline restarts, this sink makes the topic anew and the table is copied into it.
   */
  const produceOrMissing = async (state: SinkState, messages: TopicMessages[]) => {
    try {
      await produce(state, messages);
    } catch (error) {
      if (kafkaErrorType(error) !== "UNKNOWN_TOPIC_OR_PARTITION") throw error;
      const existing = new Set(await state.admin.listTopics());
      const missing = messages.map((m) => m.topic).filter((topic) => !existing.has(topic));
      if (missing.length === 0) throw error;
      throw new OesophagusError("sink_target_missing", `sink ${name}: the topic ${missing.join(", ")} is gone`, {
        fix: "nothing: the engine restarts, makes the topic anew and copies its table into it again",
        cause: error,
      });
    }
  };

  /**
   * `work` repeated until it succeeds or fails for good; until a first request has succeeded, a
   * failed connection is checked against what the brokers' listener speaks (a mismatch fails for
   * good with the setting to change). After one has, such a failure is the network's or a broker's.
   */
  const retried = <T>(state: SinkState, what: string, ctx: ActorContext<SinkCommand>, work: () => Promise<T>) =>
    retrying(classify, what, ctx.scope.signal, ctx.path, async () => {
      if (state.listenerMatched) return await work();
      const result = await withListenerCheck(name, config, work);
      state.listenerMatched = true;
      return result;
    });

  const pump = (state: SinkState, ctx: ActorContext<SinkCommand>) =>
    startWrites(name, state.lanes, ctx, async (write) => {
      const messages = changeMessages(write.batch, destinationOf, write.events);
      await retried(state, "produce request", ctx, () => produceOrMissing(state, messages));
    });

  return {
    init(ctx) {
      const kafka = createKafka(name, config);
      const producer = kafka.producer({
        allowAutoTopicCreation: false,
        // The default (murmur2) partitioner, as Java clients use: a key's partition is the same for every client.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      const admin = kafka.admin();
      ctx.scope.own(producer, (p) => p.disconnect());
      ctx.scope.own(admin, (a) => a.disconnect());
      const lanes = new Lanes<PendingWrite>(config.concurrency);
      return { producer, admin, connected: false, listenerMatched: false, lanes };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "PrepareTable": {
          const topic = destinationOf(msg.index).topic;
          const { created, empty } = await retried(state, "topic creation", ctx, async () => {
            const created = await ensureTopic(state, topic);
            return { created, empty: created || await neverWritten(state, topic) };
          });
          if (created) logger.info("topic created", { actor: ctx.path, topic, partitions: config.partitions });
          ctx.send(msg.replyTo, {
            type: "TablePrepared",
            sink: name,
            index: msg.index,
            created,
            empty,
            // kafkajs reads no topic ids: a topic deleted and made anew (by this sink or by hand) is known by `empty`,
            // and the coordinator then copies the table again.
            uuid: `topic:${topic}`,
          });
          return state;
        }
        case "ExtendMapping":
          return state;
        case "EndBulkLoad":
          ctx.send(msg.replyTo, { type: "BulkLoadEnded", sink: name, index: msg.index });
          return state;
        case "Write": {
          state.lanes.push({
            batchId: msg.batchId,
            batch: msg.batch,
            events: msg.events,
            replyTo: msg.replyTo,
            links: msg.links,
          }, msg.lane);
          pump(state, ctx);
          return state;
        }
        case "Truncate": {
          const destination = destinationOf(msg.index);
          retried(state, "truncate event", ctx, async () => {
            const partitions = await partitionsOf(state, destination.topic);
            await produce(state, [
              truncateMessages(destination, msg.index, msg.version, partitions, msg.reason === "sweep", msg.transaction),
            ]);
          }).then(
            () => {
              logger.info(msg.reason === "sweep" ? "sweep event written" : "truncate event written", {
                actor: ctx.path,
                topic: destination.topic,
              });
              ctx.send(msg.replyTo, { type: "BatchAcked", batchId: msg.requestId, sink: name });
            },
            (error) => ctx.fail(error),
          );
          return state;
        }
        case "BulkSettled":
          settleWrite(name, state.lanes, msg.writeId, ctx);
          pump(state, ctx);
          return state;
        default:
          return assertNever(msg);
      }
    },
  };
}
