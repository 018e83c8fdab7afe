/**
 * A table renamed while the engine streams it (pgoutput, which sends table OIDs): changes after
 * the rename still reach the table's index instead of being dropped as an unknown table's (also
 * after a column is added to it), the engine says what to change in the config, and with the new
 * name configured it resumes exactly.
 * (wal2json names tables only and filters by name: it stops instead, see stream_table_watch_test.ts.)
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

Deno.test("stream rename (pgoutput): changes after ALTER TABLE RENAME keep reaching the index; the new name resumes", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await sql`INSERT INTO items SELECT g, 'copied' FROM generate_series(1, 100) g`;
  const slot = uniqueName("rename");
  const index = `${indices.prefix}_items`;
  const configFor = (table: string) =>
    writeConfig({
      source: { url: db.url, slot },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { [table]: { index } },
    });
  const engine = startEngine(["run", "--config", await configFor("items"), "--progress", "log"]);
  let output = "";
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    // The router describes the tables on its own: before an ALTER, so that it is seen as one.
    await engine.waitFor(/"msg":"router ready"/);
    await sql`UPDATE items SET v = 'before the rename' WHERE id <= 10`;
    await sql`ALTER TABLE items RENAME TO goods`;
    await sql`UPDATE goods SET v = 'after the rename' WHERE id BETWEEN 5 AND 20`;
    await sql`DELETE FROM goods WHERE id > 90`;
    await sql`INSERT INTO goods SELECT g, 'new' FROM generate_series(101, 150) g`;
    // A new shape after the rename: the table is described again by its OID, not by the old name.
    await sql`ALTER TABLE goods ADD COLUMN w int`;
    await sql`UPDATE goods SET w = id`;
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "goods" }, index));
  } finally {
    output = await stopEngine(engine);
  }
  assert.match(output, /"msg":"a replicated table was renamed while streaming[^\n]*"renamedTo":"public\.goods"/);

  const renamed = startEngine(["run", "--config", await configFor("goods"), "--progress", "log"]);
  try {
    await renamed.waitFor(/"msg":"streaming from slot"/);
    await sql`UPDATE goods SET v = 'resumed' WHERE id % 3 = 0`;
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "goods" }, index));
  } finally {
    await stopEngine(renamed);
  }
});
