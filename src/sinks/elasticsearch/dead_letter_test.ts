import assert from "node:assert/strict";
import { lsnFromBigInt } from "../../pg/lsn.ts";
import { encodeItems } from "./bulk_body.ts";
import { DEAD_LETTER_DOCUMENT_MAX_BYTES, deadLetter } from "./dead_letter.ts";

const context = { sink: "search", tableOf: (index: string) => index === "users" ? "public.users" : null, now: new Date(0) };

Deno.test("deadLetter: reads index, id and a 64-bit version from the item's own bytes", () => {
  const version = lsnFromBigInt(0xFFFF_FFFF_FFFF_FF01n);
  const batch = encodeItems([
    { index: "users", item: { action: "index", id: '"1"', version: lsnFromBigInt(5n), doc: '{"id": 1}' } },
    { index: "users", item: { action: "index", id: '"a\\"b"', version, doc: '{"id": "a\\"b", "n": 9007199254740993}' } },
    { index: "gone", item: { action: "delete", id: '"7"', version, doc: null } },
  ]);
  const second = deadLetter(batch, { item: 1, status: 400, reason: "400 document_parsing_exception" }, context);
  assert.equal(second.id, 'a"b');
  assert.equal(second.table, "public.users");
  assert.equal(second.commit_lsn, "FFFFFFFF/FFFFFF01");
  assert.equal(second.document, '{"id": "a\\"b", "n": 9007199254740993}');
  assert.equal(second.truncated, false);
  const third = deadLetter(batch, { item: 2, status: 400, reason: "x" }, context);
  assert.deepEqual([third.action, third.table, third.document, third.document_bytes], ["delete", null, null, 0]);
});

Deno.test("deadLetter: keeps the first 64 KiB of a large document and says it was cut", () => {
  const doc = `{"body": "${"é".repeat(DEAD_LETTER_DOCUMENT_MAX_BYTES)}"}`;
  const batch = encodeItems([{ index: "users", item: { action: "index", id: '"1"', version: lsnFromBigInt(1n), doc } }]);
  const entry = deadLetter(batch, { item: 0, status: 413, reason: "413" }, context);
  assert.equal(entry.truncated, true);
  assert.equal(entry.document_bytes, new TextEncoder().encode(doc).length);
  assert.ok(new TextEncoder().encode(entry.document!).length <= DEAD_LETTER_DOCUMENT_MAX_BYTES + 2);
  assert.ok(doc.startsWith(entry.document!.replace(/\uFFFD$/, "")));
});

Deno.test("deadLetter: an action line that is not ours is an error, not a made-up entry", () => {
  const body = new TextEncoder().encode('{"update":{"_index":"users","_id":"1"}}\n{}\n');
  assert.throws(
    () => deadLetter({ body, offsets: new Uint32Array([0]), docs: 1 }, { item: 0, status: 400, reason: "" }, context),
    /unexpected bulk action line/,
  );
});
