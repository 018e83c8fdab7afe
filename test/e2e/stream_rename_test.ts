/**
 * A table renamed while the engine streams it. pgoutput sends table OIDs: changes after the rename
 * still reach the table's index instead of being dropped as an unknown table's (also after a
 * column is added to it), the engine says what to change in the config, and with the new name
 * configured it resumes exactly. wal2json names and filters tables by name, so the changes under
 * the new name would be filtered out: the engine stops instead, after what it read before the
 * rename is indexed and without confirming the slot past the rename, and with the new name
 * configured it resumes exactly, deletes made after the rename included.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, stopsOnItsOwn, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

const goods = { schema: "public", name: "goods" };

/** Table `items` of 100 rows, and a config for it under a given name, always with the same index. */
async function itemsTable(db: TestDatabase, prefix: string, plugin: "pgoutput" | "wal2json") {
  const { esUrl } = await services();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await db.sql`INSERT INTO items SELECT g, 'copied' FROM generate_series(1, 100) g`;
  const slot = uniqueName("rename");
  const index = `${prefix}_items`;
  const configFor = (table: string) =>
    writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { [table]: { index } },
    });
  return { slot, index, configFor };
}

/** Started with the new name configured, the engine streams on and the index matches the table exactly. */
async function resumesAs(db: TestDatabase, slot: string, index: string, config: string) {
  const renamed = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await renamed.waitFor(/"msg":"streaming from slot"/);
    await db.sql`UPDATE goods SET v = 'resumed' WHERE id % 3 = 0`;
    await waitForCatchUp(db.sql, slot);
    assertSameDocuments(await compareIndex(db.sql, goods, index));
  } finally {
    await stopEngine(renamed);
  }
}

Deno.test("stream rename (pgoutput): changes after ALTER TABLE RENAME keep reaching the index; the new name resumes", async () => {
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const { slot, index, configFor } = await itemsTable(db, indices.prefix, "pgoutput");
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
    assertSameDocuments(await compareIndex(sql, goods, index));
  } finally {
    output = await stopEngine(engine);
  }
  assert.match(output, /"msg":"a replicated table was renamed while streaming[^\n]*"renamedTo":"public\.goods"/);
  await resumesAs(db, slot, index, await configFor("goods"));
});

Deno.test("stream rename (wal2json): the engine stops before the rename; with the new name it resumes exactly", async () => {
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const { slot, index, configFor } = await itemsTable(db, indices.prefix, "wal2json");
  const engine = startEngine(["run", "--config", await configFor("items"), "--progress", "log"]);
  let output: string;
  let renamedAt: bigint;
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await engine.waitFor(/"msg":"router ready"/);
    // Not waited for: what was read before the rename must be indexed before the engine stops.
    await sql`UPDATE items SET v = 'before the rename' WHERE id <= 10`;
    await sql`DELETE FROM items WHERE id > 95`;
    await sql`ALTER TABLE items RENAME TO goods`;
    renamedAt = await currentWalLsn(sql);
    await sql`UPDATE goods SET v = 'after the rename' WHERE id BETWEEN 5 AND 20`;
    await sql`DELETE FROM goods WHERE id BETWEEN 90 AND 95`;
    await sql`INSERT INTO goods SELECT g, 'new' FROM generate_series(101, 120) g`;
    output = await stopsOnItsOwn(engine, "the rename");
  } finally {
    engine.kill("SIGKILL");
    await engine.exited;
  }
  assert.match(output, /"code":"table_renamed"/);
  assert.match(output, /table public\.items was renamed to public\.goods while streaming/);
  assert.match(
    output,
    new RegExp(`name the table \\\\"public\\.goods\\\\" in the config with \\\\"index\\\\": \\\\"${index}\\\\"`),
  );
  const confirmed = await confirmedLsn(sql, slot);
  assert.ok(confirmed < renamedAt, `the slot was confirmed to ${confirmed}, past the rename (${renamedAt})`);
  // The steps the engine gave. The deletes after the rename (90-95) are in no copy: only the
  // stream, from before the rename, has them.
  await resumesAs(db, slot, index, await configFor("goods"));
});
