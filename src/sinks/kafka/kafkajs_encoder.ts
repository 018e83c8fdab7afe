/**
 * kafkajs 2.2.4 (the last release) writes every varint of every record through a temporary array
 * and `Buffer.from`, and every varlong through Long objects: in a profile of the engine publishing
 * 100,000 changes that was a quarter of its CPU. `speedUpKafkajsEncoder` replaces the two encoder
 * methods with ones that write the same bytes straight into the encoder's buffer; a value outside
 * the fast path (a varlong beyond 32 bits) still takes kafkajs's own code.
 *
 * It also changes how encoders get memory. kafkajs makes an encoder per record and per header,
 * each starting with a zero-filled 512-byte `Buffer.alloc` (an ArrayBuffer of its own, 1.3 us),
 * and a record outgrows it: another. Here an encoder starts empty and grows into
 * `Buffer.allocUnsafe` memory (slices of a shared pool below 4 kB, 0.2 us), which needs no zeros:
 * an encoder's bytes are only ever read up to its offset, all written. The test beside this file
 * holds the bytes to kafkajs's own.
 */
import { Buffer } from "node:buffer";
import Encoder from "kafkajs/src/protocol/encoder.js";

interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  ensureAvailable(length: number): void;
  writeUVarInt(value: number): KafkajsEncoder;
  writeVarLong(value: unknown): KafkajsEncoder;
}

const encoderClass = Encoder as unknown as { prototype: KafkajsEncoder; nextPowerOfTwo(value: number): number };
const prototype = encoderClass.prototype;
const original = {
  writeUVarInt: prototype.writeUVarInt,
  writeVarLong: prototype.writeVarLong,
  ensureAvailable: prototype.ensureAvailable,
  nextPowerOfTwo: encoderClass.nextPowerOfTwo,
};
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

/** Room for `length` more bytes: at least double, in memory that is not zeroed (every byte is written before it is read). */
function ensureAvailable(this: KafkajsEncoder, length: number): void {
  const needed = this.offset + length;
  if (needed <= this.buf.length) return;
  const grown = Buffer.allocUnsafe(Math.max(64, 2 * this.buf.length, 1 << (32 - Math.clz32(needed - 1))));
  this.buf.copy(grown, 0, 0, this.offset);
  this.buf = grown;
}

export function speedUpKafkajsEncoder(): void {
  if (applied) return;
  applied = true;
  prototype.writeUVarInt = writeUVarInt;
  prototype.writeVarLong = writeVarLong;
  prototype.ensureAvailable = ensureAvailable;
  // Only the constructor asks it now (`Buffer.alloc(nextPowerOfTwo(511))`): an encoder starts empty.
  encoderClass.nextPowerOfTwo = () => 0;
}

/** For the test: kafkajs's own methods, to compare against. */
export const kafkajsOriginal = original;
export { Encoder as KafkajsEncoder };
