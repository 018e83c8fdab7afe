import assert from "node:assert/strict";
import { columnsChangedSince, columnSignature, type PgType, type TableDescription } from "./catalog.ts";

const int4: PgType = { kind: "scalar", name: "int4", category: "N" };
const text: PgType = { kind: "scalar", name: "text", category: "S" };
const point = (fields: [string, PgType][]): PgType => ({
  kind: "composite",
  name: "point3",
  fields: fields.map(([name, type]) => ({ name, type })),
});

function table(columns: [string, number, PgType][]): TableDescription {
  return {
    name: { schema: "public", name: "shapes" },
    oid: 1,
    columns: columns.map(([name, typeOid, type]) => ({ name, typeOid, type, typeName: name })),
    key: { source: "primary_key", columns: ["id"] },
    replicaIdentity: "default",
  };
}

const before = table([["id", 23, int4], ["p", 9000, point([["x", int4], ["y", int4]])], ["tags", 9001, {
  kind: "array",
  element: point([["x", int4], ["y", int4]]),
}]]);

Deno.test("columnSignature: columns of other types are written as before composites were", () => {
  assert.equal(columnSignature(table([["id", 23, int4], ["t", 25, text]])), '[["id",23],["t",25]]');
});

Deno.test("columnsChangedSince: an ALTER TYPE of a column's composite type (or of an array's) is a change; the same attributes are not", () => {
  const recorded = columnSignature(before);
  assert.equal(columnsChangedSince(recorded, before), false);
  // The type keeps its OID: only its attributes tell.
  const renamed = table([["id", 23, int4], ["p", 9000, point([["x", int4], ["depth", int4]])], [
    "tags",
    9001,
    { kind: "array", element: point([["x", int4], ["y", int4]]) },
  ]]);
  assert.equal(columnsChangedSince(recorded, renamed), true);
  const arrayChanged = table([["id", 23, int4], ["p", 9000, point([["x", int4], ["y", int4]])], [
    "tags",
    9001,
    { kind: "array", element: point([["x", int4], ["y", text]]) },
  ]]);
  assert.equal(columnsChangedSince(recorded, arrayChanged), true);
  assert.equal(columnsChangedSince(recorded, table([["id", 23, int4], ["p", 9000, point([["x", int4], ["y", int4]])]])), true);
});

Deno.test("columnsChangedSince: a signature recorded before composites were in it compares by name and type only", () => {
  // What an earlier version recorded for the same table: no attributes.
  const older = JSON.stringify([["id", 23], ["p", 9000], ["tags", 9001]]);
  assert.equal(columnsChangedSince(older, before), false);
  assert.equal(columnsChangedSince(JSON.stringify([["id", 23], ["p", 9002], ["tags", 9001]]), before), true);
  assert.equal(columnsChangedSince(JSON.stringify([["id", 23], ["p", 9000]]), before), true);
  assert.equal(columnsChangedSince("not json", before), true);
});
