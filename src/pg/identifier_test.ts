import assert from "node:assert/strict";
import { displayName, parseQualifiedName, quoteIdent, quoteQualified } from "./identifier.ts";

Deno.test("parseQualifiedName() defaults the schema to public and folds unquoted names", () => {
  assert.deepEqual(parseQualifiedName("Users"), { schema: "public", name: "users" });
  assert.deepEqual(parseQualifiedName("Sales.Orders"), { schema: "sales", name: "orders" });
});

Deno.test("parseQualifiedName() keeps quoted identifiers exactly, with dots, spaces and quotes", () => {
  assert.deepEqual(parseQualifiedName('"My Schema"."Order.Items"'), { schema: "My Schema", name: "Order.Items" });
  assert.deepEqual(parseQualifiedName('"a""b";drop'), { error: 'has unexpected ";" after an identifier' });
  assert.deepEqual(parseQualifiedName('s."x""y"'), { schema: "s", name: 'x"y' });
});

Deno.test("parseQualifiedName() explains what is wrong with a bad name", () => {
  for (const bad of ["", "a.", ".a", "a.b.c", "my table", '"open', '""', "a-b"]) {
    const result = parseQualifiedName(bad);
    assert.ok("error" in result, `expected an error for ${JSON.stringify(bad)}`);
  }
  const spaced = parseQualifiedName("my table");
  assert.ok("error" in spaced && spaced.error.includes("quote it"));
});

Deno.test("quoteIdent() doubles quotes so a name can never end the identifier", () => {
  assert.equal(quoteIdent('x"; DROP TABLE t; --'), '"x""; DROP TABLE t; --"');
  assert.equal(quoteQualified({ schema: "public", name: "Users" }), '"public"."Users"');
});

Deno.test("displayName() quotes only where needed", () => {
  assert.equal(displayName({ schema: "public", name: "users" }), "public.users");
  assert.equal(displayName({ schema: "My Schema", name: "t" }), '"My Schema".t');
});
