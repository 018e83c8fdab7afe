/** Messages of the snapshot subtree: coordinator, per-table actors and their chunk readers. */
import type { Ref } from "nact";
import type { TableDescription } from "../pg/catalog.ts";
import type { Lsn } from "../pg/lsn.ts";
import type { Chunk, CopyTargets } from "../snapshot/progress_store.ts";
import type { BulkBatch } from "../snapshot/row_batcher.ts";
import type { BatchAcked, BulkLoadEnded, SinkCommand, TablePrepared } from "./sink.ts";

/** The snapshot every reader imports, and the version its documents carry. */
export interface SnapshotHandle {
  readonly name: string;
  readonly version: Lsn;
}

export type SnapshotCommand =
  | { readonly type: "Start" }
  | TablePrepared
  | BulkLoadEnded
  | { readonly type: "TableCopied"; readonly table: string };

export type TableSnapshotCommand =
  | { readonly type: "Start" }
  | { readonly type: "ChunkCopied"; readonly reader: number; readonly chunk: Chunk; readonly rows: number }
  /** A sink removed the documents the copy did not write (see `sweepBelow`). */
  | BatchAcked;

export type ChunkReaderCommand =
  | { readonly type: "CopyChunk"; readonly chunk: Chunk }
  /** A full batch cut from the COPY stream (sent by the reader's stream to the reader). */
  | { readonly type: "BatchRead"; readonly batch: BulkBatch }
  | { readonly type: "CopyEnded" }
  | BatchAcked;

/** What a table actor needs to copy one table. */
export interface TableSnapshotSpec {
  readonly table: TableDescription;
  /** Key in the progress store and in logs: the table's display name. */
  readonly tableName: string;
  readonly index: string;
  readonly concurrency: number;
  readonly pendingChunks: readonly Chunk[];
  readonly rowsTotal: number;
  readonly rowsDone: number;
  readonly snapshot: SnapshotHandle;
  readonly sinks: readonly { readonly name: string; readonly ref: Ref<SinkCommand> }[];
  /**
   * Once every chunk is copied, every document of the index older than this (the oldest version
   * of the copy's chunks) is removed: its row was not in the copy. Null for a table copied at the
   * slot's own start, whose stream has every change since.
   */
  readonly sweepBelow: Lsn | null;
  /** Where the copy goes, recorded with it once done. */
  readonly targets: CopyTargets;
}
