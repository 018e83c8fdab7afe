/**
 * `oesophagus recopy`: after ALTER TABLE, the documents of rows no change touched since keep
 * their old columns (a schema change writes no row to the WAL); recopy has the next start copy the
 * table again over them, so every document equals `to_jsonb(row)` again, rows deleted meanwhile
 * swept, without the index being deleted. A start and `status` say when a table's columns
 * changed since its copy. recopy refuses while the engine runs, and names a table that is not
 * configured.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

const ITEMS = { schema: "public", name: "items" };

/** `status --json`'s columnsChanged of each table. */
async function columnsChanged(config: string): Promise<Record<string, boolean | undefined>> {
  const status = await runEngine(["status", "--config", config, "--json"]);
  assert.equal(status.code, 0, status.output);
  const report = JSON.parse(status.output) as { snapshot: { table: string; columnsChanged?: boolean }[] };
  return Object.fromEntries(report.snapshot.map((t) => [t.table, t.columnsChanged]));
}

Deno.test("recopy: after ALTER TABLE, the next start copies the table again over its documents; refused while running", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql.unsafe(`
    CREATE TABLE items (id int PRIMARY KEY, a int, b text);
    INSERT INTO items SELECT g, g, 'b ' || g FROM generate_series(1, 300) g;
    CREATE TABLE other (id int PRIMARY KEY, v text);
    INSERT INTO other SELECT g, 'v' FROM generate_series(1, 50) g;`);
  const slot = uniqueName("recopy");
  const index = `${indices.prefix}_items`;
  const otherIndex = `${indices.prefix}_other`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index }, other: { index: otherIndex } },
  });
  const run = () => startEngine(["run", "--config", config, "--progress", "log"]);

  let engine = run();
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await engine.waitFor(/"msg":"router ready"/);
    await sql.unsafe(`ALTER TABLE items ADD COLUMN d text DEFAULT 'default d'; ALTER TABLE items DROP COLUMN b`);
    await sql`UPDATE items SET a = -a WHERE id <= 10`;
    await waitForCatchUp(sql, slot);
    // What recopy is for: the rows changed since the ALTER are right, the other 290 keep their old columns.
    const stale = await compareIndex(sql, ITEMS, index);
    assert.deepEqual([stale.missing.length, stale.extra.length, stale.different.length], [0, 0, 290]);

    const refused = await runEngine(["recopy", "--config", config, "items"]);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, new RegExp(`slot ${slot} is in use \\(walsender pid \\d+\\): the engine is running`));
    assert.match(refused.output, /fix: stop the engine \(SIGTERM\), run recopy again, then start the engine/);
  } finally {
    await stopEngine(engine);
  }
  const otherBefore = await allDocuments(otherIndex);
  // Known after a restart too: the start warns, and status says which table and what to do.
  engine = run();
  try {
    await engine.waitFor(
      /"msg":"a table's columns changed since its copy \(ALTER TABLE, or ALTER TYPE of a composite type it has\)[^\n]*"table":"public\.items"[^\n]*oesophagus recopy public\.items/,
    );
  } finally {
    await stopEngine(engine);
  }
  assert.deepEqual(await columnsChanged(config), { "public.items": true, "public.other": false });
  const text = await runEngine(["status", "--config", config]);
  assert.match(
    text.output,
    /public\.items: its columns changed since its copy \(ALTER TABLE, or ALTER TYPE of a composite type it has\)[^\n]*\n {2}fix: stop the engine, run "oesophagus recopy public\.items"/,
  );
  assert.doesNotMatch(text.output, /public\.other: its columns changed/);

  const unknown = await runEngine(["recopy", "--config", config, "items", "nope"]);
  assert.equal(unknown.code, 2, unknown.output);
  assert.match(unknown.output, /recopy: public\.nope is not a configured table \(configured: public\.items, public\.other\)/);
  const none = await runEngine(["recopy", "--config", config]);
  assert.equal(none.code, 2, none.output);
  assert.match(none.output, /recopy: name the tables to copy again/);

  // While stopped: a row deleted (its document must be swept) and one inserted.
  await sql`DELETE FROM items WHERE id = 300`;
  await sql`INSERT INTO items (id, a) VALUES (301, 301)`;
  const recopied = await runEngine(["recopy", "--config", config, "public.items"]);
  assert.equal(recopied.code, 0, recopied.output);
  assert.match(recopied.output, /public\.items: copied again at the next start/);

  engine = run();
  try {
    await engine.waitFor(/"msg":"snapshot complete"/);
    await sql`UPDATE items SET a = 0 WHERE id = 1`;
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, ITEMS, index));
    assert.deepEqual(await columnsChanged(config), { "public.items": false, "public.other": false });
    // The index kept (not made anew), and the table not named left as it was.
    const otherAfter = await allDocuments(otherIndex);
    assert.equal(otherAfter.size, 50);
    for (const [id, doc] of otherAfter) assert.equal(doc.version, otherBefore.get(id)?.version, `other ${id} copied again`);
  } finally {
    await stopEngine(engine);
  }
  // Copied once: a start after that copies nothing again.
  const versions = new Map([...(await allDocuments(index))].map(([id, doc]) => [id, doc.version]));
  engine = run();
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
  } finally {
    await stopEngine(engine);
  }
  for (const [id, doc] of await allDocuments(index)) assert.equal(doc.version, versions.get(id), `items ${id} copied again`);
});
