/**
 * A table dropped while streaming: its documents would silently stay, and a table made under its
 * name would not be streamed (pgoutput) or not copied (wal2json). The engine stops with the steps
 * to go on, without confirming the slot past the drop; a table made anew under the name is copied
 * at the next start. A primary key changed while streaming stops the pipeline too, and its restart
 * copies the table under the new `_id`s. (Renames: stream_rename_test.ts.)
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, stopsOnItsOwn, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream table watch (${plugin}): a dropped table stops the engine before the drop; without it the rest streams on`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE gone (id int PRIMARY KEY, v text)`;
    await sql`CREATE TABLE kept (id int PRIMARY KEY, v text)`;
    await sql`INSERT INTO gone SELECT g, 'copied' FROM generate_series(1, 50) g`;
    await sql`INSERT INTO kept SELECT g, 'copied' FROM generate_series(1, 50) g`;
    const slot = uniqueName("watch_drop");
    const gone = `${indices.prefix}_gone`;
    const kept = `${indices.prefix}_kept`;
    const configWith = (tables: Record<string, { index: string }>) =>
      writeConfig({
        source: { url: db.url, slot, plugin },
        sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
        tables,
      });

    const engine = startEngine(["run", "--config", await configWith({ gone: { index: gone }, kept: { index: kept } })]);
    let output: string;
    let droppedAt: bigint;
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql`UPDATE gone SET v = 'last words' WHERE id <= 10`;
      await sql`DELETE FROM gone WHERE id > 45`;
      await sql`DROP TABLE gone`;
      droppedAt = await currentWalLsn(sql);
      await sql`UPDATE kept SET v = 'after the drop' WHERE id <= 10`;
      output = await stopsOnItsOwn(engine);
    } finally {
      engine.kill("SIGKILL");
      await engine.exited;
    }
    assert.match(output, /"code":"table_dropped"/);
    assert.match(output, new RegExp(`table public\\.gone was dropped while streaming; its documents stay in index ${gone}`));
    assert.ok((await confirmedLsn(sql, slot)) < droppedAt, "the slot was confirmed past the drop");

    const rest = startEngine(["run", "--config", await configWith({ kept: { index: kept } })]);
    try {
      await rest.waitFor(/"msg":"streaming from slot"/);
      await sql`DELETE FROM kept WHERE id > 40`;
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "kept" }, kept));
    } finally {
      await stopEngine(rest);
    }
  });
}

// With its index kept, the new table's OID tells it from the copied one. With the index deleted too (what the operator was
// once told to do), no tombstone stops the old table's replayed changes: the copy's version must.
for (const [plugin, deleteIndex] of [["pgoutput", false], ["wal2json", false], ["pgoutput", true], ["wal2json", true]] as const) {
  const what = deleteIndex ? "and its index deleted " : "";
  Deno.test(`stream table watch (${plugin}): a table dropped and made anew ${what}while the engine was stopped is copied again; the old table's changes stay out`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE remade (id int PRIMARY KEY, v text)`;
    await sql`CREATE TABLE kept (id int PRIMARY KEY, v text)`;
    await sql`INSERT INTO remade SELECT g, 'old table' FROM generate_series(1, 50) g`;
    await sql`INSERT INTO kept SELECT g, 'copied' FROM generate_series(1, 50) g`;
    const slot = uniqueName("watch_remade");
    const remade = `${indices.prefix}_remade`;
    const kept = `${indices.prefix}_kept`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { remade: { index: remade }, kept: { index: kept } },
    });

    const first = startEngine(["run", "--config", config]);
    try {
      await first.waitFor(/"msg":"streaming from slot"/);
      await waitForCatchUp(sql, slot);
    } finally {
      await stopEngine(first);
    }
    // While the engine is stopped, the slot keeps these: the old table's last changes come again at the next start,
    // after the new table's copy, and ids 1-10 and 46-50 have no row in the new table.
    await sql`UPDATE remade SET v = 'last words' WHERE id <= 10`;
    await sql`DELETE FROM remade WHERE id > 45`;
    await sql`DROP TABLE remade`;
    await sql`CREATE TABLE remade (id int PRIMARY KEY, v text, extra int)`;
    await sql`INSERT INTO remade SELECT g, 'new table', g * 2 FROM generate_series(20, 70) g`;
    await sql`UPDATE kept SET v = 'while stopped' WHERE id <= 10`;
    if (deleteIndex) await esRequest("DELETE", `/${remade}`);

    const second = startEngine(["run", "--config", config]);
    try {
      const line = await second.waitFor(/"msg":"a table was dropped and made anew under its name since its copy[^\n]*/);
      assert.match(line, /"table":"public\.remade"/);
      await second.waitFor(/"msg":"streaming from slot"/);
      await sql`UPDATE remade SET v = 'streamed' WHERE id BETWEEN 30 AND 35`;
      await sql`DELETE FROM remade WHERE id > 65`;
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "remade" }, remade));
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "kept" }, kept));
    } finally {
      await stopEngine(second);
    }
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream table watch (${plugin}): a primary key changed while streaming restarts the pipeline, which copies the table again under its new _ids`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE rekeyed (a int PRIMARY KEY, b int NOT NULL UNIQUE, v text)`;
    await sql`INSERT INTO rekeyed SELECT g, g + 1000, 'copied' FROM generate_series(1, 200) g`;
    const slot = uniqueName("watch_rekeyed");
    const index = `${indices.prefix}_rekeyed`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      supervision: { backoffMinMs: 200, backoffMaxMs: 1_000 },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { rekeyed: { index } },
    });
    const engine = startEngine(["run", "--config", config]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql`UPDATE rekeyed SET v = 'before the change' WHERE a <= 20`;
      await sql`ALTER TABLE rekeyed DROP CONSTRAINT rekeyed_pkey, ADD PRIMARY KEY (b)`;
      // Updates only: pgoutput sends no old image for them, so only the watch can tell their new _ids are not the old ones.
      await sql`UPDATE rekeyed SET v = 'after the change' WHERE a BETWEEN 10 AND 40`;
      // From the wal reader's watch, or from the router if a change without the old key comes first.
      await engine.waitFor(/the key of table public\.rekeyed changed while streaming \(\[\\"a\\"\] to \[\\"b\\"\]\)/);
      await engine.waitFor(/"msg":"a table's key changed since its copy[^\n]*"table":"public\.rekeyed"/);
      await sql`UPDATE rekeyed SET v = 'after the restart' WHERE a BETWEEN 30 AND 50`;
      await sql`DELETE FROM rekeyed WHERE a <= 5 OR a > 190`;
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "rekeyed" }, index));
    } finally {
      await stopEngine(engine);
    }
  });
}
