/**
 * Which rows become which documents: composite and text keys chunked by key ranges, quoted
 * mixed-case identifiers in their own schema, a keyless REPLICA IDENTITY FULL table, a table
 * left out of the config, and the version every snapshot document carries.
 */
import assert from "node:assert/strict";
import { parseLsn } from "../../src/pg/lsn.ts";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { refusedAtStart, runEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";

Deno.test("snapshot: composite and text keys, quoted identifiers, keyless tables; unlisted tables never appear", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(`
    CREATE SCHEMA "Sales Dept";
    CREATE TABLE "Sales Dept"."Order Items" ("Order Id" int, "Line No" smallint, "Sku" text NOT NULL, qty numeric(12,3),
      PRIMARY KEY ("Order Id", "Line No"));
    INSERT INTO "Sales Dept"."Order Items" SELECT o, l, 'sku-' || (o * 7 + l), (o * l) / 7.0
      FROM generate_series(1, 2500) o, generate_series(1, 10) l;
    CREATE TABLE words (word text PRIMARY KEY, n int);
    INSERT INTO words SELECT w, length(w) FROM unnest(ARRAY[
      'plain', 'with "quotes"', 'back\\slash', 'new
line', 'tab	here', 'émoji 😀', '', ' leading space', 'z', 'ZZ', '{"json":1}', 'a,b', 'x/y?z#w']) w;
    INSERT INTO words SELECT 'word-' || g, g FROM generate_series(1, 3000) g;
    CREATE TABLE events (at timestamptz, payload jsonb);
    ALTER TABLE events REPLICA IDENTITY FULL;
    INSERT INTO events SELECT timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', jsonb_build_object('g', g)
      FROM generate_series(1, 500) g;
    CREATE TABLE unlisted (id int PRIMARY KEY);
    INSERT INTO unlisted SELECT generate_series(1, 10);`);

  const config = await writeConfig({
    source: { url: db.url, slot: "tables" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 700 } } },
    tables: {
      '"Sales Dept"."Order Items"': { index: `${indices.prefix}_items`, snapshot: { concurrency: 3, chunkRows: 1_000 } },
      "public.words": { index: `${indices.prefix}_words`, snapshot: { concurrency: 2, chunkRows: 100 } },
      events: { index: `${indices.prefix}_events` },
    },
  });
  const result = await runEngine(["run", "--config", config, "--snapshot-only", "--progress", "log"]);
  assert.equal(result.code, 0, result.output);

  const items = { schema: "Sales Dept", name: "Order Items" };
  assertSameDocuments(await compareIndex(db.sql, items, `${indices.prefix}_items`));
  assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "words" }, `${indices.prefix}_words`));
  assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "events" }, `${indices.prefix}_events`));

  // Composite keys: `_id` is the JSON array of the key values.
  const itemDocs = await allDocuments(`${indices.prefix}_items`);
  assert.equal(itemDocs.size, 25_000);
  assert.ok(itemDocs.has("[1, 1]") && itemDocs.has("[2500, 10]"));
  // Chunks cover the key space: 25,000 rows in chunks of 1,000 by (Order Id, Line No).
  const [{ chunks, copied }] = await db.sql<{ chunks: number; copied: string }[]>`
    SELECT count(*)::int AS chunks, sum(rows_copied)::text AS copied FROM oesophagus.snapshot_chunk
    WHERE slot = 'tables' AND table_name = '"Sales Dept"."Order Items"' AND done_version IS NOT NULL`;
  assert.equal(chunks, 26);
  assert.equal(copied, "25000");

  // Every snapshot document carries the slot's consistent point as its version.
  const [{ lsn }] = await db.sql<
    { lsn: string }[]
  >`SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'tables'`;
  const versions = new Set([...itemDocs.values()].map((d) => d.version));
  assert.deepEqual([...versions], [parseLsn(lsn).toString()]);

  // The table left out of the config has no index and no documents anywhere.
  const unlisted = await esRequest("GET", `/${indices.prefix}*/_search?q=id:7&size=0`);
  assert.match(unlisted.text, /"total":\{"value":0,/);
  const listing = await esRequest("GET", `/_cat/indices/${indices.prefix}*?h=index`);
  assert.deepEqual(listing.text.trim().split("\n").sort(), [
    `${indices.prefix}_events`,
    `${indices.prefix}_items`,
    `${indices.prefix}_words`,
  ]);
});

Deno.test("snapshot: a missing table and a table without a key are refused before anything is copied, with the fix", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(`CREATE TABLE nokey (a int, b text); INSERT INTO nokey VALUES (1, 'x');`);
  const config = await writeConfig({
    source: { url: db.url, slot: "refused" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { nokey: { index: `${indices.prefix}_nokey` }, "public.ghost": { index: `${indices.prefix}_ghost` } },
  });
  const output = await refusedAtStart(db.sql, config, "refused", { args: ["--snapshot-only"] });
  assert.match(output, /oesophagus: table public\.nokey has no primary key and its REPLICA IDENTITY is not FULL/);
  assert.match(output, /table public\.ghost does not exist/);
  assert.match(
    output,
    /fix: ALTER TABLE "public"\."nokey" ADD PRIMARY KEY \(\.\.\.\); or ALTER TABLE "public"\."nokey" REPLICA IDENTITY FULL;/,
  );
  // Refused before anything was made: no slot (above), no index.
  const listing = await esRequest("GET", `/_cat/indices/${indices.prefix}*?h=index`);
  assert.equal(listing.text.trim(), "");
});

Deno.test("snapshot: a table with a column Elasticsearch keeps for metadata (_id) is refused before anything is made, with the fix", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(
    `CREATE TABLE legacy (pk int PRIMARY KEY, _id text, _source text); INSERT INTO legacy VALUES (1, 'a', 'b');`,
  );
  const config = await writeConfig({
    source: { url: db.url, slot: "unindexable" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { legacy: { index: `${indices.prefix}_legacy` } },
  });
  const check = await runEngine(["check", "--config", config]);
  assert.equal(check.code, 1, check.output);
  assert.match(
    check.output,
    /Elasticsearch refuses documents with column "_id" of public\.legacy \(the name of an Elasticsearch metadata field\), column "_source" of public\.legacy/,
  );
  const output = await refusedAtStart(db.sql, config, "unindexable");
  assert.match(output, /oesophagus: Elasticsearch refuses documents with column "_id" of public\.legacy/);
  assert.match(
    output,
    /fix: ALTER TABLE "public"\."legacy" RENAME COLUMN "_id" TO \.\.\.; or remove public\.legacy from "tables"/,
  );
  const listing = await esRequest("GET", `/_cat/indices/${indices.prefix}*?h=index`);
  assert.equal(listing.text.trim(), "");
});

Deno.test("snapshot: a table with REPLICA IDENTITY NOTHING is refused before a publication is made, so its writes still work", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(`
    CREATE TABLE quiet (id int PRIMARY KEY, v text); ALTER TABLE quiet REPLICA IDENTITY NOTHING;
    INSERT INTO quiet VALUES (1, 'x');`);
  const config = await writeConfig({
    source: { url: db.url, slot: "nothing", plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { quiet: { index: `${indices.prefix}_quiet` } },
  });
  const output = await refusedAtStart(db.sql, config, "nothing");
  assert.match(output, /oesophagus: table public\.quiet has REPLICA IDENTITY NOTHING, so the WAL does not say which row/);
  assert.match(output, /fix: ALTER TABLE "public"\."quiet" REPLICA IDENTITY DEFAULT;/);
  // A publication of the table would make PostgreSQL refuse its updates and deletes: none was made.
  const publications = await db.sql`SELECT 1 FROM pg_publication`;
  assert.equal(publications.length, 0);
  await db.sql`UPDATE quiet SET v = 'y' WHERE id = 1`;
  await db.sql`DELETE FROM quiet WHERE id = 1`;
});
