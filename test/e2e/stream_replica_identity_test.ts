/**
 * A table with a primary key and REPLICA IDENTITY USING INDEX on another unique index: the WAL's
 * old key of an update or delete holds that index's columns, not the primary key's (pgoutput
 * sends the others as null), so `_id`s must come from the identity index or a delete cannot name
 * its document. And one whose identity index was dropped logs no old key at all (PostgreSQL then
 * behaves as REPLICA IDENTITY NOTHING): refused at start like NOTHING.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { refusedAtStart, startEngine, stopEngine, stopsOnItsOwn, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): a table identified by a replica identity index other than its primary key streams exactly`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql.unsafe(`
      CREATE TABLE accounts (id int PRIMARY KEY, code text NOT NULL, v text);
      CREATE UNIQUE INDEX accounts_code ON accounts (code);
      ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_code;
      INSERT INTO accounts SELECT g, 'c' || g, 'copied' FROM generate_series(1, 50) g;`);
    const slot = uniqueName("identity_index");
    const index = `${indices.prefix}_accounts`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { accounts: { index } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql.unsafe(`
        UPDATE accounts SET v = 'streamed' WHERE id <= 10;
        DELETE FROM accounts WHERE id BETWEEN 11 AND 20;
        UPDATE accounts SET id = id + 1000 WHERE id BETWEEN 21 AND 25;
        UPDATE accounts SET code = 'recoded ' || id WHERE id BETWEEN 26 AND 30;
        INSERT INTO accounts VALUES (2000, 'new', 'inserted');`);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "accounts" }, index));
    } finally {
      await stopEngine(engine);
    }
  });
}

Deno.test("snapshot: a table whose replica identity index was dropped logs no old key, and is refused like REPLICA IDENTITY NOTHING", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(`
    CREATE TABLE accounts (id int PRIMARY KEY, code text NOT NULL);
    CREATE UNIQUE INDEX accounts_code ON accounts (code);
    ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_code;
    DROP INDEX accounts_code;
    INSERT INTO accounts VALUES (1, 'x');`);
  const slot = uniqueName("identity_dropped");
  const config = await writeConfig({
    source: { url: db.url, slot, plugin: "wal2json" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { accounts: { index: `${indices.prefix}_accounts` } },
  });
  const output = await refusedAtStart(db.sql, config, slot);
  assert.match(
    output,
    /oesophagus: table public\.accounts has REPLICA IDENTITY USING INDEX, but that index is gone, .*: its rows cannot be identified/,
  );
  assert.match(output, /"code":"table_without_key"/);
  assert.match(output, /fix: ALTER TABLE "public"\."accounts" REPLICA IDENTITY DEFAULT;/);
});

Deno.test("snapshot: partitions whose own replica identity does not log the table's key are refused before a publication is made", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE m (id int, region text, code text NOT NULL, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
    CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us');
    CREATE TABLE m_sa PARTITION OF m FOR VALUES IN ('sa');
    CREATE TABLE m_af PARTITION OF m FOR VALUES IN ('af');
    CREATE UNIQUE INDEX m_us_code ON m_us (code);
    CREATE UNIQUE INDEX m_af_code ON m_af (code);
    ALTER TABLE m_eu REPLICA IDENTITY NOTHING;
    ALTER TABLE m_us REPLICA IDENTITY USING INDEX m_us_code;
    ALTER TABLE m_af REPLICA IDENTITY USING INDEX m_af_code;
    DROP INDEX m_af_code;
    INSERT INTO m SELECT g, (ARRAY['eu', 'us', 'sa', 'af'])[1 + g % 4], 'c' || g FROM generate_series(1, 40) g;`);
  const slot = uniqueName("partition_identity");
  const config = await writeConfig({
    source: { url: db.url, slot, plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { m: { index: `${indices.prefix}_m` } },
  });
  const output = await refusedAtStart(sql, config, slot);
  assert.match(output, /"code":"table_without_key"/);
  assert.match(output, /partition public\.m_eu of public\.m has REPLICA IDENTITY NOTHING/);
  assert.match(
    output,
    /partition public\.m_us of public\.m logs \(code\) as the old key of an update or delete, not \(id, region\)/,
  );
  assert.match(output, /partition public\.m_af of public\.m has REPLICA IDENTITY USING INDEX, but that index is gone/);
  assert.doesNotMatch(output, /partition public\.m_sa/);
  assert.match(output, /ALTER TABLE "public"\."m_eu" REPLICA IDENTITY DEFAULT;/);
  // With a publication of m, PostgreSQL would refuse these (m_eu publishes updates and has no identity).
  assert.equal((await sql`SELECT 1 FROM pg_publication`).length, 0);
  await sql`UPDATE m SET code = code || '!'`;
  await sql`DELETE FROM m WHERE id <= 8`;
});

Deno.test("stream (pgoutput): a partition made while streaming with another identity stops the stream at its first delete, with steps that rebuild the index", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE m (id int, region text, code text NOT NULL, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
    INSERT INTO m SELECT g, 'eu', 'e' || g FROM generate_series(1, 10) g;`);
  const slot = uniqueName("partition_made");
  const index = `${indices.prefix}_m`;
  const config = await writeConfig({
    source: { url: db.url, slot, plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { m: { index } },
  });
  const run = async () => {
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      return await stopsOnItsOwn(engine, "the delete");
    } finally {
      engine.kill("SIGKILL");
      await engine.exited;
    }
  };
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  let output = "";
  let before = 0n;
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql.unsafe(`
      CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us');
      CREATE UNIQUE INDEX m_us_code ON m_us (code);
      ALTER TABLE m_us REPLICA IDENTITY USING INDEX m_us_code;
      INSERT INTO m SELECT g, 'us', 'u' || g FROM generate_series(100, 110) g;`);
    before = await currentWalLsn(sql);
    await sql`DELETE FROM m WHERE id = 100`;
    output = await stopsOnItsOwn(engine, "the delete");
  } finally {
    engine.kill("SIGKILL");
    await engine.exited;
  }
  assert.match(
    output,
    /oesophagus: a change of m carries no value for its key \(id, region\): partition public\.m_us of public\.m logs \(code\)/,
  );
  assert.match(
    output,
    /fix: ALTER TABLE "public"\."m_us" REPLICA IDENTITY DEFAULT;\s+then rebuild the index from a new snapshot/,
  );
  assert.ok((await confirmedLsn(sql, slot)) <= before, "the slot passed the delete");

  // Fixing the identity helps the changes after it; the delete in the WAL still lacks the key.
  await sql`ALTER TABLE m_us REPLICA IDENTITY DEFAULT`;
  output = await run();
  assert.match(output, /it was logged under a replica identity that did not hold the key, so its document cannot be found/);
  assert.match(output, /fix: rebuild the index from a new snapshot: stop the engine, delete the index/);

  // The steps, as the fix gives them, end with the index right.
  await esRequest("DELETE", `/${index}`);
  await sql`SELECT pg_drop_replication_slot(${slot})`;
  await sql`DELETE FROM oesophagus.snapshot_table WHERE slot = ${slot}`;
  const rebuilt = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await rebuilt.waitFor(/"msg":"streaming from slot"/);
    await sql`DELETE FROM m WHERE id = 101`;
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "m" }, index));
  } finally {
    await stopEngine(rebuilt);
  }
});
