/**
 * ALTER TABLE while streaming, both plugins: after a column is added, dropped, renamed or retyped,
 * every row changed from then on is indexed with `_source` equal to `to_jsonb(row)`. Rows not
 * changed since keep the document they had (a schema change writes no row to the WAL). New
 * columns become searchable fields of the engine's index (also for a column added while the
 * engine was down); an index the operator made keeps exactly their mapping.
 */
import assert from "node:assert/strict";
import { canonicalJson, type ExactJson, JsonNumber, parseExactJson } from "../../src/json/exact_json.ts";
import { expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

/** Each schema change, then a row inserted and an existing one updated under it; `field`: a field it adds. */
const STAGES = [
  { ddl: `ALTER TABLE items ADD COLUMN d text DEFAULT 'default d'`, inserted: 101, updated: 1, field: "d" },
  { ddl: `ALTER TABLE items DROP COLUMN b`, inserted: 102, updated: 2 },
  { ddl: `ALTER TABLE items RENAME COLUMN c TO c_renamed`, inserted: 103, updated: 3, field: "c_renamed" },
  // int -> text: a converter for int would print the text unquoted.
  { ddl: `ALTER TABLE items ALTER COLUMN a TYPE text USING 'text ' || a`, inserted: 104, updated: 4 },
  { ddl: `ALTER TABLE items ALTER COLUMN c_renamed TYPE bigint USING (c_renamed * 100)::bigint`, inserted: 105, updated: 5 },
] as const;

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): ALTER TABLE while streaming; every row changed after it matches to_jsonb(row)`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql.unsafe(`
      CREATE TABLE items (id int PRIMARY KEY, a int, b text, c numeric(10, 2));
      INSERT INTO items SELECT g, g, 'b ' || g, g / 4.0 FROM generate_series(1, 20) g;`);
    const slot = `schema_${plugin}`;
    const index = `${indices.prefix}_items`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { items: { index } },
    });
    let engine = startEngine(["run", "--config", config, "--progress", "log"]);
    let output = "";
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      // The router describes the tables on its own: before an ALTER, so that it is seen as one.
      await engine.waitFor(/"msg":"router ready"/);
      for (const stage of STAGES) {
        await sql.unsafe(stage.ddl);
        await sql.unsafe(`INSERT INTO items (id, a) VALUES (${stage.inserted}, '7')`);
        await sql.unsafe(`UPDATE items SET a = a WHERE id = ${stage.updated}`);
        await waitForCatchUp(sql, slot);
        const expected = await expectedDocuments(sql, { schema: "public", name: "items" });
        const actual = await allDocuments(index);
        for (const id of [stage.inserted, stage.updated].map(String)) {
          assert.ok(actual.has(id), `after "${stage.ddl}": no document ${id}`);
          assert.equal(canonicalJson(actual.get(id)!.source), expected.get(id), `after "${stage.ddl}": document ${id}`);
        }
        if ("field" in stage) {
          const field = (await fieldsOf(index))[stage.field];
          assert.ok(field, `after "${stage.ddl}": no field ${stage.field} in the mapping`);
          // Searchable: both rows written since have the column, and a term query on it finds them.
          const value = stage.field === "d" ? "default d" : null;
          if (value !== null) assert.deepEqual(await idsMatching(index, stage.field, value), ["1", "101"]);
        }
      }
      assert.equal((await fieldsOf(index)).b?.type, "text", "a dropped column's field stays (Elasticsearch cannot remove it)");
      // Changes of one transaction on both sides of a schema change.
      await sql.begin(async (tx) => {
        await tx.unsafe(`UPDATE items SET a = 'before' WHERE id = 6`);
        await tx.unsafe(`ALTER TABLE items ADD COLUMN e int DEFAULT 5`);
        await tx.unsafe(`UPDATE items SET a = 'after' WHERE id = 7`);
      });
      await waitForCatchUp(sql, slot);
      const expected = await expectedDocuments(sql, { schema: "public", name: "items" });
      const actual = await allDocuments(index);
      assert.equal(canonicalJson(actual.get("7")!.source), expected.get("7"));
      // Row 6 changed before the column existed: its document has no `e` (no WAL says it got the default).
      const six = parseExactJson(expected.get("6")!) as Record<string, ExactJson>;
      assert.equal(six.e instanceof JsonNumber && six.e.text, "5");
      delete six.e;
      assert.equal(canonicalJson(actual.get("6")!.source), canonicalJson(six));
      assert.equal((await fieldsOf(index)).e?.type, "integer");

      // A column added while the engine is down: mapped when the engine starts again.
      output += await stopEngine(engine);
      await sql.unsafe(`ALTER TABLE items ADD COLUMN f boolean DEFAULT true`);
      engine = startEngine(["run", "--config", config, "--progress", "log"]);
      await engine.waitFor(/"msg":"streaming from slot"/);
      assert.equal((await fieldsOf(index)).f?.type, "boolean");
    } finally {
      output += await stopEngine(engine);
    }
    assert.match(output, /table schema changed while streaming/);
    assert.match(output, /"msg":"index mapping extended"[^\n]*"fields":\["d"\]/);
  });
}

Deno.test("stream: an index the operator made keeps its own mapping when the table gains a column", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const index = `${indices.prefix}_own`;
  const made = await esRequest(
    "PUT",
    `/${index}`,
    JSON.stringify({ mappings: { dynamic: false, properties: { id: { type: "integer" } } } }),
  );
  assert.equal(made.status, 200, made.text);
  await sql.unsafe(`CREATE TABLE own (id int PRIMARY KEY, a text); INSERT INTO own VALUES (1, 'one')`);
  const slot = "schema_own";
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { own: { index } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  let output = "";
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    // The router describes the tables on its own: before an ALTER, so that it is seen as one.
    await engine.waitFor(/"msg":"router ready"/);
    await sql.unsafe(`ALTER TABLE own ADD COLUMN b text DEFAULT 'b'`);
    await sql.unsafe(`INSERT INTO own (id) VALUES (2)`);
    await waitForCatchUp(sql, slot);
    const documents = await allDocuments(index);
    assert.equal(
      canonicalJson(documents.get("2")!.source),
      (await expectedDocuments(sql, { schema: "public", name: "own" })).get("2"),
    );
  } finally {
    output = await stopEngine(engine);
  }
  assert.match(output, /table schema changed while streaming/, "the engine saw the new column");
  assert.deepEqual(Object.keys(await fieldsOf(index)), ["id"]);
});

/** The index's top-level fields and their mappings. */
async function fieldsOf(index: string): Promise<Record<string, { type?: string }>> {
  const answer = await esRequest("GET", `/${index}/_mapping`);
  assert.equal(answer.status, 200, answer.text);
  const mappings = Object.values(JSON.parse(answer.text) as Record<string, { mappings: { properties?: object } }>)[0].mappings;
  return (mappings.properties ?? {}) as Record<string, { type?: string }>;
}

/** Ids of the documents whose `field` is exactly `value` (a term query on its keyword), sorted. */
async function idsMatching(index: string, field: string, value: string): Promise<string[]> {
  await esRequest("POST", `/${index}/_refresh`);
  const answer = await esRequest(
    "POST",
    `/${index}/_search`,
    JSON.stringify({ size: 100, _source: false, query: { term: { [`${field}.keyword`]: value } } }),
  );
  assert.equal(answer.status, 200, answer.text);
  return (JSON.parse(answer.text) as { hits: { hits: { _id: string }[] } }).hits.hits.map((h) => h._id).sort();
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): changes logged before an ALTER COLUMN TYPE whose values the new type refuses are indexed as their rows are now`, async () => {
    // Read after the ALTER, 'abc' does not read as an integer: the batch failed, and every attempt after it.
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql.unsafe(`
      CREATE TABLE items (id int PRIMARY KEY, a text);
      INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g;`);
    const slot = `retype_${plugin}`;
    const index = `${indices.prefix}_items`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { items: { index } },
    });
    let engine = startEngine(["run", "--config", config, "--progress", "log"]);
    let output = "";
    try {
      await engine.waitFor(/"msg":"router ready"/);
      await waitForCatchUp(sql, slot);
      output += await stopEngine(engine);
      await sql.unsafe(`UPDATE items SET a = 'abc' WHERE id IN (1, 2)`);
      await sql.unsafe(`DELETE FROM items WHERE id = 2`);
      await sql.unsafe(`ALTER TABLE items ALTER COLUMN a TYPE int USING length(a)`);
      await sql.unsafe(`UPDATE items SET a = 42 WHERE id = 3`);
      engine = startEngine(["run", "--config", config, "--progress", "log"]);
      await waitForCatchUp(sql, slot);
      const expected = await expectedDocuments(sql, { schema: "public", name: "items" });
      const actual = await allDocuments(index);
      for (const id of ["1", "3"]) assert.equal(canonicalJson(actual.get(id)!.source), expected.get(id), `document ${id}`);
      assert.ok(!actual.has("2"), "the row deleted later has no document");
    } finally {
      output += await stopEngine(engine);
    }
    assert.doesNotMatch(output, /actor crashed/);
    assert.match(
      output,
      /"msg":"changes read after their column types changed are indexed as their rows are now"[^\n]*"table":"public\.items"[^\n]*"reason":"invalid input syntax for type integer/,
    );
  });
}
