import assert from "node:assert/strict";
import { copiesAgain, tableChangeError, tableChanges } from "./table_watch.ts";

const items = { oid: 16_400, name: { schema: "public", name: "items" }, key: '["id"]', leaves: null };
const orders = { oid: 3_000_000_000, name: { schema: "shop", name: "orders" }, key: "null", leaves: null };
const events = { oid: 16_500, name: { schema: "public", name: "events" }, key: '["id","at"]', leaves: [16_510, 3_000_000_001] };

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

Deno.test("table watch: partitions attached or created, detached or dropped are a change of the partitioned table", () => {
  assert.deepEqual(tableChanges([events], new Map([[events.oid, { ...events, leaves: [3_000_000_001, 16_510] }]])), []);
  const now = { ...events, leaves: [16_510, 16_520, 16_530] };
  assert.deepEqual(tableChanges([events], new Map([[events.oid, now]])), [
    { kind: "repartitioned", oid: events.oid, name: events.name, attached: [16_520, 16_530], detached: [3_000_000_001] },
  ]);
});

Deno.test("table watch: a partition change restarts either plugin on its own, saying what is copied again and what stays", () => {
  const created = { kind: "repartitioned", oid: events.oid, name: events.name, attached: [16_520], detached: [] } as const;
  for (const plugin of ["pgoutput", "wal2json"] as const) {
    const error = tableChangeError(created, plugin, "idx_events");
    assert.equal(error?.code, "table_partitions_changed");
    assert.equal(error?.retriable, true);
    assert.equal(
      error!.message,
      "the partitions of table public.events changed while streaming (1 attached or created): the stream restarts with them as they are now",
    );
  }
  assert.equal(copiesAgain(created, "wal2json", []), false);
  const attached = tableChangeError(created, "pgoutput", "idx_events", ["public.events_2025"]);
  assert.match(
    attached!.message,
    /; public\.events_2025 held rows from before: public\.events is copied again into idx_events, and documents of rows it no longer holds are swept$/,
  );
  assert.equal(copiesAgain(created, "pgoutput", ["public.events_2025"]), true);
  const detached = { ...created, attached: [], detached: [16_510, 16_511] };
  const kept = tableChangeError(detached, "pgoutput", "idx_events");
  assert.match(kept!.message, /\(2 detached or dropped\): the stream restarts with them as they are now$/);
  assert.match(kept!.fix!, /documents of rows that were in a detached or dropped partition stay in idx_events/);
  assert.equal(copiesAgain(detached, "pgoutput", []), false);
  const swept = tableChangeError(detached, "wal2json", "idx_events");
  assert.match(swept!.message, /wal2json names only the partition, .*: public\.events is copied again into idx_events/);
  assert.equal(swept!.fix, "nothing to do: the pipeline restarts on its own");
  assert.equal(copiesAgain(detached, "wal2json", []), true);
});
