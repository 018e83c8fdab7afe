/**
 * One `_bulk` request carried to its end: transient failures (the cluster down, 429, 5xx, a
 * read-only block) are retried with backoff for as long as it takes, and only the items that
 * failed are sent again. A request too large for the cluster is split. It returns when every
 * item is indexed, stale (409) or refused for good, with the refusals for the dead-letter index;
 * it throws when the request itself cannot succeed (credentials, not Elasticsearch). Nothing is
 * dropped here.
 */
import { Buffer } from "node:buffer";
import type { Readable } from "node:stream";
import { type Client, errors } from "@elastic/elasticsearch";
import { type Backoff, backoffDelay, sleep } from "../../backoff.ts";
import { OesophagusError } from "../../errors.ts";
import type { BulkBatch } from "../../snapshot/row_batcher.ts";
import { type BulkItemResult, classifyItem, classifyRequestError } from "./classify.ts";
import { REDACTION } from "./client.ts";
import type { Refusal } from "./dead_letter.ts";

export interface BulkOptions {
  readonly sinkName: string;
  readonly requestTimeoutMs: number;
  readonly backoff: Backoff;
  readonly signal: AbortSignal;
  readonly onRetry?: (reason: string, attempt: number, delayMs: number) => void;
}

interface BulkResponse {
  readonly errors: boolean;
  readonly items?: readonly Record<string, BulkItemResult>[];
}

/** Only what the sink acts on: the answer for 2,000 items stays a few kilobytes. */
const FILTER_PATH = "errors,items.*.status,items.*.error";

export async function writeBulk(client: Client, batch: BulkBatch, options: BulkOptions): Promise<Refusal[]> {
  const refusals: Refusal[] = [];
  await writeItems(client, batch, Array.from(batch.offsets.keys()), options, refusals);
  return refusals.sort((a, b) => a.item - b.item);
}

/** `positions[i]`: where item i of `batch` sits in the batch the sink was given. */
async function writeItems(
  client: Client,
  batch: BulkBatch,
  positions: readonly number[],
  options: BulkOptions,
  refusals: Refusal[],
): Promise<void> {
  let pending = batch;
  let pendingPositions = positions;
  for (let attempt = 0;; attempt++) {
    let response: BulkResponse;
    try {
      response = await send(client, pending, options);
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      if (error instanceof errors.ResponseError && error.statusCode === 413) {
        // Too large for the cluster's http.max_content_length: halve until one document is
        // left alone, and that one is refused for good. Halves go in order (lane order holds).
        if (pending.docs === 1) {
          refusals.push({
            item: pendingPositions[0],
            status: 413,
            reason: `413 the document (${pending.body.length} bytes) is larger than the cluster's http.max_content_length`,
          });
          return;
        }
        const half = Math.ceil(pending.docs / 2);
        const first = Array.from({ length: half }, (_, i) => i);
        const second = Array.from({ length: pending.docs - half }, (_, i) => half + i);
        await writeItems(client, subset(pending, first), first.map((i) => pendingPositions[i]), options, refusals);
        await writeItems(client, subset(pending, second), second.map((i) => pendingPositions[i]), options, refusals);
        return;
      }
      const classified = classifyRequestError(error, options.sinkName);
      if (!classified.retriable) throw classified;
      await pause(classified.message, attempt, options);
      continue;
    }
    if (!response.errors) return;

    const items = response.items ?? [];
    if (items.length !== pending.docs) {
      throw new OesophagusError(
        "sink_rejected",
        `sink ${options.sinkName}: Elasticsearch answered ${items.length} items for ${pending.docs} documents`,
      );
    }
    const retry: number[] = [];
    items.forEach((item, i) => {
      const result = Object.values(item)[0];
      const status = classifyItem(result);
      if (status.kind === "retry") retry.push(i);
      else if (status.kind === "refused") {
        refusals.push({ item: pendingPositions[i], status: result.status, reason: status.reason });
      }
    });
    if (retry.length === 0) return;
    pending = subset(pending, retry);
    pendingPositions = retry.map((i) => pendingPositions[i]);
    await pause(`${retry.length} items not indexed yet`, attempt, options);
  }
}

/**
 * One `_bulk` request through the client's transport (auth, TLS, product check), with the answer
 * taken as a stream and parsed natively: the client's own JSON parser costs more CPU than the
 * rest of the sink for 2,000-item answers.
 */
async function send(client: Client, batch: BulkBatch, options: BulkOptions): Promise<BulkResponse> {
  const result = await client.transport.request<Readable>(
    {
      method: "POST",
      path: "/_bulk",
      querystring: { filter_path: FILTER_PATH },
      bulkBody: Buffer.from(batch.body.buffer, batch.body.byteOffset, batch.body.byteLength),
    },
    { requestTimeout: options.requestTimeoutMs, maxRetries: 0, signal: options.signal, asStream: true, meta: true },
  );
  const chunks: Buffer[] = [];
  for await (const chunk of result.body) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  let body: unknown;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (result.statusCode !== null && result.statusCode !== undefined && result.statusCode >= 400) {
    throw new errors.ResponseError({ ...result, body } as ConstructorParameters<typeof errors.ResponseError>[0], {
      redaction: REDACTION,
    });
  }
  if (typeof body !== "object" || body === null || typeof (body as BulkResponse).errors !== "boolean") {
    throw new OesophagusError(
      "sink_rejected",
      `sink ${options.sinkName}: unexpected _bulk answer (status ${result.statusCode}): ${text.slice(0, 200)}`,
      {
        retriable: true,
      },
    );
  }
  return body as BulkResponse;
}

async function pause(reason: string, attempt: number, options: BulkOptions): Promise<void> {
  const delay = backoffDelay(attempt, options.backoff);
  options.onRetry?.(reason, attempt + 1, delay);
  await sleep(delay, options.signal);
}

/** The items at `indexes`, as a batch of their own. */
export function subset(batch: BulkBatch, indexes: readonly number[]): BulkBatch {
  const ranges = indexes.map((i) => [batch.offsets[i], i + 1 < batch.offsets.length ? batch.offsets[i + 1] : batch.body.length]);
  const body = new Uint8Array(ranges.reduce((sum, [start, end]) => sum + end - start, 0));
  const offsets = new Uint32Array(ranges.length);
  let at = 0;
  ranges.forEach(([start, end], i) => {
    offsets[i] = at;
    body.set(batch.body.subarray(start, end), at);
    at += end - start;
  });
  return { body, offsets, docs: ranges.length };
}
