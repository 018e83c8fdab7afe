import assert from "node:assert/strict";
import fc from "fast-check";
import { laneOf } from "../sinks/elasticsearch/bulk_body.ts";
import { segmentBounds } from "./segment_size.ts";

const sink = (maxDocs: number, concurrency: number, maxBytes = 5_000_000) => ({ batch: { maxDocs, maxBytes }, concurrency });
const source = (maxInFlightEvents: number, maxInFlightBytes = 16_000_000) => ({ maxInFlightEvents, maxInFlightBytes });

Deno.test("segmentBounds gives each lane of the defaults nearly a full bulk request, and leaves room for a second segment", () => {
  assert.deepEqual(segmentBounds([sink(2_000, 2)], source(10_000)), { rows: 3_600, bytes: 8_000_000 });
  // The default in-flight bound holds two such segments: the second is read while the first is written.
  assert.deepEqual(segmentBounds([sink(2_000, 2)], source(8_000)), { rows: 3_600, bytes: 8_000_000 });
  // A smaller one halves the segment instead, and with it each lane's request.
  assert.deepEqual(segmentBounds([sink(2_000, 2)], source(5_000)), { rows: 2_500, bytes: 8_000_000 });
  // One lane has nothing to even out.
  assert.deepEqual(segmentBounds([sink(2_000, 1)], source(100_000)), { rows: 2_000, bytes: 5_000_000 });
  // The sink with the smallest requests decides.
  assert.equal(segmentBounds([sink(2_000, 4), sink(500, 2)], source(100_000)).rows, 900);
  assert.equal(segmentBounds([sink(10, 2)], source(1)).rows, 1);
});

Deno.test("segmentBounds: with documents hashed to lanes as the router does, a lane of a segment rarely needs a second request", () => {
  for (const concurrency of [2, 4, 8]) {
    const { rows } = segmentBounds([sink(2_000, concurrency)], source(1_000_000));
    let overflows = 0;
    let segments = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), (first) => {
        const perLane = new Array(concurrency).fill(0);
        for (let id = first; id < first + rows; id++) perLane[laneOf("items", JSON.stringify(String(id)), concurrency)]++;
        segments++;
        if (perLane.some((n) => n > 2_000)) overflows++;
        // Every lane still gets most of a request.
        assert.ok(perLane.every((n) => n > 1_500), `lanes ${perLane}`);
      }),
      { numRuns: 50 },
    );
    assert.equal(overflows, 0, `${overflows} of ${segments} segments overflowed a lane (concurrency ${concurrency})`);
  }
});
