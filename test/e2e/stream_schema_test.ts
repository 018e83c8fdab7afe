/**
 * ALTER TABLE while streaming, both plugins: after a column is added, dropped, renamed or retyped,
 * every row changed from then on is indexed with `_source` equal to `to_jsonb(row)`. Rows not
 * changed since keep the document they had (a schema change writes no row to the WAL).
 */
import assert from "node:assert/strict";
import { canonicalJson, type ExactJson, JsonNumber, parseExactJson } from "../../src/json/exact_json.ts";
import { expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

/** Each schema change, then a row inserted and an existing one updated under it. */
const STAGES = [
  { ddl: `ALTER TABLE items ADD COLUMN d text DEFAULT 'default d'`, inserted: 101, updated: 1 },
  { ddl: `ALTER TABLE items DROP COLUMN b`, inserted: 102, updated: 2 },
  { ddl: `ALTER TABLE items RENAME COLUMN c TO c_renamed`, inserted: 103, updated: 3 },
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
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    let output = "";
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
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
      }
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
    } finally {
      output = await stopEngine(engine);
    }
    assert.match(output, /table schema changed while streaming/);
  });
}
