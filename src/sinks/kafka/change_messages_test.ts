import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson, type JsonNumber, parseExactJson } from "../../json/exact_json.ts";
import { formatLsn, type Lsn } from "../../pg/lsn.ts";
import { bulkActionPrefix } from "../../pg/snapshot_query.ts";
import type { BulkBatch } from "../../snapshot/row_batcher.ts";
import { encodeItems } from "../elasticsearch/bulk_body.ts";
import { changeMessages, MalformedBatch, truncateMessages, VERSION_HEADER } from "./change_messages.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const destinations = (index: string) => ({ topic: `cdc.${index}`, table: `public.${index}` });
/** Above 2^53: a version a JS number would round. */
const BIG = 18446744073709551615n as Lsn;
/** The transactions of runs of one version: the first has the largest xid; commit times to the microsecond (2026-11-24 10:00:00.123456). */
const MICROS = Date.UTC(2026, 10, 24, 10) * 1000 + 123_456;
const transactions = (runs: number) =>
  Array.from({ length: runs }, (_, i) => ({ xid: i === 0 ? 0xffff_ffff : 700 + i, commitMicros: MICROS + i }));
const streamed = (ops: string, runs: number, traceparents?: (string | null)[]) => ({
  ops,
  transactions: transactions(runs),
  ...(traceparents ? { traceparents } : {}),
});

Deno.test("changeMessages() makes one event per streamed item, exact, keyed by _id, grouped by topic", () => {
  const doc = '{"id": 1, "n": 12345678901234567890.123456789, "s": "é😀"}';
  const batch = encodeItems([
    { index: "a", item: { action: "index", id: '"1"', version: BIG, doc } },
    { index: "b", item: { action: "delete", id: JSON.stringify('[2, "x"]'), version: 7n as Lsn, doc: null } },
    { index: "a", item: { action: "index", id: '"3"', version: 8n as Lsn, doc: encoder.encode('{"id": 3}') } },
  ]);
  const topics = changeMessages(batch, destinations, streamed("udc", 3));
  assert.deepEqual(topics.map((t) => [t.topic, t.messages.length]), [["cdc.a", 2], ["cdc.b", 1]]);
  const [first, third] = topics[0].messages;
  const [second] = topics[1].messages;
  assert.equal(first.key, "1");
  assert.equal(second.key, '[2, "x"]');
  assert.equal(first.headers[VERSION_HEADER], "18446744073709551615");
  const value = decoder.decode(first.value);
  assert.equal(
    value,
    `{"op":"u","before":null,"after":${doc},"source":{"table":"public.a","index":"a","lsn":"FFFFFFFF/FFFFFFFF","version":"18446744073709551615","txid":4294967295,"ts_ms":1795514400123,"ts_us":1795514400123456,"snapshot":false}}`,
  );
  assert.match(
    decoder.decode(second.value),
    /^\{"op":"d","before":null,"after":null,"source":\{"table":"public.b","index":"b","lsn":"0\/7","version":"7","txid":701,"ts_ms":1795514400123,"ts_us":1795514400123457,"snapshot":false\}\}$/,
  );
  assert.match(decoder.decode(third.value), /^\{"op":"c","before":null,"after":\{"id": 3\},.*"txid":702,/);
  // A run of a version without its transaction, or a transaction left over, is the router's mistake: no guess.
  assert.throws(() => changeMessages(batch, destinations, streamed("udc", 2)), MalformedBatch);
  assert.throws(() => changeMessages(batch, destinations, streamed("udc", 4)), MalformedBatch);
  // A transaction the plugin gave no id or time for: null, not 0.
  const unknown = changeMessages(batch, destinations, {
    ops: "udc",
    transactions: Array(3).fill({ xid: 0, commitMicros: null }),
  });
  assert.match(decoder.decode(unknown[0].messages[0].value), /"txid":null,"ts_ms":null,"ts_us":null,"snapshot":false\}\}$/);
});

Deno.test("changeMessages() reads a snapshot's batch (action lines as the COPY writes them) as r events", () => {
  const line = (id: number) => `${bulkActionPrefix("a", BIG)}"${id}"}}\n{"id": ${id}}\n`;
  const body = encoder.encode(line(1) + line(22));
  const batch: BulkBatch = { body, offsets: new Uint32Array([0, line(1).length]), docs: 2 };
  const [{ topic, messages }] = changeMessages(batch, destinations);
  assert.equal(topic, "cdc.a");
  assert.deepEqual(messages.map((m) => m.key), ["1", "22"]);
  const envelope = parseExactJson(decoder.decode(messages[1].value)) as Record<string, unknown>;
  assert.equal(envelope.op, "r");
  assert.equal(canonicalJson(envelope.after as never), '{"id":22}');
  assert.deepEqual(
    Object.fromEntries(Object.entries(envelope.source as Record<string, unknown>).filter(([k]) => k !== "table")),
    {
      index: "a",
      lsn: "FFFFFFFF/FFFFFFFF",
      version: "18446744073709551615",
      txid: null,
      ts_ms: null,
      ts_us: null,
      snapshot: true,
    },
  );
});

// Action lines come from the engine's own writers; these are the ways one could be cut or wrong.
Deno.test("changeMessages() refuses a malformed batch instead of guessing", () => {
  const good = encodeItems([{ index: "a", item: { action: "index", id: '"1"', version: 1n as Lsn, doc: "{}" } }]);
  assert.throws(() => changeMessages(good, destinations, streamed("uu", 1)), MalformedBatch);
  const bodies = [
    '{"update":{"_index":"a","_id":"1","version":1}}\n{}\n',
    '{"index":{"_index":"a","_id":"1","version":1.5}}\n{}\n',
    '{"index":{"_index":"a","version":1}}\n{}\n',
    '{"index":{"_index":"a","_id":"1","version":1}}\n',
    '{"index":{"_index":"a","_id":1,"version":1}}\n{}\n',
    '{"index":{"_index":"a","_id":"1","version":"1"}}\n{}\n',
    '{"index":{"_index":"a","_id":"1","version":123456789012345678901}}\n{}\n',
  ];
  for (const text of bodies) {
    const batch: BulkBatch = { body: encoder.encode(text), offsets: new Uint32Array([0]), docs: 1 };
    assert.throws(() => changeMessages(batch, destinations), MalformedBatch, text);
  }
});

Deno.test("truncateMessages() puts one keyless t event on each partition", () => {
  const transaction = { xid: 9, commitMicros: MICROS };
  const { topic, messages } = truncateMessages(destinations("a"), "a", 42n as Lsn, [0, 1, 2], false, transaction);
  assert.equal(topic, "cdc.a");
  assert.deepEqual(messages.map((m) => [m.partition, m.key, m.headers[VERSION_HEADER]]), [[0, null, "42"], [1, null, "42"], [
    2,
    null,
    "42",
  ]]);
  assert.equal(
    decoder.decode(messages[0].value),
    '{"op":"t","before":null,"after":null,"source":{"table":"public.a","index":"a","lsn":"0/2A","version":"42","txid":9,"ts_ms":1795514400123,"ts_us":1795514400123456,"snapshot":false}}',
  );
  // The sweep after a copy: no transaction made it.
  const sweep = truncateMessages(destinations("a"), "a", 42n as Lsn, [0], true);
  assert.match(
    decoder.decode(sweep.messages[0].value),
    /"version":"42","txid":null,"ts_ms":null,"ts_us":null,"snapshot":true\}\}$/,
  );
});

Deno.test("changeMessages() reads back any key, index, version and document the writers put in a batch (property)", () => {
  const item = fc.record({
    index: fc.constantFrom("a", "b.c", "ü-x"),
    key: fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constantFrom('"_id":', '\\"', '"version":1}')),
    // Often one of two versions: runs of one version, and a version coming again after another.
    version: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(5n, 6n)),
    doc: fc.option(fc.jsonValue().map((v) => JSON.stringify({ v })), { nil: null }),
    op: fc.constantFrom("c", "u"),
    xid: fc.integer({ min: 0, max: 0xffff_ffff }),
    micros: fc.option(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), { nil: null }),
  });
  fc.assert(
    fc.property(fc.array(item, { minLength: 1, maxLength: 20 }), (items) => {
      const batch = encodeItems(items.map((i) => ({
        index: i.index,
        item: {
          action: i.doc === null ? "delete" as const : "index" as const,
          id: JSON.stringify(i.key),
          version: i.version as Lsn,
          doc: i.doc,
        },
      })));
      const ops = items.map((i) => i.doc === null ? "d" : i.op).join("");
      // A run of items with one version is of one transaction: its first item names it. A version may come again later.
      const runs: { xid: number; commitMicros: number | null }[] = [];
      const runOf = items.map((i, n) => {
        if (n === 0 || items[n - 1].version !== i.version) runs.push({ xid: i.xid, commitMicros: i.micros });
        return runs[runs.length - 1];
      });
      const read = changeMessages(batch, destinations, { ops, transactions: runs }).flatMap((t) =>
        t.messages.map((m) => ({ topic: t.topic, m }))
      );
      const byTopic = (topic: string) => items.filter((i) => `cdc.${i.index}` === topic);
      const expected = [...new Set(items.map((i) => `cdc.${i.index}`))].flatMap((topic) =>
        byTopic(topic).map((i) => ({ topic, i }))
      );
      assert.equal(read.length, expected.length);
      read.forEach(({ topic, m }, n) => {
        const { i } = expected[n];
        assert.equal(topic, `cdc.${i.index}`);
        assert.equal(m.key, i.key);
        const envelope = parseExactJson(decoder.decode(m.value)) as Record<string, unknown>;
        assert.equal(envelope.op, i.doc === null ? "d" : i.op);
        assert.equal(
          canonicalJson(envelope.after as never),
          i.doc === null ? "null" : canonicalJson(parseExactJson(i.doc)),
        );
        const source = envelope.source as Record<string, unknown>;
        assert.equal(source.version, i.version.toString());
        assert.equal(source.lsn, formatLsn(i.version as Lsn));
        assert.equal(source.index, i.index);
        const transaction = runOf[items.indexOf(i)];
        const text = (value: unknown) => value === null ? null : (value as JsonNumber).text;
        assert.equal(text(source.txid), transaction.xid === 0 ? null : String(transaction.xid));
        const micros = transaction.commitMicros;
        assert.equal(text(source.ts_us), micros === null ? null : String(micros));
        // Milliseconds rounded down, also before 1970: computed apart from the writer, in bigint.
        const ms = micros === null ? null : BigInt(micros) / 1000n - (micros < 0 && micros % 1000 !== 0 ? 1n : 0n);
        assert.equal(text(source.ts_ms), ms === null ? null : String(ms));
        assert.equal(m.headers[VERSION_HEADER], i.version.toString());
      });
    }),
  );
});

Deno.test("changeMessages() puts each traced change's traceparent in its message's headers, and none for the others", () => {
  const batch = encodeItems(
    [1, 2].map((n) => ({ index: "a", item: { action: "index" as const, id: `"${n}"`, version: 3n as Lsn, doc: "{}" } })),
  );
  const traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const [{ messages }] = changeMessages(batch, destinations, streamed("cu", 1, [traced, null]));
  assert.deepEqual(messages.map((m) => m.headers), [{ [VERSION_HEADER]: "3", traceparent: traced }, { [VERSION_HEADER]: "3" }]);
  assert.throws(() => changeMessages(batch, destinations, streamed("cu", 1, [traced])), MalformedBatch);
});

Deno.test("changeMessages() writes each item's old row as its before, text or bytes, and null for the others", () => {
  const batch = encodeItems([
    { index: "a", item: { action: "index", id: '"1"', version: 3n as Lsn, doc: '{"id": 1, "v": "new"}' } },
    { index: "a", item: { action: "delete", id: '"2"', version: 3n as Lsn, doc: null } },
    { index: "a", item: { action: "index", id: '"3"', version: 3n as Lsn, doc: '{"id": 3}' } },
  ]);
  const befores = ['{"id": 1, "v": "old é"}', encoder.encode('{"id": 2, "v": "gone"}'), null];
  const [{ messages }] = changeMessages(batch, destinations, { ...streamed("udc", 1), befores });
  const envelopes = messages.map((m) => parseExactJson(decoder.decode(m.value)) as Record<string, unknown>);
  assert.deepEqual(envelopes.map((e) => Object.keys(e)), Array(3).fill(["op", "before", "after", "source"]));
  assert.deepEqual(envelopes.map((e) => e.before === null ? null : canonicalJson(e.before as never)), [
    '{"id":1,"v":"old é"}',
    '{"id":2,"v":"gone"}',
    null,
  ]);
  assert.equal(canonicalJson(envelopes[0].after as never), '{"id":1,"v":"new"}');
  assert.equal(envelopes[1].after, null);
  assert.throws(() => changeMessages(batch, destinations, { ...streamed("udc", 1), befores: [null] }), MalformedBatch);
});
