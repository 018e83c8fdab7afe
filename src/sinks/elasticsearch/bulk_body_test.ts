import assert from "node:assert/strict";
import type { Lsn } from "../../pg/lsn.ts";
import { encodeItems, laneOf } from "./bulk_body.ts";

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
