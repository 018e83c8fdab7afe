/**
 * A delete or key update whose old image lacks a column of the table's composite key (a
 * partition logging another identity, a key changed since the table was described) has no
 * `_id`: rendering it stops the stream (KeylessChange), in TypeScript and in PostgreSQL alike.
 * `_id` "[1, null]" would name no document, and the delete would be dropped unnoticed.
 */
import assert from "node:assert/strict";
import { describeTables } from "../../src/pg/catalog.ts";
import type { Lsn } from "../../src/pg/lsn.ts";
import { KeylessChange, type RowChange, TableRenderer } from "../../src/stream/render.ts";
import { createTestDatabase } from "../helpers/database.ts";

Deno.test("render: a delete whose old image lacks a key column stops the stream instead of naming no document", async () => {
  await using db = await createTestDatabase();
  const { sql } = db;
  await sql`CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b))`;
  const [table] = await describeTables(sql, [{ schema: "public", name: "pairs" }]);
  const columns = ["a", "b", "v"];
  const types = table.columns.map((c) => c.typeOid);
  const change = (values: (string | null)[]): RowChange => ({
    op: "delete",
    new: null,
    old: { columns, types, values },
    version: 100n as Lsn,
  });
  for (const typescript of [true, false]) {
    const renderer = new TableRenderer(table, { typescript });
    const [whole] = await renderer.render(sql, [change(["1", "x", null])]);
    assert.deepEqual({ action: whole.action, id: whole.id }, { action: "delete", id: JSON.stringify('[1, "x"]') });
    await assert.rejects(() => renderer.render(sql, [change(["1", null, null])]), KeylessChange, `typescript: ${typescript}`);
    await assert.rejects(() => renderer.render(sql, [change([null, "x", null])]), KeylessChange, `typescript: ${typescript}`);
  }
});
