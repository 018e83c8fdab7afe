/**
 * A publication of the engine's name made beforehand (the README lets an operator make it, for
 * a source user who may not) is taken as it is only if it publishes every kind of change: one
 * made `WITH (publish = 'insert')` would have the stream carry no update, delete or truncate, and
 * the index keep documents the table no longer has.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

Deno.test("stream (pgoutput): a publication made beforehand for inserts only is widened to every change, and nothing is missed", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE items (id int PRIMARY KEY, name text);
    CREATE TABLE logs (id int PRIMARY KEY, line text);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;
    INSERT INTO logs SELECT g, 'line ' || g FROM generate_series(1, 20) g;
    CREATE PUBLICATION oesophagus FOR TABLE items WITH (publish = 'insert');`);
  const config = await writeConfig({
    source: { url: db.url, slot: "widened", plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index: `${indices.prefix}_items` }, logs: { index: `${indices.prefix}_logs` } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql.unsafe(`
      INSERT INTO items VALUES (100, 'new');
      UPDATE items SET name = 'renamed' WHERE id <= 10;
      DELETE FROM items WHERE id > 40 AND id < 100;
      TRUNCATE logs;
      INSERT INTO logs VALUES (1, 'after truncate');`);
    await waitForCatchUp(sql, "widened");
    assert.match(
      engine.output(),
      /"msg":"the publication left out some changes: it publishes every kind of change now".*"published":"insert"/,
    );
    const [publication] = await sql<{ all: boolean }[]>`
      SELECT pubinsert AND pubupdate AND pubdelete AND pubtruncate AS all FROM pg_publication WHERE pubname = 'oesophagus'`;
    assert.equal(publication.all, true);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, `${indices.prefix}_items`));
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "logs" }, `${indices.prefix}_logs`));
  } finally {
    await stopEngine(engine);
  }
});
