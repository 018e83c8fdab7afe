import assert from "node:assert/strict";
import type { RowKey } from "./catalog.ts";
import { type LeafIdentity, leafIdentityGap, missingOldKey } from "./partition_identity.ts";

const name = { schema: "public", name: "p" };
const leaf = (replident: string, pk: string[] | null, ri: string[] | null): LeafIdentity => ({ name, replident, pk, ri });
const byKey: RowKey = { source: "primary_key", columns: ["id", "region"] };
const byRow: RowKey = { source: "replica_identity_full", columns: null };

Deno.test("leafIdentityGap: a partition's old rows must hold every column of the table's key", () => {
  assert.equal(leafIdentityGap(byKey, leaf("d", ["id", "region"], null)), null);
  assert.equal(leafIdentityGap(byKey, leaf("f", null, null)), null);
  assert.equal(leafIdentityGap(byRow, leaf("f", null, null)), null);
  // An identity index with more columns than the key still logs the key.
  assert.equal(leafIdentityGap(byKey, leaf("i", ["id", "region"], ["region", "code", "id"])), null);
  assert.match(leafIdentityGap(byKey, leaf("n", ["id", "region"], null))!, /NOTHING/);
  assert.match(leafIdentityGap(byKey, leaf("i", ["id", "region"], null))!, /index is gone/);
  assert.match(leafIdentityGap(byKey, leaf("i", ["id", "region"], ["code"]))!, /logs \(code\) .*not \(id, region\)/);
  assert.match(leafIdentityGap(byKey, leaf("d", null, null))!, /no primary key/);
  // A table identified by its whole row needs whole old rows.
  assert.match(leafIdentityGap(byRow, leaf("d", ["id"], null))!, /logs \(id\) .*not the whole row/);
});

Deno.test("missingOldKey: only an identity that logs no old key at all is missing one", () => {
  assert.equal(missingOldKey("f", null, null), null);
  assert.equal(missingOldKey("d", ["id"], null), null);
  // A USING INDEX identity logs its index's columns, whatever the primary key.
  assert.equal(missingOldKey("i", null, ["code"]), null);
  assert.equal(missingOldKey("n", ["id"], null), "nothing");
  assert.equal(missingOldKey("i", ["id"], null), "index_gone");
  assert.equal(missingOldKey("d", null, null), "no_key");
});
