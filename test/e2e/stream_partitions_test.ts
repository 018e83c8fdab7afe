/**
 * Partitioned tables, both plugins. PostgreSQL reports each change under the partition that
 * holds the row, so without mapping partitions to their table every streamed change of a
 * partitioned table was dropped (the snapshot alone was right). Covered: partitions at two
 * levels, one attached with its own column order, one created in another schema while
 * streaming, a row moved between partitions, TRUNCATE of the table, and an unconfigured table
 * written meanwhile; and a TRUNCATE of one partition, which stops the engine before anything
 * after it is acknowledged. A partition configured by itself gets its own partitions' changes; a
 * partition configured with its parent is refused (a change would reach one index only).
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createEngineRole, createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { allDocuments, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, stopsOnItsOwn, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

const TABLE = { schema: "public", name: "m" };

async function createPartitions(db: TestDatabase): Promise<void> {
  await db.sql.unsafe(`
    CREATE TABLE m (id int, region text, v text, n numeric, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
    CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us') PARTITION BY RANGE (id);
    CREATE TABLE m_us_low PARTITION OF m_us FOR VALUES FROM (MINVALUE) TO (500);
    CREATE TABLE m_us_high PARTITION OF m_us FOR VALUES FROM (500) TO (MAXVALUE);
    CREATE TABLE m_sa (n numeric, v text, region text NOT NULL, id int NOT NULL);
    ALTER TABLE m ATTACH PARTITION m_sa FOR VALUES IN ('sa');
    CREATE TABLE unrelated (id int PRIMARY KEY, v text);
    INSERT INTO m SELECT g, (ARRAY['eu', 'us', 'sa'])[1 + g % 3], 'copied', g / 7.0 FROM generate_series(1, 900) g;`);
}

/** A table of 30 rows of its own (region 'af', `v` as given), then attached to m as its partition. */
async function attachWithRows(db: TestDatabase, v: string): Promise<void> {
  await db.sql`CREATE TABLE m_af (id int NOT NULL, region text NOT NULL, v text, n numeric)`;
  await db.sql`INSERT INTO m_af SELECT g, 'af', ${v}, g FROM generate_series(3001, 3030) g`;
  await db.sql`ALTER TABLE m ATTACH PARTITION m_af FOR VALUES IN ('af')`;
}

async function partitioned(db: TestDatabase, plugin: "pgoutput" | "wal2json", index: string) {
  const { esUrl } = await services();
  await createPartitions(db);
  const slot = uniqueName("partitions");
  const config = await writeConfig({
    source: { url: db.url, slot, plugin },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { m: { index } },
  });
  return { slot, config, engine: startEngine(["run", "--config", config, "--progress", "log"]) };
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream partitions (${plugin}): changes in every partition, new ones included, reach the table's index exactly`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const index = `${indices.prefix}_m`;
    const { slot, engine } = await partitioned(db, plugin, index);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      assertSameDocuments(await compareIndex(sql, TABLE, index));
      await sql.unsafe(`
        INSERT INTO m SELECT g, (ARRAY['eu', 'us', 'sa'])[1 + g % 3], 'streamed', g FROM generate_series(901, 1200) g;
        UPDATE m SET v = 'updated', n = n + 0.5 WHERE id % 10 = 0;
        DELETE FROM m WHERE id % 17 = 0;
        UPDATE m SET region = 'eu' WHERE id IN (2, 5, 8);
        UPDATE m SET id = id + 1000 WHERE id IN (3, 6);
        INSERT INTO unrelated SELECT g, 'not replicated' FROM generate_series(1, 50) g;
        CREATE SCHEMA elsewhere;
        CREATE TABLE elsewhere.m_apac PARTITION OF m FOR VALUES IN ('apac');
        INSERT INTO m SELECT g, 'apac', 'new partition', g FROM generate_series(2001, 2100) g;
        UPDATE m SET v = 'moved to apac', region = 'apac' WHERE id = 1;`);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, TABLE, index));

      await sql`TRUNCATE m`;
      await sql`INSERT INTO m VALUES (7, 'sa', 'after truncate', 1), (8, 'apac', 'after truncate', 2)`;
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, TABLE, index));
      assert.equal((await allDocuments(index)).size, 2);
    } finally {
      await stopEngine(engine);
    }
  });

  Deno.test(`stream partitions (${plugin}): TRUNCATE of one partition stops the engine with what to do; the slot stays before it`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const index = `${indices.prefix}_m`;
    const { slot, engine } = await partitioned(db, plugin, index);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql`UPDATE m SET v = 'before' WHERE id = 4`;
      await waitForCatchUp(sql, slot);
      const before = await currentWalLsn(sql);
      await sql`TRUNCATE m_us_low`;
      const output = await stopsOnItsOwn(engine, "the TRUNCATE");
      assert.match(output, /TRUNCATE of public\.m_us_low empties only part of public\.m/);
      assert.match(output, /pg_drop_replication_slot/);
      const confirmed = await confirmedLsn(sql, slot);
      assert.ok(confirmed <= before, `the slot passed the TRUNCATE: ${confirmed} > ${before}`);
      // The rows that were in the partition are still documents: nothing was applied halfway.
      assert.ok([...(await allDocuments(index)).values()].some((d) => (d.source as { region: string }).region === "us"));
    } finally {
      engine.kill("SIGKILL");
      await engine.exited;
    }
  });
}

/** Waits until `text` has been printed `times` times in all. */
const printed = (engine: { waitFor(pattern: RegExp): Promise<string> }, text: string, times: number) =>
  engine.waitFor(new RegExp(`(?:${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[\\s\\S]*?){${times}}`));

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream partitions (${plugin}): a table attached with rows is copied in, a new partition is not, a detached one's changes stay out`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const index = `${indices.prefix}_m`;
    const { slot, engine } = await partitioned(db, plugin, index);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      // A table of its own first, written while streaming (wal2json streams it: the router learns it is no partition).
      await sql.unsafe(`
        CREATE TABLE m_af (id int NOT NULL, region text NOT NULL, v text, n numeric);
        INSERT INTO m_af SELECT g, 'af', 'before attach', g FROM generate_series(3001, 3050) g;
        UPDATE m_af SET v = 'touched before attach' WHERE id % 2 = 0;`);
      await waitForCatchUp(sql, slot);
      await sql`ALTER TABLE m ATTACH PARTITION m_af FOR VALUES IN ('af')`;
      await sql.unsafe(`
        INSERT INTO m VALUES (3051, 'af', 'after attach', 1);
        UPDATE m SET v = 'updated after attach' WHERE id = 3001;`);
      const attached = await engine.waitFor(/"code":"table_partitions_changed"[^\n]*/);
      assert.match(attached, /\(1 attached or created\)/);
      assert.match(attached, /public\.m_af held rows from before: public\.m is copied again/);
      await printed(engine, '"msg":"streaming from slot"', 2);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, TABLE, index));

      // Created empty and filled since: every row is in the WAL, nothing to copy again.
      await sql.unsafe(`
        CREATE TABLE m_oc PARTITION OF m FOR VALUES IN ('oc');
        INSERT INTO m SELECT g, 'oc', 'new partition', g FROM generate_series(4001, 4020) g;`);
      await printed(engine, '"code":"table_partitions_changed"', 2);
      await printed(engine, '"msg":"streaming from slot"', 3);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, TABLE, index));
      const restarts = engine.output().match(/"code":"table_partitions_changed"[^\n]*/g)!;
      assert.doesNotMatch(restarts[1], /copied again/);

      // Detached: its rows' documents stay (documented); what is written to it since is no longer the table's.
      // Written first, so the router knows m_eu as a partition of m when it is detached.
      await sql`UPDATE m SET v = 'before detach' WHERE region = 'eu' AND id < 100`;
      await waitForCatchUp(sql, slot);
      const [{ eu }] = await sql<{ eu: number }[]>`SELECT count(*)::int AS eu FROM m_eu`;
      await sql`ALTER TABLE m DETACH PARTITION m_eu`;
      await sql`INSERT INTO m_eu VALUES (5001, 'eu', 'after detach', 1)`;
      await sql`UPDATE m_eu SET v = 'changed after detach'`;
      await sql`INSERT INTO m VALUES (5002, 'sa', 'after detach', 1)`;
      await waitForCatchUp(sql, slot);
      const { missing, extra, different } = await compareIndex(sql, TABLE, index);
      assert.deepEqual({ missing, different }, { missing: [], different: [] });
      // pgoutput: the detached partition's documents stay, as they were (documented); wal2json: copied again and swept.
      assert.equal(extra.length, plugin === "pgoutput" ? eu : 0, "documents beside the table's rows");
      const documents = [...(await allDocuments(index)).values()].map((d) => (d.source as { v: string }).v);
      assert.ok(!documents.includes("changed after detach"), "a change made to the detached partition reached the index");
      assert.match(engine.output(), /(?:"code":"table_partitions_changed"[\s\S]*?){3}/);
    } finally {
      await stopEngine(engine);
    }
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream partitions (${plugin}): partitions attached, created or detached while the engine is stopped are found at its start`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const index = `${indices.prefix}_m`;
    const { slot, config, engine: first } = await partitioned(db, plugin, index);
    await first.waitFor(/"msg":"streaming from slot"/);
    await stopEngine(first);
    await sql.unsafe(`
      CREATE TABLE m_af (id int NOT NULL, region text NOT NULL, v text, n numeric);
      INSERT INTO m_af SELECT g, 'af', 'before attach', g FROM generate_series(3001, 3030) g;
      ALTER TABLE m ATTACH PARTITION m_af FOR VALUES IN ('af');
      CREATE TABLE m_oc PARTITION OF m FOR VALUES IN ('oc');
      INSERT INTO m SELECT g, 'oc', 'new partition', g FROM generate_series(4001, 4020) g;
      UPDATE m SET v = 'while stopped' WHERE id % 50 = 0;`);
    const second = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await second.waitFor(/"msg":"streaming from slot"/);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, TABLE, index));
      const copying = await second.waitFor(/"msg":"a partitioned table's partitions changed since its copy[^\n]*/);
      assert.match(copying, /copying it again/);
      // m_oc was created and filled in one transaction too, its rows after its link: streamed, not a reason to copy.
      assert.match(copying, /"attachedWithEarlierRows":\["public\.m_af"\]/);
    } finally {
      await stopEngine(second);
    }

    const [{ eu }] = await sql<{ eu: number }[]>`SELECT count(*)::int AS eu FROM m_eu`;
    await sql`ALTER TABLE m DETACH PARTITION m_eu`;
    const third = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      const found = await third.waitFor(/"msg":"a partitioned table's partitions changed since its copy[^\n]*/);
      await third.waitFor(/"msg":"streaming from slot"/);
      await sql`INSERT INTO m VALUES (5002, 'sa', 'after detach', 1)`;
      await waitForCatchUp(sql, slot);
      const { missing, extra, different } = await compareIndex(sql, TABLE, index);
      assert.deepEqual({ missing, different }, { missing: [], different: [] });
      if (plugin === "pgoutput") {
        assert.match(found, /nothing to copy again/);
        assert.equal(extra.length, eu, "the detached partition's documents stay (documented)");
      } else {
        assert.match(found, /copying it again/);
        assert.equal(extra.length, 0, "documents of the detached partition's rows after the copy and sweep");
      }
    } finally {
      await stopEngine(third);
    }
  });
}

Deno.test("stream partitions: a table attached with rows while the table is being copied is copied in", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const index = `${indices.prefix}_m`;
  await createPartitions(db);
  await sql`INSERT INTO m SELECT g, 'eu', 'bulk', g FROM generate_series(10001, 310000) g`;
  const slot = uniqueName("partitions_copy");
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { m: { index, snapshot: { concurrency: 1, chunkRows: 10_000 } } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"table snapshot started"/);
    await attachWithRows(db, "attached during the copy");
    const attachedAt = engine.output().length;
    // The slot is confirmed past the ATTACH only once the table watch has read the catalog after it.
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, TABLE, index));
    assert.ok(
      engine.output().indexOf('"msg":"snapshot complete"') > attachedAt,
      "the copy ended before the ATTACH: this test did not test what it is for",
    );
    assert.match(engine.output(), /"code":"table_partitions_changed"[^\n]*public\.m_af held rows from before/);
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("stream partitions: a partition attached that the engine's role may not read by itself has the table copied again", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const index = `${indices.prefix}_m`;
  await createPartitions(db);
  // The engine's role owns the partitioned table only: it reads the partitions through it, not by themselves.
  const role = uniqueName("partition_role");
  const password = crypto.randomUUID();
  await using _role = await createEngineRole(db, role, { table: "m", attributes: `LOGIN REPLICATION PASSWORD '${password}'` });
  const { host } = new URL(db.url);
  const slot = uniqueName("partitions_role");
  const config = await writeConfig({
    source: { url: `postgres://${role}:\${PARTITION_ROLE_PASSWORD}@${host}/${db.name}`, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { m: { index } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"], { PARTITION_ROLE_PASSWORD: password });
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await attachWithRows(db, "not readable alone");
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, TABLE, index));
    assert.match(engine.output(), /"msg":"a new partition cannot be read by the engine's role[^\n]*"partition":"public\.m_af"/);
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("stream partitions: a partitioned partition configured alone gets its partitions' changes; one configured with its parent is refused", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const index = `${indices.prefix}_m`;
  await createPartitions(db);
  const slot = uniqueName("partitions_us");
  const usIndex = `${indices.prefix}_m_us`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { m_us: { index: usIndex } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql.unsafe(`
      INSERT INTO m SELECT g, (ARRAY['eu', 'us', 'sa'])[1 + g % 3], 'streamed', g FROM generate_series(3001, 3300) g;
      UPDATE m SET v = 'updated' WHERE id % 4 = 0;
      UPDATE m SET id = id + 500 WHERE id IN (1, 4, 7);
      UPDATE m SET region = 'eu' WHERE id IN (10, 13);
      UPDATE m SET region = 'us' WHERE id IN (3, 6);
      DELETE FROM m WHERE id % 9 = 0;`);
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "m_us" }, usIndex));
  } finally {
    await stopEngine(engine);
  }

  const both = await writeConfig({
    source: { url: db.url, slot: uniqueName("partitions_both") },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { m: { index }, m_us_low: { index: `${index}_low` } },
  });
  const refused = await runEngine(["run", "--config", both]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.output, /public\.m_us_low is a partition of public\.m, which is configured too/);
});
