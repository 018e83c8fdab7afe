import assert from "node:assert/strict";
import type { Lsn } from "../../pg/lsn.ts";
import { actionLine, BulkBodyWriter, encodeItems, laneOf } from "./bulk_body.ts";

Deno.test("encodeItems() writes versioned index and delete lines with byte offsets", () => {
  const batch = encodeItems([
    { index: "t", item: { action: "index", id: '"1"', version: 10n as Lsn, doc: '{"v": "é😀"}' } },
    { index: "t", item: { action: "delete", id: '"2"', version: 9223372036854775000n as Lsn, doc: null } },
  ]);
  const text = new TextDecoder().decode(batch.body);
  assert.equal(
    text,
    '{"index":{"_index":"t","_id":"1","version":10,"version_type":"external_gte"}}\n{"v": "é😀"}\n' +
      '{"delete":{"_index":"t","_id":"2","version":9223372036854775000,"version_type":"external_gte"}}\n',
  );
  assert.equal(batch.docs, 2);
  assert.equal(batch.offsets[0], 0);
  assert.equal(new TextDecoder().decode(batch.body.subarray(batch.offsets[1])).startsWith('{"delete"'), true);
});

Deno.test("laneOf() is stable and spreads documents over lanes", () => {
  assert.equal(laneOf("t", '"42"', 4), laneOf("t", '"42"', 4));
  const used = new Set(Array.from({ length: 100 }, (_, i) => laneOf("t", `"${i}"`, 4)));
  assert.equal(used.size, 4);
});

Deno.test("BulkBodyWriter fills batches over many adds, growing past its sizes, each taken batch the items' lines", () => {
  const writer = new BulkBodyWriter(256);
  const items = Array.from({ length: 150 }, (_, i) => ({
    index: i % 3 === 0 ? "ü" : "t",
    item: {
      action: i % 5 === 0 ? "delete" as const : "index" as const,
      id: JSON.stringify(`ключ ${i}`),
      // Versions change now and then, as transactions do, and go back (replay).
      version: BigInt(1000 + Math.floor(i / 7) * (i % 2 === 0 ? 1 : -1)) as Lsn,
      doc: i % 5 === 0 ? null : i % 2 === 0 ? `{"v": "${"é".repeat(i)}"}` : new TextEncoder().encode(`{"n": ${i}}`),
    },
  }));
  const utf8 = new TextEncoder();
  const lines = (slice: typeof items) =>
    slice.map(({ index, item }) => {
      const doc = item.doc === null ? "" : `${typeof item.doc === "string" ? item.doc : new TextDecoder().decode(item.doc)}\n`;
      return actionLine(item.action, index, item.id, item.version) + doc;
    });
  for (const [from, to] of [[0, 100], [100, 101], [101, 150]]) {
    for (const { index, item } of items.slice(from, to)) writer.add(index, item);
    assert.equal(writer.docs, to - from);
    const taken = writer.take();
    assert.equal(taken.body.length > 0 && writer.docs === 0 && writer.bytes === 0, true);
    const expected = lines(items.slice(from, to));
    assert.equal(new TextDecoder().decode(taken.body), expected.join(""));
    let at = 0;
    assert.deepEqual([...taken.offsets], expected.map((line) => (at += utf8.encode(line).length) - utf8.encode(line).length));
    assert.equal(taken.docs, to - from);
  }
});
