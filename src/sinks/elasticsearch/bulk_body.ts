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

/** `id` is a JSON string literal (as rendered by PostgreSQL). */
export function encodeItems(items: readonly { readonly index: string; readonly item: BulkItem }[]): BulkBatch {
  const parts: string[] = [];
  const offsets = new Uint32Array(items.length);
  let bytes = 0;
  items.forEach(({ index, item }, i) => {
    offsets[i] = bytes;
    const text = actionLine(item.action, index, item.id, item.version) + (item.action === "index" ? `${item.doc}\n` : "");
    parts.push(text);
    // Offsets are in bytes: count UTF-8 length, not string length.
    bytes += utf8Length(text);
  });
  const body = encoder.encode(parts.join(""));
  if (body.length !== bytes) throw new Error("bulk body length mismatch");
  return { body, offsets, docs: items.length };
}

export function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

/** A lane per document: every change of one document goes through the same lane, in order. */
export function laneOf(index: string, id: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < index.length; i++) hash = Math.imul(hash ^ index.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ 0, 0x01000193);
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}
