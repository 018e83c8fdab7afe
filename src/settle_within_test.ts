import assert from "node:assert/strict";
import { settleWithin } from "./settle_within.ts";

Deno.test("settleWithin(): returns when the work settles, rejected or not, and at the bound when it never does", async () => {
  let started = performance.now();
  await settleWithin(Promise.resolve(1), 5_000);
  await settleWithin(Promise.reject(new Error("ignored")), 5_000);
  assert.ok(performance.now() - started < 1_000);
  started = performance.now();
  await settleWithin(new Promise(() => {}), 100);
  const waited = performance.now() - started;
  assert.ok(waited >= 90 && waited < 1_000, `${waited} ms`);
});
