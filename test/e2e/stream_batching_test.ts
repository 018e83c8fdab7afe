/**
 * How the stream is cut into batches, both plugins: committed changes on a pipeline with nothing
 * in flight go after `batch.lingerMs`, not after the (here one-minute) `batch.timeoutMs`, and a
 * burst of one-row transactions arrives whole and exact, however it was cut. A long transaction
 * reaches the router in parts, its batches filled over them: a TRUNCATE in its middle still comes
 * after every change before it, and before every change after it.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream batching (${plugin}): a commit with nothing in flight is not held for the batch timeout`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
    const slot = uniqueName("linger");
    const index = `${indices.prefix}_items`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 60_000, lingerMs: 10 } } },
      tables: { items: { index } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql`INSERT INTO items VALUES (1, 'alone')`;
      // Held for the timeout, it would take a minute; a quarter of that is plenty for a linger of 10 ms.
      for (let tries = 0; !(await allDocuments(index)).has("1"); tries++) {
        assert.ok(tries < 150, "a lone commit waited for the one-minute batch timeout");
        await sleep(100);
      }
      // A burst while batches are in flight: cut by size, linger or ack, every change arrives, in order.
      await Promise.all(Array.from({ length: 4 }, async (_, worker) => {
        for (let i = 0; i < 250; i++) {
          const id = 2 + worker * 250 + i;
          await sql`INSERT INTO items VALUES (${id}, 'burst')`;
          if (i % 3 === 0) await sql`UPDATE items SET v = 'updated' WHERE id = ${id}`;
          if (i % 5 === 0) await sql`DELETE FROM items WHERE id = ${id - 1}`;
        }
      }));
      await waitForCatchUp(sql, slot, 30_000);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, index));
    } finally {
      await stopEngine(engine);
    }
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream batching (${plugin}): a TRUNCATE inside a transaction read in parts follows the batches filled before it`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE logs (id int PRIMARY KEY, msg text)`;
    await sql`CREATE TABLE notes (id int PRIMARY KEY, msg text)`;
    const slot = uniqueName("parts");
    // The default batch size: the changes before the TRUNCATE fill no batch, so none is sent for being full.
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl } },
      tables: { logs: { index: `${indices.prefix}_logs` }, notes: { index: `${indices.prefix}_notes` } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql.begin(async (tx) => {
        await tx`INSERT INTO logs SELECT g, 'before' FROM generate_series(1, 700) g`;
        await tx`INSERT INTO notes SELECT g, 'kept' FROM generate_series(1, 300) g`;
        await tx`TRUNCATE logs`;
        await tx`INSERT INTO logs SELECT g, 'after' FROM generate_series(650, 1000) g`;
        await tx`UPDATE notes SET msg = 'changed' WHERE id % 3 = 0`;
      });
      await sql`UPDATE logs SET msg = 'later' WHERE id % 7 = 0`;
      await waitForCatchUp(sql, slot, 30_000);
      const logs = await allDocuments(`${indices.prefix}_logs`);
      assert.equal(logs.size, 351);
      assert.equal([...logs.keys()].every((id) => Number(id) >= 650), true);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "logs" }, `${indices.prefix}_logs`));
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "notes" }, `${indices.prefix}_notes`));
    } finally {
      await stopEngine(engine);
    }
  });
}
