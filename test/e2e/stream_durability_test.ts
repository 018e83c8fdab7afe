/**
 * The slot is never acknowledged past a change that is not in Elasticsearch: with
 * Elasticsearch unreachable, changes are written and the engine is killed; after both come
 * back, the changes arrive. And an idle source whose server is busy elsewhere still moves the
 * slot, so retained WAL stays small.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { formatLsn } from "../../src/pg/lsn.ts";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, writeConfig } from "../helpers/engine.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

Deno.test("stream: with Elasticsearch down the slot does not move past unindexed changes; after a kill -9 they still arrive", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await using proxy = FaultProxy.start(esUrl);
  const { sql } = db;
  await sql`CREATE TABLE notes (id int PRIMARY KEY, body text)`;
  await sql`INSERT INTO notes SELECT g, 'before' FROM generate_series(1, 100) g`;
  const slot = uniqueName("durable");
  const index = `${indices.prefix}_notes`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: proxy.url(esUrl), requestTimeoutMs: 2_000, batch: { timeoutMs: 20 } } },
    tables: { notes: { index } },
  });

  const first = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await first.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
    proxy.mode = "down";
    await sql`UPDATE notes SET body = 'written while Elasticsearch was down' WHERE id <= 10`;
    await sql`DELETE FROM notes WHERE id > 90`;
    const written = await currentWalLsn(sql);
    await first.waitFor(/"msg":"bulk request retried"/, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const confirmed = await confirmedLsn(sql, slot);
    assert.ok(confirmed < written, `the slot moved to ${formatLsn(confirmed)}, past unindexed changes at ${formatLsn(written)}`);
  } finally {
    first.kill("SIGKILL");
    await first.exited;
  }

  proxy.mode = "pass";
  const second = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await second.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "notes" }, index));
  } finally {
    second.kill("SIGTERM");
    await second.exited;
  }
});

Deno.test("stream: an idle source keeps its slot's retained WAL under 64 MB while another database writes 200 MB", async () => {
  const { esUrl, pgUrl } = await services();
  await using db = await createTestDatabase();
  await using busy = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE quiet (id int PRIMARY KEY)`;
  const slot = uniqueName("idle");
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { quiet: { index: `${indices.prefix}_quiet` } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await busy.sql`CREATE TABLE filler (id int, pad text)`;
    const [{ start }] = await admin<{ start: string }[]>`SELECT pg_current_wal_lsn()::text AS start`;
    // About 200 MB of WAL in another database, in many transactions.
    for (let i = 0; i < 40; i++) {
      await busy.sql`INSERT INTO filler SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 15000) g`;
    }
    await admin`CHECKPOINT`;
    const [{ generated }] = await admin<
      { generated: string }[]
    >`SELECT (pg_current_wal_lsn() - ${start}::pg_lsn)::text AS generated`;
    assert.ok(Number(generated) > 150_000_000, `only ${generated} bytes of WAL were generated`);
    let retained = Infinity;
    for (let i = 0; i < 100 && retained >= 64_000_000; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const [row] = await admin<{ retained: string }[]>`
        SELECT (pg_current_wal_lsn() - restart_lsn)::text AS retained FROM pg_replication_slots WHERE slot_name = ${slot}`;
      retained = Number(row.retained);
    }
    assert.ok(retained < 64_000_000, `the slot retains ${retained} bytes of WAL`);
  } finally {
    engine.kill("SIGTERM");
    await engine.exited;
    await admin.end();
  }
});
