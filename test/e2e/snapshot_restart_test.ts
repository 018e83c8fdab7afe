/**
 * kill -9 in the middle of a snapshot: the restarted engine copies only the chunks that were not
 * finished, at a newer snapshot, and every row ends up exactly once with the right content.
 */
import assert from "node:assert/strict";
import { parseLsn } from "../../src/pg/lsn.ts";
import { BULK_LOAD_REFRESH_INTERVAL } from "../../src/sinks/elasticsearch/index.ts";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";

Deno.test("snapshot: after kill -9 mid-copy, a restart finishes only the unfinished chunks, every row exactly once", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(`
    CREATE TABLE orders (id bigint PRIMARY KEY, customer text, total numeric(12, 2), placed timestamptz, lines jsonb);
    INSERT INTO orders SELECT g, 'customer ' || (g % 997), (g % 100000) / 100.0, timestamptz '2020-01-01' + g * interval '1 second',
      jsonb_build_array(jsonb_build_object('sku', g % 50, 'qty', g % 7))
    FROM generate_series(1, 200000) g;`);
  const index = `${indices.prefix}_orders`;
  const config = await writeConfig({
    source: { url: db.url, slot: "restart" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 1_000 } } },
    tables: { orders: { index, snapshot: { concurrency: 2, chunkRows: 5_000 } } },
  });

  const first = startEngine(["run", "--config", config, "--snapshot-only", "--progress", "log"]);
  const doneChunks = async () =>
    (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM oesophagus.snapshot_chunk WHERE done_version IS NOT NULL`
      .catch(() => [{ n: 0 }]))[0].n;
  for (let i = 0; i < 600 && await doneChunks() < 6; i++) await new Promise((r) => setTimeout(r, 100));
  first.child.kill("SIGKILL");
  const killed = await first.exited;
  assert.equal(killed.signal, "SIGKILL", `the engine had finished before it could be killed:\n${killed.output}`);

  const before = await db.sql<{ chunk_no: number; lower_key: string | null; upper_key: string | null; done_version: string }[]>`
    SELECT chunk_no, lower_key::text, upper_key::text, done_version::text FROM oesophagus.snapshot_chunk
    WHERE done_version IS NOT NULL ORDER BY chunk_no`;
  const [{ total }] = await db.sql<{ total: number }[]>`SELECT count(*)::int AS total FROM oesophagus.snapshot_chunk`;
  assert.ok(before.length >= 6 && before.length < total, `${before.length} of ${total} chunks done at the kill`);
  const firstVersion = before[0].done_version;

  // The index was created for a copy: fewer refreshes while it runs (the copy's documents are durable meanwhile).
  const during = await esRequest("GET", `/${index}/_settings/index.refresh_interval?flat_settings=true`);
  assert.ok(
    during.text.includes(`"index.refresh_interval":"${BULK_LOAD_REFRESH_INTERVAL}"`),
    `refresh_interval ${BULK_LOAD_REFRESH_INTERVAL} during the copy: ${during.text}`,
  );

  const second = await runEngine(["run", "--config", config, "--snapshot-only", "--progress", "log"]);
  assert.equal(second.code, 0, second.output);
  // ... and once the copy is over, refreshes are back on before anything is streamed.
  const restored = await esRequest("GET", `/${index}/_settings/index.refresh_interval?flat_settings=true`);
  assert.doesNotMatch(restored.text, /refresh_interval/);
  assert.match(second.output, /"msg":"snapshot resumed"/);

  assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "orders" }, index));

  // Chunks finished before the kill were not copied again: same version in the store and in
  // every one of their documents; all other chunks carry the resumed snapshot's newer version.
  const after = await db.sql<{ chunk_no: number; lower_key: string | null; upper_key: string | null; done_version: string }[]>`
    SELECT chunk_no, lower_key::text, upper_key::text, done_version::text FROM oesophagus.snapshot_chunk ORDER BY chunk_no`;
  assert.equal(after.length, total);
  const resumedVersion = after.find((c) => c.done_version !== firstVersion)?.done_version;
  assert.ok(resumedVersion && parseLsn(resumedVersion) > parseLsn(firstVersion), "resumed chunks must carry a newer version");
  const finishedFirst = new Set(before.map((c) => c.chunk_no));
  const docs = await allDocuments(index);
  assert.equal(docs.size, 200_000);
  for (const chunk of after) {
    const expected: string = finishedFirst.has(chunk.chunk_no) ? firstVersion : resumedVersion;
    assert.equal(chunk.done_version, expected, `chunk ${chunk.chunk_no}`);
    const lower = chunk.lower_key === null ? 0 : JSON.parse(chunk.lower_key).id;
    const upper = chunk.upper_key === null ? 200_000 : JSON.parse(chunk.upper_key).id;
    for (let id = lower + 1; id <= upper; id++) {
      assert.equal(docs.get(String(id))?.version, parseLsn(expected).toString(), `document ${id} of chunk ${chunk.chunk_no}`);
    }
  }
});

Deno.test("snapshot: an index deleted while a killed copy waits is copied again whole, not just its unfinished chunks", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(`
    CREATE TABLE orders (id bigint PRIMARY KEY, customer text, total numeric(12, 2));
    INSERT INTO orders SELECT g, 'customer ' || (g % 997), (g % 100000) / 100.0 FROM generate_series(1, 100000) g;`);
  const index = `${indices.prefix}_orders`;
  const config = await writeConfig({
    source: { url: db.url, slot: "remade" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 1_000 } } },
    tables: { orders: { index, snapshot: { concurrency: 1, chunkRows: 5_000 } } },
  });
  const first = startEngine(["run", "--config", config, "--snapshot-only", "--progress", "log"]);
  const doneChunks = async () =>
    (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM oesophagus.snapshot_chunk WHERE done_version IS NOT NULL`
      .catch(() => [{ n: 0 }]))[0].n;
  for (let i = 0; i < 600 && await doneChunks() < 3; i++) await new Promise((r) => setTimeout(r, 50));
  first.child.kill("SIGKILL");
  const killed = await first.exited;
  assert.equal(killed.signal, "SIGKILL", `the engine had finished before it could be killed:\n${killed.output}`);
  assert.ok(await doneChunks() < 20, "every chunk was done at the kill");
  assert.equal((await esRequest("DELETE", `/${index}`)).status, 200);

  const second = await runEngine(["run", "--config", config, "--snapshot-only", "--progress", "log"]);
  assert.equal(second.code, 0, second.output);
  assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "orders" }, index));
  assert.match(second.output, /"msg":"a table's index was made anew since its copy[^\n]*"table":"public\.orders"/);
});
