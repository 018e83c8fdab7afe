/**
 * Tables renamed or dropped while streaming, where following them is impossible: wal2json names
 * and filters tables by name, so a renamed table's changes would be filtered out, and a dropped
 * table's documents would silently stay, and a table made under its name would not be streamed
 * (pgoutput) or not copied (wal2json). The engine stops with the steps to go on, after what it
 * read before the change is indexed, and without confirming the slot past the change: then the
 * steps lose nothing, including deletes made after the change.
 */
import assert from "node:assert/strict";
import { parseLsn } from "../../src/pg/lsn.ts";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { type EngineProcess, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";
import type postgres from "postgres";

/** The engine's exit, which must come on its own (a non-zero code) within a minute. */
async function stopsOnItsOwn(engine: EngineProcess) {
  const exited = await Promise.race([
    engine.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the engine went on after the change")), 60_000)),
  ]);
  assert.notEqual(exited.code, 0);
  return exited.output;
}

async function confirmedLsn(sql: postgres.Sql, slot: string) {
  const [{ confirmed }] = await sql<{ confirmed: string }[]>`
    SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return parseLsn(confirmed);
}

async function walLsn(sql: postgres.Sql) {
  const [{ lsn }] = await sql<{ lsn: string }[]>`SELECT pg_current_wal_lsn()::text AS lsn`;
  return parseLsn(lsn);
}

Deno.test("stream table watch (wal2json): a rename stops the engine before it; with the new name it resumes exactly", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await sql`INSERT INTO items SELECT g, 'copied' FROM generate_series(1, 100) g`;
  const slot = uniqueName("watch_rename");
  const index = `${indices.prefix}_items`;
  const configFor = (table: string) =>
    writeConfig({
      source: { url: db.url, slot, plugin: "wal2json" },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { [table]: { index } },
    });

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
    renamedAt = await walLsn(sql);
    await sql`UPDATE goods SET v = 'after the rename' WHERE id BETWEEN 5 AND 20`;
    await sql`DELETE FROM goods WHERE id BETWEEN 90 AND 95`;
    await sql`INSERT INTO goods SELECT g, 'new' FROM generate_series(101, 120) g`;
    output = await stopsOnItsOwn(engine);
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

  // The steps the engine gave: the new name, the same index.
  const renamed = startEngine(["run", "--config", await configFor("goods"), "--progress", "log"]);
  try {
    await renamed.waitFor(/"msg":"streaming from slot"/);
    await sql`UPDATE goods SET v = 'resumed' WHERE id % 3 = 0`;
    await waitForCatchUp(sql, slot);
    // The deletes after the rename (90-95) are in no copy: only the stream, from before the rename, has them.
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "goods" }, index));
  } finally {
    await stopEngine(renamed);
  }
});

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
      droppedAt = await walLsn(sql);
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
