import assert from "node:assert/strict";
import type { TableDescription } from "../../pg/catalog.ts";
import { countFields, fieldMapping, indexMapping } from "./mapping.ts";

const scalar = (name: string, category = "S") => ({ kind: "scalar" as const, name, category });

Deno.test("fieldMapping() lets numbers and dates ignore what Elasticsearch cannot represent", () => {
  for (const name of ["int2", "int4", "int8", "float4", "float8", "numeric", "date", "timestamp", "timestamptz"]) {
    assert.equal(fieldMapping(scalar(name)).ignore_malformed, true, name);
  }
});

Deno.test("fieldMapping() keeps json, jsonb and unknown extension types opaque", () => {
  for (const name of ["json", "jsonb", "hstore", "some_extension_type"]) {
    assert.deepEqual(fieldMapping(scalar(name)), { type: "object", enabled: false }, name);
  }
});

Deno.test("fieldMapping() maps arrays as their element and composites as objects", () => {
  assert.deepEqual(fieldMapping({ kind: "array", element: { kind: "array", element: scalar("int4") } }), {
    type: "integer",
    ignore_malformed: true,
  });
  const address = fieldMapping({
    kind: "composite",
    name: "address",
    fields: [{ name: "street", type: scalar("text") }, { name: "no", type: scalar("int4") }],
  });
  assert.equal(address.type, "object");
  assert.equal(address.dynamic, false);
  assert.deepEqual(Object.keys(address.properties as object), ["street", "no"]);
});

Deno.test("indexMapping() skips column names Elasticsearch would read as paths or metadata", () => {
  const table: TableDescription = {
    name: { schema: "public", name: "t" },
    oid: 1,
    replicaIdentity: "default",
    key: { source: "primary_key", columns: ["id"] },
    columns: ["id", "a.b", "_id", "ok"].map((name) => ({ name, typeOid: 23, typeName: "integer", type: scalar("int4") })),
  };
  const mapping = indexMapping(table);
  assert.equal(mapping.dynamic, false);
  assert.deepEqual(Object.keys(mapping.properties), ["id", "ok"]);
  assert.equal(countFields(mapping), 2);
});
