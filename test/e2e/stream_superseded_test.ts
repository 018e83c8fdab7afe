/**
 * Rows changed many times in a row, both plugins: of the changes of one document that are
 * written together only the last goes to Elasticsearch, and the index still ends equal to the
 * table, each document at the commit LSN of its row's last change. The changes are made while
 * the engine is stopped, so that it reads them as a backlog in full parts, whatever the machine's
 * speed; Elasticsearch's own indexing counters show how many writes they cost.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

/** Index and delete operations Elasticsearch has done on `index`'s primary shards. */
async function writesDone(index: string): Promise<number> {
  const { status, text } = await esRequest("GET", `/${index}/_stats/indexing?filter_path=_all.primaries.indexing`);
  assert.equal(status, 200, text);
  const { index_total, delete_total } = (JSON.parse(text) as {
    _all: { primaries: { indexing: { index_total: number; delete_total: number } } };
  })._all.primaries.indexing;
  return index_total + delete_total;
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): changes superseded by a later change of their row in a batch cost no write`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL, note text)`;
    await sql`INSERT INTO counters SELECT g, 0, 'start' FROM generate_series(1, 10) g`;
    const slot = uniqueName("superseded");
    const index = `${indices.prefix}_counters`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl } },
      tables: { counters: { index } },
    });
    // Started once for the slot and the copy, then stopped: what follows is read as a backlog.
    const first = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await first.waitFor(/"msg":"streaming from slot"/);
    } finally {
      await stopEngine(first);
    }

    const before = await currentWalLsn(sql);
    const writesBefore = await writesDone(index);
    await sql.begin(async (tx) => {
      for (let i = 0; i < 300; i++) await tx`UPDATE counters SET n = n + 1, note = ${`tx ${i}`} WHERE id = 2`;
      // Gone and back, the key moved away and back, and a delete that stays.
      for (let i = 0; i < 50; i++) {
        await tx`DELETE FROM counters WHERE id = 3`;
        await tx`INSERT INTO counters VALUES (3, ${i}, 'back')`;
        await tx`UPDATE counters SET id = 30 WHERE id = 4`;
        await tx`UPDATE counters SET id = 4 WHERE id = 30`;
      }
      await tx`UPDATE counters SET n = -1 WHERE id = 3`;
      await tx`DELETE FROM counters WHERE id = 5`;
    });
    for (let i = 0; i < 600; i++) await sql`UPDATE counters SET n = n + 1 WHERE id = 1`;
    const changes = 300 + 50 * 4 + 2 + 600;
    const after = await currentWalLsn(sql);

    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "counters" }, index));
      // Every row's last change in writes; nearly none of the others. Written one by one, the
      // changes above cost more than a thousand (a key change: a delete and a write).
      const writes = (await writesDone(index)) - writesBefore;
      assert.ok(writes >= 5, `${writes} writes: fewer than the rows changed`);
      assert.ok(writes <= changes / 10, `${writes} writes for ${changes} changes`);

      const documents = await allDocuments(index);
      const version = (id: string) => BigInt(documents.get(id)!.version);
      // The transaction's rows carry its commit LSN, the last of the one-row transactions a later one.
      assert.equal(version("2"), version("3"));
      assert.equal(version("2"), version("4"));
      assert.ok(version("2") > before, `version ${version("2")} not after ${before}`);
      assert.ok(version("1") > version("2"));
      assert.ok(version("1") <= after, `version ${version("1")} after ${after}`);
      assert.equal(documents.has("5"), false);
    } finally {
      await stopEngine(engine);
    }
  });
}
