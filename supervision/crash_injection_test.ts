import assert from "node:assert/strict";
import { parseCrashPlans } from "./crash_injection.ts";

Deno.test("parseCrashPlans() reads once and looping crashes, and refuses anything else", () => {
  assert.deepEqual(
    parseCrashPlans(" pipeline/router@300, pipeline/snapshot/public.t/reader-0@2* "),
    new Map([["pipeline/router", { at: 300, every: false }], ["pipeline/snapshot/public.t/reader-0", { at: 2, every: true }]]),
  );
  assert.deepEqual(parseCrashPlans(undefined), new Map());
  for (const bad of ["pipeline/router", "pipeline/router@0", "@3", "x@1**"]) {
    assert.throws(() => parseCrashPlans(bad), /is not path@n/);
  }
});
