import assert from "node:assert/strict";
import { Lanes } from "./lanes.ts";

Deno.test("Lanes: one write in flight per lane, in the order queued", () => {
  const lanes = new Lanes<string>(2);
  lanes.push("a1", 0);
  lanes.push("a2", 0);
  lanes.push("b1", 3);
  const started: [string, number][] = [];
  const start = (write: string, lane: number) => started.push([write, lane]);
  lanes.startIdle(start);
  assert.deepEqual(started, [["a1", 0], ["b1", 1]]);
  lanes.startIdle(start);
  assert.equal(started.length, 2, "busy lanes start nothing");
  lanes.settle(0);
  lanes.startIdle(start);
  assert.deepEqual(started.slice(2), [["a2", 0]]);
});

Deno.test("Lanes: a write without a lane goes where there is least work", () => {
  const lanes = new Lanes<string>(3);
  lanes.push("x", 0);
  lanes.push("y", 0);
  lanes.push("z", 1);
  lanes.push("free");
  const started: [string, number][] = [];
  lanes.startIdle((write, lane) => started.push([write, lane]));
  assert.deepEqual(started, [["x", 0], ["z", 1], ["free", 2]]);
  lanes.push("next");
  lanes.settle(1);
  lanes.startIdle((write, lane) => started.push([write, lane]));
  // Lanes 1 and 2 had one write each, lane 0 two: the first of the least loaded.
  assert.deepEqual(started.slice(3), [["next", 1]]);
});
