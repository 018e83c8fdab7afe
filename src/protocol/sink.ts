/** What a sink accepts and what it answers. A sink is one target: an Elasticsearch cluster. */
import type { Ref } from "nact";
import type { TableDescription } from "../pg/catalog.ts";
import type { Lsn } from "../pg/lsn.ts";
import type { BulkBatch } from "../snapshot/row_batcher.ts";
import type { ChangeLinks } from "../telemetry/change_spans.ts";

export type SinkCommand =
  /**
   * Make the target ready for a table (an index with derived mappings). `bulkLoad`: the table is
   * about to be copied, so a newly created index starts without refreshes. Answered with TablePrepared.
   */
  | {
    readonly type: "PrepareTable";
    readonly table: TableDescription;
    readonly index: string;
    readonly bulkLoad: boolean;
    readonly replyTo: Ref<TablePrepared>;
  }
  /**
   * The table's columns changed while streaming: its index gets fields for new columns before any
   * later message of this sink is handled (no answer; the batches sent after it wait for it).
   */
  | { readonly type: "ExtendMapping"; readonly table: TableDescription; readonly index: string }
  /** The copy is over: refreshes back on (if the engine turned them off). Answered with BulkLoadEnded. */
  | { readonly type: "EndBulkLoad"; readonly index: string; readonly replyTo: Ref<BulkLoadEnded> }
  /**
   * Write a batch; answered with BatchAcked once every item is durable or stale, never before.
   * Batches of one lane are written one after another, in order (a row's changes share a lane);
   * a batch without a lane goes wherever there is room.
   */
  | {
    readonly type: "Write";
    readonly batchId: string;
    readonly batch: BulkBatch;
    /** What a sink of change events needs besides the body, for a streamed batch; absent for a snapshot's rows. */
    readonly events?: StreamedItems;
    readonly lane?: number;
    readonly replyTo: Ref<BatchAcked>;
    /** The change events the batch carries (trace and span ids): its `sink.flush` span links to them. */
    readonly links?: ChangeLinks;
  }
  /**
   * Remove every document of the index not newer than `version`: a TRUNCATE committed at it, or a
   * sweep after a copy (documents older than the copy, whose rows are gone).
   */
  | {
    readonly type: "Truncate";
    readonly index: string;
    readonly version: Lsn;
    /** The TRUNCATE's transaction, for sinks of change events (absent for a sweep). */
    readonly transaction?: TransactionSource;
    readonly reason?: "sweep";
    readonly requestId: string;
    readonly replyTo: Ref<BatchAcked>;
  }
  /** A bulk request of this sink finished (sent by the sink to itself). */
  | { readonly type: "BulkSettled"; readonly writeId: number };

/** A transaction as a change event names it (`source.txid`, `source.ts_ms`). */
export interface TransactionSource {
  /** 0 when the plugin did not say. */
  readonly xid: number;
  /** Commit time in microseconds since the epoch, or null when not known exactly. */
  readonly commitMicros: number | null;
}

/** Per item of a streamed batch, for sinks that publish change events. */
export interface StreamedItems {
  /** The change each item comes from: `c` insert, `u` update, `d` delete. */
  readonly ops: string;
  /** When tracing: each item's change's `traceparent`, or null for a change not sampled. */
  readonly traceparents?: readonly (string | null)[];
  /** Each item's `before`, the old row as a document (null: none, or not whole in the WAL); absent when no item has one. */
  readonly befores?: readonly (string | Uint8Array | null)[];
  /**
   * The items' transactions: one per run of items with one version, in item order (a version
   * that comes again after another starts a run of its own).
   */
  readonly transactions: readonly TransactionSource[];
}

export interface TablePrepared {
  readonly type: "TablePrepared";
  readonly sink: string;
  readonly index: string;
  readonly created: boolean;
  /**
   * The target holds nothing at all: made now, or a Kafka topic no event was ever written to (one
   * deleted and made anew by hand, or by a broker's auto.create.topics.enable, while the engine was
   * stopped). No copy recorded for it is in it, whatever its name says. `created` implies it.
   */
  readonly empty: boolean;
  /**
   * Which index this is: Elasticsearch's UUID of it (of each, comma-separated, for an alias over
   * several). A copy recorded for another UUID is not in it.
   */
  readonly uuid: string;
}

export interface BulkLoadEnded {
  readonly type: "BulkLoadEnded";
  readonly sink: string;
  readonly index: string;
}

export interface BatchAcked {
  readonly type: "BatchAcked";
  readonly batchId: string;
  readonly sink: string;
}
