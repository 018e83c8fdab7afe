/**
 * Copies one chunk at a time: COPY inside the exported snapshot, cut into batches as the bytes
 * arrive, sent to every sink of the table. At most `window` batches are un-acked at once; past
 * that the COPY stream is paused, so TCP backpressure holds PostgreSQL and memory stays flat.
 * The chunk is reported copied only when every sink acked every batch.
 */
import type { Readable } from "node:stream";
import type { Span } from "@opentelemetry/api";
import type postgres from "postgres";
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { formatLsn } from "../src/pg/lsn.ts";
import { bulkActionPrefix, chunkCopyQuery, SETTING_ACTION, SETTING_LOWER, SETTING_UPPER } from "../src/pg/snapshot_query.ts";
import type { Sql } from "../src/pg/session.ts";
import type { ChunkReaderCommand, TableSnapshotCommand, TableSnapshotSpec } from "../src/protocol/snapshot.ts";
import { beginInSnapshot } from "../src/snapshot/plan.ts";
import type { SnapshotProgress } from "../src/snapshot/progress.ts";
import type { Chunk } from "../src/snapshot/progress_store.ts";
import { type BatchLimits, RowBatcher } from "../src/snapshot/row_batcher.ts";
import { counters } from "../src/telemetry/metrics.ts";
import { tracer } from "../src/telemetry/tracing.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";

/** Un-acked batches per reader: two keeps a sink busy while the next batch is being read. */
export const READER_WINDOW = 2;

interface Copy {
  readonly chunk: Chunk;
  readonly session: postgres.ReservedSql;
  readonly stream: Readable;
  /** Batches cut but not yet acked by every sink; the stream pauses at READER_WINDOW. */
  readonly flow: { outstanding: number };
  readonly pendingAcks: Map<string, { sinks: number; docs: number }>;
  ended: boolean;
  rows: number;
  /** `snapshot.chunk`, when tracing. */
  readonly span: Span | undefined;
}

interface ReaderState {
  /** One connection per reader incarnation, reused chunk after chunk. */
  session: postgres.ReservedSql | null;
  copy: Copy | null;
  nextBatch: number;
}

export interface ChunkReaderDeps {
  readonly index: number;
  readonly spec: TableSnapshotSpec;
  readonly sql: Sql;
  readonly limits: BatchLimits;
  readonly parent: Ref<TableSnapshotCommand>;
  readonly progress: SnapshotProgress;
}

export function chunkReader(deps: ChunkReaderDeps): Behaviour<ReaderState, ChunkReaderCommand> {
  const { spec } = deps;
  // Batch ids are unique per incarnation, so an ack meant for a reader that crashed is ignored.
  const incarnationTag = crypto.randomUUID().slice(0, 8);

  const start = async (session: postgres.ReservedSql, chunk: Chunk, ctx: ActorContext<ChunkReaderCommand>): Promise<Copy> => {
    await beginInSnapshot(session, spec.snapshot.name);
    await session`SELECT set_config(${SETTING_ACTION}, ${bulkActionPrefix(spec.index, spec.snapshot.version)}, true),
                         set_config(${SETTING_LOWER}, ${chunk.lower ?? ""}, true),
                         set_config(${SETTING_UPPER}, ${chunk.upper ?? ""}, true)`;
    const query = chunkCopyQuery(spec.table, { lower: chunk.lower !== null, upper: chunk.upper !== null });
    const stream = await session.unsafe(query).readable() as unknown as Readable;
    const flow = { outstanding: 0 };
    const batcher = new RowBatcher(deps.limits);
    stream.on("data", (bytes: Uint8Array) => {
      let batches;
      try {
        batches = batcher.push(bytes);
      } catch (error) {
        stream.destroy();
        ctx.fail(error);
        return;
      }
      for (const batch of batches) {
        flow.outstanding++;
        ctx.send(ctx.self, { type: "BatchRead", batch });
      }
      if (flow.outstanding >= READER_WINDOW) stream.pause();
    });
    stream.on("end", () => {
      // postgres.js pauses its socket when the COPY stream is full and resumes it only from the
      // stream's read(). A stream that ended while paused leaves the socket paused, and the
      // COPY's CommandComplete (and every later answer on this connection) would never be read.
      (stream as unknown as { _read(size: number): void })._read(0);
      try {
        const last = batcher.finish();
        if (last) {
          flow.outstanding++;
          ctx.send(ctx.self, { type: "BatchRead", batch: last });
        }
        ctx.send(ctx.self, { type: "CopyEnded" });
      } catch (error) {
        ctx.fail(error);
      }
    });
    stream.on("error", (error) => ctx.fail(error));
    ctx.scope.own(stream, (s) => s.destroy());
    const span = tracer()?.startSpan("snapshot.chunk", {
      attributes: { "db.table": spec.tableName, "cdc.chunk": chunk.no, "cdc.snapshot_lsn": formatLsn(spec.snapshot.version) },
    });
    return { chunk, session, stream, flow, pendingAcks: new Map(), ended: false, rows: 0, span };
  };

  const finishIfDone = async (state: ReaderState, ctx: ActorContext<ChunkReaderCommand>): Promise<ReaderState> => {
    const copy = state.copy;
    if (!copy || !copy.ended || copy.flow.outstanding > 0) return state;
    await copy.session.unsafe("COMMIT");
    copy.span?.setAttribute("cdc.rows", copy.rows);
    copy.span?.end();
    ctx.send(deps.parent, { type: "ChunkCopied", reader: deps.index, chunk: copy.chunk, rows: copy.rows });
    return { ...state, copy: null };
  };

  return {
    init: () => ({ session: null, copy: null, nextBatch: 0 }),

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "CopyChunk": {
          if (state.copy) throw new Error(`${ctx.path} was given chunk ${msg.chunk.no} while copying ${state.copy.chunk.no}`);
          const session = state.session ?? ctx.scope.own(await deps.sql.reserve(), (s) => s.release());
          return { ...state, session, copy: await start(session, msg.chunk, ctx) };
        }
        case "BatchRead": {
          const copy = state.copy!;
          const batchId = `${incarnationTag}-${state.nextBatch}`;
          copy.pendingAcks.set(batchId, { sinks: spec.sinks.length, docs: msg.batch.docs });
          counters.eventsIn.add(msg.batch.docs, { table: spec.tableName, op: "snapshot" });
          for (const sink of spec.sinks) ctx.send(sink.ref, { type: "Write", batchId, batch: msg.batch, replyTo: ctx.self });
          return { ...state, nextBatch: state.nextBatch + 1 };
        }
        case "BatchAcked": {
          const copy = state.copy;
          const pending = copy?.pendingAcks.get(msg.batchId);
          if (!copy || !pending) return state;
          counters.eventsOut.add(pending.docs, { sink: msg.sink, table: spec.tableName, action: "index" });
          if (--pending.sinks > 0) return state;
          copy.pendingAcks.delete(msg.batchId);
          copy.flow.outstanding--;
          copy.rows += pending.docs;
          deps.progress.rowsCopied(spec.tableName, pending.docs);
          if (!copy.ended && copy.flow.outstanding < READER_WINDOW && copy.stream.isPaused()) copy.stream.resume();
          return await finishIfDone(state, ctx);
        }
        case "CopyEnded":
          state.copy!.ended = true;
          return await finishIfDone(state, ctx);
        default:
          return assertNever(msg);
      }
    },
  };
}
