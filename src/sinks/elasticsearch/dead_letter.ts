/**
 * The dead-letter index: where a document goes that Elasticsearch refuses for a reason waiting
 * cannot fix (a mapping the operator made that the value does not fit, a document larger than
 * the cluster takes). The entry says which table, key and commit LSN, and why; the pipeline goes
 * on. Entries are keyed by (index, id, version), so a replay after a crash writes the same entry
 * again instead of a second one.
 */
import { createHash } from "node:crypto";
import { type Client, errors } from "@elastic/elasticsearch";
import { JsonNumber, parseExactJson } from "../../json/exact_json.ts";
import { formatLsn, lsnFromBigInt } from "../../pg/lsn.ts";
import type { BulkBatch } from "../../snapshot/row_batcher.ts";
import { OesophagusError } from "../../errors.ts";
import { type BulkItemResult, classifyItem, classifyRequestError } from "./classify.ts";
import { REPLICAS } from "./index.ts";

/** What an entry keeps of the refused document; the rest is counted, not stored (it may be the reason). */
export const DEAD_LETTER_DOCUMENT_MAX_BYTES = 64 * 1024;

export interface Refusal {
  /** Position of the item in the batch the sink was given. */
  readonly item: number;
  readonly status: number;
  readonly reason: string;
}

export interface DeadLetter {
  readonly "@timestamp": string;
  readonly sink: string;
  readonly index: string;
  /** The table the index holds (null when the sink does not know it, e.g. the index was renamed). */
  readonly table: string | null;
  readonly id: string;
  readonly action: "index" | "delete";
  /** The commit LSN of the change (for a snapshot row: the snapshot's LSN), as PostgreSQL writes it. */
  readonly commit_lsn: string;
  readonly status: number;
  readonly reason: string;
  /** The document as it was sent (its first 64 KiB), as text: it cannot be refused a second time. */
  readonly document: string | null;
  readonly document_bytes: number;
  readonly truncated: boolean;
}

const MAPPING = {
  dynamic: false,
  properties: {
    "@timestamp": { type: "date" },
    sink: { type: "keyword" },
    index: { type: "keyword" },
    table: { type: "keyword" },
    id: { type: "keyword" },
    action: { type: "keyword" },
    commit_lsn: { type: "keyword" },
    status: { type: "short" },
    reason: { type: "text" },
    document: { type: "text", index: false },
    document_bytes: { type: "long" },
    truncated: { type: "boolean" },
  },
} as const;

const decoder = new TextDecoder();
const NEWLINE = 0x0a;

/** The bytes of one item: its action line and, for an index action, its document line. */
function itemBytes(batch: BulkBatch, item: number): { action: Uint8Array; document: Uint8Array | null } {
  const start = batch.offsets[item];
  const end = item + 1 < batch.offsets.length ? batch.offsets[item + 1] : batch.body.length;
  const bytes = batch.body.subarray(start, end);
  const newline = bytes.indexOf(NEWLINE);
  if (newline === -1) throw new Error(`bulk item ${item} has no action line`);
  const rest = bytes.subarray(newline + 1);
  const document = rest.length === 0 ? null : rest[rest.length - 1] === NEWLINE ? rest.subarray(0, rest.length - 1) : rest;
  return { action: bytes.subarray(0, newline), document };
}

/** Reads an action line without a JS number: the version is an LSN and may need all 64 bits. */
function parseAction(line: Uint8Array): { action: "index" | "delete"; index: string; id: string; version: bigint } {
  const parsed = parseExactJson(decoder.decode(line));
  const [action, meta] = Object.entries(parsed as Record<string, Record<string, unknown>>)[0] ?? [];
  if ((action !== "index" && action !== "delete") || typeof meta !== "object" || meta === null) {
    throw new Error(`unexpected bulk action line: ${decoder.decode(line.subarray(0, 200))}`);
  }
  const { _index: index, _id: id, version } = meta;
  if (typeof index !== "string" || typeof id !== "string" || !(version instanceof JsonNumber)) {
    throw new Error(`bulk action line without _index, _id or version: ${decoder.decode(line.subarray(0, 200))}`);
  }
  return { action, index, id, version: BigInt(version.text) };
}

export function deadLetter(
  batch: BulkBatch,
  refusal: Refusal,
  context: { readonly sink: string; readonly tableOf: (index: string) => string | null; readonly now: Date },
): DeadLetter {
  const { action, document } = itemBytes(batch, refusal.item);
  const meta = parseAction(action);
  const kept = document === null ? null : document.subarray(0, DEAD_LETTER_DOCUMENT_MAX_BYTES);
  return {
    "@timestamp": context.now.toISOString(),
    sink: context.sink,
    index: meta.index,
    table: context.tableOf(meta.index),
    id: meta.id,
    action: meta.action,
    commit_lsn: formatLsn(lsnFromBigInt(meta.version)),
    status: refusal.status,
    reason: refusal.reason,
    // A cut may split a UTF-8 sequence; the decoder replaces the broken tail, which is fine for a copy.
    document: kept === null ? null : decoder.decode(kept),
    document_bytes: document?.length ?? 0,
    truncated: document !== null && kept!.length < document.length,
  };
}

function entryId(entry: DeadLetter): string {
  return createHash("sha256").update(`${entry.index}\n${entry.id}\n${entry.commit_lsn}`).digest("hex");
}

/**
 * Writes entries to the dead-letter index (created on first use). Throws what Elasticsearch
 * says when it cannot take them: a transient failure is retried by the caller, anything else
 * stops the sink, because dropping the entry would be the silent loss this index exists to avoid.
 */
export async function writeDeadLetters(
  client: Client,
  sinkName: string,
  deadLetterIndex: string,
  entries: readonly DeadLetter[],
): Promise<void> {
  const operations: object[] = [];
  for (const entry of entries) operations.push({ index: { _index: deadLetterIndex, _id: entryId(entry) } }, entry);
  let response;
  try {
    await ensureDeadLetterIndex(client, deadLetterIndex);
    response = await client.bulk({ operations, filter_path: "errors,items.*.status,items.*.error" });
  } catch (error) {
    throw classifyRequestError(error, sinkName);
  }
  if (!response.errors) return;
  for (const item of response.items ?? []) {
    const status = classifyItem(Object.values(item)[0] as BulkItemResult);
    if (status.kind === "ok") continue;
    throw new OesophagusError(
      status.kind === "retry" ? "sink_unreachable" : "sink_rejected",
      `sink ${sinkName}: the dead-letter index ${deadLetterIndex} did not take an entry: ${status.reason}`,
      {
        retriable: status.kind === "retry",
        fix:
          `let the engine create ${deadLetterIndex} itself (delete it if it was made by hand), or name another in sinks.${sinkName}.deadLetterIndex`,
      },
    );
  }
}

const readyIndices = new WeakMap<Client, Set<string>>();

async function ensureDeadLetterIndex(client: Client, index: string): Promise<void> {
  const ready = readyIndices.get(client) ?? new Set();
  readyIndices.set(client, ready);
  if (ready.has(index)) return;
  try {
    await client.indices.create({ index, mappings: MAPPING, settings: REPLICAS });
  } catch (error) {
    const type = error instanceof errors.ResponseError ? (error.body as { error?: { type?: string } })?.error?.type : undefined;
    if (type !== "resource_already_exists_exception") throw error;
  }
  ready.add(index);
}
