/**
 * A slot the server invalidated (it held more WAL than `max_slot_wal_keep_size`) has lost the
 * changes it held: the engine says so at start, with what to do, rather than retrying a stream
 * that cannot be read or copying anew over live documents by itself. The setting is the
 * server's own: set for this test and reset after it (test files run one at a time).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

Deno.test("stream: a slot the server invalidated (max_slot_wal_keep_size) stops the engine at start with the fix; check says so", async () => {
  const { esUrl, pgUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql`CREATE TABLE notes (id int PRIMARY KEY, body text)`;
  await sql`INSERT INTO notes SELECT g, 'first' FROM generate_series(1, 100) g`;
  const slot = uniqueName("lost");
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { notes: { index: `${indices.prefix}_notes` } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql`UPDATE notes SET body = 'streamed' WHERE id <= 10`;
    await waitForCatchUp(sql, slot);
  } finally {
    await stopEngine(engine);
  }

  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
    await admin`SELECT pg_reload_conf()`;
    // More WAL than the slot may keep, in segments of their own, then a checkpoint: the server invalidates it.
    for (let round = 0; round < 6 && !(await lost(sql, slot)); round++) {
      await sql`UPDATE notes SET body = repeat('x', 2000) || ${round}`;
      await sql`INSERT INTO notes SELECT g, repeat('y', 2000) FROM generate_series(1000 + ${round} * 1000, 1999 + ${round} * 1000) g`;
      await admin`SELECT pg_switch_wal()`;
      await admin`CHECKPOINT`;
    }
    assert.ok(await lost(sql, slot), "the server did not invalidate the slot");
  } finally {
    await admin.unsafe(`ALTER SYSTEM RESET max_slot_wal_keep_size`);
    await admin`SELECT pg_reload_conf()`;
    await admin.end();
  }

  const check = await runEngine(["check", "--config", config]);
  assert.equal(check.code, 1, check.output);
  assert.match(check.output, new RegExp(`replication slot ${slot} was invalidated by the server`));
  const run = await runEngine(["run", "--config", config, "--progress", "log"]);
  assert.equal(run.code, 1, run.output);
  assert.match(
    run.output,
    new RegExp(`oesophagus: replication slot ${slot} was invalidated by the server .*: the changes it held are lost`),
  );
  assert.match(run.output, new RegExp(`fix: start over with a new snapshot: SELECT pg_drop_replication_slot\\('${slot}'\\)`));
  // Nothing was copied anew by itself: the slot is still there, as the server left it.
  assert.ok(await lost(sql, slot));
});

async function lost(sql: postgres.Sql, slot: string): Promise<boolean> {
  const [row] = await sql<
    { status: string | null }[]
  >`SELECT wal_status AS status FROM pg_replication_slots WHERE slot_name = ${slot}`;
  return row?.status === "lost";
}
