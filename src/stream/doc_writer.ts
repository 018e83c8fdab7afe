/**
 * Documents written as UTF-8 bytes, one after another, into chunks that never move once a
 * document is finished: each document is a view of its chunk, ready to be copied into a `_bulk`
 * body without a string ever being made of it.
 */

const CHUNK_BYTES = 64 * 1024;
const encoder = new TextEncoder();

export class DocWriter {
  buf: Uint8Array;
  pos = 0;
  #start = 0;

  constructor(capacity = CHUNK_BYTES) {
    this.buf = new Uint8Array(Math.max(capacity, 256));
  }

  /** Starts a document. */
  begin(): void {
    this.#start = this.pos;
  }

  /** Room for `n` more bytes of the document being written (it moves to a new chunk if need be). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const written = this.pos - this.#start;
    const next = new Uint8Array(Math.max(CHUNK_BYTES, 2 * (written + n)));
    next.set(this.buf.subarray(this.#start, this.pos));
    this.buf = next;
    this.#start = 0;
    this.pos = written;
  }

  /** The document written since `begin`. */
  end(): Uint8Array {
    return this.buf.subarray(this.#start, this.pos);
  }

  /** Drops the document written since `begin`. */
  abort(): void {
    this.pos = this.#start;
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  /** Bytes already encoded (a key, a separator); no room check. */
  bytes(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** `bytes[start, end)`; no room check. */
  copy(bytes: Uint8Array, start: number, end: number): void {
    const buf = this.buf;
    let at = this.pos;
    for (let i = start; i < end; i++) buf[at++] = bytes[i];
    this.pos = at;
  }

  /** Any text, as UTF-8, with its own room check. */
  text(text: string): void {
    this.ensure(text.length * 3);
    this.pos = writeUtf8(text, this.buf, this.pos);
  }
}

/**
 * `text` as UTF-8 into `buf` at `at`, which has room for 3 bytes per UTF-16 unit; returns the end.
 * ASCII (nearly all of it) is copied byte by byte, cheaper than `encodeInto` for short strings.
 */
export function writeUtf8(text: string, buf: Uint8Array, at: number): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return at + encoder.encodeInto(text.slice(i), buf.subarray(at)).written;
    buf[at++] = c;
  }
  return at;
}
