import assert from "node:assert/strict";
import type { TableDescription } from "../pg/catalog.ts";
import { type ColumnValue, UNCHANGED } from "./change.ts";
import { MessageRow } from "./message_row.ts";
import { TableRenderer } from "./render.ts";

const table: TableDescription = {
  name: { schema: "public", name: "t" },
  oid: 16_401,
  columns: [
    { name: "id", type: { kind: "scalar", name: "int4", category: "N" }, typeOid: 23, typeName: "integer" },
    { name: "body", type: { kind: "scalar", name: "text", category: "S" }, typeOid: 25, typeName: "text" },
  ],
  key: { source: "primary_key", columns: ["id"] },
  replicaIdentity: "full",
};
const columns = ["id", "body"];
const types = [23, 25];
const encoder = new TextEncoder();

/** A pgoutput-like image: `body` left in the message as text, or a decoded value. */
function message(body: ColumnValue | "in message", keyOnly = false): MessageRow {
  const bytes = encoder.encode("7hello");
  const inMessage = body === "in message";
  return new MessageRow(columns, types, bytes, [0, 1, inMessage ? 1 : -1, inMessage ? 6 : -1], [
    undefined,
    inMessage ? undefined : body,
  ], keyOnly);
}

Deno.test("TableRenderer.wholeRow: only an old image with every column's value is the old row", () => {
  const renderer = new TableRenderer(table);
  assert.equal(renderer.wholeRow(message("in message")), true);
  assert.equal(renderer.wholeRow(message(null)), true, "a null is a value");
  assert.equal(renderer.wholeRow({ columns, types, values: ["7", "x"] }), true);
  // An unchanged TOAST value the WAL left out, in the message or decoded.
  assert.equal(renderer.wholeRow(message(UNCHANGED)), false);
  assert.equal(renderer.wholeRow({ columns, types, values: ["7", UNCHANGED] }), false);
  // pgoutput's old key: the other columns are null whatever the row had.
  assert.equal(renderer.wholeRow(message("in message", true)), false);
  // wal2json's identity of the key's columns only, and a shape that is not the table's.
  assert.equal(renderer.wholeRow({ columns: ["id"], types: [23], values: ["7"] }), false);
  // (Decoders share one columns array per shape of names and types: another shape is another array.)
  assert.equal(renderer.wholeRow({ columns: ["id", "body"], types: [23, 1043], values: ["7", "x"] }), false);
});
