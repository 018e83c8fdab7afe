/**
 * Change events for Kafka, made from the `_bulk` body the router and the snapshot write for every
 * sink: one message per item, keyed by the document's `_id` (so one row's changes share a
 * partition), its value the envelope
 * `{"op":…,"after":<to_jsonb(row)>,"source":{"table":…,"index":…,"lsn":"X/Y","version":"…","snapshot":…}}`.
 * The document's bytes are copied as PostgreSQL rendered them and versions stay text: no value
 * passes through a JS number.
 */
import { JsonNumber, parseExactJson } from "../../json/exact_json.ts";
import { formatLsn, type Lsn } from "../../pg/lsn.ts";
import type { BulkBatch } from "../../snapshot/row_batcher.ts";

/** What a change event says happened: c insert, u update, d delete, r read by a snapshot, t truncate. */
export type EnvelopeOp = "c" | "u" | "d" | "r" | "t";

export interface ChangeMessage {
  /** The document's `_id` text (`42`, `[1, "a"]`); null for a truncate, which goes to every partition. */
  readonly key: string | null;
  readonly value: Uint8Array;
  readonly partition?: number;
  /** `oesophagus-version`: the commit LSN in decimal, for consumers that apply versions without parsing the value. */
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
const NULL = encoder.encode("null");

export class MalformedBatch extends Error {
  constructor(message: string) {
    super(`a batch for Kafka is malformed: ${message}`);
    this.name = "MalformedBatch";
  }
}

function source(destination: Destination, index: string, version: Lsn, snapshot: boolean): string {
  return `,"source":{"table":${JSON.stringify(destination.table)},"index":${JSON.stringify(index)},"lsn":"${
    formatLsn(version)
  }","version":"${version}","snapshot":${snapshot}}}`;
}

function envelope(op: EnvelopeOp, after: Uint8Array, tail: string): Uint8Array {
  const head = encoder.encode(`{"op":"${op}","after":`);
  const end = encoder.encode(tail);
  const value = new Uint8Array(head.length + after.length + end.length);
  value.set(head, 0);
  value.set(after, head.length);
  value.set(end, head.length + after.length);
  return value;
}

interface Action {
  readonly action: "index" | "delete";
  readonly index: string;
  readonly id: string;
  readonly version: Lsn;
}

function readAction(line: string, item: number): Action {
  let parsed;
  try {
    parsed = parseExactJson(line);
  } catch (error) {
    throw new MalformedBatch(`item ${item}'s action line is not JSON (${(error as Error).message})`);
  }
  const [action, meta] = Object.entries(parsed as Record<string, unknown>)[0] ?? [];
  if (action !== "index" && action !== "delete") throw new MalformedBatch(`item ${item} has action ${JSON.stringify(action)}`);
  const { _index, _id, version } = (meta ?? {}) as Record<string, unknown>;
  if (typeof _index !== "string" || typeof _id !== "string" || !(version instanceof JsonNumber) || !/^\d+$/.test(version.text)) {
    throw new MalformedBatch(`item ${item} lacks _index, _id or a whole version`);
  }
  return { action, index: _index, id: _id, version: BigInt(version.text) as Lsn };
}

/**
 * The messages of a batch, grouped by topic in the order of their items. `ops`: per item, the
 * change it came from (`c`, `u`, `d`); absent for a snapshot's batch, whose rows are `r`.
 */
export function changeMessages(
  batch: BulkBatch,
  ops: string | undefined,
  destinationOf: (index: string) => Destination,
): TopicMessages[] {
  if (ops !== undefined && ops.length !== batch.docs) {
    throw new MalformedBatch(`${batch.docs} items but ${ops.length} change kinds`);
  }
  const byTopic = new Map<string, ChangeMessage[]>();
  const { body, offsets } = batch;
  for (let i = 0; i < batch.docs; i++) {
    const start = offsets[i];
    const end = i + 1 < batch.docs ? offsets[i + 1] : body.length;
    const lineEnd = body.indexOf(NEWLINE, start);
    if (lineEnd === -1 || lineEnd >= end) throw new MalformedBatch(`item ${i} has no action line`);
    const action = readAction(decoder.decode(body.subarray(start, lineEnd)), i);
    let op: EnvelopeOp;
    let after: Uint8Array;
    if (action.action === "delete") {
      op = "d";
      after = NULL;
    } else {
      const docEnd = end - 1;
      if (docEnd <= lineEnd || body[docEnd] !== NEWLINE) throw new MalformedBatch(`item ${i} has no document line`);
      op = ops === undefined ? "r" : ops[i] === "c" ? "c" : "u";
      after = body.subarray(lineEnd + 1, docEnd);
    }
    const destination = destinationOf(action.index);
    const messages = byTopic.get(destination.topic) ?? [];
    if (messages.length === 0) byTopic.set(destination.topic, messages);
    messages.push({
      key: action.id,
      value: envelope(op, after, source(destination, action.index, action.version, ops === undefined)),
      headers: { [VERSION_HEADER]: action.version.toString() },
    });
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
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
): TopicMessages {
  const value = envelope("t", NULL, source(destination, index, version, snapshot));
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
