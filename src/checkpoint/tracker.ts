/**
 * The highest position the slot may be acknowledged up to. The stream is cut into segments in
 * order; a segment's position is the end LSN of the last transaction that committed inside it
 * (or, for an idle keepalive, the server's sent position). A position becomes flushable only when
 * its segment and every segment before it are acked by every sink: the slot never passes a
 * change that is not in Elasticsearch, while many batches are in flight at once.
 */
import type { Lsn } from "../pg/lsn.ts";

interface Entry {
  readonly id: number;
  readonly position: Lsn | null;
  acked: boolean;
}

export class CheckpointTracker {
  #entries: Entry[] = [];
  #head = 0;
  #flushed: Lsn;

  constructor(start: Lsn) {
    this.#flushed = start;
  }

  get flushed(): Lsn {
    return this.#flushed;
  }

  get pending(): number {
    return this.#entries.length - this.#head;
  }

  open(id: number, position: Lsn | null): void {
    const last = this.#entries[this.#entries.length - 1];
    if (last && id <= last.id) throw new Error(`segment ${id} opened after segment ${last.id}`);
    this.#entries.push({ id, position, acked: false });
  }

  /** Marks a segment acked; returns the new flushed position if it moved. */
  ack(id: number): Lsn | null {
    const entry = this.#find(id);
    if (!entry) throw new Error(`segment ${id} acked but never opened, or acked twice`);
    entry.acked = true;
    const before = this.#flushed;
    while (this.#head < this.#entries.length && this.#entries[this.#head].acked) {
      const position = this.#entries[this.#head].position;
      // The cursor never goes backwards (Sequin's rule): a lower position is a bug upstream.
      if (position !== null) {
        if (position < this.#flushed) throw new Error(`checkpoint would move back from ${this.#flushed} to ${position}`);
        this.#flushed = position;
      }
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return this.#flushed !== before ? this.#flushed : null;
  }

  #find(id: number): Entry | undefined {
    // Acks come mostly in order: search from the head.
    for (let i = this.#head; i < this.#entries.length; i++) {
      const entry = this.#entries[i];
      if (entry.id === id) return entry.acked ? undefined : entry;
      if (entry.id > id) return undefined;
    }
    return undefined;
  }
}
