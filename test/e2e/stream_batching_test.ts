/**
 * How the stream is cut into batches, both plugins: committed changes on a pipeline with nothing
 * in flight go after `batch.lingerMs`, not after the (here one-minute) `batch.timeoutMs`, and a
 * burst of one-row transactions arrives whole and exact, however it was cut.
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
