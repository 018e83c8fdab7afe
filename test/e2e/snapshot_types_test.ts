/**
 * The type matrix: every common PostgreSQL type family at its edges, copied by the engine, and
 * every document's `_source` equal to `to_jsonb(row)`, compared as exact JSON.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex, expectedDocuments } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";
import { MATRIX_COLUMNS, MATRIX_ROWS, MATRIX_SCHEMA } from "../helpers/type_matrix.ts";

Deno.test("snapshot: every type family at its edges is copied so that _source equals to_jsonb(row)", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql.unsafe(MATRIX_SCHEMA);
  await db.sql.unsafe(MATRIX_ROWS);
  // The 1 MB value is stored out of line (TOAST), as in real tables.
  const [{ toasted }] = await db.sql`SELECT pg_column_size(big) < octet_length(big) AS toasted FROM matrix WHERE id = 2`;
  assert.equal(toasted, true);

  const index = `${indices.prefix}_matrix`;
  const config = await writeConfig({
    source: { url: db.url, slot: "types" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { matrix: { index } },
  });
  const result = await runEngine(["run", "--config", config, "--snapshot-only", "--progress", "log"]);
  assert.equal(result.code, 0, result.output);

  const expected = await expectedDocuments(db.sql, { schema: "public", name: "matrix" });
  assert.equal(expected.size, 5);
  // Every row renders with all its columns (a column named "t" must not stand in for the row).
  for (const doc of expected.values()) assert.equal(Object.keys(JSON.parse(doc)).length, MATRIX_COLUMNS);
  assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "matrix" }, index));

  // Spot checks that would catch a comparison that is blind to numbers.
  const docs = await allDocuments(index);
  const max = JSON.stringify((docs.get("2")!.source as Record<string, { text: string }>).i8);
  assert.equal(max, JSON.stringify({ text: "9223372036854775807" }));
  // Nothing was refused or dropped into a side index: the mapping took every value.
  const count = await esRequest("GET", `/${index}/_count`);
  assert.match(count.text, /"count":5\b/);
});
