/**
 * A source database in another encoding than UTF8 (LATIN1 here): pgoutput, whose text the server
 * converts to the session's client encoding, is copied and streamed exactly; wal2json, which
 * writes the database's own bytes, is refused at start with what to do instead.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex, expectedDocuments } from "../helpers/contract.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

Deno.test("stream (pgoutput): a LATIN1 database's text is copied and streamed exactly as to_jsonb renders it", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase({ encoding: "LATIN1" });
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE "prénoms" (id int PRIMARY KEY, "nom_é" text, tags text[]);
    INSERT INTO "prénoms" VALUES (1, 'Zoë Ångström', '{café,naïve}'), (2, 'ÄÖÜ ß ÿ', NULL);
    -- _id rules count UTF-8 bytes, whatever the database's encoding: 300 é are 300 bytes in
    -- LATIN1 and 600 in UTF-8 (over Elasticsearch's 512, so hashed); a keyless row's _id is the
    -- MD5 of its UTF-8 text.
    CREATE TABLE keyed (k text PRIMARY KEY, v int);
    INSERT INTO keyed VALUES (repeat('é', 300), 1), (repeat('é', 200), 1), ('à', 1);
    CREATE TABLE keyless (note text, n int);
    ALTER TABLE keyless REPLICA IDENTITY FULL;
    INSERT INTO keyless VALUES ('déjà vu', 1), ('naïve', 2);`);
  const index = `${indices.prefix}_names`;
  const config = await writeConfig({
    source: { url: db.url, slot: "latin1_pgoutput", plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 50, timeoutMs: 50 } } },
    tables: {
      '"prénoms"': { index },
      keyed: { index: `${indices.prefix}_keyed` },
      keyless: { index: `${indices.prefix}_keyless` },
    },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql.unsafe(`
      INSERT INTO "prénoms" VALUES (3, 'Fête à Noël', '{½,¼}');
      UPDATE "prénoms" SET "nom_é" = 'Garçon', tags = '{ç}' WHERE id = 2;
      DELETE FROM "prénoms" WHERE id = 1;
      UPDATE keyed SET v = 2;
      INSERT INTO keyed VALUES (repeat('ü', 400), 3);
      UPDATE keyless SET n = 10 WHERE note = 'déjà vu';
      DELETE FROM keyless WHERE note = 'naïve';
      INSERT INTO keyless VALUES ('über', 3);`);
    await waitForCatchUp(sql, "latin1_pgoutput");
    const table = { schema: "public", name: "prénoms" };
    assert.equal((await expectedDocuments(sql, table)).size, 2);
    assertSameDocuments(await compareIndex(sql, table, index));
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "keyed" }, `${indices.prefix}_keyed`));
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "keyless" }, `${indices.prefix}_keyless`));
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("stream (wal2json): a database not in UTF8 is refused at start, with what works instead", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase({ encoding: "LATIN1" });
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(`CREATE TABLE names (id int PRIMARY KEY, name text); INSERT INTO names VALUES (1, 'Zoë')`);
  const config = await writeConfig({
    source: { url: db.url, slot: "latin1_wal2json", plugin: "wal2json" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { names: { index: `${indices.prefix}_names` } },
  });
  const check = await runEngine(["check", "--config", config]);
  assert.equal(check.code, 1, check.output);
  assert.match(check.output, /encoded in LATIN1: wal2json/);
  const run = await runEngine(["run", "--config", config]);
  assert.notEqual(run.code, 0, run.output);
  assert.match(run.output, /encoded in LATIN1: wal2json writes its text in that encoding/);
  assert.match(run.output, /set source.plugin to "pgoutput"/);
  // Refused before anything was made for it.
  const slots = await db.sql`SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'latin1_wal2json'`;
  assert.equal(slots.length, 0);
});
