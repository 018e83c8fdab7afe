/**
 * A publication of the engine's name made beforehand (the README lets an operator make it, for
 * a source user who may not) is taken as it is only if it publishes what the stream needs: one
 * made `WITH (publish = 'insert')` would have the stream carry no update, delete or truncate, and
 * one `WITH (publish_via_partition_root = true)` no TRUNCATE of a partition; either way the index
 * keeps documents the table no longer has. One FOR ALL TABLES cannot be given a table list, and
 * needs none.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createEngineRole, createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, stopsOnItsOwn, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";

/** The engine on `db` with pgoutput, each of `tables` to the index `<prefix>_<table>`. */
async function engineFor(db: TestDatabase, slot: string, tables: readonly string[], prefix: string) {
  const { esUrl } = await services();
  const config = await writeConfig({
    source: { url: db.url, slot, plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: Object.fromEntries(tables.map((table) => [table, { index: `${prefix}_${table}` }])),
  });
  return startEngine(["run", "--config", config, "--progress", "log"]);
}

Deno.test("stream (pgoutput): a publication made beforehand for inserts only is widened to every change, and nothing is missed", async () => {
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE items (id int PRIMARY KEY, name text);
    CREATE TABLE logs (id int PRIMARY KEY, line text);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;
    INSERT INTO logs SELECT g, 'line ' || g FROM generate_series(1, 20) g;
    CREATE PUBLICATION oesophagus FOR TABLE items WITH (publish = 'insert');`);
  const engine = await engineFor(db, "widened", ["items", "logs"], indices.prefix);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql.unsafe(`
      INSERT INTO items VALUES (100, 'new');
      UPDATE items SET name = 'renamed' WHERE id <= 10;
      DELETE FROM items WHERE id > 40 AND id < 100;
      TRUNCATE logs;
      INSERT INTO logs VALUES (1, 'after truncate');`);
    await waitForCatchUp(sql, "widened");
    assert.match(
      engine.output(),
      /"msg":"the publication left out some changes: it publishes every kind of change now".*"published":"insert"/,
    );
    const [publication] = await sql<{ all: boolean }[]>`
      SELECT pubinsert AND pubupdate AND pubdelete AND pubtruncate AS all FROM pg_publication WHERE pubname = 'oesophagus'`;
    assert.equal(publication.all, true);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, `${indices.prefix}_items`));
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "logs" }, `${indices.prefix}_logs`));
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("stream (pgoutput): a publication made beforehand FOR ALL TABLES is taken as it is; other tables' changes are left out", async () => {
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE items (id int PRIMARY KEY, name text);
    CREATE TABLE other (id int PRIMARY KEY, line text);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;
    CREATE PUBLICATION oesophagus FOR ALL TABLES;`);
  const engine = await engineFor(db, "all_tables", ["items"], indices.prefix);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql.unsafe(`
      INSERT INTO other SELECT g, 'line ' || g FROM generate_series(1, 30) g;
      INSERT INTO items VALUES (100, 'new');
      UPDATE items SET name = 'renamed' WHERE id <= 10;
      DELETE FROM items WHERE id > 40 AND id < 100;
      UPDATE other SET line = 'changed';`);
    await waitForCatchUp(sql, "all_tables");
    const [publication] = await sql<
      { all: boolean }[]
    >`SELECT puballtables AS all FROM pg_publication WHERE pubname = 'oesophagus'`;
    assert.equal(publication.all, true, "the operator's publication was changed");
    assert.match(engine.output(), /"msg":"the publication publishes every table/);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, `${indices.prefix}_items`));
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("stream (pgoutput): a publication made beforehand to publish via the partition root is reset, so a partition's TRUNCATE is seen", async () => {
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE m (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE m_eu PARTITION OF m FOR VALUES IN ('eu');
    CREATE TABLE m_us PARTITION OF m FOR VALUES IN ('us');
    INSERT INTO m SELECT g, (ARRAY['eu', 'us'])[1 + g % 2], 'copied' FROM generate_series(1, 100) g;
    CREATE PUBLICATION oesophagus FOR TABLE m WITH (publish_via_partition_root = true);`);
  const engine = await engineFor(db, "via_root", ["m"], indices.prefix);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql`UPDATE m SET v = 'streamed' WHERE id <= 10`;
    await waitForCatchUp(sql, "via_root");
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "m" }, `${indices.prefix}_m`));
    assert.match(engine.output(), /"msg":"the publication published partitions' changes as their root's/);
    const before = await currentWalLsn(sql);
    // Published via the root, this TRUNCATE sends nothing: the engine would go on with m_us's 50 rows in the index.
    await sql`TRUNCATE m_us`;
    const output = await stopsOnItsOwn(engine, "the TRUNCATE");
    assert.match(output, /TRUNCATE of public\.m_us empties only part of public\.m/);
    assert.ok((await confirmedLsn(sql, "via_root")) <= before, "the slot passed the TRUNCATE");
  } finally {
    engine.kill("SIGKILL");
    await engine.exited;
  }
});

Deno.test("stream (pgoutput): a publication an operator made for a source user who does not own the tables is used as it is", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE items (id int PRIMARY KEY, name text);
    INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 50) g;
    CREATE PUBLICATION oesophagus FOR TABLE items;`);
  const role = uniqueName("reader_role");
  const password = crypto.randomUUID();
  await using _role = await createEngineRole(db, role, {
    table: "items",
    attributes: `LOGIN REPLICATION PASSWORD '${password}'`,
    owner: false,
  });
  const { host } = new URL(db.url);
  const config = await writeConfig({
    source: { url: `postgres://${role}:\${READER_PASSWORD}@${host}/${db.name}`, slot: "operator_made", plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index: `${indices.prefix}_items` } },
  });
  const checked = await runEngine(["check", "--config", config], { READER_PASSWORD: password });
  assert.equal(checked.code, 0, checked.output);
  assert.match(checked.output, /publication oesophagus is made already and is used as it is/);
  const engine = startEngine(["run", "--config", config, "--progress", "log"], { READER_PASSWORD: password });
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await sql.unsafe(`
      INSERT INTO items VALUES (100, 'new');
      UPDATE items SET name = 'renamed' WHERE id <= 10;
      DELETE FROM items WHERE id > 40 AND id < 100;`);
    await waitForCatchUp(sql, "operator_made");
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, `${indices.prefix}_items`));
  } finally {
    await stopEngine(engine);
  }
  // A table added to the config needs the publication changed, which only its owner may do: the fix says how.
  await sql.unsafe(`CREATE TABLE extra (id int PRIMARY KEY); GRANT SELECT ON extra TO ${role}`);
  const widened = await writeConfig({
    source: { url: `postgres://${role}:\${READER_PASSWORD}@${host}/${db.name}`, slot: "operator_made", plugin: "pgoutput" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { items: { index: `${indices.prefix}_items` }, extra: { index: `${indices.prefix}_extra` } },
  });
  const refused = await runEngine(["run", "--config", widened, "--progress", "log"], { READER_PASSWORD: password });
  assert.equal(refused.code, 1, refused.output);
  assert.match(refused.output, /cannot alter publication oesophagus: must be owner of publication oesophagus/);
  assert.match(
    refused.output,
    /fix: as the publication's owner, .*ALTER PUBLICATION "oesophagus" SET TABLE "public"\."items", "public"\."extra";/,
  );
});
