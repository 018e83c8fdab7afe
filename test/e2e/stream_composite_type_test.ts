/**
 * Column types changed under the stream, both plugins. An ALTER TYPE of a composite type a
 * column has sends no message (pgoutput sends a Relation only when the table itself changes),
 * and the plugins print a composite by position under the attributes it had where the change was
 * logged, while PostgreSQL renders it under those it has now: a change logged before the ALTER
 * and read after it failed to read ("malformed record literal", the stream stopped for good), or
 * read into the wrong attributes without a word. Such changes are indexed as their rows are now
 * (see src/stream/type_watch.ts); so is a value a domain's constraint added since refuses.
 */
import assert from "node:assert/strict";
import { canonicalJson } from "../../src/json/exact_json.ts";
import { assertSameDocuments, compareIndex, expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { allDocuments, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { eventOf, readTopic, uniqueTopicPrefix } from "../helpers/kafka.ts";
import { services } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

/** `shapes` with a column of the composite type point3 (x, y, z), ten rows. */
const SHAPES = `
  CREATE TYPE point3 AS (x int, y int, z int);
  CREATE TABLE shapes (id int PRIMARY KEY, p point3, label text);
  INSERT INTO shapes SELECT g, ROW(g, g + 1, g + 2)::point3, 'l' || g FROM generate_series(1, 10) g;`;

/** Makes the tables of `schema` in `db`, and a config streaming `shapes` through `slot` with `plugin` into `index`. */
async function shapesConfig(db: TestDatabase, schema: string, slot: string, plugin: string, index: string): Promise<string> {
  const { esUrl } = await services();
  await db.sql.unsafe(schema);
  return await writeConfig({
    source: { url: db.url, slot, plugin },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { shapes: { index } },
  });
}

/** PostgreSQL refuses ALTER ATTRIBUTE ... TYPE of a type a column has, and any change to one an array column has. */
const STAGES = [
  {
    ddl: `ALTER TYPE point3 ADD ATTRIBUTE w numeric(20, 2)`,
    change: `UPDATE shapes SET p = ROW(1, 2, 3, 12345678901234567.25)::point3 WHERE id = 1`,
  },
  { ddl: `ALTER TYPE point3 DROP ATTRIBUTE y`, change: `UPDATE shapes SET p = ROW(1, 3, 4)::point3 WHERE id = 2` },
  { ddl: `ALTER TYPE point3 RENAME ATTRIBUTE z TO depth`, change: `UPDATE shapes SET label = 'renamed' WHERE id = 3` },
] as const;

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): ALTER TYPE of a column's composite type while streaming; rows changed after it match to_jsonb(row)`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const slot = `composite_${plugin}`;
    const index = `${indices.prefix}_shapes`;
    const config = await shapesConfig(db, SHAPES, slot, plugin, index);
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    let output = "";
    try {
      await engine.waitFor(/"msg":"router ready"/);
      for (const stage of STAGES) {
        await sql.unsafe(stage.ddl);
        await sql.unsafe(stage.change);
        await sql.unsafe(`INSERT INTO shapes (id, p) SELECT max(id) + 1, (SELECT p FROM shapes WHERE id = 1) FROM shapes`);
        await waitForCatchUp(sql, slot);
        const expected = await expectedDocuments(sql, { schema: "public", name: "shapes" });
        const actual = await allDocuments(index);
        const [{ changed, inserted }] = await sql.unsafe<{ changed: number; inserted: number }[]>(
          `SELECT (regexp_match($1, 'id = (\\d+)'))[1]::int AS changed, max(id) AS inserted FROM shapes`,
          [stage.change],
        );
        for (const id of [changed, inserted].map(String)) {
          assert.ok(actual.has(id), `after "${stage.ddl}": no document ${id}\n${engine.output().slice(-3000)}`);
          assert.equal(canonicalJson(actual.get(id)!.source), expected.get(id), `after "${stage.ddl}": document ${id}`);
        }
      }
    } finally {
      output = await stopEngine(engine);
    }
    assert.doesNotMatch(output, /actor crashed/);
  });
}

/**
 * Changes made while the engine was stopped, each followed by a change of a type it has: a
 * composite's attribute added (twice) and dropped, a domain's constraint added, an enum's label
 * renamed. Read after them, their values no longer parse under the types as they are now
 * ("malformed record literal", a CHECK failed, an unknown label), which stopped the pipeline for
 * good. They are indexed as their rows are now, and the index ends equal to the table.
 */
const LAGGED = [
  `UPDATE shapes SET p = ROW(100, 200, 300)::point3 WHERE id = 1`,
  `UPDATE shapes SET p = ROW(5, 5, 5)::point3 WHERE id = 5`,
  `UPDATE shapes SET label = 'forbidden' WHERE id = 6`,
  `UPDATE shapes SET mood = 'sad' WHERE id = 7`,
  `ALTER TYPE point3 ADD ATTRIBUTE w int`,
  `UPDATE shapes SET p = ROW(7, 8, 9, 10)::point3 WHERE id = 2`,
  `ALTER TYPE point3 ADD ATTRIBUTE v text`,
  `UPDATE shapes SET p = ROW(1, 2, 3, 4, 'five')::point3 WHERE id = 3`,
  `DELETE FROM shapes WHERE id = 5`,
  `UPDATE shapes SET label = 'fine' WHERE id = 6`,
  `ALTER DOMAIN short_text ADD CONSTRAINT not_forbidden CHECK (VALUE <> 'forbidden')`,
  `ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'`,
  `UPDATE shapes SET p = ROW(0, 0, 0, 0, 'x')::point3 WHERE id = 8`,
  `ALTER TYPE point3 DROP ATTRIBUTE x`,
  `INSERT INTO shapes (id, p, label) VALUES (11, ROW(1, 2, 3, 'eleven')::point3, 'new')`,
];

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): changes made before an ALTER TYPE or ALTER DOMAIN and read after it are indexed as their rows are now`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const slot = `composite_lag_${plugin}`;
    const index = `${indices.prefix}_shapes`;
    const config = await shapesConfig(
      db,
      `CREATE TYPE point3 AS (x int, y int, z int);
      CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100);
      CREATE TYPE mood AS ENUM ('happy', 'sad');
      CREATE TABLE shapes (id int PRIMARY KEY, p point3, label short_text, mood mood);
      INSERT INTO shapes SELECT g, ROW(g, g + 1, g + 2)::point3, 'l' || g, 'happy' FROM generate_series(1, 10) g;`,
      slot,
      plugin,
      index,
    );
    let engine = startEngine(["run", "--config", config, "--progress", "log"]);
    let output = "";
    try {
      await engine.waitFor(/"msg":"router ready"/);
      await waitForCatchUp(sql, slot);
      output += await stopEngine(engine);
      for (const statement of LAGGED) await sql.unsafe(statement);
      engine = startEngine(["run", "--config", config, "--progress", "log"]);
      await waitForCatchUp(sql, slot);
      // Every row a change touched is as it is now; the others keep the documents they had (as after ALTER TABLE).
      const expected = await expectedDocuments(sql, { schema: "public", name: "shapes" });
      const actual = await allDocuments(index);
      for (const id of ["1", "2", "3", "6", "7", "8", "11"]) {
        assert.equal(actual.has(id) && canonicalJson(actual.get(id)!.source), expected.get(id), `document ${id}`);
      }
      assert.ok(!actual.has("5"), "the row deleted later has no document");
      assert.notEqual(canonicalJson(actual.get("4")!.source), expected.get("4"), "an untouched row keeps its old document");
      output += await stopEngine(engine);

      // The composite's attributes are in the columns its copy recorded: status and the start say so, and recopy mends it.
      const status = await runEngine(["status", "--config", config, "--json"]);
      assert.equal(status.code, 0, status.output);
      assert.deepEqual(
        (JSON.parse(status.output) as { snapshot: { columnsChanged?: boolean }[] }).snapshot.map((t) => t.columnsChanged),
        [true],
      );
      const recopy = await runEngine(["recopy", "--config", config, "shapes"]);
      assert.equal(recopy.code, 0, recopy.output);
      engine = startEngine(["run", "--config", config, "--progress", "log"]);
      await engine.waitFor(/"msg":"snapshot complete"/);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "shapes" }, index));
    } finally {
      output += await stopEngine(engine);
    }
    assert.doesNotMatch(output, /actor crashed/);
    assert.match(
      output,
      /"msg":"a table's columns changed since its copy \(ALTER TABLE, or ALTER TYPE[^\n]*"table":"public\.shapes"/,
    );
  });
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): a transaction open across ALTER TYPEs that leave as many attributes is indexed as its row is now`, async () => {
    // Its change is logged under (x, y, z) and read under (x, z, w): "(1,2,3)" reads without an
    // error into the wrong attributes, x 1, z 2, w 3, while the row holds x 1, z 3, w null.
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const slot = `composite_open_${plugin}`;
    const index = `${indices.prefix}_shapes`;
    const config = await shapesConfig(db, SHAPES, slot, plugin, index);
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    let output = "";
    try {
      await engine.waitFor(/"msg":"router ready"/);
      // A change rendered first, so that the engine has seen the attributes as they were.
      await sql.unsafe(`UPDATE shapes SET label = 'seen' WHERE id = 9`);
      await waitForCatchUp(sql, slot);
      const open = await sql.reserve();
      try {
        await open.unsafe(`BEGIN`);
        await open.unsafe(`UPDATE shapes SET p = ROW(1, 2, 3)::point3 WHERE id = 1`);
        await sql.unsafe(`ALTER TYPE point3 DROP ATTRIBUTE y`);
        await sql.unsafe(`ALTER TYPE point3 ADD ATTRIBUTE w int`);
        await open.unsafe(`COMMIT`);
      } finally {
        open.release();
      }
      await sql.unsafe(`UPDATE shapes SET p = ROW(7, 8, 9)::point3 WHERE id = 2`);
      await waitForCatchUp(sql, slot);
      const expected = await expectedDocuments(sql, { schema: "public", name: "shapes" });
      const actual = await allDocuments(index);
      for (const id of ["1", "2"]) {
        assert.equal(actual.has(id) && canonicalJson(actual.get(id)!.source), expected.get(id), `document ${id}`);
      }
    } finally {
      output = await stopEngine(engine);
    }
    assert.match(
      output,
      /"msg":"changes read after their column types changed are indexed as their rows are now"[^\n]*"table":"public\.shapes"[^\n]*"reason":"the attributes of a composite type the table has changed"/,
    );
  });
}

Deno.test("stream: a value a domain's constraint added since refuses is indexed as its row is now, where PostgreSQL renders the row", async () => {
  // An unchanged TOASTed column has the row rendered by PostgreSQL, which checks the domain: the
  // batch failed, and every attempt after it.
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100);
    CREATE TABLE notes (id int PRIMARY KEY, body text, label short_text);
    ALTER TABLE notes ALTER COLUMN body SET STORAGE EXTERNAL;
    INSERT INTO notes SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 300) i), 'l' || g
      FROM generate_series(1, 10) g;`);
  const slot = "domain_lag";
  const index = `${indices.prefix}_notes`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { notes: { index } },
  });
  let engine = startEngine(["run", "--config", config, "--progress", "log"]);
  let output = "";
  try {
    await engine.waitFor(/"msg":"router ready"/);
    await waitForCatchUp(sql, slot);
    output += await stopEngine(engine);
    await sql.unsafe(`UPDATE notes SET label = 'forbidden' WHERE id IN (1, 2, 3)`);
    await sql.unsafe(`UPDATE notes SET label = 'fine' WHERE id = 1`);
    await sql.unsafe(`DELETE FROM notes WHERE id = 2`);
    await sql.unsafe(`UPDATE notes SET label = 'fine too' WHERE id = 3`);
    await sql.unsafe(`UPDATE notes SET label = 'changed' WHERE id = 4`);
    await sql.unsafe(`ALTER DOMAIN short_text ADD CONSTRAINT not_forbidden CHECK (VALUE <> 'forbidden')`);
    engine = startEngine(["run", "--config", config, "--progress", "log"]);
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "notes" }, index));
  } finally {
    output += await stopEngine(engine);
  }
  assert.doesNotMatch(output, /actor crashed/);
  assert.match(
    output,
    /"msg":"changes read after their column types changed are indexed as their rows are now"[^\n]*"table":"public\.notes","rows":3,"reason":"value for domain short_text violates check constraint/,
  );
});

Deno.test("stream: a start that finds a table's composite types as recorded renders what it reads from their values; after an ALTER TYPE, as the rows are now", async () => {
  // A change event carries each change's row as it was: rendered as the row is now, two updates
  // read after a start would both show the second. The stamp recorded by the engine before it
  // stopped says the types did not change meanwhile.
  const { kafkaBrokers } = await services();
  await using db = await createTestDatabase();
  await using topics = uniqueTopicPrefix();
  const { sql } = db;
  await sql.unsafe(SHAPES);
  const slot = "composite_restart";
  const topic = `${topics.prefix}shapes`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { events: { type: "kafka", brokers: [kafkaBrokers], topicPrefix: topics.prefix } },
    tables: { shapes: { index: "shapes" } },
  });
  const streamed = async () =>
    (await readTopic(topic)).map(eventOf).filter((e) => !e.snapshot && e.key === "1").map((e) =>
      JSON.parse(e.after!) as { label: string; p: Record<string, number | null> }
    );
  const restartAfter = async (statements: readonly string[]) => {
    output += await stopEngine(engine);
    for (const statement of statements) await sql.unsafe(statement);
    engine = startEngine(["run", "--config", config, "--progress", "log"]);
    await waitForCatchUp(sql, slot);
  };
  let engine = startEngine(["run", "--config", config, "--progress", "log"]);
  let output = "";
  try {
    await engine.waitFor(/"msg":"router ready"/);
    await waitForCatchUp(sql, slot);
    await restartAfter([`UPDATE shapes SET label = 'a' WHERE id = 1`, `UPDATE shapes SET label = 'b' WHERE id = 1`]);
    assert.deepEqual((await streamed()).map((e) => e.label), ["a", "b"]);

    await restartAfter([
      `UPDATE shapes SET label = 'c' WHERE id = 1`,
      `ALTER TYPE point3 ADD ATTRIBUTE w int`,
      `UPDATE shapes SET label = 'd', p = ROW(1, 2, 3, 4)::point3 WHERE id = 1`,
    ]);
    // The types changed while the engine was stopped, somewhere before its start: both changes are read as their row is now.
    assert.deepEqual((await streamed()).slice(2), [
      { id: 1, label: "d", p: { x: 1, y: 2, z: 3, w: 4 } },
      { id: 1, label: "d", p: { x: 1, y: 2, z: 3, w: 4 } },
    ]);
  } finally {
    output += await stopEngine(engine);
  }
  assert.doesNotMatch(output, /actor crashed/);
});
