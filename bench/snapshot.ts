/**
 * bench/snapshot: copy a 1,000,000-row, 10-column table into Elasticsearch and compare the engine
 * with the two ceilings it cannot beat, measured in the same run on the same machine:
 *   1. PostgreSQL rendering the documents: COPY (SELECT to_jsonb(t) FROM t) TO STDOUT, to /dev/null;
 *   2. Elasticsearch indexing them: a plain _bulk load of the same documents into a fresh index
 *      with the engine's mapping, batch size and concurrency, and no engine in between.
 * Prints rows/s for each, the ratio engine / min(ceilings) and the engine's peak RSS.
 * Target (issue #3): ratio >= 0.8, peak RSS <= 300 MB.
 *
 *   deno run -A bench/snapshot.ts [--rows 1000000]
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { describeTables } from "../src/pg/catalog.ts";
import { countFields, indexMapping } from "../src/sinks/elasticsearch/mapping.ts";
import { ENGINE_ARGS } from "../test/helpers/engine.ts";
import { services } from "../test/helpers/services.ts";
import { measureProcess, rate, timed } from "./measure.ts";

const { values } = parseArgs({ options: { rows: { type: "string", default: "1000000" } } });
const ROWS = Number(values.rows);
const MAX_DOCS = 2_000;
const CONCURRENCY = 2;

const { pgUrl, esUrl } = await services();
const database = "bench_snapshot";
const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
await admin`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = ${database}`;
await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
await admin.unsafe(`CREATE DATABASE ${database}`);
const url = pgUrl.replace(/\/[^/]*$/, `/${database}`);
const sql = postgres(url, { max: 2, onnotice: () => {} });

console.log(`loading ${ROWS.toLocaleString("en")} rows x 10 columns ...`);
await sql.unsafe(`
  CREATE TABLE items (
    id bigint PRIMARY KEY, name text, email text, amount numeric(12, 2), score float8,
    created timestamptz, active boolean, tags text[], attrs jsonb, ref uuid);
  INSERT INTO items SELECT g, 'item ' || g, 'user' || (g % 50000) || '@example.com', (g % 1000000) / 100.0, g * 0.001,
    timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0, ARRAY['t' || (g % 10), 't' || (g % 7)],
    jsonb_build_object('k', g % 100, 'v', 'x' || g), md5(g::text)::uuid
  FROM generate_series(1, ${ROWS}) g;`);
await sql.unsafe("VACUUM ANALYZE items");
const [table] = await describeTables(sql, [{ schema: "public", name: "items" }]);
const mapping = indexMapping(table);

async function es(method: string, path: string, body?: string | Uint8Array) {
  const response = await fetch(`${esUrl}${path}`, {
    method,
    headers: { "content-type": typeof body === "string" ? "application/json" : "application/x-ndjson" },
    body: body as BodyInit | undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return text;
}
async function freshIndex(name: string) {
  await fetch(`${esUrl}/${name}`, { method: "DELETE" }).then((r) => r.body?.cancel());
  await es(
    "PUT",
    `/${name}`,
    JSON.stringify({
      mappings: mapping,
      settings: { "index.mapping.total_fields.limit": Math.max(1000, countFields(mapping) + 100) },
    }),
  );
}

// Ceiling 1: PostgreSQL rendering every document.
const psqlUrl = url;
const copyCeiling = await measureProcess("bash", [
  "-c",
  `psql "${psqlUrl}" -qAt -c "COPY (SELECT to_jsonb(t) FROM items t) TO STDOUT" > /dev/null`,
]);
if (copyCeiling.code !== 0) throw new Error(copyCeiling.output);

// Ceiling 2: Elasticsearch indexing the same documents, no engine. The NDJSON is prepared before
// the clock starts, so this measures Elasticsearch alone.
const ndjsonPath = await Deno.makeTempFile({ suffix: ".ndjson" });
const dump = await measureProcess("bash", [
  "-c",
  `psql "${psqlUrl}" -qAt -c "COPY (SELECT json_build_object('index', json_build_object('_id', id::text))::text, to_jsonb(t)::text FROM items t) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')" | tr '\\002' '\\n' > ${ndjsonPath}`,
]);
if (dump.code !== 0) throw new Error(dump.output);
const text = await Deno.readTextFile(ndjsonPath);
await Deno.remove(ndjsonPath);
const lines = text.split("\n").filter((l) => l.length > 0);
const bodies: Uint8Array[] = [];
for (let i = 0; i < lines.length; i += MAX_DOCS * 2) {
  bodies.push(new TextEncoder().encode(lines.slice(i, i + MAX_DOCS * 2).join("\n") + "\n"));
}
await freshIndex("bench_bulk_ceiling");
const bulk = await timed(async () => {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const answer = await es("POST", "/bench_bulk_ceiling/_bulk?filter_path=errors", body);
      if (answer.includes('"errors":true')) throw new Error("the ceiling load had item errors");
    }
  }));
});
await es("DELETE", "/bench_bulk_ceiling");
bodies.length = 0;

// The engine, end to end: process start, slot, snapshot, every document acknowledged, exit.
await fetch(`${esUrl}/bench_engine`, { method: "DELETE" }).then((r) => r.body?.cancel());
const config = await Deno.makeTempFile({ suffix: ".json" });
await Deno.writeTextFile(
  config,
  JSON.stringify({
    source: { url, slot: "bench_snapshot" },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { maxDocs: MAX_DOCS }, concurrency: CONCURRENCY } },
    tables: { items: { index: "bench_engine", snapshot: { concurrency: 2, chunkRows: 50_000 } } },
  }),
);
const engine = await measureProcess(Deno.execPath(), [
  ...ENGINE_ARGS,
  "run",
  "--config",
  config,
  "--snapshot-only",
  "--progress",
  "log",
]);
if (engine.code !== 0) throw new Error(`engine failed:\n${engine.output}`);
await es("POST", "/bench_engine/_refresh");
const count = JSON.parse(await es("GET", "/bench_engine/_count")).count;
if (count !== ROWS) throw new Error(`engine indexed ${count} documents, expected ${ROWS}`);
await es("DELETE", "/bench_engine");

const ceiling = Math.min(ROWS / copyCeiling.seconds, ROWS / bulk.seconds);
const engineRate = ROWS / engine.seconds;
console.log(`
rows                                    ${ROWS.toLocaleString("en")} x 10 columns
ceiling: COPY to_jsonb to /dev/null     ${copyCeiling.seconds.toFixed(1)} s   ${rate(ROWS, copyCeiling.seconds)}
ceiling: plain _bulk (${MAX_DOCS}/req, ${CONCURRENCY} in flight)  ${bulk.seconds.toFixed(1)} s   ${rate(ROWS, bulk.seconds)}
engine: snapshot end to end             ${engine.seconds.toFixed(1)} s   ${rate(ROWS, engine.seconds)}
ratio engine / min(ceilings)            ${(engineRate / ceiling).toFixed(2)}   (target >= 0.8)
engine peak RSS                         ${engine.peakRssMb.toFixed(0)} MB   (target <= 300 MB)`);

await sql.end();
await admin`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = ${database}`;
await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
await admin.end();
