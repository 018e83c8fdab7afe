/** Messages of the streaming stage: wal reader -> router -> sinks, with the checkpointer. */
import type { Ref } from "nact";
import type { Lsn } from "../pg/lsn.ts";
import type { ChangeEvent } from "../stream/change.ts";
import type { BatchAcked } from "./sink.ts";

/**
 * A contiguous slice of the stream. `position` is the LSN the slot may be acknowledged to once
 * this segment and all before it are in every sink (end of its last commit, or an idle
 * keepalive's position), or null when the slice ends inside a transaction.
 */
export interface Segment {
  readonly id: number;
  /** Its events not sent ahead in `RouteEvents`: all of them, or the last part. */
  readonly events: readonly ChangeEvent[];
  /** Message bytes of all its events, sent ahead or not. */
  readonly bytes: number;
  readonly position: Lsn | null;
  /** When its first change was read from the slot (ms since the epoch): where change spans start. */
  readonly readAt: number;
}

export type RouterCommand =
  | { readonly type: "Start" }
  /**
   * Events of a segment still being read, sent ahead while the rest is decoded so that they are
   * rendered young; the segment's `Route` follows with the rest.
   */
  | {
    readonly type: "RouteEvents";
    readonly segmentId: number;
    readonly readAt: number;
    readonly events: readonly ChangeEvent[];
    readonly replyTo: Ref<WalReaderCommand>;
  }
  /** A segment's end: its last events, and what it spans. Both are answered with `Rendered` once rendered. */
  | { readonly type: "Route"; readonly segment: Segment; readonly replyTo: Ref<WalReaderCommand> }
  /** Continue after a barrier (TRUNCATE) cleared. */
  | { readonly type: "Resume" }
  | BatchAcked;

export type CheckpointerCommand =
  | { readonly type: "Started"; readonly start: Lsn; readonly replyTo: Ref<WalReaderCommand> }
  | {
    readonly type: "SegmentOpened";
    readonly id: number;
    readonly position: Lsn | null;
    readonly events: number;
    /** Row changes among `events`: what `maxInFlightEvents` bounds. */
    readonly rows: number;
    readonly bytes: number;
  }
  | { readonly type: "SegmentAcked"; readonly id: number };

export type WalReaderCommand =
  | { readonly type: "Start" }
  /** Segments left the pipeline: memory to release, and maybe a new position to flush. */
  | {
    readonly type: "Progress";
    readonly flushed: Lsn | null;
    readonly releasedEvents: number;
    readonly releasedRows: number;
    readonly releasedBytes: number;
  }
  /** The router rendered this many of the events sent to it: they are bytes in batches now. */
  | { readonly type: "Rendered"; readonly events: number }
  | { readonly type: "Tick" };
