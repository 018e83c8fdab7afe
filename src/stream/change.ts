/**
 * Change events: what both decoders (pgoutput, wal2json) produce, one shape for the rest of the
 * engine. Column values are PostgreSQL's text output of each value, exactly as the plugin sent
 * it; rendering them into to_jsonb form happens later, in PostgreSQL (stream/render.ts).
 */
import type { Lsn } from "../pg/lsn.ts";

/** An unchanged TOASTed value: the update did not touch it and the WAL does not carry it. */
export const UNCHANGED = Symbol("unchanged TOAST value");
export type ColumnValue = string | null | typeof UNCHANGED;

export interface RowImage {
  /** Column names; decoders share one array per relation shape, so identity is a cheap first check. */
  readonly columns: readonly string[];
  /** Type OID of each column, as the change was decoded: a schema change shows here first. */
  readonly types: readonly number[];
  readonly values: readonly ColumnValue[];
  /** pgoutput: the message the values came in, for rendering from its bytes. */
  readonly raw?: RawTuple;
  /**
   * pgoutput's old key ('K', any replica identity but FULL): only the identity's columns hold
   * the row's values, the others are null whatever the row had. Not the old row, then.
   */
  readonly keyOnly?: boolean;
}

/** A row's values where they arrived: text left in the message (well-formed UTF-8), the rest decoded. */
export interface RawTuple {
  readonly bytes: Uint8Array;
  /** Per column i, `[2i]` and `[2i + 1]`: where its text is in `bytes`, or -1 (null, unchanged, or text decoded already: `value(i)`). */
  readonly spans: readonly number[];
  /** Column i's value, made a string only now (and kept) if it was left in the message. */
  value(i: number): ColumnValue;
}

export type RowOp = "insert" | "update" | "delete";

export type ChangeEvent =
  /**
   * A transaction starts; all its changes commit at `commitLsn`, which is their version. `xid`:
   * its transaction id, 0 when the plugin did not say (wal2json without `include-xids`; 0 is
   * never a transaction's). `commitMicros`: when it committed, in microseconds since the epoch;
   * null when the plugin did not say, or outside the years 1685-2255 (a number would lose digits).
   * `firstLsn`: where its first change was logged (the position the walsender gives its Begin
   * message), set by the wal reader.
   */
  | {
    readonly kind: "begin";
    readonly commitLsn: Lsn;
    readonly xid: number;
    readonly commitMicros: number | null;
    readonly firstLsn?: Lsn;
  }
  | {
    readonly kind: "row";
    readonly op: RowOp;
    readonly schema: string;
    readonly table: string;
    /** The table's OID, when the plugin sends it (pgoutput): it outlives a rename, the name does not. */
    readonly relid?: number;
    /** insert, update: the new row. */
    readonly new: RowImage | null;
    /** update, delete: the old key (or the whole old row with REPLICA IDENTITY FULL), when sent. */
    readonly old: RowImage | null;
  }
  | {
    readonly kind: "truncate";
    readonly tables: readonly { readonly schema: string; readonly table: string; readonly relid?: number }[];
  }
  /** `endLsn`: acknowledging it tells PostgreSQL the transaction is done. */
  | {
    readonly kind: "commit";
    readonly commitLsn: Lsn;
    readonly endLsn: Lsn;
    /** When the transaction committed (ms since the epoch), for lag in seconds; null when the plugin did not say. */
    readonly commitTime: number | null;
  };

export class DecodeError extends Error {
  constructor(plugin: string, message: string) {
    super(`${plugin}: ${message}`);
    this.name = "DecodeError";
  }
}

/** Column i's value (undefined for i = -1, a column the image lacks), made a string only if it must be. */
export function valueAt(image: RowImage, i: number): ColumnValue | undefined {
  if (i < 0) return undefined;
  return image.raw ? image.raw.value(i) : image.values[i];
}
