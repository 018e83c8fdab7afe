import assert from "node:assert/strict";
import { backoffDelay, sleep } from "./backoff.ts";

Deno.test("backoffDelay() doubles from minMs up to maxMs", () => {
  const backoff = { minMs: 100, maxMs: 1_000, jitter: 0 };
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, backoff)), [100, 200, 400, 800, 1_000, 1_000]);
});

Deno.test("backoffDelay() takes up to the jitter share off each delay", () => {
  const backoff = { minMs: 1_000, maxMs: 1_000, jitter: 0.5 };
  assert.equal(backoffDelay(0, backoff, () => 0), 1_000);
  assert.equal(backoffDelay(0, backoff, () => 0.999999), 500);
});

Deno.test("sleep() rejects at once when its signal aborts", async () => {
  const controller = new AbortController();
  const started = Date.now();
  const pending = sleep(10_000, controller.signal);
  controller.abort(new Error("stopped"));
  await assert.rejects(pending, /stopped/);
  assert.ok(Date.now() - started < 5_000);
});
