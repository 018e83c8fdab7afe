/**
 * The batching sink for one Elasticsearch cluster. Batches arrive ready-made (bounded by the
 * sink's batch settings upstream); the sink keeps `concurrency` bulk requests in flight, and
 * acks a batch only when Elasticsearch has every item (or a newer version of it).
 */
import type { Client } from "@elastic/elasticsearch";
import { backoffDelay, DEFAULT_BACKOFF, sleep } from "../src/backoff.ts";
import type { ElasticsearchSinkConfig } from "../src/config/schema.ts";
import type { Ref } from "nact";
import type { BatchAcked, SinkCommand } from "../src/protocol/sink.ts";
import { writeBulk } from "../src/sinks/elasticsearch/bulk.ts";
import { classifyRequestError } from "../src/sinks/elasticsearch/classify.ts";
import { createClient } from "../src/sinks/elasticsearch/client.ts";
import { ensureIndex } from "../src/sinks/elasticsearch/index.ts";
import { logger } from "../src/telemetry/log.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";
import type { BulkBatch } from "../src/snapshot/row_batcher.ts";
import { assertNever } from "../src/assert_never.ts";

interface PendingWrite {
  readonly batchId: string;
  readonly batch: BulkBatch;
  readonly replyTo: Ref<BatchAcked>;
}

interface SinkState {
  readonly client: Client;
  readonly queue: PendingWrite[];
  readonly inFlight: Map<number, PendingWrite>;
  nextWriteId: number;
}

export function elasticsearchSink(name: string, config: ElasticsearchSinkConfig): Behaviour<SinkState, SinkCommand> {
  const pump = (state: SinkState, ctx: ActorContext<SinkCommand>) => {
    while (state.inFlight.size < config.concurrency && state.queue.length > 0) {
      const write = state.queue.shift()!;
      const writeId = state.nextWriteId++;
      state.inFlight.set(writeId, write);
      writeBulk(state.client, write.batch, {
        sinkName: name,
        requestTimeoutMs: config.requestTimeoutMs,
        backoff: DEFAULT_BACKOFF,
        signal: ctx.scope.signal,
        onRetry: (reason, attempt, delayMs) => {
          if (attempt === 1 || attempt % 10 === 0) {
            logger.warn("bulk request retried", { actor: ctx.path, reason, attempt, delayMs });
          }
        },
      }).then(
        () => ctx.send(ctx.self, { type: "BulkSettled", writeId }),
        (error) => ctx.fail(error),
      );
    }
  };

  return {
    init(ctx) {
      const client = ctx.scope.own(createClient(config), (c) => c.close());
      return { client, queue: [], inFlight: new Map(), nextWriteId: 0 };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "PrepareTable": {
          for (let attempt = 0;; attempt++) {
            try {
              const created = await ensureIndex(state.client, name, msg.index, msg.table);
              if (created) logger.info("index created", { actor: ctx.path, index: msg.index });
              ctx.send(msg.replyTo, { type: "TablePrepared", sink: name, index: msg.index, created });
              break;
            } catch (error) {
              const classified = classifyRequestError(error, name);
              if (!classified.retriable) throw classified;
              const delayMs = backoffDelay(attempt, DEFAULT_BACKOFF);
              logger.warn("index not ready, retrying", { actor: ctx.path, index: msg.index, error: classified.message, delayMs });
              await sleep(delayMs, ctx.scope.signal);
            }
          }
          return state;
        }
        case "Write":
          state.queue.push({ batchId: msg.batchId, batch: msg.batch, replyTo: msg.replyTo });
          pump(state, ctx);
          return state;
        case "BulkSettled": {
          const write = state.inFlight.get(msg.writeId);
          state.inFlight.delete(msg.writeId);
          if (write) ctx.send(write.replyTo, { type: "BatchAcked", batchId: write.batchId, sink: name });
          pump(state, ctx);
          return state;
        }
        default:
          return assertNever(msg);
      }
    },
  };
}
