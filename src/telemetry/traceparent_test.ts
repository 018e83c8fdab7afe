import assert from "node:assert/strict";
import fc from "fast-check";
import type { Lsn } from "../pg/lsn.ts";
import { ChangeSpans, hexId, traceparentOf } from "./change_spans.ts";
import { parseTraceparent } from "./traceparent.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

Deno.test("parseTraceparent: the trace id, the parent's span id and the sampled flag", () => {
  const sampled = parseTraceparent(`00-${TRACE}-${SPAN}-01`)!;
  assert.equal(hexId(sampled.ids, 0, 16), TRACE);
  assert.equal(hexId(sampled.ids, 16, 8), SPAN);
  assert.equal(sampled.sampled, true);
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-00`)!.sampled, false);
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-03`)!.sampled, true, "other flags beside sampled");
  // A later version may carry more fields.
  assert.equal(hexId(parseTraceparent(`01-${TRACE}-${SPAN}-01-abcd`)!.ids, 0, 16), TRACE);
});

Deno.test("parseTraceparent: anything else is no parent", () => {
  for (
    const text of [
      null,
      undefined,
      "",
      `00-${TRACE}-${SPAN}`,
      `00-${TRACE}-${SPAN}-01-extra`, // version 00 has four fields
      `ff-${TRACE}-${SPAN}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${"0".repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${"0".repeat(16)}-01`,
      `00_${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-0g`,
      `01-${TRACE}-${SPAN}-01x`,
      `0x-${TRACE}-${SPAN}-01`,
    ]
  ) assert.equal(parseTraceparent(text), null, String(text));
});

Deno.test("parseTraceparent: the header traceparentOf writes for a change reads back as its trace and span", async () => {
  const spans = new ChangeSpans({ url: "http://127.0.0.1:9/v1/traces", serviceName: "test", samplingRatio: 1 });
  const attributes = { table: "t", op: "insert", commitLsn: 1n as Lsn, keyJson: '"1"', plugin: "pgoutput" };
  for (let i = 0; i < 5_000; i++) {
    const change = spans.start(attributes, 0, 0, 0);
    const parsed = parseTraceparent(traceparentOf(change))!;
    assert.equal(hexId(parsed.ids, 0, 24), hexId(change.idPool, change.idAt, 24));
    assert.equal(parsed.sampled, true);
  }
  await spans.shutdown(100);
});

Deno.test("parseTraceparent: any valid header (property)", () => {
  const hex = (bytes: number) =>
    fc.uint8Array({ minLength: bytes, maxLength: bytes }).filter((a) => a.some((b) => b !== 0)).map((a) => hexId(a, 0, bytes));
  fc.assert(fc.property(hex(16), hex(8), fc.integer({ min: 0, max: 255 }), (trace, span, flags) => {
    const parsed = parseTraceparent(`00-${trace}-${span}-${flags.toString(16).padStart(2, "0")}`)!;
    assert.equal(hexId(parsed.ids, 0, 16), trace);
    assert.equal(hexId(parsed.ids, 16, 8), span);
    assert.equal(parsed.sampled, (flags & 1) === 1);
  }));
});
