/**
 * A table added to the config of a pipeline that already streams: at the next start the engine
 * copies that table alone (its rows written all along, also during its copy) and streams on from
 * the slot for the others, whose documents are not copied again. A table taken out of the config
 * and put back is copied anew: the slot went past its changes meanwhile, deletes included. So is a
 * table whose index is not the one its copy went into (deleted by hand, or another index named).
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";
import { startWorkload } from "../helpers/workload.ts";

const kept = { schema: "public", name: "kept" };
const items = { schema: "public", name: "items" };

async function configFor(url: string, slot: string, plugin: "pgoutput" | "wal2json", tables: Record<string, unknown>) {
  const { esUrl } = await services();
  return await writeConfig({
    source: { url, slot, plugin },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables,
  });
}

/** Runs the engine with `config` while `write` changes rows, until the slot caught up; returns what it printed. */
async function streamWhile(sql: postgres.Sql, slot: string, config: string, write: () => Promise<void>): Promise<string> {
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await write();
    await waitForCatchUp(sql, slot);
  } catch (error) {
    await stopEngine(engine).catch(() => {});
    throw error;
  }
  return await stopEngine(engine);
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): a table added to the config is copied at the next start; the others are not copied again`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE kept (id int PRIMARY KEY, v text)`;
    await sql`INSERT INTO kept SELECT g, 'copied' FROM generate_series(1, 200) g`;
    await sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
    await sql`INSERT INTO items SELECT g, 0, 'first' FROM generate_series(1, 5000) g`;
    const slot = uniqueName("added");
    const configWith = (tables: Record<string, unknown>) => configFor(db.url, slot, plugin, tables);
    const keptIndex = `${indices.prefix}_kept`;
    const itemsIndex = `${indices.prefix}_items`;
    // `items` changes from the start: before it is configured, while the engine is stopped, and
    // while it is copied.
    const workload = startWorkload(sql, { pauseMs: 5 });
    try {
      const first = startEngine(["run", "--config", await configWith({ kept: { index: keptIndex } }), "--progress", "log"]);
      try {
        await first.waitFor(/"msg":"streaming from slot"/);
        await sql`UPDATE kept SET v = 'streamed' WHERE id <= 20`;
        await waitForCatchUp(sql, slot);
      } finally {
        await stopEngine(first);
      }
      const copiedOnce = await allDocuments(keptIndex);
      await sql`UPDATE kept SET v = 'while stopped' WHERE id BETWEEN 21 AND 40`;
      await sql`DELETE FROM kept WHERE id > 190`;

      const both = await configWith({ kept: { index: keptIndex }, items: { index: itemsIndex } });
      const second = startEngine(["run", "--config", both, "--progress", "log"]);
      try {
        await second.waitFor(/"msg":"streaming from slot"/);
        await sql`UPDATE kept SET v = 'after the restart' WHERE id BETWEEN 41 AND 60`;
        await new Promise((resolve) => setTimeout(resolve, 500));
        const committed = await workload.stop();
        assert.ok(committed > 20, `the workload committed only ${committed} transactions`);
        await waitForCatchUp(sql, slot);
        assertSameDocuments(await compareIndex(sql, items, itemsIndex));
        assertSameDocuments(await compareIndex(sql, kept, keptIndex));
      } finally {
        await stopEngine(second);
      }
      // Rows of `kept` no change touched keep the version of the first copy: copied again, they
      // would carry the second start's snapshot LSN.
      const now = await allDocuments(keptIndex);
      const untouched = [...now.values()].filter((doc) => Number(doc.id) > 60);
      assert.equal(untouched.length, 130);
      for (const doc of untouched) {
        assert.equal(doc.version, copiedOnce.get(doc.id)?.version, `document ${doc.id} of kept was copied again`);
      }
    } finally {
      await workload.stop();
    }
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): a table taken out of the config and put back is copied anew, deletes made meanwhile included`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE kept (id int PRIMARY KEY, v text)`;
    await sql`INSERT INTO kept SELECT g, 'copied' FROM generate_series(1, 100) g`;
    await sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
    await sql`INSERT INTO items SELECT g, 0, 'first' FROM generate_series(1, 300) g`;
    const slot = uniqueName("readded");
    const keptIndex = `${indices.prefix}_kept`;
    const itemsIndex = `${indices.prefix}_items`;
    const configWith = (tables: Record<string, unknown>) => configFor(db.url, slot, plugin, tables);
    const both = await configWith({ kept: { index: keptIndex }, items: { index: itemsIndex } });
    await streamWhile(sql, slot, both, async () => {
      await sql`UPDATE items SET n = 1, t = 'streamed' WHERE id <= 30`;
    });
    // Out of the config: the slot goes past these changes.
    const out = await streamWhile(sql, slot, await configWith({ kept: { index: keptIndex } }), async () => {
      await sql`UPDATE items SET n = 2, t = 'while out' WHERE id BETWEEN 20 AND 60`;
      await sql`DELETE FROM items WHERE id > 250`;
      await sql`INSERT INTO items SELECT g, 3, 'inserted while out' FROM generate_series(1001, 1020) g`;
      await sql`UPDATE items SET id = id + 5000 WHERE id BETWEEN 100 AND 110`;
      await sql`UPDATE kept SET v = 'streamed' WHERE id <= 10`;
    });
    const back = await streamWhile(sql, slot, both, async () => {
      await sql`UPDATE items SET t = 'after the return' WHERE id % 7 = 0`;
      await sql`DELETE FROM items WHERE id BETWEEN 200 AND 210`;
    });
    assertSameDocuments(await compareIndex(sql, items, itemsIndex));
    assertSameDocuments(await compareIndex(sql, kept, keptIndex));
    assert.match(out, /"msg":"tables no longer configured[^\n]*"tables":\["public\.items"\]/);
    // The documents of the 50 rows deleted and the 11 re-keyed while out, and no others: a delete is
    // not even sent for a document the copy wrote.
    assert.match(back, /"msg":"index swept"[^\n]*"deleted":61\b/);
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): a copied table whose index was deleted, or that names another index, is copied again`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
    await sql`INSERT INTO items SELECT g, 0, 'first' FROM generate_series(1, 300) g`;
    const slot = uniqueName("remade");
    const itemsInto = (index: string) => configFor(db.url, slot, plugin, { items: { index } });
    const first = `${indices.prefix}_items`;
    await streamWhile(sql, slot, await itemsInto(first), async () => {
      await sql`UPDATE items SET n = 1 WHERE id <= 30`;
    });
    // Deleted by hand while the engine is stopped: streaming into a new empty index alone would
    // leave out every row that does not change again.
    assert.equal((await esRequest("DELETE", `/${first}`)).status, 200);
    await sql`UPDATE items SET n = 2 WHERE id BETWEEN 20 AND 40`;
    const remade = await streamWhile(sql, slot, await itemsInto(first), async () => {
      await sql`UPDATE items SET t = 'after the restart' WHERE id % 9 = 0`;
    });
    assertSameDocuments(await compareIndex(sql, items, first));
    assert.match(remade, /"msg":"a table's index was made anew since its copy[^\n]*"table":"public\.items"/);
    // Another index named for the table: it gets the copy too, and the stream from then on.
    const second = `${indices.prefix}_items_v2`;
    await sql`DELETE FROM items WHERE id > 280`;
    await streamWhile(sql, slot, await itemsInto(second), async () => {
      await sql`UPDATE items SET n = 3 WHERE id <= 10`;
    });
    assertSameDocuments(await compareIndex(sql, items, second));
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): a table whose primary key changed while the engine was stopped is copied again under its new _ids`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE items (id int, n int, t text, PRIMARY KEY (id))`;
    await sql`INSERT INTO items SELECT g, g % 3, 'first' FROM generate_series(1, 300) g`;
    const slot = uniqueName("rekeyed");
    const index = `${indices.prefix}_items`;
    const config = await configFor(db.url, slot, plugin, { items: { index } });
    await streamWhile(sql, slot, config, async () => {
      await sql`UPDATE items SET t = 'streamed' WHERE id <= 30`;
    });
    // Every document's _id was the id; with the new key it is [id, n].
    await sql`ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id, n)`;
    await sql`UPDATE items SET t = 'while stopped' WHERE id BETWEEN 20 AND 40`;
    const output = await streamWhile(sql, slot, config, async () => {
      await sql`UPDATE items SET t = 'after the restart' WHERE id % 11 = 0`;
    });
    assertSameDocuments(await compareIndex(sql, items, index));
    assert.match(output, /"msg":"a table's key changed since its copy[^\n]*"table":"public\.items"/);
  });
}
