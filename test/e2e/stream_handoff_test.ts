/**
 * The snapshot/stream handoff: rows inserted, updated, deleted and re-keyed while the snapshot
 * is being copied end up exactly right, once the stream (which starts at the slot's consistent
 * point, after the copy) has caught up. With kill -9 in the middle of the copy, too: after some
 * chunks are done, and before any is (the first attempt's documents are then all that says it
 * wrote anything, and the resumed copy, in a later snapshot, does not have the rows deleted
 * meanwhile).
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

const CRASHES = {
  none: "",
  "mid-copy": ", across a kill -9 mid-copy",
  "before any chunk is done": ", across a kill -9 before any chunk of the copy is done",
} as const;

for (const crash of Object.keys(CRASHES) as (keyof typeof CRASHES)[]) {
  Deno.test(`handoff: changes made while the snapshot is copied end up exactly right${CRASHES[crash]}`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql.unsafe(`
      CREATE TABLE parcels (id bigint PRIMARY KEY, status text, weight numeric(8, 3), seen int DEFAULT 0);
      INSERT INTO parcels SELECT g, 'new', g / 1000.0, 0 FROM generate_series(1, 150000) g;`);
    const slot = uniqueName("handoff");
    const index = `${indices.prefix}_parcels`;
    const config = await writeConfig({
      source: { url: db.url, slot },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 500 }, concurrency: 1 } },
      // One chunk for the whole table when the kill must come before any is done.
      tables: {
        parcels: { index, snapshot: { concurrency: 1, chunkRows: crash === "before any chunk is done" ? 1_000_000 : 2_000 } },
      },
    });

    let stop = false;
    let next = 10_000_000;
    let writes = 0;
    const writer = (async () => {
      while (!stop) {
        const id = 1 + Math.floor(Math.random() * 150_000);
        await sql`UPDATE parcels SET status = 'moved', seen = seen + 1 WHERE id = ${id}`;
        await sql`INSERT INTO parcels VALUES (${next++}, 'late', 1, 0)`;
        await sql`DELETE FROM parcels WHERE id = ${1 + Math.floor(Math.random() * 150_000)}`;
        await sql`UPDATE parcels SET id = ${next++} WHERE id = ${1 + Math.floor(Math.random() * 150_000)}`;
        writes += 4;
      }
    })();

    let engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      if (crash === "mid-copy") {
        await engine.waitFor(/"msg":"table snapshot started"/);
        await new Promise((resolve) => setTimeout(resolve, 1_500));
      } else if (crash === "before any chunk is done") {
        await engine.waitFor(/"msg":"table snapshot started"/);
        // Documents written (counted by Elasticsearch without a refresh), the one chunk not done.
        for (let indexed = 0; indexed < 20_000;) {
          const stats = await esRequest("GET", `/${index}/_stats/indexing?filter_path=_all.primaries.indexing.index_total`);
          indexed = JSON.parse(stats.text)._all?.primaries?.indexing?.index_total ?? 0;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      if (crash !== "none") {
        engine.kill("SIGKILL");
        await engine.exited;
        const [{ done }] = await sql<{ done: number }[]>`
          SELECT count(*)::int AS done FROM oesophagus.snapshot_chunk WHERE slot = ${slot} AND done_version IS NOT NULL`;
        if (crash === "before any chunk is done") assert.equal(done, 0, "a chunk was done before the kill");
        engine = startEngine(["run", "--config", config, "--progress", "log"]);
        await engine.waitFor(/"msg":"snapshot resumed"/);
      }
      await engine.waitFor(/"msg":"streaming from slot"/, 180_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      stop = true;
      await writer;
      assert.ok(writes > 100, `only ${writes} writes happened during the snapshot`);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "parcels" }, index));
    } finally {
      stop = true;
      await writer.catch(() => {});
      engine.kill("SIGTERM");
      await engine.exited;
    }
  });
}
