/**
 * Cuts the COPY byte stream of a chunk into `_bulk` batches without parsing rows. Each COPY line
 * is `<action>\x02<document>\n`; a batch is those lines with the separator turned into a newline,
 * which is exactly NDJSON. Offsets mark where each item starts, so a sink can retry single items.
 */
import { FIELD_SEPARATOR } from "../pg/snapshot_query.ts";
import { plainView } from "../plain_view.ts";

export interface BulkBatch {
  readonly body: Uint8Array;
  /** Byte offset of each item's action line in `body`. */
  readonly offsets: Uint32Array;
  readonly docs: number;
}

export interface BatchLimits {
  readonly maxDocs: number;
  readonly maxBytes: number;
}

const NEWLINE = 0x0a;

export class RowBatcher {
  readonly #limits: BatchLimits;
  #rows: Uint8Array[] = [];
  #bytes = 0;
  #partial: Uint8Array[] = [];
  #partialBytes = 0;

  constructor(limits: BatchLimits) {
    this.#limits = limits;
  }

  /** Adds bytes as they arrive; returns the batches that became full. */
  push(bytes: Uint8Array): BulkBatch[] {
    const chunk = plainView(bytes);
    const full: BulkBatch[] = [];
    let start = 0;
    while (start < chunk.length) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        this.#partial.push(chunk.subarray(start));
        this.#partialBytes += chunk.length - start;
        break;
      }
      let row = chunk.subarray(start, end + 1);
      if (this.#partial.length > 0) {
        this.#partial.push(row);
        row = concat(this.#partial, this.#partialBytes + row.length);
        this.#partial = [];
        this.#partialBytes = 0;
      }
      if (this.#rows.length > 0 && this.#bytes + row.length > this.#limits.maxBytes) full.push(this.#cut());
      this.#rows.push(row);
      this.#bytes += row.length;
      if (this.#rows.length >= this.#limits.maxDocs || this.#bytes >= this.#limits.maxBytes) full.push(this.#cut());
      start = end + 1;
    }
    return full;
  }

  /** The last, partly filled batch at the end of the stream, if any. */
  finish(): BulkBatch | null {
    if (this.#partialBytes > 0) throw new Error(`COPY output ended inside a row (${this.#partialBytes} bytes without a newline)`);
    return this.#rows.length > 0 ? this.#cut() : null;
  }

  #cut(): BulkBatch {
    const body = concat(this.#rows, this.#bytes);
    const offsets = new Uint32Array(this.#rows.length);
    let offset = 0;
    for (let i = 0; i < this.#rows.length; i++) {
      offsets[i] = offset;
      const next = offset + this.#rows[i].length;
      const separator = body.indexOf(FIELD_SEPARATOR, offset);
      if (separator === -1 || separator >= next) {
        throw new Error(`COPY row ${i} of a batch has no field separator: unexpected output from PostgreSQL`);
      }
      body[separator] = NEWLINE;
      offset = next;
    }
    const batch = { body, offsets, docs: this.#rows.length };
    this.#rows = [];
    this.#bytes = 0;
    return batch;
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
