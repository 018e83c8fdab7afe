import assert from "node:assert/strict";
import { Lanes } from "./lanes.ts";

/** Starts what the lanes start, as [write, id]. */
function starter(started: [string, number][]) {
  return (write: string, writeId: number) => started.push([write, writeId]);
}

Deno.test("Lanes: one write in flight per lane, in the order queued", () => {
  const lanes = new Lanes<string>(2);
  lanes.push("a1", 0);
  lanes.push("a2", 0);
  lanes.push("b1", 3);
  const started: [string, number][] = [];
  lanes.startIdle(starter(started));
  assert.deepEqual(started.map(([w]) => w), ["a1", "b1"]);
  lanes.startIdle(starter(started));
  assert.equal(started.length, 2, "busy lanes start nothing");
  assert.equal(lanes.settle(started[0][1]), "a1");
  assert.equal(lanes.settle(started[0][1]), undefined, "settled once");
  lanes.startIdle(starter(started));
  assert.deepEqual(started.slice(2).map(([w]) => w), ["a2"]);
  assert.equal(new Set(started.map(([, id]) => id)).size, 3, "each write its own id");
});

Deno.test("Lanes: a write without a lane goes where there is least work", () => {
  const lanes = new Lanes<string>(3);
  lanes.push("x", 0);
  lanes.push("y", 0);
  lanes.push("z", 1);
  lanes.push("free");
  const started: [string, number][] = [];
  lanes.startIdle(starter(started));
  assert.deepEqual(started.map(([w]) => w), ["x", "z", "free"]);
  lanes.push("next");
  // Lanes 1 and 2 had one write each, lane 0 two: the first of the least loaded, lane 1.
  lanes.settle(started[1][1]);
  lanes.startIdle(starter(started));
  assert.deepEqual(started.slice(3).map(([w]) => w), ["next"]);
});
