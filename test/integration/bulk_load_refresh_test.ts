/**
 * The refresh setting of an index a table is copied into, against real Elasticsearch: refreshed
 * every few seconds during the copy (never off: the refresh that ends it would write the whole
 * copy out at once), Elasticsearch's default again after it, with everything copied searchable;
 * an index the operator made keeps the interval they gave it.
 */
import assert from "node:assert/strict";
import type { Client } from "@elastic/elasticsearch";
import { describeTables } from "../../src/pg/catalog.ts";
import { elasticsearchSinkSchema } from "../../src/config/schema.ts";
import { createClient } from "../../src/sinks/elasticsearch/client.ts";
import { BULK_LOAD_REFRESH_INTERVAL, endBulkLoad, ensureIndex } from "../../src/sinks/elasticsearch/index.ts";
import { esRequest } from "../helpers/elasticsearch.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { services, uniqueName } from "../helpers/services.ts";

async function refreshInterval(index: string): Promise<string | null> {
  const answer = await esRequest("GET", `/${index}/_settings/index.refresh_interval?flat_settings=true`);
  assert.equal(answer.status, 200, answer.text);
  // An index without the setting is left out of the answer: Elasticsearch's default applies.
  const indices = Object.values(JSON.parse(answer.text) as Record<string, { settings: Record<string, string> }>);
  return indices[0]?.settings["index.refresh_interval"] ?? null;
}

/** Indexes one document without asking for a refresh: only a refresh makes it searchable. */
async function writeUnrefreshed(index: string, id: string): Promise<void> {
  const answer = await esRequest("PUT", `/${index}/_doc/${id}`, `{"id":${id}}`);
  assert.equal(answer.status, 201, answer.text);
}

async function searchable(index: string): Promise<number> {
  const answer = await esRequest("GET", `/${index}/_search?size=0&track_total_hits=true`);
  assert.equal(answer.status, 200, answer.text);
  return (JSON.parse(answer.text) as { hits: { total: { value: number } } }).hits.total.value;
}

/** A sink's client and a fresh index name, the index deleted and the client closed afterwards. */
async function withIndex(prefix: string, body: (client: Client, index: string) => Promise<void>): Promise<void> {
  const { esUrl } = await services();
  const client = createClient("search", elasticsearchSinkSchema.parse({ type: "elasticsearch", url: esUrl }));
  const index = uniqueName(prefix);
  try {
    await body(client, index);
  } finally {
    await esRequest("DELETE", `/${index}`);
    await client.close();
  }
}

/** An index made by hand with `settings` (and `mappings`), as an operator or an earlier engine would. */
async function makeIndex(index: string, body: Record<string, unknown>): Promise<void> {
  const made = await esRequest("PUT", `/${index}`, JSON.stringify(body));
  assert.equal(made.status, 200, made.text);
}

Deno.test("bulk load: an index made for a copy refreshes every few seconds, and after it as by default, all searchable", async () => {
  await using db = await createTestDatabase();
  await db.sql`CREATE TABLE items (id bigint PRIMARY KEY, name text)`;
  const [table] = await describeTables(db.sql, [{ schema: "public", name: "items" }]);
  await withIndex("bulk_load", async (client, index) => {
    const prepared = await ensureIndex(client, "search", index, table, { bulkLoad: true });
    assert.equal(prepared.created, true);
    assert.equal(await refreshInterval(index), BULK_LOAD_REFRESH_INTERVAL);
    assert.notEqual(BULK_LOAD_REFRESH_INTERVAL, "-1");

    // Written a moment before the copy ends: searchable once it has ended, whenever the last refresh was.
    await writeUnrefreshed(index, "1");
    await endBulkLoad(client, "search", index);
    assert.equal(await refreshInterval(index), null);
    assert.equal(await searchable(index), 1);

    // Idempotent: a snapshot resumed after a crash ends its bulk load again.
    await endBulkLoad(client, "search", index);
    assert.equal(await refreshInterval(index), null);
  });
});

Deno.test("bulk load: a copy begun with refreshes off (an earlier engine's -1) gets them back", async () => {
  await withIndex("bulk_load_off", async (client, index) => {
    await makeIndex(index, { settings: { "index.refresh_interval": "-1" }, mappings: { _meta: { managed_by: "oesophagus" } } });
    await writeUnrefreshed(index, "1");
    assert.equal(await searchable(index), 0);
    await endBulkLoad(client, "search", index);
    assert.equal(await refreshInterval(index), null);
    assert.equal(await searchable(index), 1);
  });
});

Deno.test("bulk load: an index the operator made keeps the refresh interval they gave it, even the engine's own value", async () => {
  await withIndex("bulk_load_theirs", async (client, index) => {
    await makeIndex(index, { settings: { "index.refresh_interval": BULK_LOAD_REFRESH_INTERVAL } });
    await endBulkLoad(client, "search", index);
    assert.equal(await refreshInterval(index), BULK_LOAD_REFRESH_INTERVAL);
  });
});
