/**
 * kafkajs 2.2.4 (the last release) writes every varint of every record through a temporary array
 * and `Buffer.from`, and every varlong through Long objects: in a profile of the engine publishing
 * 100,000 changes that was a quarter of its CPU. `speedUpKafkajsVarints` replaces the two encoder
 * methods with ones that write the same bytes straight into the encoder's buffer; a value outside
 * the fast path (a varlong beyond 32 bits) still takes kafkajs's own code. The test beside this
 * file holds both to kafkajs's bytes.
 */
import Encoder from "kafkajs/src/protocol/encoder.js";

interface KafkajsEncoder {
  buf: Uint8Array;
  offset: number;
  ensureAvailable(length: number): void;
  writeUVarInt(value: number): KafkajsEncoder;
  writeVarLong(value: unknown): KafkajsEncoder;
}

const prototype = (Encoder as unknown as { prototype: KafkajsEncoder }).prototype;
const original = { writeUVarInt: prototype.writeUVarInt, writeVarLong: prototype.writeVarLong };
let applied = false;

/** kafkajs's LEB128 loop, unchanged, writing into the buffer instead of an array. */
function writeUVarInt(this: KafkajsEncoder, value: number): KafkajsEncoder {
  this.ensureAvailable(5);
  const buf = this.buf;
  let at = this.offset;
  while ((value & 0xffffff80) !== 0) {
    buf[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[at++] = value & 0x7f;
  this.offset = at;
  return this;
}

/** For a 32-bit integer the 64-bit zigzag is the 32-bit one, unsigned: the same bytes as kafkajs's Long arithmetic. */
function writeVarLong(this: KafkajsEncoder, value: unknown): KafkajsEncoder {
  if (typeof value === "number" && (value | 0) === value) return writeUVarInt.call(this, ((value << 1) ^ (value >> 31)) >>> 0);
  return original.writeVarLong.call(this, value);
}

export function speedUpKafkajsVarints(): void {
  if (applied) return;
  applied = true;
  prototype.writeUVarInt = writeUVarInt;
  prototype.writeVarLong = writeVarLong;
}

/** For the test: kafkajs's own methods, to compare against. */
export const kafkajsOriginal = original;
export { Encoder as KafkajsEncoder };
