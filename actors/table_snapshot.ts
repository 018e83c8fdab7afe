/**
 * Copies one table: hands its pending chunks to `concurrency` chunk readers and checkpoints each
 * chunk the moment every sink has it, so a restart (even kill -9) redoes only unfinished chunks.
 */
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { formatLsn, type Lsn } from "../src/pg/lsn.ts";
import { connect, type Sql } from "../src/pg/session.ts";
import type { ChunkReaderCommand, SnapshotCommand, TableSnapshotCommand, TableSnapshotSpec } from "../src/protocol/snapshot.ts";
import type { SnapshotProgress } from "../src/snapshot/progress.ts";
import { type Chunk, markChunkDone, markCopyStarted, markTableDone } from "../src/snapshot/progress_store.ts";
import type { BatchLimits } from "../src/snapshot/row_batcher.ts";
import { logger } from "../src/telemetry/log.ts";
import { type Behaviour, spawnActor } from "../supervision/actor.ts";
import { chunkReader } from "./chunk_reader.ts";

interface TableState {
  readonly sql: Sql;
  readonly readers: Ref<ChunkReaderCommand>[];
  readonly queue: Chunk[];
  /** Readers copying a chunk right now. */
  readonly busy: Set<number>;
  /** Sinks still sweeping the index after the copy. */
  readonly sweeping: Set<string>;
}

export interface TableSnapshotDeps {
  readonly spec: TableSnapshotSpec;
  readonly sourceUrl: string;
  readonly slot: string;
  readonly limits: BatchLimits;
  readonly parent: Ref<SnapshotCommand>;
  readonly progress: SnapshotProgress;
}

export function tableSnapshot(deps: TableSnapshotDeps): Behaviour<TableState, TableSnapshotCommand> {
  const { spec } = deps;
  const assign = (state: TableState, reader: number, send: <T>(to: Ref<T>, msg: T) => void) => {
    const chunk = state.queue.shift();
    if (!chunk) return;
    state.busy.add(reader);
    send(state.readers[reader], { type: "CopyChunk", chunk });
  };

  return {
    init(ctx) {
      // One connection per reader plus one for checkpoints.
      const sql = ctx.scope.own(
        connect(deps.sourceUrl, { max: spec.concurrency + 1, applicationName: `oesophagus snapshot ${spec.tableName}` }),
        (s) => s.end({ timeout: 1 }),
      );
      const readers = Array.from(
        { length: Math.min(spec.concurrency, Math.max(1, spec.pendingChunks.length)) },
        (_, index) =>
          spawnActor(
            ctx.self,
            `reader-${index}`,
            chunkReader({ index, spec, sql, limits: deps.limits, parent: ctx.self, progress: deps.progress }),
          ),
      );
      ctx.send(ctx.self, { type: "Start" });
      return { sql, readers, queue: [...spec.pendingChunks], busy: new Set(), sweeping: new Set() };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "Start":
          deps.progress.tableStarted(spec.tableName, spec.rowsTotal, spec.rowsDone);
          logger.info("table snapshot started", {
            actor: ctx.path,
            chunks: spec.pendingChunks.length,
            rowsTotal: spec.rowsTotal,
            version: spec.snapshot.version,
          });
          if (state.queue.length > 0) await markCopyStarted(state.sql, deps.slot, spec.tableName, spec.snapshot.version);
          state.readers.forEach((_, reader) => assign(state, reader, ctx.send));
          if (state.busy.size === 0) await copied(state, ctx.self, ctx.send, ctx.path);
          return state;
        case "ChunkCopied":
          await markChunkDone(state.sql, msg.chunk.id, spec.snapshot.version, msg.rows);
          state.busy.delete(msg.reader);
          assign(state, msg.reader, ctx.send);
          if (state.busy.size === 0) await copied(state, ctx.self, ctx.send, ctx.path);
          return state;
        case "BatchAcked":
          state.sweeping.delete(msg.sink);
          if (state.sweeping.size === 0) await finish(state, ctx.send, ctx.path);
          return state;
        default:
          return assertNever(msg);
      }
    },
  };

  /**
   * Every chunk is in every sink. A table added to the config while the slot streamed may have
   * had rows deleted meanwhile whose documents the copy did not overwrite; the stream has those
   * deletes no more. Each sink removes what is older than the copy, as for a TRUNCATE at the
   * version just below it (a delete is refused for a newer document), before the table counts
   * as done: a crash until then sweeps again.
   */
  async function copied(
    state: TableState,
    self: Ref<TableSnapshotCommand>,
    send: <T>(to: Ref<T>, msg: T) => void,
    path: string,
  ) {
    if (spec.sweepBelow === null) return await finish(state, send, path);
    logger.info("table copied into an index it may have older documents in: removing those of rows gone since", {
      actor: path,
      index: spec.index,
      olderThan: formatLsn(spec.sweepBelow),
    });
    for (const sink of spec.sinks) {
      state.sweeping.add(sink.name);
      send(sink.ref, {
        type: "Truncate",
        index: spec.index,
        version: (spec.sweepBelow - 1n) as Lsn,
        reason: "sweep",
        requestId: `sweep ${spec.tableName}`,
        replyTo: self,
      });
    }
  }

  async function finish(state: TableState, send: <T>(to: Ref<T>, msg: T) => void, path: string) {
    await markTableDone(state.sql, deps.slot, spec.tableName, spec.targets);
    deps.progress.tableCopied(spec.tableName);
    logger.info("table snapshot done", { actor: path });
    send(deps.parent, { type: "TableCopied", table: spec.tableName });
  }
}
