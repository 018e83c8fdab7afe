/**
 * Outages and broken connections under a steady workload: Elasticsearch stopped for a minute,
 * PostgreSQL crashed (`-m immediate`), and both connections stalled for 30 s, cut and reset by
 * the fault proxy. After each, the index ends with 0 missing, 0 extra and 0 different documents,
 * deletes made during the fault included, and the engine is still running.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { type EngineProcess, runEngine, startEngine, writeConfig } from "../helpers/engine.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { serviceControl } from "../helpers/service_control.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";
import { startWorkload, type Workload } from "../helpers/workload.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Setup {
  readonly db: TestDatabase;
  readonly slot: string;
  readonly index: string;
  readonly config: string;
}

async function setUp(
  db: TestDatabase,
  prefix: string,
  urls: { pg?: string; es?: string } = {},
): Promise<Setup> {
  const { esUrl } = await services();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
  await db.sql`INSERT INTO items SELECT g, 0, 'copied' FROM generate_series(1, 5000) g`;
  const slot = uniqueName("fault");
  const index = `${prefix}_items`;
  const config = await writeConfig({
    source: { url: urls.pg ?? db.url, slot, statusIntervalMs: 1_000 },
    supervision: { maxRestarts: 20, withinMs: 60_000, backoffMinMs: 200, backoffMaxMs: 2_000 },
    sinks: { search: { type: "elasticsearch", url: urls.es ?? esUrl, requestTimeoutMs: 5_000, batch: { timeoutMs: 20 } } },
    tables: { items: { index } },
  });
  return { db, slot, index, config };
}

/** Stops the workload, waits for the engine to catch up, and checks the index exactly. */
async function finish(setup: Setup, workload: Workload, engine: EngineProcess): Promise<void> {
  const committed = await workload.stop();
  assert.ok(committed > 50, `only ${committed} transactions committed`);
  await waitForCatchUp(setup.db.sql, setup.slot, 180_000);
  assertSameDocuments(await compareIndex(setup.db.sql, { schema: "public", name: "items" }, setup.index));
  engine.kill("SIGTERM");
  const { code, output } = await engine.exited;
  assert.equal(code, 0, output.slice(-3000));
}

Deno.test("faults: Elasticsearch stopped for 60 s under a steady workload; lag shows, then nothing is missing", async () => {
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const setup = await setUp(db, indices.prefix);
  const engine = startEngine(["run", "--config", setup.config, "--progress", "log"]);
  let workload: Workload | undefined;
  let stopped = false;
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    workload = startWorkload(db.sql);
    await sleep(2_000);
    await serviceControl("stop", "es");
    stopped = true;
    await sleep(60_000);
    const status = await runEngine(["status", "--config", setup.config, "--json"]);
    const lag = (JSON.parse(status.output) as { slot: { lagBytes: string | null } }).slot.lagBytes;
    assert.ok(lag !== null && BigInt(lag) > 0n, `no lag visible after a minute without Elasticsearch: ${status.output}`);
    assert.match(engine.output(), /"msg":"bulk request retried"/);
    await serviceControl("start", "es");
    stopped = false;
    await finish(setup, workload, engine);
  } finally {
    if (stopped) await serviceControl("start", "es");
    await workload?.stop();
    engine.kill("SIGKILL");
    await engine.exited;
  }
});

Deno.test("faults: PostgreSQL crashed (-m immediate) during streaming; the engine reconnects and nothing is lost", async () => {
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const setup = await setUp(db, indices.prefix);
  const engine = startEngine(["run", "--config", setup.config, "--progress", "log"]);
  let workload: Workload | undefined;
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    workload = startWorkload(db.sql);
    await sleep(3_000);
    await serviceControl("restart", "pg", { PG_STOP_MODE: "immediate" });
    await sleep(5_000);
    await engine.waitFor(/"msg":"actor restarted"/, 30_000);
    await finish(setup, workload, engine);
  } finally {
    await workload?.stop();
    engine.kill("SIGKILL");
    await engine.exited;
  }
});

for (const target of ["PostgreSQL", "Elasticsearch"] as const) {
  Deno.test(`faults: the ${target} connections stalled for 30 s, cut, and reset; nothing is lost`, async () => {
    const { pgUrl, esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    await using proxy = FaultProxy.start(target === "PostgreSQL" ? pgUrl : esUrl);
    const setup = await setUp(
      db,
      indices.prefix,
      target === "PostgreSQL" ? { pg: proxy.url(db.url) } : { es: proxy.url(esUrl) },
    );
    const engine = startEngine(["run", "--config", setup.config, "--progress", "log"]);
    let workload: Workload | undefined;
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      workload = startWorkload(db.sql);
      await sleep(2_000);
      assert.ok(proxy.connections > 0, "the engine does not go through the proxy");

      proxy.mode = "stall";
      await sleep(30_000);
      const duringStall = workload.committed;
      proxy.mode = "pass";
      await sleep(3_000);

      proxy.cut();
      await sleep(3_000);

      await proxy.reset();
      await sleep(3_000);
      assert.ok(workload.committed > duringStall, "the workload stopped");
      await finish(setup, workload, engine);
    } finally {
      proxy.mode = "pass";
      await workload?.stop();
      engine.kill("SIGKILL");
      await engine.exited;
    }
  });
}
