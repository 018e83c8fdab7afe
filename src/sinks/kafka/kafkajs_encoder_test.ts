import assert from "node:assert/strict";
import fc from "fast-check";
import { KafkajsEncoder, kafkajsOriginal, speedUpKafkajsVarints } from "./kafkajs_encoder.ts";

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

Deno.test("speedUpKafkajsVarints() writes kafkajs's bytes for every varint and varlong", () => {
  speedUpKafkajsVarints();
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
