/**
 * The document = row contract, checked exactly: for every row, the document with its `_id`
 * has `_source` equal to `to_jsonb(row)` rendered by PostgreSQL, compared as exact JSON.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { canonicalJson, parseExactJson } from "../../src/json/exact_json.ts";
import { describeTables } from "../../src/pg/catalog.ts";
import type { QualifiedName } from "../../src/pg/identifier.ts";
import { quoteQualified } from "../../src/pg/identifier.ts";
import { idExpression } from "../../src/pg/snapshot_query.ts";
import { allDocuments } from "./elasticsearch.ts";
import { waitForCatchUp } from "./stream.ts";

/** Rows of a table as PostgreSQL renders them: `_id` (as the engine derives it) -> canonical to_jsonb. */
export async function expectedDocuments(sql: postgres.Sql, name: QualifiedName): Promise<Map<string, string>> {
  const [table] = await describeTables(sql, [name]);
  const rows = await sql.unsafe<{ id: string; doc: string }[]>(
    `SELECT (${idExpression(table, "t", "to_jsonb(t.*)::text")})::json #>> '{}' AS id, to_jsonb(t.*)::text AS doc FROM ${
      quoteQualified(name)
    } t`,
  );
  const expected = new Map<string, string>();
  for (const row of rows) {
    assert.ok(!expected.has(row.id), `two rows share _id ${row.id}`);
    expected.set(row.id, canonicalJson(parseExactJson(row.doc)));
  }
  return expected;
}

export interface Comparison {
  readonly missing: string[];
  readonly extra: string[];
  readonly different: { id: string; expected: string; actual: string }[];
}

export async function compareIndex(sql: postgres.Sql, name: QualifiedName, index: string): Promise<Comparison> {
  const expected = await expectedDocuments(sql, name);
  const actual = await allDocuments(index);
  const missing = [...expected.keys()].filter((id) => !actual.has(id));
  const extra = [...actual.keys()].filter((id) => !expected.has(id));
  const different = [];
  for (const [id, doc] of expected) {
    const stored = actual.get(id);
    if (!stored) continue;
    const text = canonicalJson(stored.source);
    if (text !== doc) different.push({ id, expected: doc, actual: text });
  }
  return { missing, extra, different };
}

export function assertSameDocuments(comparison: Comparison): void {
  const { missing, extra, different } = comparison;
  assert.deepEqual(
    { missing: missing.slice(0, 5), extra: extra.slice(0, 5), different: different.slice(0, 3) },
    { missing: [], extra: [], different: [] },
    `${missing.length} missing, ${extra.length} extra, ${different.length} different`,
  );
}

/**
 * With the engine streaming `items (id int, v text)` of `rows` rows into `index`: updates the
 * first ten rows, deletes the last ten, waits until the slot has passed them, and asserts the
 * index equals the table.
 */
export async function assertStreamsExactly(sql: postgres.Sql, slot: string, index: string, rows: number): Promise<void> {
  await sql`UPDATE items SET v = 'changed' WHERE id <= 10`;
  await sql`DELETE FROM items WHERE id > ${rows - 10}`;
  await waitForCatchUp(sql, slot);
  assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, index));
}
