/**
 * The batching sink for one Elasticsearch cluster. It runs `concurrency` lanes, each with one
 * bulk request in flight: a lane writes its batches in order, so two changes of one document
 * (same lane) can never overtake each other, even with equal versions inside one transaction.
 * A batch is acked only when Elasticsearch has every item (or a newer version of it).
 */
import type { Client } from "@elastic/elasticsearch";
import { assertNever } from "../src/assert_never.ts";
import { DEFAULT_BACKOFF } from "../src/backoff.ts";
import type { ElasticsearchSinkConfig } from "../src/config/schema.ts";
import { displayName } from "../src/pg/identifier.ts";
import type { SinkCommand } from "../src/protocol/sink.ts";
import { type BulkOptions, writeBulk } from "../src/sinks/elasticsearch/bulk.ts";
import { classifyRequestError } from "../src/sinks/elasticsearch/classify.ts";
import { createClient } from "../src/sinks/elasticsearch/client.ts";
import { deadLetter, type Refusal, writeDeadLetters } from "../src/sinks/elasticsearch/dead_letter.ts";
import { addMissingFields, currentIndexUuid, endBulkLoad, ensureIndex, indexUuid } from "../src/sinks/elasticsearch/index.ts";
import { OesophagusError } from "../src/errors.ts";
import { truncateIndex } from "../src/sinks/elasticsearch/truncate.ts";
import type { BulkBatch } from "../src/snapshot/row_batcher.ts";
import { logger } from "../src/telemetry/log.ts";
import { counters } from "../src/telemetry/metrics.ts";
import { Lanes } from "../src/sinks/lanes.ts";
import { type PendingWrite, settleWrite, startWrites } from "./sink_writes.ts";
import { retrying } from "../src/sinks/retrying.ts";
import { withSchemeCheck } from "../src/sinks/elasticsearch/scheme_probe.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";

interface SinkState {
  readonly client: Client;
  /** Which table each index holds, for dead-letter entries. */
  readonly tables: Map<string, string>;
  /** Each prepared index's identity (`indexUuid`), as the copies in it were recorded with. */
  readonly uuids: Map<string, string>;
  watching: boolean;
  deadLetters: number;
  readonly lanes: Lanes<PendingWrite>;
}

/**
 * How often the prepared indices are looked at. One deleted by hand while the engine writes would
 * be made anew by Elasticsearch at the next write, with dynamic mappings and none of the copy; the
 * engine would only notice at its next start.
 */
const INDEX_WATCH_MS = 10_000;

export interface ElasticsearchSinkOptions {
  /**
   * Whether an index deleted while the sink writes fails it (`watchIndices`): for `run`, whose
   * restart copies the table again. An indexer (`consume`) has no copy to make.
   */
  readonly watchIndices: boolean;
}

export function elasticsearchSink(
  name: string,
  config: ElasticsearchSinkConfig,
  options: ElasticsearchSinkOptions,
): Behaviour<SinkState, SinkCommand> {
  const classify = (error: unknown) => classifyRequestError(error, name);
  const bulkOptions = (ctx: ActorContext<SinkCommand>): BulkOptions => ({
    sinkName: name,
    requestTimeoutMs: config.requestTimeoutMs,
    backoff: DEFAULT_BACKOFF,
    signal: ctx.scope.signal,
    onRetry: (reason, attempt, delayMs) => {
      if (attempt === 1 || attempt % 10 === 0) logger.warn("bulk request retried", { actor: ctx.path, reason, attempt, delayMs });
    },
  });

  const pump = (state: SinkState, ctx: ActorContext<SinkCommand>) =>
    startWrites(name, state.lanes, ctx, async (write) => {
      const refusals = await writeBulk(state.client, write.batch, bulkOptions(ctx));
      if (refusals.length > 0) await deadLetterAll(state, write.batch, refusals, ctx);
    });

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
      classify,
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

  /**
   * An index deleted or made anew since it was prepared fails the sink (`sink_target_missing`):
   * the restart prepares it again, and the coordinator, seeing another index, copies its table
   * again. Caught before a write, the index is made with the engine's mappings; after one,
   * Elasticsearch made it with its own, and the engine leaves an index it did not make alone.
   */
  const watchIndices = async (state: SinkState, ctx: ActorContext<SinkCommand>) => {
    if (state.watching || ctx.scope.closed) return;
    state.watching = true;
    try {
      for (const [index, uuid] of state.uuids) {
        let now: string | null;
        try {
          now = await currentIndexUuid(state.client, name, index);
        } catch {
          continue; // An outage shows in the writes, which retry.
        }
        if (now === uuid || ctx.scope.closed) continue;
        ctx.fail(
          new OesophagusError(
            "sink_target_missing",
            now === null
              ? `sink ${name}: the index ${index} was deleted while the engine wrote to it`
              : `sink ${name}: the index ${index} was deleted and made anew while the engine wrote to it (by Elasticsearch at a write, with mappings of its own, unless someone made it)`,
            {
              fix:
                "nothing, if the table may be copied again: the engine restarts and copies it; to have the engine's mappings in an index Elasticsearch made, stop the engine, delete the index and start it",
            },
          ),
        );
        return;
      }
    } finally {
      state.watching = false;
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
      const lanes = new Lanes<PendingWrite>(config.concurrency);
      const state: SinkState = { client, tables: new Map(), uuids: new Map(), watching: false, deadLetters: 0, lanes };
      if (options.watchIndices) ctx.scope.own(setInterval(() => void watchIndices(state, ctx), INDEX_WATCH_MS), clearInterval);
      return state;
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "PrepareTable": {
          state.tables.set(msg.index, displayName(msg.table.name));
          const prepared = await retrying(
            classify,
            "index creation",
            ctx.scope.signal,
            ctx.path,
            // The sink's first requests: a URL of the other scheme than its server's is found here, with the fix.
            () =>
              withSchemeCheck(name, config.url, async () => {
                const prepared = await ensureIndex(state.client, name, msg.index, msg.table, { bulkLoad: msg.bulkLoad });
                return { ...prepared, uuid: await indexUuid(state.client, name, msg.index) };
              }),
          );
          if (prepared.created) logger.info("index created", { actor: ctx.path, index: msg.index });
          reportFields(ctx, msg.index, prepared);
          state.uuids.set(msg.index, prepared.uuid);
          ctx.send(msg.replyTo, {
            type: "TablePrepared",
            sink: name,
            index: msg.index,
            created: prepared.created,
            // An index made anew has another UUID: that is how a copy not in it shows.
            empty: prepared.created,
            uuid: prepared.uuid,
          });
          return state;
        }
        case "ExtendMapping": {
          const extended = await retrying(
            classify,
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
            classify,
            "ending the bulk load",
            ctx.scope.signal,
            ctx.path,
            () => endBulkLoad(state.client, name, msg.index),
          );
          ctx.send(msg.replyTo, { type: "BulkLoadEnded", sink: name, index: msg.index });
          return state;
        case "Write": {
          state.lanes.push({
            batchId: msg.batchId,
            batch: msg.batch,
            replyTo: msg.replyTo,
            links: msg.links,
          }, msg.lane);
          pump(state, ctx);
          return state;
        }
        case "Truncate":
          retrying(
            classify,
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
