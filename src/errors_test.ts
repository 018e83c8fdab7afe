import assert from "node:assert/strict";
import { causes } from "./errors.ts";

Deno.test("causes: the error and those it wraps, outermost first, no deeper than asked", () => {
  const inner = new Error("inner");
  const middle = new Error("middle", { cause: inner });
  const outer = new Error("outer", { cause: middle });
  assert.deepEqual([...causes(outer)], [outer, middle, inner]);
  assert.deepEqual([...causes(outer, 2)], [outer, middle]);
  assert.deepEqual([...causes(undefined)], []);
  assert.deepEqual([...causes("text")], ["text"]);
});
