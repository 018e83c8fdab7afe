/**
 * Streaming, both plugins: every DML kind on the type matrix and on keyed tables (key changes,
 * deletes, TRUNCATE, TOAST left alone, several changes of one row in one transaction, a rolled
 * back transaction) ends with `_source` equal to `to_jsonb(row)` for every row and no other
 * document. SIGTERM then stops the engine cleanly.
 */
import assert from "node:assert/strict";
import { canonicalJson, type ExactJson, parseExactJson } from "../../src/json/exact_json.ts";
import { describeTables } from "../../src/pg/catalog.ts";
import { assertSameDocuments, compareIndex, expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";
import { MATRIX_ROWS, MATRIX_SCHEMA } from "../helpers/type_matrix.ts";

const NAN_TYPES = new Set(["real", "double precision", "numeric", "numeric(40,10)"]);

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): every DML kind ends with _source equal to to_jsonb(row), and nothing else`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql.unsafe(MATRIX_SCHEMA);
    await sql.unsafe(`
      CREATE TABLE items (id int PRIMARY KEY, name text, big text, qty numeric);
      CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (a, b));
      CREATE TABLE logs (id int PRIMARY KEY, msg text);
      INSERT INTO items SELECT g, 'item ' || g, NULL, g FROM generate_series(1, 100) g;
      INSERT INTO logs SELECT g, 'before truncate' FROM generate_series(1, 50) g;`);
    const slot = `stream_${plugin}`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 50, timeoutMs: 50 } } },
      tables: {
        matrix: { index: `${indices.prefix}_matrix` },
        items: { index: `${indices.prefix}_items` },
        pairs: { index: `${indices.prefix}_pairs` },
        logs: { index: `${indices.prefix}_logs` },
      },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql.unsafe(MATRIX_ROWS);
      await sql.unsafe(`
        UPDATE matrix SET i4 = 7, t = 'toast untouched' WHERE id = 2;
        UPDATE matrix SET id = 300 WHERE id = 3;
        DELETE FROM matrix WHERE id = 5;
        UPDATE items SET big = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 20000) g) WHERE id <= 3;`);
      await sql.unsafe(`UPDATE items SET qty = qty * 2 WHERE id <= 3`); // leaves the TOASTed big alone
      await sql.begin(async (tx) => {
        await tx`INSERT INTO items VALUES (1000, 'born', NULL, 1)`;
        await tx`UPDATE items SET name = 'grew up' WHERE id = 1000`;
        await tx`UPDATE items SET id = 1001 WHERE id = 1000`;
        await tx`UPDATE items SET name = 'moved twice' WHERE id = 1001`;
        await tx`DELETE FROM items WHERE id BETWEEN 50 AND 60`;
      });
      await sql.begin(async (tx) => {
        await tx`INSERT INTO items VALUES (2000, 'rolled back', NULL, 1)`;
        await tx`SELECT 1/0`;
      }).catch(() => {});
      await sql.unsafe(`
        INSERT INTO pairs SELECT g % 10, 'k' || g, g FROM generate_series(1, 200) g;
        UPDATE pairs SET b = b || '!' WHERE a = 3;
        DELETE FROM pairs WHERE a = 4;`);
      await sql.unsafe(`TRUNCATE logs`);
      await sql.unsafe(`INSERT INTO logs SELECT g, 'after truncate' FROM generate_series(40, 45) g`);
      await waitForCatchUp(sql, slot);

      const tables = await describeTables(sql, ["matrix", "items", "pairs", "logs"].map((name) => ({ schema: "public", name })));
      for (const table of tables) {
        const index = `${indices.prefix}_${table.name.name}`;
        if (plugin === "wal2json" && table.name.name === "matrix") {
          // wal2json 2.5 sends NaN and ±Infinity of float and numeric columns as null (DESIGN 4b).
          const expected = await expectedDocuments(sql, table.name);
          const nanColumns = table.columns.filter((c) => NAN_TYPES.has(c.typeName)).map((c) => c.name);
          const actual = await allDocuments(index);
          assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
          for (const [id, doc] of expected) {
            const parsed = parseExactJson(doc) as Record<string, ExactJson>;
            for (const c of nanColumns) if (["NaN", "Infinity", "-Infinity"].includes(parsed[c] as string)) parsed[c] = null;
            assert.equal(canonicalJson(actual.get(id)!.source), canonicalJson(parsed), `matrix row ${id}`);
          }
          continue;
        }
        assertSameDocuments(await compareIndex(sql, table.name, index));
      }
      const logs = await allDocuments(`${indices.prefix}_logs`);
      assert.deepEqual([...logs.keys()].sort(), ["40", "41", "42", "43", "44", "45"]);
      assert.equal((await allDocuments(`${indices.prefix}_items`)).has("2000"), false);

      const stopping = Date.now();
      engine.kill("SIGTERM");
      const exited = await engine.exited;
      assert.equal(exited.code, 0, exited.output);
      assert.ok(Date.now() - stopping < 10_000, "SIGTERM took longer than 10 s");
      // An update leaving a TOASTed column out of the row (wal2json) is not a schema change.
      assert.doesNotMatch(exited.output, /table schema changed/);
    } finally {
      engine.kill("SIGKILL");
      await engine.exited;
    }
  });
}
