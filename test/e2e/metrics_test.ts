/**
 * The engine's metrics through a real Prometheus scraping `/metrics`: events in and out per
 * table move as rows are written (and writes superseded by a later one of their document in a
 * batch), snapshot progress and replication lag are there, and `/healthz` and `/readyz` answer.
 * Every name the dashboard-to-be may query is one the engine exports.
 */
import assert from "node:assert/strict";
import { METRIC_NAMES } from "../../src/telemetry/metrics.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { metricsUrl, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { Prometheus } from "../helpers/prometheus.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

/** Polls a PromQL query until `accept` takes its value. */
async function eventually(prometheus: Prometheus, promql: string, accept: (value: number) => boolean): Promise<number> {
  let last: number | undefined;
  for (let i = 0; i < 150; i++) {
    const [sample] = await prometheus.query(promql);
    last = sample?.value;
    if (last !== undefined && accept(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${promql} stayed at ${last}`);
}

Deno.test("metrics: Prometheus scrapes events in/out per table, snapshot progress and lag, and they move as rows are written", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 1234) g`;
  const slot = uniqueName("metrics");
  const config = await writeConfig({
    source: { url: db.url, slot },
    metrics: { port: 0 },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index: `${indices.prefix}_items` } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    const url = await metricsUrl(engine);
    assert.deepEqual([url.hostname, url.pathname], ["127.0.0.1", "/metrics"]);
    await engine.waitFor(/"msg":"streaming from slot"/);
    assert.equal((await fetch(new URL("/healthz", url))).status, 200);
    const ready = await fetch(new URL("/readyz", url));
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), "streaming\n");

    await using prometheus = await Prometheus.start(url.host);
    const table = 'table="public.items"';
    await eventually(prometheus, `${METRIC_NAMES.eventsIn}{${table},op="snapshot"}`, (v) => v === 1234);
    await eventually(prometheus, `${METRIC_NAMES.eventsOut}{${table},sink="search",action="index"}`, (v) => v === 1234);
    await eventually(prometheus, `${METRIC_NAMES.snapshotRowsDone}{${table}}`, (v) => v === 1234);

    await sql`UPDATE items SET v = 'changed' WHERE id <= 100`;
    await sql`DELETE FROM items WHERE id > 1200`;
    await waitForCatchUp(sql, slot);
    await eventually(prometheus, `${METRIC_NAMES.eventsIn}{${table},op="update"}`, (v) => v === 100);
    await eventually(prometheus, `${METRIC_NAMES.eventsIn}{${table},op="delete"}`, (v) => v === 34);
    await eventually(prometheus, `${METRIC_NAMES.eventsOut}{${table},sink="search",action="delete"}`, (v) => v === 34);
    await eventually(prometheus, `${METRIC_NAMES.eventsOut}{${table},sink="search",action="index"}`, (v) => v === 1334);
    // Three changes of one row in one transaction: one document written, two writes superseded by it.
    await sql.begin(async (tx) => {
      for (const v of ["first", "second", "third"]) await tx`UPDATE items SET v = ${v} WHERE id = 7`;
    });
    await waitForCatchUp(sql, slot);
    await eventually(prometheus, `${METRIC_NAMES.eventsIn}{${table},op="update"}`, (v) => v === 103);
    await eventually(prometheus, `${METRIC_NAMES.eventsOut}{${table},sink="search",action="index"}`, (v) => v === 1335);
    await eventually(prometheus, `${METRIC_NAMES.eventsSuperseded}{${table},sink="search"}`, (v) => v === 2);
    await eventually(prometheus, `sum(${METRIC_NAMES.batchSize}_count{sink="search"})`, (v) => v >= 2);
    await eventually(prometheus, `${METRIC_NAMES.lagBytes}{slot="${slot}"}`, (v) => v >= 0);
    await eventually(prometheus, `${METRIC_NAMES.retainedWal}{slot="${slot}"}`, (v) => v > 0);
    await eventually(prometheus, `${METRIC_NAMES.lagSeconds}{slot="${slot}"}`, (v) => v === 0);
    await eventually(prometheus, `${METRIC_NAMES.inFlightEvents}{slot="${slot}"}`, (v) => v === 0);

    // Every exported name is one Prometheus has seen from the engine.
    const seen = new Set((await prometheus.query(`{job="oesophagus"}`)).map((s) => s.metric.__name__));
    for (const name of Object.values(METRIC_NAMES)) {
      if (name === METRIC_NAMES.restarts || name === METRIC_NAMES.deadLetters || name === METRIC_NAMES.errors) continue;
      const series = name === METRIC_NAMES.batchSize || name === METRIC_NAMES.flushDuration ? `${name}_count` : name;
      assert.ok(seen.has(series), `${series} was never scraped; seen: ${[...seen].sort().join(", ")}`);
    }
  } finally {
    await stopEngine(engine);
  }
});
