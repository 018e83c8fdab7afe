/**
 * Supervision for real: each kind of actor is crashed on purpose (OESOPHAGUS_INJECT_CRASH) in the
 * middle of its work, the pipeline restarts it from its checkpoints, and the index ends exactly
 * equal to the table. A crash loop spends the restart budget and the process exits with the reason.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { metricsUrl, runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

const FAST_RESTARTS = { maxRestarts: 5, withinMs: 60_000, backoffMinMs: 50, backoffMaxMs: 500 };

/** Actor, and the message it crashes on: late enough to be in the middle of its work. */
const CRASHES: readonly [string, number][] = [
  ["pipeline/snapshot", 4],
  ["pipeline/snapshot/public.items", 6],
  ["pipeline/snapshot/public.items/reader-0", 5],
  ["pipeline/sinks/search", 30],
  ["pipeline/sinks/search", 100],
  ["pipeline/wal-reader", 3],
  ["pipeline/router", 8],
  ["pipeline/checkpointer", 12],
];

for (const [actor, message] of CRASHES) {
  Deno.test(`supervision: ${actor} crashed at its message ${message} restarts, and the index is exact`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
    await sql`INSERT INTO items SELECT g, 0, md5(g::text) FROM generate_series(1, 20000) g`;
    const slot = uniqueName("crash");
    const index = `${indices.prefix}_items`;
    const config = await writeConfig({
      source: { url: db.url, slot },
      supervision: FAST_RESTARTS,
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 500, timeoutMs: 20 } } },
      tables: { items: { index, snapshot: { concurrency: 2, chunkRows: 2000 } } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"], {
      OESOPHAGUS_INJECT_CRASH: `${actor}@${message}`,
    });
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      for (let i = 1; i <= 100; i++) await sql`UPDATE items SET n = n + 1 WHERE id = ${i * 7}`;
      await sql`INSERT INTO items SELECT g, 1, 'new' FROM generate_series(20001, 21000) g`;
      await sql`DELETE FROM items WHERE id % 97 = 0`;
      await sql`UPDATE items SET n = n + 10, t = 'bulk' WHERE id <= 5000`;
      for (let i = 1; i <= 100; i++) await sql`UPDATE items SET id = id + 100000 WHERE id = ${i * 11 + 20000}`;
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, index));
      const output = engine.output();
      assert.ok(output.includes(`injected crash of ${actor} `), `${actor} never crashed`);
      assert.match(output, /"msg":"actor restarted"/);
      // The restart is counted against the pipeline's child the crash reached, and the error by its code.
      const scraped = await (await fetch(await metricsUrl(engine))).text();
      const child = actor.startsWith("pipeline/snapshot") ? "pipeline/snapshot" : actor;
      assert.ok(scraped.includes(`oesophagus_actor_restarts_total{actor="${child}"} 1\n`), scraped);
      assert.match(scraped, /oesophagus_errors_total\{code="internal"\} [1-9]/);
    } finally {
      await stopEngine(engine);
    }
  });
}

Deno.test("supervision: a crash loop spends the restart budget and the process exits 1 with the reason", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY)`;
  const config = await writeConfig({
    source: { url: db.url, slot: uniqueName("loop") },
    supervision: { ...FAST_RESTARTS, maxRestarts: 2 },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { items: { index: `${indices.prefix}_items` } },
  });
  const started = Date.now();
  const { code, output } = await runEngine(["run", "--config", config, "--progress", "log"], {
    OESOPHAGUS_INJECT_CRASH: "pipeline/sinks/search@1*",
  });
  assert.equal(code, 1, output);
  assert.equal(output.match(/"msg":"restarting children"/g)?.length, 2, output);
  assert.match(output, /"reason":"restart budget spent: 2 restarts within 60000 ms"/);
  assert.match(output, /oesophagus: injected crash of pipeline\/sinks\/search/);
  assert.ok(Date.now() - started < 60_000);
});
