/**
 * Documents Elasticsearch refuses for good (a value the operator's own mapping cannot take, a
 * document larger than the cluster accepts) go to the dead-letter index with table, key, commit
 * LSN and reason, in the snapshot and in the stream; every other row arrives and the pipeline
 * goes on.
 */
import assert from "node:assert/strict";
import { canonicalJson, type ExactJson, parseExactJson } from "../../src/json/exact_json.ts";
import { parseLsn } from "../../src/pg/lsn.ts";
import type { DeadLetter } from "../../src/sinks/elasticsearch/dead_letter.ts";
import { compareIndex } from "../helpers/contract.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { metricsUrl, startEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

/** The node's http.max_content_length in bytes (Elasticsearch's default when unset: 100mb). */
async function maxContentLength(): Promise<number> {
  const response = await esRequest("GET", "/_nodes/settings?filter_path=nodes.*.settings.http.max_content_length");
  const nodes = (JSON.parse(response.text) as { nodes?: Record<string, { settings: { http: { max_content_length: string } } }> })
    .nodes;
  const value = nodes ? Object.values(nodes)[0].settings.http.max_content_length : "100mb";
  const match = /^(\d+)(b|kb|mb|gb)$/.exec(value.toLowerCase());
  assert.ok(match, `unexpected http.max_content_length ${value}`);
  return Number(match[1]) * { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[match[2] as "b"];
}

async function deadLetters(index: string): Promise<Map<string, DeadLetter>> {
  const entries = new Map<string, DeadLetter>();
  for (const doc of (await allDocuments(index)).values()) {
    // Safe through JSON.parse: the entry's numbers are an HTTP status and a byte count.
    const entry = JSON.parse(canonicalJson(doc.source)) as DeadLetter;
    assert.ok(!entries.has(entry.id), `two dead-letter entries for _id ${entry.id}`);
    entries.set(entry.id, entry);
  }
  return entries;
}

Deno.test("dead letters: refused documents are set aside with table, key, LSN and reason; the rest arrives and the pipeline goes on", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  const index = `${indices.prefix}_items`;
  const deadLetterIndex = `${indices.prefix}_dead`;
  const tooLarge = (await maxContentLength()) + 1024 * 1024;

  // The operator made the index, with a mapping of their own the engine leaves alone.
  const created = await esRequest(
    "PUT",
    `/${index}`,
    JSON.stringify({ mappings: { properties: { code: { type: "integer" } } } }),
  );
  assert.equal(created.status, 200, created.text);
  await sql`CREATE TABLE items (id int PRIMARY KEY, code text, body text)`;
  await sql`ALTER TABLE items ALTER COLUMN body SET STORAGE EXTERNAL`;
  await sql`INSERT INTO items SELECT g, g::text, 'fine' FROM generate_series(1, 300) g`;
  await sql`UPDATE items SET code = 'not a number' WHERE id = 150`;
  await sql`UPDATE items SET body = repeat('x', ${tooLarge}) WHERE id = 151`;

  const slot = uniqueName("dlq");
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, deadLetterIndex } },
    tables: { items: { index } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    const [{ snapshotLsn }] = await sql<{ snapshotLsn: string }[]>`
      SELECT done_version::text AS "snapshotLsn" FROM oesophagus.snapshot_chunk WHERE slot = ${slot} LIMIT 1`;

    const [{ before }] = await sql<{ before: string }[]>`SELECT pg_current_wal_lsn()::text AS before`;
    await sql`INSERT INTO items VALUES (400, 'also not a number', 'streamed'), (401, '401', 'streamed')`;
    await sql`UPDATE items SET code = 'x' || code WHERE id = 2`;
    const [{ after }] = await sql<{ after: string }[]>`SELECT pg_current_wal_lsn()::text AS after`;
    await waitForCatchUp(sql, slot);

    const refused = ["150", "151", "400", "2"];
    const comparison = await compareIndex(sql, { schema: "public", name: "items" }, index);
    assert.deepEqual(comparison.extra, []);
    assert.deepEqual(comparison.different.map((d) => d.id), ["2"], "row 2 keeps its last indexed version");
    assert.deepEqual(comparison.missing.sort(), ["150", "151", "400"]);

    const entries = await deadLetters(deadLetterIndex);
    assert.deepEqual([...entries.keys()].sort(), [...refused].sort());
    for (const entry of entries.values()) {
      assert.equal(entry.table, "public.items");
      assert.equal(entry.index, index);
      assert.equal(entry.action, "index");
    }
    for (const id of ["150", "151"]) assert.equal(entries.get(id)!.commit_lsn, snapshotLsn, `row ${id} was copied`);
    for (const id of ["400", "2"]) {
      const lsn = parseLsn(entries.get(id)!.commit_lsn);
      assert.ok(
        lsn > parseLsn(before) && lsn <= parseLsn(after),
        `row ${id}: ${entries.get(id)!.commit_lsn} not in ${before}..${after}`,
      );
    }
    assert.match(entries.get("150")!.reason, /^400 document_parsing_exception/);
    assert.match(entries.get("151")!.reason, /^413 /);
    assert.equal(entries.get("151")!.truncated, true);
    assert.ok(entries.get("151")!.document_bytes > tooLarge, `${entries.get("151")!.document_bytes} bytes recorded`);

    // A small refused document is kept whole: it is the row as to_jsonb renders it.
    const [row] = await sql<{ doc: string }[]>`SELECT to_jsonb(t)::text AS doc FROM items t WHERE id = 400`;
    const kept = entries.get("400")!;
    assert.equal(kept.truncated, false);
    assert.equal(canonicalJson(parseExactJson(kept.document!)), canonicalJson(parseExactJson(row.doc) as ExactJson));

    // The engine made the dead-letter index with replicas only where a second node can hold them: green on this single node.
    const health = await esRequest("GET", `/_cluster/health/${deadLetterIndex}?filter_path=status`);
    assert.equal(JSON.parse(health.text).status, "green", health.text);

    // Counted for Prometheus too.
    const scraped = await (await fetch(await metricsUrl(engine))).text();
    assert.ok(scraped.includes('oesophagus_dead_letters_total{sink="search",table="public.items"} 4\n'), scraped);

    // Still running, never restarted, and it said what it set aside.
    assert.equal(engine.output().match(/"msg":"document refused by Elasticsearch/g)?.length, 4);
    assert.doesNotMatch(engine.output(), /restart/i);
  } finally {
    engine.kill("SIGTERM");
    const { code } = await engine.exited;
    assert.equal(code, 0, engine.output().slice(-3000));
  }
});
