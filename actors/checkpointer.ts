/**
 * Tracks segments from the wal reader until every sink acked them, and tells the reader how far
 * the slot may be flushed (the highest contiguous acked position) and how much memory the
 * pipeline released. Acking here is recording; the reader sends it to PostgreSQL.
 */
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { CheckpointTracker } from "../src/checkpoint/tracker.ts";
import type { CheckpointerCommand, WalReaderCommand } from "../src/protocol/stream.ts";
import type { Behaviour } from "../supervision/actor.ts";

interface CheckpointerState {
  tracker: CheckpointTracker | null;
  reader: Ref<WalReaderCommand> | null;
  readonly sizes: Map<number, { events: number; rows: number; bytes: number }>;
}

export function checkpointer(): Behaviour<CheckpointerState, CheckpointerCommand> {
  return {
    init: () => ({ tracker: null, reader: null, sizes: new Map() }),
    handle(state, msg, ctx) {
      switch (msg.type) {
        case "Started":
          return { tracker: new CheckpointTracker(msg.start), reader: msg.replyTo, sizes: new Map() };
        case "SegmentOpened":
          if (!state.tracker) throw new Error("segment opened before the reader started");
          state.tracker.open(msg.id, msg.position);
          state.sizes.set(msg.id, { events: msg.events, rows: msg.rows, bytes: msg.bytes });
          return state;
        case "SegmentAcked": {
          if (!state.tracker || !state.reader) throw new Error("segment acked before the reader started");
          const flushed = state.tracker.ack(msg.id);
          const size = state.sizes.get(msg.id) ?? { events: 0, rows: 0, bytes: 0 };
          state.sizes.delete(msg.id);
          ctx.send(state.reader, {
            type: "Progress",
            flushed,
            releasedEvents: size.events,
            releasedRows: size.rows,
            releasedBytes: size.bytes,
          });
          return state;
        }
        default:
          return assertNever(msg);
      }
    },
  };
}
