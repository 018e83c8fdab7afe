/**
 * An index deleted by hand while the engine streams into it: the sink notices, the pipeline
 * restarts and the table is copied again, so the index ends equal to the table instead of holding
 * only the rows changed since. Deleted with no write after it, the index is made anew with the
 * engine's mappings; with a write right after it, Elasticsearch makes it at that write, and the
 * copy goes into that index.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

Deno.test("stream: an index deleted while the engine streams is noticed, and its table copied again", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const notes = { schema: "public", name: "notes" };
  await sql`CREATE TABLE notes (id int PRIMARY KEY, body text, amount numeric)`;
  await sql`INSERT INTO notes SELECT g, 'copied', g * 1.25 FROM generate_series(1, 200) g`;
  const slot = uniqueName("index_deleted");
  const index = `${indices.prefix}_notes`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { notes: { index } },
  });
  const managed = async () => {
    const { text } = await esRequest("GET", `/${index}/_mapping`);
    return JSON.stringify(JSON.parse(text)[index]?.mappings?._meta ?? null);
  };
  /** Waits until `times` lines of the engine's output match `pattern`. */
  const said = async (pattern: RegExp, times: number) => {
    const deadline = Date.now() + 60_000;
    while (engine.output().split("\n").filter((line) => pattern.test(line)).length < times) {
      assert.ok(Date.now() < deadline, `the engine did not print ${times} lines matching ${pattern} within 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const COPIED_AGAIN = /"msg":"a table's index was made anew since its copy: copying the table again"/;
  const CRASHED = /"msg":"actor crashed".*"error":"sink search: the index \S+ was deleted/;

  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await waitForCatchUp(sql, slot);
    const before = await managed();
    assert.match(before, /oesophagus/);

    // Nothing written after the deletion: the restart makes the index with the engine's mappings.
    assert.equal((await esRequest("DELETE", `/${index}`)).status, 200);
    await engine.waitFor(/the index \S+ was deleted while the engine wrote to it/, 60_000);
    await said(COPIED_AGAIN, 1);
    await waitForCatchUp(sql, slot);
    await esRequest("POST", `/${index}/_refresh`);
    assertSameDocuments(await compareIndex(sql, notes, index));
    assert.equal(await managed(), before);

    // A write right after the deletion: Elasticsearch makes the index at it; the table is copied into that one.
    assert.equal((await esRequest("DELETE", `/${index}`)).status, 200);
    await sql`UPDATE notes SET body = 'after the second deletion' WHERE id = 7`;
    // Said "deleted and made anew", unless the sink looked between the deletion and the write.
    await said(CRASHED, 2);
    await said(COPIED_AGAIN, 2);
    await waitForCatchUp(sql, slot);
    await esRequest("POST", `/${index}/_refresh`);
    assertSameDocuments(await compareIndex(sql, notes, index));
  } finally {
    await stopEngine(engine);
  }
});
