import assert from "node:assert/strict";
import { formatLsn, lsnFromBigInt, parseLsn } from "./lsn.ts";

Deno.test("parseLsn() reads both halves as one 64-bit value", () => {
  assert.equal(parseLsn("16/3002D50"), (0x16n << 32n) | 0x3002d50n);
  assert.equal(parseLsn("FFFFFFFF/FFFFFFFF"), 0xffffffffffffffffn);
  assert.equal(parseLsn("0/0"), 0n);
});

Deno.test("formatLsn() is the inverse of parseLsn()", () => {
  for (const text of ["0/0", "16/3002D50", "FFFFFFFF/FFFFFFFF", "1/0"]) {
    assert.equal(formatLsn(parseLsn(text)), text);
  }
});

Deno.test("parseLsn() rejects a value without a slash or with too many digits", () => {
  for (const bad of ["16", "16/", "/1", "123456789/0", "g/0", " 0/0"]) {
    assert.throws(() => parseLsn(bad), /not an LSN/);
  }
  assert.throws(() => lsnFromBigInt(-1n), /out of range/);
});
