/** `_bulk` bodies for streamed changes: index and delete items with their version. */
import type { Lsn } from "../../pg/lsn.ts";
import type { BulkBatch } from "../../snapshot/row_batcher.ts";
import type { BulkItem } from "../../stream/render.ts";

const encoder = new TextEncoder();

export function actionLine(action: "index" | "delete", index: string, id: string, version: Lsn): string {
  return `{"${action}":{"_index":${
    JSON.stringify(index)
  },"_id":${id},"version":${version.toString()},"version_type":"external_gte"}}\n`;
}

/**
 * `id` is a JSON string literal (as rendered). Encodes straight into one buffer, offsets in
 * bytes; documents already in bytes are copied as they are.
 */
export function encodeItems(items: readonly { readonly index: string; readonly item: BulkItem }[]): BulkBatch {
  let capacity = 0;
  for (const { index, item } of items) {
    const doc = item.doc;
    capacity += 3 * (index.length + item.id.length) + 128 +
      (doc === null ? 0 : typeof doc === "string" ? 3 * doc.length : doc.length);
  }
  let body = new Uint8Array(capacity);
  const offsets = new Uint32Array(items.length);
  let at = 0;
  const room = (bytes: number) => {
    if (body.length - at >= bytes) return;
    const grown = new Uint8Array(Math.max(body.length * 2, at + bytes));
    grown.set(body.subarray(0, at));
    body = grown;
  };
  const write = (text: string) => {
    // encodeInto needs up to 3 bytes per UTF-16 unit.
    room(text.length * 3);
    at += encoder.encodeInto(text, body.subarray(at)).written;
  };
  items.forEach(({ index, item }, i) => {
    offsets[i] = at;
    write(actionLine(item.action, index, item.id, item.version));
    if (item.action !== "index") return;
    const doc = item.doc!;
    if (typeof doc === "string") write(doc);
    else {
      room(doc.length);
      body.set(doc, at);
      at += doc.length;
    }
    room(1);
    body[at++] = 0x0a;
  });
  return { body: body.subarray(0, at), offsets, docs: items.length };
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const indexHashes = new Map<string, number>();

/** A lane per document: every change of one document goes through the same lane, in order. */
export function laneOf(index: string, id: string, lanes: number): number {
  let hash = indexHashes.get(index);
  if (hash === undefined) {
    hash = FNV_OFFSET;
    for (let i = 0; i < index.length; i++) hash = Math.imul(hash ^ index.charCodeAt(i), FNV_PRIME);
    hash = Math.imul(hash, FNV_PRIME);
    indexHashes.set(index, hash);
  }
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), FNV_PRIME);
  return (hash >>> 0) % lanes;
}
