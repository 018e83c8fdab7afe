import assert from "node:assert/strict";
import type { Lsn } from "../pg/lsn.ts";
import { TypeWatch } from "./type_watch.ts";

Deno.test("TypeWatch: before any stamp, no change reads as current", () => {
  const watch = new TypeWatch();
  assert.equal(watch.seen, false);
  assert.equal(watch.current(100n as Lsn), false);
  assert.equal(watch.current(undefined), false);
});

Deno.test("TypeWatch: a change is current only if its transaction began at or after where the stamp was first seen", () => {
  const watch = new TypeWatch();
  assert.equal(watch.saw("a", "0/100"), true, "the first stamp is news");
  assert.equal(watch.current(0xffn as Lsn), false);
  assert.equal(watch.current(0x100n as Lsn), true);
  assert.equal(watch.current(undefined), false, "a change whose start is unknown is never trusted");
  // The same stamp later: nothing changed, and the position stays where it was first seen.
  assert.equal(watch.saw("a", "0/900"), false);
  assert.equal(watch.current(0x200n as Lsn), true);
  // Another stamp: the types changed somewhere before 0/A00.
  assert.equal(watch.saw("b", "0/A00"), true);
  assert.equal(watch.current(0x200n as Lsn), false);
  assert.equal(watch.current(0xa00n as Lsn), true);
});

Deno.test("TypeWatch: restored from a recorded stamp, the same stamp keeps the recorded position, another starts anew", () => {
  const same = new TypeWatch();
  same.restore({ stamp: "a", since: 0x100n as Lsn });
  assert.equal(same.saw("a", "0/900"), false);
  assert.equal(same.current(0x100n as Lsn), true, "a change logged since the recorded position reads from its values");
  assert.deepEqual(same.last, { stamp: "a", since: 0x100n });

  const changed = new TypeWatch();
  changed.restore({ stamp: "a", since: 0x100n as Lsn });
  assert.equal(changed.saw("b", "0/900"), true);
  assert.equal(changed.current(0x100n as Lsn), false);
  assert.deepEqual(changed.last, { stamp: "b", since: 0x900n });
});
