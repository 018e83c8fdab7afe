import assert from "node:assert/strict";
import fc from "fast-check";
import { pairKey } from "./pair_key.ts";

Deno.test("pairKey is the two strings joined by NUL, asked once or many times", () => {
  fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
    assert.equal(pairKey(a, b), `${a}\u0000${b}`);
    assert.equal(pairKey(a, b), `${a}\u0000${b}`);
  }));
});

Deno.test("pairKey stays right past its memo's bound", () => {
  // More pairs than the memo keeps, over many first strings and many of one.
  for (let i = 0; i < 20_000; i++) assert.equal(pairKey(`s${i}`, "t"), `s${i}\u0000t`);
  for (let i = 0; i < 20_000; i++) assert.equal(pairKey("s", `t${i}`), `s\u0000t${i}`);
  assert.equal(pairKey("s0", "t"), "s0\u0000t");
  assert.equal(pairKey("s", "t0"), "s\u0000t0");
  assert.equal(pairKey("s19999", "t"), "s19999\u0000t");
});
