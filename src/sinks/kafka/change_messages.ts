/**
 * Change events for Kafka, made from the `_bulk` body the router and the snapshot write for every
 * sink: one message per item, keyed by the document's `_id` (so one row's changes share a
 * partition), its value the envelope
 * `{"op":…,"before":<old row>,"after":<to_jsonb(row)>,"source":{"table":…,"index":…,"lsn":"X/Y","version":"…","txid":…,"ts_ms":…,"ts_us":…,"snapshot":…}}`.
 * The document's bytes are copied as PostgreSQL rendered them and versions stay text: no value
 * passes through a JS number that could lose digits. `txid` and the commit time (`ts_ms`,
 * `ts_us`) are the transaction's; null for a snapshot's rows and a sweep, which no transaction
 * committed, and for a time the plugin did not give exactly. `before` is the old row of an update
 * or a delete, rendered as `after` is, when the WAL has it whole (REPLICA IDENTITY FULL); null
 * otherwise (the key is the message's key).
 */
import { formatLsn, type Lsn } from "../../pg/lsn.ts";
import type { StreamedItems, TransactionSource } from "../../protocol/sink.ts";
import type { BulkBatch } from "../../snapshot/row_batcher.ts";

/** What a change event says happened: c insert, u update, d delete, r read by a snapshot, t truncate. */
export type EnvelopeOp = "c" | "u" | "d" | "r" | "t";

export interface ChangeMessage {
  /** The document's `_id` text (`42`, `[1, "a"]`); null for a truncate, which goes to every partition. */
  readonly key: string | null;
  readonly value: Uint8Array;
  readonly partition?: number;
  /**
   * `oesophagus-version`: the commit LSN in decimal, for consumers that apply versions without
   * parsing the value; `traceparent` (W3C) of the change's trace when it was sampled.
   */
  readonly headers: Readonly<Record<string, string>>;
}

export interface TopicMessages {
  readonly topic: string;
  readonly messages: ChangeMessage[];
}

/** Where a table's events go, by the index name the batch carries. */
export interface Destination {
  readonly topic: string;
  /** `schema.table`. */
  readonly table: string;
}

export const VERSION_HEADER = "oesophagus-version";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const NULL = encoder.encode("null");
const HEADS: Readonly<Record<EnvelopeOp, Uint8Array>> = Object.fromEntries(
  (["c", "u", "d", "r", "t"] as const).map((op) => [op, encoder.encode(`{"op":"${op}","before":`)]),
) as Record<EnvelopeOp, Uint8Array>;
const AFTER_KEY = encoder.encode(`,"after":`);
const LSN_KEY = `","version":"`;
const INDEX_ACTION = encoder.encode(`{"index":{`);
const DELETE_ACTION = encoder.encode(`{"delete":{`);
const ID_KEY = encoder.encode(`"_id"`);
const INDEX_KEY = encoder.encode(`"_index"`);
const VERSION_KEY = encoder.encode(`"version"`);
/** The end of `source` after the version, all ASCII: the transaction, then the snapshot flag. */
function sourceTail(transaction: TransactionSource | null | undefined, snapshot: boolean): string {
  const micros = transaction?.commitMicros ?? null;
  const txid = transaction && transaction.xid !== 0 ? transaction.xid : null;
  const ms = micros === null ? null : Math.floor(micros / 1000);
  return `","txid":${txid},"ts_ms":${ms},"ts_us":${micros},"snapshot":${snapshot}}}`;
}
const SNAPSHOT_TAIL = sourceTail(null, true);

/** Digits (and sign) of a safe integer in decimal. */
function decimalLength(value: number): number {
  let length = value < 0 ? 2 : 1;
  for (let rest = Math.abs(value); rest >= 10; rest = Math.floor(rest / 10)) length++;
  return length;
}

/** A safe integer in decimal, as `${value}` prints it, straight into `out` (a string per event cost 1 us an event). */
function writeDecimal(out: Uint8Array, at: number, value: number): number {
  if (value < 0) out[at++] = 0x2d;
  let rest = Math.abs(value);
  const end = at + decimalLength(rest);
  for (let i = end - 1; i >= at; i--) {
    const next = Math.floor(rest / 10);
    out[i] = 0x30 + (rest - next * 10);
    rest = next;
  }
  return end;
}

const TXID_KEY = `","txid":`;
const TS_MS_KEY = `,"ts_ms":`;
const TS_US_KEY = `,"ts_us":`;
const STREAMED_END = `,"snapshot":false}}`;
const NULL_TEXT = "null";

/** Bytes `writeTail` writes for a streamed event's transaction: `sourceTail(transaction, false)`'s length. */
function tailLength(transaction: TransactionSource): number {
  const micros = transaction.commitMicros;
  return TXID_KEY.length + (transaction.xid === 0 ? 4 : decimalLength(transaction.xid)) + TS_MS_KEY.length +
    (micros === null ? 4 : decimalLength(Math.floor(micros / 1000))) + TS_US_KEY.length +
    (micros === null ? 4 : decimalLength(micros)) + STREAMED_END.length;
}

/** `sourceTail(transaction, false)`, written into `out` without making the string. */
function writeTail(out: Uint8Array, at: number, transaction: TransactionSource): number {
  const micros = transaction.commitMicros;
  at = writeAscii(out, at, TXID_KEY);
  at = transaction.xid === 0 ? writeAscii(out, at, NULL_TEXT) : writeDecimal(out, at, transaction.xid);
  at = writeAscii(out, at, TS_MS_KEY);
  at = micros === null ? writeAscii(out, at, NULL_TEXT) : writeDecimal(out, at, Math.floor(micros / 1000));
  at = writeAscii(out, at, TS_US_KEY);
  at = micros === null ? writeAscii(out, at, NULL_TEXT) : writeDecimal(out, at, micros);
  return writeAscii(out, at, STREAMED_END);
}

export class MalformedBatch extends Error {
  constructor(message: string) {
    super(`a batch for Kafka is malformed: ${message}`);
    this.name = "MalformedBatch";
  }
}

/** `,"source":{"table":…,"index":…,"lsn":"` for one table. */
function sourceHead(destination: Destination, index: string): Uint8Array {
  return encoder.encode(`,"source":{"table":${JSON.stringify(destination.table)},"index":${JSON.stringify(index)},"lsn":"`);
}

/** An LSN's text: two hex halves, as PostgreSQL prints it, from its decimal text. */
function lsnText(decimal: string): string {
  // Below 2^53 a number holds it exactly and splits without BigInt arithmetic (every LSN a server reaches in practice).
  if (decimal.length <= 15) {
    const value = Number(decimal);
    const high = Math.floor(value / 0x1_0000_0000);
    return `${high.toString(16).toUpperCase()}/${(value - high * 0x1_0000_0000).toString(16).toUpperCase()}`;
  }
  return formatLsn(BigInt(decimal) as Lsn);
}

/** ASCII text of `body[from, to)`, made without a decoder call (which costs more than the rest of an item). */
function asciiOf(body: Uint8Array, from: number, to: number): string | null {
  let text = "";
  for (let i = from; i < to; i++) {
    const byte = body[i];
    if (byte >= 0x80) return null;
    text += String.fromCharCode(byte);
  }
  return text;
}

/** A JSON string's value from its literal in `body[from, to)` (quotes included). */
function stringValue(body: Uint8Array, from: number, to: number): string {
  let escaped = false;
  for (let i = from + 1; i < to - 1 && !escaped; i++) escaped = body[i] === BACKSLASH;
  const ascii = escaped ? null : asciiOf(body, from + 1, to - 1);
  return ascii ?? JSON.parse(decoder.decode(body.subarray(from, to)));
}

interface Action {
  readonly action: "index" | "delete";
  /** The `_index` literal's place: compared by bytes, read once per run of one index. */
  readonly indexFrom: number;
  readonly indexTo: number;
  readonly id: string;
  /** The version's decimal text. */
  readonly version: string;
}

/**
 * The action line's `_index`, `_id` and `version`, found in one pass over its bytes: a string
 * followed by a colon is a member's key, and the value after it is read when the key is one of
 * these. Lines come from the engine's own writers (the router's and the snapshot COPY's), whose
 * members come in two orders.
 */
function readAction(body: Uint8Array, start: number, end: number, item: number): Action {
  const kind = sameBytes(body, start, start + INDEX_ACTION.length, INDEX_ACTION)
    ? "index"
    : sameBytes(body, start, start + DELETE_ACTION.length, DELETE_ACTION)
    ? "delete"
    : null;
  if (kind === null) throw new MalformedBatch(`item ${item} is neither an index nor a delete`);
  let indexFrom = -1, indexTo = -1, id: string | null = null, version: string | null = null;
  for (let i = start + (kind === "index" ? INDEX_ACTION : DELETE_ACTION).length; i < end; i++) {
    if (body[i] !== QUOTE) continue;
    const keyFrom = i;
    let keyTo = i + 1;
    while (keyTo < end && body[keyTo] !== QUOTE) keyTo += body[keyTo] === BACKSLASH ? 2 : 1;
    keyTo++;
    i = keyTo - 1;
    if (body[keyTo] !== COLON) continue;
    const valueFrom = keyTo + 1;
    const key = sameBytes(body, keyFrom, keyTo, ID_KEY)
      ? "_id"
      : sameBytes(body, keyFrom, keyTo, INDEX_KEY)
      ? "_index"
      : sameBytes(body, keyFrom, keyTo, VERSION_KEY)
      ? "version"
      : null;
    if (key === null) continue;
    if (key === "version") {
      let stop = valueFrom;
      while (stop < end && body[stop] >= 0x30 && body[stop] <= 0x39) stop++;
      if (stop === valueFrom || stop - valueFrom > 20 || (body[stop] !== 0x2c && body[stop] !== 0x7d)) {
        throw new MalformedBatch(`item ${item} lacks a whole version`);
      }
      version = asciiOf(body, valueFrom, stop);
      i = stop - 1;
      continue;
    }
    if (body[valueFrom] !== QUOTE) throw new MalformedBatch(`item ${item}'s ${key} is not a string`);
    let valueTo = valueFrom + 1;
    while (valueTo < end && body[valueTo] !== QUOTE) valueTo += body[valueTo] === BACKSLASH ? 2 : 1;
    valueTo++;
    if (valueTo > end) throw new MalformedBatch(`item ${item}'s ${key} is cut`);
    if (key === "_id") {
      try {
        id = stringValue(body, valueFrom, valueTo);
      } catch {
        throw new MalformedBatch(`item ${item}'s _id is not a JSON string`);
      }
    } else [indexFrom, indexTo] = [valueFrom, valueTo];
    i = valueTo - 1;
  }
  if (indexFrom === -1 || id === null || version === null) throw new MalformedBatch(`item ${item} lacks _index, _id or version`);
  return { action: kind, indexFrom, indexTo, id, version };
}

function sameBytes(body: Uint8Array, from: number, to: number, other: Uint8Array): boolean {
  if (to - from !== other.length) return false;
  for (let i = 0; i < other.length; i++) if (body[from + i] !== other[i]) return false;
  return true;
}

function writeAscii(values: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) values[at + i] = text.charCodeAt(i);
  return at + text.length;
}

interface Part {
  readonly id: string;
  readonly op: EnvelopeOp;
  readonly before: Uint8Array;
  readonly after: Uint8Array;
  readonly head: Uint8Array;
  readonly topic: string;
  readonly version: string;
  readonly lsn: string;
  /** A streamed event's transaction; null for a snapshot's row (`SNAPSHOT_TAIL`). */
  readonly transaction: TransactionSource | null;
}

/**
 * The messages of a batch, grouped by topic in the order of their items. `streamed`: per item,
 * the change it came from (`c`, `u`, `d`), its trace, and the transactions of the versions;
 * absent for a snapshot's batch, whose rows are `r`. All values are views into one buffer: an
 * allocation per message cost more than the rest of its making (1.7 us of 7 for a 400-byte row,
 * measured).
 */
export function changeMessages(
  batch: BulkBatch,
  destinationOf: (index: string) => Destination,
  streamed?: StreamedItems,
): TopicMessages[] {
  const ops = streamed?.ops;
  const traceparents = streamed?.traceparents;
  const befores = streamed?.befores;
  if (befores !== undefined && befores.length !== batch.docs) {
    throw new MalformedBatch(`${batch.docs} items but ${befores.length} old rows`);
  }
  if (ops !== undefined && ops.length !== batch.docs) {
    throw new MalformedBatch(`${batch.docs} items but ${ops.length} change kinds`);
  }
  if (traceparents !== undefined && traceparents.length !== batch.docs) {
    throw new MalformedBatch(`${batch.docs} items but ${traceparents.length} trace contexts`);
  }
  const snapshot = ops === undefined;
  let transaction: TransactionSource | null = null;
  let tailBytes = SNAPSHOT_TAIL.length;
  /** The next of `streamed.transactions`: each run of items with one version takes the next. */
  let run = 0;
  const { body, offsets } = batch;
  const parts: Part[] = [];
  let indexBytes: Uint8Array | null = null;
  let topic = "";
  let head: Uint8Array = NULL;
  let lastVersion = "";
  let lastLsn = "";
  let size = 0;
  for (let i = 0; i < batch.docs; i++) {
    const start = offsets[i];
    const end = i + 1 < batch.docs ? offsets[i + 1] : body.length;
    const lineEnd = body.indexOf(NEWLINE, start);
    if (lineEnd === -1 || lineEnd >= end) throw new MalformedBatch(`item ${i} has no action line`);
    const action = readAction(body, start, lineEnd, i);
    if (indexBytes === null || !sameBytes(body, action.indexFrom, action.indexTo, indexBytes)) {
      indexBytes = body.slice(action.indexFrom, action.indexTo);
      const index = stringValue(body, action.indexFrom, action.indexTo);
      const destination = destinationOf(index);
      topic = destination.topic;
      head = sourceHead(destination, index);
    }
    if (action.version !== lastVersion) {
      lastVersion = action.version;
      lastLsn = lsnText(action.version);
      if (!snapshot) {
        const next = streamed!.transactions[run++];
        if (next === undefined) {
          throw new MalformedBatch(`item ${i} starts run ${run} of a version, of ${run - 1} transactions`);
        }
        transaction = next;
        tailBytes = tailLength(next);
      }
    }
    let op: EnvelopeOp;
    let after: Uint8Array;
    if (action.action === "delete") {
      op = "d";
      after = NULL;
    } else {
      const docEnd = end - 1;
      if (docEnd <= lineEnd || body[docEnd] !== NEWLINE) throw new MalformedBatch(`item ${i} has no document line`);
      op = snapshot ? "r" : ops[i] === "c" ? "c" : "u";
      after = body.subarray(lineEnd + 1, docEnd);
    }
    const old = befores?.[i] ?? null;
    const before = old === null ? NULL : typeof old === "string" ? encoder.encode(old) : old;
    parts.push({ id: action.id, op, before, after, head, topic, version: lastVersion, lsn: lastLsn, transaction });
    size += HEADS[op].length + before.length + AFTER_KEY.length + after.length + head.length + lastLsn.length +
      LSN_KEY.length + lastVersion.length + tailBytes;
  }
  if (!snapshot && run !== streamed!.transactions.length) {
    throw new MalformedBatch(`${run} runs of a version but ${streamed!.transactions.length} transactions`);
  }
  const values = new Uint8Array(size);
  let at = 0;
  const byTopic = new Map<string, ChangeMessage[]>();
  for (let n = 0; n < parts.length; n++) {
    const part = parts[n];
    const from = at;
    values.set(HEADS[part.op], at);
    at += HEADS[part.op].length;
    values.set(part.before, at);
    at += part.before.length;
    values.set(AFTER_KEY, at);
    at += AFTER_KEY.length;
    values.set(part.after, at);
    at += part.after.length;
    values.set(part.head, at);
    at += part.head.length;
    at = writeAscii(values, at, part.lsn);
    at = writeAscii(values, at, LSN_KEY);
    at = writeAscii(values, at, part.version);
    at = part.transaction === null ? writeAscii(values, at, SNAPSHOT_TAIL) : writeTail(values, at, part.transaction);
    let messages = byTopic.get(part.topic);
    if (messages === undefined) byTopic.set(part.topic, messages = []);
    const traceparent = traceparents?.[n];
    messages.push({
      key: part.id,
      value: values.subarray(from, at),
      headers: traceparent ? { [VERSION_HEADER]: part.version, traceparent } : { [VERSION_HEADER]: part.version },
    });
  }
  return [...byTopic].map(([name, messages]) => ({ topic: name, messages }));
}

/**
 * A TRUNCATE (or the sweep after a copy, `snapshot`): every row of the table whose last event is
 * not newer than `version` is gone. One message per partition, so that it is ordered after every
 * earlier event of each key.
 */
export function truncateMessages(
  destination: Destination,
  index: string,
  version: Lsn,
  partitions: readonly number[],
  snapshot: boolean,
  transaction?: TransactionSource,
): TopicMessages {
  const text = `{"op":"t","before":null,"after":null,"source":{"table":${JSON.stringify(destination.table)},"index":${
    JSON.stringify(index)
  },"lsn":"${formatLsn(version)}","version":"${version}${sourceTail(transaction, snapshot)}`;
  const value = encoder.encode(text);
  return {
    topic: destination.topic,
    messages: partitions.map((partition) => ({
      key: null,
      value,
      partition,
      headers: { [VERSION_HEADER]: version.toString() },
    })),
  };
}
