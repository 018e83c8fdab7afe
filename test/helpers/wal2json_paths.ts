/**
 * The wal2json decoder's fast paths held to its general path: the same record must give the same
 * event through both, or a DecodeError through both.
 */
import assert from "node:assert/strict";
import { spanText } from "../../src/pg/ascii_text.ts";
import { Wal2jsonDecoder } from "../../src/pg/wal2json.ts";
import { type ChangeEvent, DecodeError, type RowImage } from "../../src/stream/change.ts";
import { MessageRow } from "../../src/stream/message_row.ts";

export type Outcome = ChangeEvent | null | { error: string };

/**
 * Row images as plain objects: the compact path leaves ASCII values in the record (MessageRow)
 * until asked. The renderer reads a value from its span wherever it has one, so each span must
 * hold the value's text.
 */
const plain = (image: RowImage | null) => {
  if (image instanceof MessageRow) {
    image.columns.forEach((column, i) => {
      const [start, end] = [image.spans[2 * i], image.spans[2 * i + 1]];
      if (start >= 0) assert.equal(spanText(image.bytes, start, end), image.value(i), `the span of ${column}`);
    });
  }
  return image && { columns: image.columns, types: image.types, values: [...image.values] };
};

/** What `decoder` makes of `bytes`, with row images as plain objects and a DecodeError as such. */
export function decodeWith(decoder: Wal2jsonDecoder, bytes: Uint8Array): Outcome {
  try {
    const event = decoder.decode(bytes);
    return event?.kind === "row" ? { ...event, new: plain(event.new), old: plain(event.old) } : event;
  } catch (error) {
    if (error instanceof DecodeError) return { error: "DecodeError" };
    throw error;
  }
}

/** `bytes` decoded by a fresh decoder with its fast paths and by one without: the same outcome. */
export function assertSamePaths(bytes: Uint8Array): void {
  const fast = decodeWith(new Wal2jsonDecoder(), bytes);
  const general = decodeWith(new Wal2jsonDecoder({ compact: false }), bytes);
  assert.deepEqual(fast, general, new TextDecoder().decode(bytes));
}
