/**
 * The slot is never acknowledged past a change that is not in Elasticsearch: with
 * Elasticsearch unreachable, changes are written and the engine is killed; after both come
 * back, the changes arrive. And an idle source whose server is busy elsewhere still moves the
 * slot, so retained WAL stays small.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { formatLsn, parseLsn } from "../../src/pg/lsn.ts";
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

/** The engine's heartbeats for `slot` the server wrote between two positions (pg_walinspect reads the WAL itself). */
async function heartbeatsWritten(admin: postgres.Sql, slot: string, from: string, to: string) {
  const payload = [...new TextEncoder().encode(`heartbeat ${slot}`)]
    .map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");
  const rows = await admin<{ end: string }[]>`
    SELECT end_lsn::text AS end FROM pg_get_wal_records_info(${from}::pg_lsn, ${to}::pg_lsn)
    WHERE resource_manager = 'LogicalMessage' AND description LIKE ${`%prefix "oesophagus"; payload (%): ${payload}`}
    ORDER BY start_lsn`;
  return rows.map((r) => r.end);
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): heartbeats are written only while the tables are quiet, and the slot moves past them`, async () => {
    const { pgUrl, esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    await db.sql`CREATE TABLE ticks (id int PRIMARY KEY)`;
    const slot = uniqueName("beat");
    const config = await writeConfig({
      source: { url: db.url, slot, plugin, heartbeatIntervalMs: 1_000 },
      sinks: { search: { type: "elasticsearch", url: esUrl } },
      tables: { ticks: { index: `${indices.prefix}_ticks` } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
    try {
      await db.sql`CREATE EXTENSION pg_walinspect`;
      await engine.waitFor(/"msg":"streaming from slot"/);
      await db.sql`INSERT INTO ticks VALUES (0)`;
      const busyFrom = formatLsn(await currentWalLsn(admin));
      // A row every 100 ms for 4 s: every heartbeat interval sees changes.
      for (let i = 1; i <= 40; i++) {
        await db.sql`INSERT INTO ticks VALUES (${i})`;
        await new Promise((r) => setTimeout(r, 100));
      }
      const quietFrom = formatLsn(await currentWalLsn(admin));
      await new Promise((r) => setTimeout(r, 4_500));
      const quietTo = formatLsn(await currentWalLsn(admin));
      assert.deepEqual(await heartbeatsWritten(db.sql, slot, busyFrom, quietFrom), [], "heartbeats while rows changed");
      const beats = await heartbeatsWritten(db.sql, slot, quietFrom, quietTo);
      assert.ok(beats.length >= 3, `${beats.length} heartbeats in 4.5 quiet seconds at an interval of 1 s`);
      // Read back through the slot (and past it: the stream goes on after them).
      const last = parseLsn(beats.at(-1)!);
      let confirmed = await confirmedLsn(admin, slot);
      for (let i = 0; i < 100 && confirmed < last; i++) {
        await new Promise((r) => setTimeout(r, 100));
        confirmed = await confirmedLsn(admin, slot);
      }
      assert.ok(confirmed >= last, `the slot stayed at ${formatLsn(confirmed)}, before the heartbeat ending at ${beats.at(-1)}`);
      await db.sql`INSERT INTO ticks VALUES (41)`;
      await waitForCatchUp(admin, slot);
      assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "ticks" }, `${indices.prefix}_ticks`));
    } finally {
      engine.kill("SIGTERM");
      await engine.exited;
      await admin.end();
    }
  });
}
