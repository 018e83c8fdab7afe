import assert from "node:assert/strict";
import fc from "fast-check";
import type { Lsn } from "../pg/lsn.ts";
import { CheckpointTracker } from "./tracker.ts";

const lsn = (n: number) => BigInt(n) as Lsn;

Deno.test("CheckpointTracker advances only over a contiguous prefix of acked segments", () => {
  const tracker = new CheckpointTracker(lsn(100));
  tracker.open(1, lsn(110));
  tracker.open(2, null);
  tracker.open(3, lsn(130));
  assert.equal(tracker.ack(3), null);
  assert.equal(tracker.flushed, 100n);
  assert.equal(tracker.ack(2), null);
  assert.equal(tracker.ack(1), 130n);
  assert.equal(tracker.pending, 0);
});

Deno.test("CheckpointTracker refuses unknown and repeated acks, and a position that moves back", () => {
  const tracker = new CheckpointTracker(lsn(100));
  tracker.open(1, lsn(90));
  assert.throws(() => tracker.ack(7), /never opened/);
  assert.throws(() => tracker.ack(1), /move back/);
  const other = new CheckpointTracker(lsn(0));
  other.open(1, lsn(5));
  other.ack(1);
  assert.throws(() => other.ack(1), /acked twice/);
  assert.throws(() => other.open(1, null), /opened after/);
});

Deno.test("CheckpointTracker never reports a position whose earlier segments are not all acked (any ack order)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }).chain((n) =>
        fc.tuple(fc.constant(n), fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }))
      ),
      ([n, order]) => {
        const tracker = new CheckpointTracker(lsn(0));
        for (let id = 0; id < n; id++) tracker.open(id, id % 3 === 0 ? null : lsn(10 * (id + 1)));
        const acked = new Set<number>();
        for (const id of order) {
          tracker.ack(id);
          acked.add(id);
          let prefix = 0;
          while (acked.has(prefix)) prefix++;
          let expected = 0;
          for (let i = 0; i < prefix; i++) if (i % 3 !== 0) expected = 10 * (i + 1);
          assert.equal(tracker.flushed, BigInt(expected));
        }
      },
    ),
  );
});
