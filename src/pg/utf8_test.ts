import assert from "node:assert/strict";
import fc from "fast-check";
import { isUtf8 } from "./utf8.ts";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const acceptedByDecoder = (bytes: Uint8Array) => {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
};

/** Bytes near the boundaries that matter: lead bytes, continuation bytes, their edges. */
const edgyByte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(
    0x00,
    0x7f,
    0x80,
    0x8f,
    0x90,
    0x9f,
    0xa0,
    0xbf,
    0xc0,
    0xc1,
    0xc2,
    0xdf,
    0xe0,
    0xed,
    0xef,
    0xf0,
    0xf4,
    0xf5,
    0xff,
  ),
);

Deno.test("isUtf8 accepts exactly what a strict TextDecoder accepts", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), fc.array(edgyByte, { maxLength: 12 }), (random, edgy) => {
      for (const bytes of [random, Uint8Array.from(edgy)]) {
        assert.equal(isUtf8(bytes, 0, bytes.length), acceptedByDecoder(bytes), JSON.stringify([...bytes]));
      }
    }),
    { numRuns: 20_000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (text) => {
      const bytes = new TextEncoder().encode(text);
      assert.equal(isUtf8(bytes, 0, bytes.length), true);
    }),
  );
});

Deno.test("isUtf8 looks only inside its range", () => {
  const bytes = Uint8Array.from([0xff, 0x41, 0xc3, 0xa9, 0xe2]);
  assert.equal(isUtf8(bytes, 1, 4), true);
  assert.equal(isUtf8(bytes, 1, 3), false); // é cut short
  assert.equal(isUtf8(bytes, 0, 2), false);
  assert.equal(isUtf8(bytes, 2, 5), false);
});
