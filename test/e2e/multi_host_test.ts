/**
 * A source URL with several hosts, the first one down: as libpq, every session of the engine
 * (the walsender that exports the snapshot and the sessions that import it) goes to the first
 * host that answers, and the pipeline is exact.
 */
import assert from "node:assert/strict";
import { assertStreamsExactly } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { freePort } from "../helpers/ports.ts";
import { services, uniqueName } from "../helpers/services.ts";

Deno.test("source: a URL with several hosts, the first down: every session on the next, snapshot and stream exact", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await db.sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 5000) g`;
  const url = new URL(db.url);
  const down = await freePort();
  // Not a URL the WHATWG parser takes: the hosts are spliced in as text.
  const multiHost = `${url.protocol}//${url.username}@127.0.0.1:${down},${url.hostname}:${url.port}${url.pathname}`;
  assert.equal(URL.canParse(multiHost), false);
  const slot = uniqueName("multi_host");
  const index = `${indices.prefix}_items`;
  const file = await writeConfig({
    source: { url: multiHost, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index, snapshot: { chunkRows: 1000, concurrency: 2 } } },
  });
  const engine = startEngine(["run", "--config", file, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await assertStreamsExactly(db.sql, slot, index, 5000);
  } finally {
    await stopEngine(engine);
  }
});
