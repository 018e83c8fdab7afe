/** The `_id` rule is written twice (SQL for the snapshot, TypeScript for the stream): they must agree. */
import assert from "node:assert/strict";
import { idExpression } from "../../src/pg/snapshot_query.ts";
import { documentId } from "../../src/sinks/elasticsearch/document_id.ts";
import { createTestDatabase } from "../helpers/database.ts";

Deno.test("documentId() and the snapshot's SQL give every key the same _id", async () => {
  await using db = await createTestDatabase();
  await db.sql`CREATE TABLE k (key text PRIMARY KEY)`;
  const keys = [
    "",
    "a",
    "~",
    "~tilde",
    "x".repeat(512),
    "x".repeat(513),
    "é".repeat(256),
    "é".repeat(257),
    "😀 emoji",
    " ",
    "[1, 2]",
  ];
  await db.sql`INSERT INTO k SELECT unnest(${keys}::text[])`;
  const table = {
    name: { schema: "public", name: "k" },
    oid: 0,
    replicaIdentity: "default" as const,
    key: { source: "primary_key" as const, columns: ["key"] },
    columns: [],
  };
  const rows = await db.sql.unsafe<{ key: string; id: string }[]>(
    `SELECT t.key, (${idExpression(table, "t", "")})::json #>> '{}' AS id FROM k t`,
  );
  assert.equal(rows.length, keys.length);
  const ids = new Set<string>();
  for (const row of rows) {
    assert.equal(documentId(row.key), row.id, `key ${JSON.stringify(row.key.slice(0, 20))}`);
    const bytes = new TextEncoder().encode(row.id).length;
    assert.ok(bytes >= 1 && bytes <= 512, `id of ${bytes} bytes`);
    ids.add(row.id);
  }
  assert.equal(ids.size, keys.length, "two keys share an _id");
});
