import assert from "node:assert/strict";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import Record from "kafkajs/src/protocol/recordBatch/record/v0/index.js";
import { RecordBatch } from "kafkajs/src/protocol/recordBatch/v0/index.js";
import { KafkajsEncoder, kafkajsOriginal, speedUpKafkajsEncoder } from "./kafkajs_encoder.ts";

type Write = "writeUVarInt" | "writeVarInt" | "writeVarLong";

/** The bytes one encoder method writes for `value`, with kafkajs's own varint methods or the engine's. */
function bytesOf(method: Write, value: unknown, own: boolean): number[] {
  // deno-lint-ignore no-explicit-any
  const encoder = new (KafkajsEncoder as any)();
  if (!own) {
    encoder.writeUVarInt = kafkajsOriginal.writeUVarInt;
    encoder.writeVarLong = kafkajsOriginal.writeVarLong;
  }
  encoder[method](value);
  return [...encoder.buffer];
}

const EDGES = [
  0,
  1,
  -1,
  63,
  64,
  -64,
  -65,
  127,
  128,
  2 ** 14,
  2 ** 21,
  2 ** 28 - 1,
  2 ** 30,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  2 ** 32,
];

Deno.test("speedUpKafkajsEncoder() writes kafkajs's bytes for every varint and varlong", () => {
  speedUpKafkajsEncoder();
  for (const method of ["writeUVarInt", "writeVarInt", "writeVarLong"] as const) {
    for (const value of EDGES) {
      assert.deepEqual(bytesOf(method, value, true), bytesOf(method, value, false), `${method}(${value})`);
    }
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (value) => {
      assert.deepEqual(bytesOf(method, value, true), bytesOf(method, value, false));
    }));
  }
  // Beyond 32 bits the varlong is kafkajs's own.
  for (const value of [2 ** 40, -(2 ** 45), Number.MAX_SAFE_INTEGER]) {
    assert.deepEqual(bytesOf("writeVarLong", value, true), bytesOf("writeVarLong", value, false), `writeVarLong(${value})`);
  }
  // deno-lint-ignore no-explicit-any
  assert.notEqual((KafkajsEncoder as any).prototype.writeUVarInt, kafkajsOriginal.writeUVarInt, "the patch is in place");
});

Deno.test("speedUpKafkajsEncoder() makes the same record batches as kafkajs, in memory that is not zeroed (property)", async () => {
  speedUpKafkajsEncoder();
  // deno-lint-ignore no-explicit-any
  const encoderClass = KafkajsEncoder as any;
  const patched = { ensureAvailable: encoderClass.prototype.ensureAvailable, nextPowerOfTwo: encoderClass.nextPowerOfTwo };
  const use = (methods: typeof patched) => {
    encoderClass.prototype.ensureAvailable = methods.ensureAvailable;
    encoderClass.nextPowerOfTwo = methods.nextPowerOfTwo;
  };
  // Pooled memory still holding other bytes: a byte the encoder skipped would show as a difference.
  Buffer.allocUnsafe(4000).fill(0xa5);
  const message = fc.record({
    key: fc.option(fc.string({ unit: "grapheme" }), { nil: null }),
    value: fc.uint8Array({ maxLength: 5_000 }).map((bytes) => Buffer.from(bytes)),
    headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }), fc.string({ unit: "grapheme", maxLength: 60 }), {
      maxKeys: 3,
    }),
  });
  // kafkajs's record and batch encoders, as its produce request uses them (untyped modules).
  const encodeRecord = Record as unknown as (record: object) => unknown;
  const encodeBatch = RecordBatch as unknown as (batch: object) => Promise<{ buffer: Buffer }>;
  const batchOf = async (messages: { key: string | null; value: Buffer; headers: { [name: string]: string } }[]) => {
    const records = messages.map((m, i) => encodeRecord({ ...m, offsetDelta: i, timestampDelta: i * 7 }));
    const batch = await encodeBatch({ records, firstTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_000_123 });
    return [...batch.buffer];
  };
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { maxLength: 40 }), async (messages) => {
        use(kafkajsOriginal);
        const theirs = await batchOf(messages);
        use(patched);
        assert.deepEqual(await batchOf(messages), theirs);
      }),
      { numRuns: 200 },
    );
  } finally {
    use(patched);
  }
  assert.equal(new encoderClass().buf.length, 0, "an encoder starts empty");
});
