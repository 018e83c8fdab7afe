import assert from "node:assert/strict";
import { tableChangeError, tableChanges } from "./table_watch.ts";

const items = { oid: 16_400, name: { schema: "public", name: "items" }, key: '["id"]' };
const orders = { oid: 3_000_000_000, name: { schema: "shop", name: "orders" }, key: "null" };

Deno.test("table watch: unchanged tables are no change", () => {
  assert.deepEqual(tableChanges([items, orders], new Map([[items.oid, items], [orders.oid, orders]])), []);
});

Deno.test("table watch: a new name or schema is a rename, a missing OID a drop, another key a key change", () => {
  const archived = { ...orders, name: { schema: "archive", name: "orders" } };
  assert.deepEqual(tableChanges([items, orders], new Map([[orders.oid, archived]])), [
    { kind: "dropped", oid: items.oid, name: items.name },
    { kind: "renamed", oid: orders.oid, from: orders.name, to: archived.name },
  ]);
  const rekeyed = { ...archived, key: '["region","id"]' };
  assert.deepEqual(tableChanges([orders], new Map([[orders.oid, rekeyed]])), [
    { kind: "renamed", oid: orders.oid, from: orders.name, to: archived.name },
    { kind: "rekeyed", oid: orders.oid, name: archived.name, from: "null", to: '["region","id"]' },
  ]);
});

Deno.test("table watch: a key change stops either plugin, to restart on its own", () => {
  const change = { kind: "rekeyed", oid: items.oid, name: items.name, from: '["id"]', to: '["sku"]' } as const;
  for (const plugin of ["pgoutput", "wal2json"] as const) {
    const error = tableChangeError(change, plugin, "idx_items");
    assert.equal(error?.code, "table_key_changed");
    assert.equal(error?.retriable, true);
    assert.match(error!.message, /the key of table public\.items changed while streaming \(\["id"\] to \["sku"\]\)/);
  }
});

Deno.test("table watch: pgoutput follows a rename, wal2json stops with the name and index to configure", () => {
  const renamed = { kind: "renamed", oid: items.oid, from: items.name, to: { schema: "public", name: "goods" } } as const;
  assert.equal(tableChangeError(renamed, "pgoutput", "idx_items"), null);
  const error = tableChangeError(renamed, "wal2json", "idx_items");
  assert.equal(error?.code, "table_renamed");
  assert.equal(error?.retriable, false);
  assert.match(error!.message, /public\.items was renamed to public\.goods/);
  assert.match(error!.fix!, /"public\.goods" in the config with "index": "idx_items"/);
});

Deno.test("table watch: a drop stops either plugin, and the fix says a table made anew is copied again", () => {
  const dropped = { kind: "dropped", oid: 1, name: { schema: "public", name: "it's" } } as const;
  for (const plugin of ["pgoutput", "wal2json"] as const) {
    const error = tableChangeError(dropped, plugin, "idx");
    assert.equal(error?.code, "table_dropped");
    assert.match(error!.message, /was dropped while streaming; its documents stay in index idx/);
    assert.match(error!.fix!, /a table made anew as public\."it's" is copied again whole/);
  }
});
