import assert from "node:assert/strict";
import fc from "fast-check";
import { supersededBy } from "./superseded.ts";

/** A bulk item as the router has it: index, `_id`, action and version (versions never go down along the stream). */
interface Item {
  readonly index: string;
  readonly id: string;
  readonly action: "index" | "delete";
  readonly version: number;
}

const items = fc.array(
  fc.record({
    index: fc.constantFrom("a", "b"),
    // Few ids, so that documents repeat; "1" and '"1"' are different `_id`s.
    id: fc.constantFrom("1", '"1"', "2", '[1,"x"]', "~ab"),
    action: fc.constantFrom("index" as const, "delete" as const),
    // The items of one transaction share its commit LSN.
    sameTransaction: fc.boolean(),
  }),
  { maxLength: 60 },
).map((raw) => {
  let version = 1;
  return raw.map(({ sameTransaction, ...item }): Item => ({ ...item, version: sameTransaction ? version : ++version }));
});

/** What Elasticsearch holds after the items, applied in order with `external_gte`. */
function apply(list: readonly Item[]): Map<string, string> {
  const store = new Map<string, { version: number; state: string }>();
  for (const { index, id, action, version } of list) {
    const key = `${index}\u0000${id}`;
    const now = store.get(key);
    if (now && now.version > version) continue;
    store.set(key, { version, state: action === "index" ? `doc@${version}` : `deleted@${version}` });
  }
  return new Map([...store].map(([key, { state }]) => [key, state]));
}

Deno.test("supersededBy keeps the last item of each document, and the rest name it", () => {
  fc.assert(fc.property(items, (list) => {
    const replacedBy = supersededBy(list.length, (i) => list[i].index, (i) => list[i].id);
    const lastOf = new Map<string, number>();
    list.forEach((item, i) => lastOf.set(`${item.index}\u0000${item.id}`, i));
    const repeats = lastOf.size < list.length;
    assert.equal(replacedBy === null, !repeats);
    list.forEach((item, i) => {
      const last = lastOf.get(`${item.index}\u0000${item.id}`)!;
      assert.equal(replacedBy?.[i] ?? -1, last === i ? -1 : last, `item ${i}`);
    });
  }));
});

Deno.test("writing only the items not superseded leaves Elasticsearch as writing all of them does", () => {
  fc.assert(fc.property(items, (list) => {
    const replacedBy = supersededBy(list.length, (i) => list[i].index, (i) => list[i].id);
    const kept = list.filter((_, i) => (replacedBy?.[i] ?? -1) === -1);
    assert.deepEqual(apply(kept), apply(list));
  }));
});

Deno.test("supersededBy: documents of two indices with one _id are two documents", () => {
  const list = [["a", "1"], ["b", "1"], ["a", "1"], ["a", "2"], ["b", "1"], ["a", "1"]];
  const replacedBy = supersededBy(list.length, (i) => list[i][0], (i) => list[i][1]);
  assert.deepEqual([...replacedBy!], [5, 4, 5, -1, -1, -1]);
  assert.equal(supersededBy(3, (i) => ["a", "b", "a"][i], (i) => ["1", "1", "2"][i]), null);
  assert.equal(supersededBy(0, () => "a", () => "1"), null);
});

Deno.test("supersededBy: thousands of items, their documents' slots colliding and wrapping around the table", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 1_500 })), {
        minLength: 600,
        maxLength: 4_000,
      }),
      (pairs) => {
        const list = pairs.map(([index, n]) => [index, JSON.stringify(String(n))]);
        const replacedBy = supersededBy(list.length, (i) => list[i][0], (i) => list[i][1]);
        const lastOf = new Map<string, number>();
        list.forEach(([index, id], i) => lastOf.set(`${index}\u0000${id}`, i));
        const expected = list.map(([index, id], i) =>
          lastOf.get(`${index}\u0000${id}`) === i ? -1 : lastOf.get(`${index}\u0000${id}`)!
        );
        assert.deepEqual(replacedBy === null ? list.map(() => -1) : [...replacedBy], expected);
      },
    ),
    { numRuns: 30 },
  );
});
