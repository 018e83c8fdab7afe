/**
 * Stored generated columns are part of the row (to_jsonb has them). wal2json writes their values;
 * pgoutput (PostgreSQL 15) leaves them out of its Relation and row messages, and the engine reads
 * them from the table by key, as it does TOASTed values a change left unchanged.
 */
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`stream (${plugin}): stored generated columns are in every document, copied or streamed`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql.unsafe(`
      CREATE TABLE articles (
        id int PRIMARY KEY, title text, body text,
        words int GENERATED ALWAYS AS (array_length(regexp_split_to_array(body, ' '), 1)) STORED,
        search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(body, ''))) STORED);
      INSERT INTO articles (id, title, body) VALUES (1, 'first', 'one two three'), (2, 'second', 'four');`);
    const index = `${indices.prefix}_articles`;
    const slot = `generated_${plugin}`;
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: 50, timeoutMs: 50 } } },
      tables: { articles: { index } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql.unsafe(`
        INSERT INTO articles (id, title, body) VALUES (3, 'third', 'five six');
        UPDATE articles SET body = 'seven eight nine ten' WHERE id = 1;
        UPDATE articles SET id = 20 WHERE id = 2;`);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "articles" }, index));
    } finally {
      await stopEngine(engine);
    }
  });
}
