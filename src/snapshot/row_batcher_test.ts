import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RowBatcher } from "./row_batcher.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const row = (id: number) => `{"index":{"_id":"${id}"}}\x02{"id": ${id}}\n`;

Deno.test("RowBatcher turns COPY rows into NDJSON batches of at most maxDocs", () => {
  const batcher = new RowBatcher({ maxDocs: 2, maxBytes: 1_000_000 });
  const batches = batcher.push(encoder.encode(row(1) + row(2) + row(3)));
  const last = batcher.finish();
  assert.equal(batches.length, 1);
  assert.equal(decoder.decode(batches[0].body), '{"index":{"_id":"1"}}\n{"id": 1}\n{"index":{"_id":"2"}}\n{"id": 2}\n');
  assert.deepEqual([...batches[0].offsets], [0, row(1).length]);
  assert.ok(last);
  assert.equal(last.docs, 1);
  assert.equal(decoder.decode(last.body), '{"index":{"_id":"3"}}\n{"id": 3}\n');
  assert.equal(batcher.finish(), null);
});

Deno.test("RowBatcher joins rows split across chunks at any byte", () => {
  const text = row(1) + row(22) + row(333);
  for (let cut = 1; cut < text.length; cut++) {
    const batcher = new RowBatcher({ maxDocs: 10, maxBytes: 1_000_000 });
    const bytes = encoder.encode(text);
    assert.deepEqual(batcher.push(bytes.subarray(0, cut)), []);
    assert.deepEqual(batcher.push(bytes.subarray(cut)), []);
    const batch = batcher.finish();
    assert.equal(decoder.decode(batch!.body), text.replaceAll("\x02", "\n"), `cut at ${cut}`);
  }
});

Deno.test("RowBatcher reads Node Buffers (what postgres.js hands over), views into a larger pool included", () => {
  const text = row(1) + row(22) + row(333);
  // Buffers that are views at an offset into a larger allocation, as Node's pooled reads are.
  const pool = Buffer.from(`garbage${text}garbage`);
  const whole = pool.subarray(7, 7 + text.length);
  for (let cut = 1; cut < text.length; cut++) {
    const batcher = new RowBatcher({ maxDocs: 2, maxBytes: 1_000_000 });
    const batches = [...batcher.push(whole.subarray(0, cut)), ...batcher.push(whole.subarray(cut))];
    const last = batcher.finish();
    assert.deepEqual(
      [...batches, last!].map((b) => decoder.decode(b.body)),
      [row(1) + row(22), row(333)].map((t) => t.replaceAll("\x02", "\n")),
      `cut at ${cut}`,
    );
    assert.deepEqual([...batches[0].offsets], [0, row(1).length]);
  }
});

Deno.test("RowBatcher cuts before a row that would pass maxBytes, and lets one large row go alone", () => {
  const batcher = new RowBatcher({ maxDocs: 100, maxBytes: row(1).length + 5 });
  const big = `{"index":{"_id":"9"}}\x02{"v": "${"x".repeat(100)}"}\n`;
  const batches = batcher.push(encoder.encode(row(1) + big + row(2)));
  const last = batcher.finish();
  assert.deepEqual(batches.map((b) => b.docs), [1, 1]);
  assert.equal(batches[1].body.length, big.length);
  assert.equal(last!.docs, 1);
});

Deno.test("RowBatcher refuses a row without a separator and a stream that ends mid-row", () => {
  const batcher = new RowBatcher({ maxDocs: 1, maxBytes: 1_000 });
  assert.throws(() => batcher.push(encoder.encode('{"id": 1}\n')), /no field separator/);
  const cutShort = new RowBatcher({ maxDocs: 5, maxBytes: 1_000 });
  cutShort.push(encoder.encode('{"index":{}}\x02{"id"'));
  assert.throws(() => cutShort.finish(), /ended inside a row/);
});
