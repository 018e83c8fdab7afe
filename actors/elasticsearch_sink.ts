/**
 * The batching sink for one Elasticsearch cluster. It runs `concurrency` lanes, each with one
 * bulk request in flight: a lane writes its batches in order, so two changes of one document
 * (same lane) can never overtake each other, even with equal versions inside one transaction.
 * A batch is acked only when Elasticsearch has every item (or a newer version of it).
 */
import type { Client } from "@elastic/elasticsearch";
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { backoffDelay, DEFAULT_BACKOFF, sleep } from "../src/backoff.ts";
import type { ElasticsearchSinkConfig } from "../src/config/schema.ts";
import { displayName } from "../src/pg/identifier.ts";
import type { BatchAcked, SinkCommand } from "../src/protocol/sink.ts";
import { type BulkOptions, writeBulk } from "../src/sinks/elasticsearch/bulk.ts";
import { classifyRequestError } from "../src/sinks/elasticsearch/classify.ts";
import { createClient } from "../src/sinks/elasticsearch/client.ts";
import { deadLetter, type Refusal, writeDeadLetters } from "../src/sinks/elasticsearch/dead_letter.ts";
import { addMissingFields, endBulkLoad, ensureIndex, indexUuid } from "../src/sinks/elasticsearch/index.ts";
import { truncateIndex } from "../src/sinks/elasticsearch/truncate.ts";
import type { BulkBatch } from "../src/snapshot/row_batcher.ts";
import { logger } from "../src/telemetry/log.ts";
import { counters, histograms } from "../src/telemetry/metrics.ts";
import type { ChangeLinks } from "../src/telemetry/change_spans.ts";
import { changeSpans } from "../src/telemetry/tracing.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";

interface PendingWrite {
  readonly batchId: string;
  readonly batch: BulkBatch;
  readonly replyTo: Ref<BatchAcked>;
  readonly links?: ChangeLinks;
}

interface Lane {
  readonly queue: PendingWrite[];
  busy: boolean;
}

interface SinkState {
  readonly client: Client;
  /** Which table each index holds, for dead-letter entries. */
  readonly tables: Map<string, string>;
  deadLetters: number;
  readonly lanes: Lane[];
  readonly inFlight: Map<number, { lane: number; write: PendingWrite }>;
  nextWriteId: number;
}

/** Runs `work` until it succeeds, waiting out failures that waiting can fix. */
async function retrying<T>(sink: string, what: string, signal: AbortSignal, path: string, work: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const classified = classifyRequestError(error, sink);
      if (!classified.retriable) throw classified;
      const delayMs = backoffDelay(attempt, DEFAULT_BACKOFF);
      if (attempt === 0 || attempt % 10 === 9) {
        logger.warn(`${what} failed, retrying`, { actor: path, error: classified.message, delayMs });
      }
      await sleep(delayMs, signal);
    }
  }
}

export function elasticsearchSink(name: string, config: ElasticsearchSinkConfig): Behaviour<SinkState, SinkCommand> {
  const bulkOptions = (ctx: ActorContext<SinkCommand>): BulkOptions => ({
    sinkName: name,
    requestTimeoutMs: config.requestTimeoutMs,
    backoff: DEFAULT_BACKOFF,
    signal: ctx.scope.signal,
    onRetry: (reason, attempt, delayMs) => {
      if (attempt === 1 || attempt % 10 === 0) logger.warn("bulk request retried", { actor: ctx.path, reason, attempt, delayMs });
    },
  });

  const pump = (state: SinkState, ctx: ActorContext<SinkCommand>) => {
    state.lanes.forEach((lane, index) => {
      if (lane.busy || lane.queue.length === 0) return;
      const write = lane.queue.shift()!;
      const writeId = state.nextWriteId++;
      lane.busy = true;
      state.inFlight.set(writeId, { lane: index, write });
      const sent = performance.now();
      histograms.batchSize.record(write.batch.docs, { sink: name });
      const traced = write.links ? changeSpans() : null;
      const span = traced?.flushStarted(name, write.batch.docs, write.batch.body.length, write.links!);
      writeBulk(state.client, write.batch, bulkOptions(ctx))
        .then((refusals) => refusals.length > 0 ? deadLetterAll(state, write.batch, refusals, ctx) : undefined)
        .then(
          () => {
            histograms.flushDuration.record((performance.now() - sent) / 1000, { sink: name });
            if (span) traced!.flushEnded(span);
            ctx.send(ctx.self, { type: "BulkSettled", writeId });
          },
          (error) => {
            if (span) traced!.flushEnded(span, (error as Error).message);
            ctx.fail(error);
          },
        );
    });
  };

  /** Refused documents go to the dead-letter index before their batch is acked: never a silent drop. */
  const deadLetterAll = async (
    state: SinkState,
    batch: BulkBatch,
    refusals: readonly Refusal[],
    ctx: ActorContext<SinkCommand>,
  ) => {
    const now = new Date();
    const entries = refusals.map((refusal) =>
      deadLetter(batch, refusal, { sink: name, tableOf: (index) => state.tables.get(index) ?? null, now })
    );
    await retrying(
      name,
      "writing to the dead-letter index",
      ctx.scope.signal,
      ctx.path,
      () => writeDeadLetters(state.client, name, config.deadLetterIndex, entries),
    );
    for (const entry of entries) {
      state.deadLetters++;
      counters.deadLetters.add(1, { sink: name, table: entry.table ?? entry.index });
      logger.warn("document refused by Elasticsearch, written to the dead-letter index", {
        actor: ctx.path,
        deadLetterIndex: config.deadLetterIndex,
        table: entry.table,
        index: entry.index,
        id: entry.id,
        commitLsn: entry.commit_lsn,
        reason: entry.reason,
        deadLetters: state.deadLetters,
      });
    }
  };

  const reportFields = (
    ctx: ActorContext<SinkCommand>,
    index: string,
    outcome: { readonly added: readonly string[]; readonly refused?: string },
  ) => {
    if (outcome.added.length > 0) logger.info("index mapping extended", { actor: ctx.path, index, fields: outcome.added });
    if (outcome.refused !== undefined) {
      logger.warn("Elasticsearch refused mappings for new columns: their values stay in _source, not searchable", {
        actor: ctx.path,
        index,
        reason: outcome.refused,
      });
    }
  };

  return {
    init(ctx) {
      const client = ctx.scope.own(createClient(name, config), (c) => c.close());
      const lanes = Array.from({ length: config.concurrency }, () => ({ queue: [], busy: false }));
      return { client, tables: new Map(), deadLetters: 0, lanes, inFlight: new Map(), nextWriteId: 0 };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "PrepareTable": {
          state.tables.set(msg.index, displayName(msg.table.name));
          const prepared = await retrying(
            name,
            "index creation",
            ctx.scope.signal,
            ctx.path,
            async () => {
              const prepared = await ensureIndex(state.client, name, msg.index, msg.table, { bulkLoad: msg.bulkLoad });
              return { ...prepared, uuid: await indexUuid(state.client, name, msg.index) };
            },
          );
          if (prepared.created) logger.info("index created", { actor: ctx.path, index: msg.index });
          reportFields(ctx, msg.index, prepared);
          ctx.send(msg.replyTo, {
            type: "TablePrepared",
            sink: name,
            index: msg.index,
            created: prepared.created,
            uuid: prepared.uuid,
          });
          return state;
        }
        case "ExtendMapping": {
          const extended = await retrying(
            name,
            "extending the index mapping",
            ctx.scope.signal,
            ctx.path,
            () => addMissingFields(state.client, name, msg.index, msg.table),
          );
          reportFields(ctx, msg.index, extended);
          return state;
        }
        case "EndBulkLoad":
          await retrying(
            name,
            "ending the bulk load",
            ctx.scope.signal,
            ctx.path,
            () => endBulkLoad(state.client, name, msg.index),
          );
          ctx.send(msg.replyTo, { type: "BulkLoadEnded", sink: name, index: msg.index });
          return state;
        case "Write": {
          const lane = msg.lane ??
            state.lanes.reduce(
              (
                best,
                l,
                i,
              ) => (l.queue.length + Number(l.busy) < state.lanes[best].queue.length + Number(state.lanes[best].busy) ? i : best),
              0,
            );
          state.lanes[lane % state.lanes.length].queue.push({
            batchId: msg.batchId,
            batch: msg.batch,
            replyTo: msg.replyTo,
            links: msg.links,
          });
          pump(state, ctx);
          return state;
        }
        case "Truncate":
          retrying(
            name,
            "truncate",
            ctx.scope.signal,
            ctx.path,
            () => truncateIndex(state.client, msg.index, msg.version, bulkOptions(ctx)),
          ).then(
            (deleted) => {
              logger.info(msg.reason === "sweep" ? "index swept" : "index truncated", {
                actor: ctx.path,
                index: msg.index,
                deleted,
              });
              ctx.send(msg.replyTo, { type: "BatchAcked", batchId: msg.requestId, sink: name });
            },
            (error) => ctx.fail(error),
          );
          return state;
        case "BulkSettled": {
          const settled = state.inFlight.get(msg.writeId);
          state.inFlight.delete(msg.writeId);
          if (settled) {
            state.lanes[settled.lane].busy = false;
            ctx.send(settled.write.replyTo, { type: "BatchAcked", batchId: settled.write.batchId, sink: name });
          }
          pump(state, ctx);
          return state;
        }
        default:
          return assertNever(msg);
      }
    },
  };
}
