import assert from "node:assert/strict";
import fc from "fast-check";
import { fields } from "../../test/helpers/otlp.ts";
import { ProtoWriter, utf8Size, varintSize } from "./otlp_proto.ts";

const encoder = new TextEncoder();

Deno.test("utf8Size counts what TextEncoder writes, lone surrogates (U+FFFD) and pairs included", () => {
  for (const text of ["", "a", "é", "✓", "😀", "\ud800", "\udc00", "\ud800x", "x\udbff", "\ud83d\ude00\ud83d", "\udc00\ud800"]) {
    assert.equal(utf8Size(text), encoder.encode(text).length, JSON.stringify(text));
  }
  fc.assert(fc.property(fc.string({ unit: "binary" }), (text) => utf8Size(text) === encoder.encode(text).length));
});

Deno.test("ProtoWriter: strings and varints read back by an independent wire-format reader", () => {
  fc.assert(fc.property(fc.string({ unit: "binary" }), fc.nat({ max: Number.MAX_SAFE_INTEGER }), (text, n) => {
    const out = new ProtoWriter(16); // grows as needed
    out.string(0x0a, text);
    out.reserve(11);
    out.byte(0x10);
    out.varint(n);
    const read = fields(out.view());
    assert.equal(read.length, 2);
    assert.deepEqual(read[0].value, encoder.encode(text));
    assert.equal(read[1].value, BigInt(n));
    assert.equal(varintSize(n), out.at - 1 - (1 + varintSize(encoder.encode(text).length) + encoder.encode(text).length));
  }));
});

Deno.test("ProtoWriter: millisecond times as exact fixed64 nanoseconds", () => {
  fc.assert(fc.property(fc.nat({ max: 2 ** 42 }), (ms) => {
    const out = new ProtoWriter(16);
    out.fixed64Millis(0x39, ms);
    assert.deepEqual(fields(out.view()), [{ field: 7, value: BigInt(ms) * 1_000_000n }]);
  }));
});
