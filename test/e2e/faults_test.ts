/**
 * Outages and broken connections under a steady workload: Elasticsearch stopped for a minute,
 * PostgreSQL restarted (`-m fast`) and crashed (`-m immediate`), and both connections stalled for 30 s, cut and reset by
 * the fault proxy, PostgreSQL's connections gone silent for good, and Elasticsearch stalled while the wal reader reads up
 * to its in-flight bounds. After each, the index
 * ends with 0 missing, 0 extra and 0 different documents, deletes made during the fault included, and the engine is still
 * running.
 */
import assert from "node:assert/strict";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { allDocuments, esRequest, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { type EngineProcess, metricsUrl, runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { serviceControl } from "../helpers/service_control.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { confirmedLsn, currentWalLsn, waitForCatchUp } from "../helpers/stream.ts";
import { startWorkload, type Workload } from "../helpers/workload.ts";
import { segmentBounds } from "../../src/stream/segment_size.ts";

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
  source: Record<string, unknown> = {},
): Promise<Setup> {
  const { esUrl } = await services();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
  await db.sql`INSERT INTO items SELECT g, 0, 'copied' FROM generate_series(1, 5000) g`;
  const slot = uniqueName("fault");
  const index = `${prefix}_items`;
  const config = await writeConfig({
    source: { url: urls.pg ?? db.url, slot, statusIntervalMs: 1_000, ...source },
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
  await stopEngine(engine);
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

for (const mode of ["fast", "immediate"] as const) {
  Deno.test(`faults: PostgreSQL restarted (-m ${mode}) during streaming; the engine reconnects and nothing is lost`, async () => {
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const setup = await setUp(db, indices.prefix);
    const engine = startEngine(["run", "--config", setup.config, "--progress", "log"]);
    let workload: Workload | undefined;
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      workload = startWorkload(db.sql);
      await sleep(3_000);
      await serviceControl("restart", "pg", { PG_STOP_MODE: mode });
      await sleep(5_000);
      await engine.waitFor(/"msg":"actor restarted"/, 30_000);
      await finish(setup, workload, engine);
    } finally {
      await workload?.stop();
      engine.kill("SIGKILL");
      await engine.exited;
    }
  });
}

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

// Without a receive timeout the engine would wait forever: the proxy keeps both ends open and swallows what they send.
Deno.test("faults: PostgreSQL's connections gone silent for good are given up after receiveTimeoutMs; nothing is lost", async () => {
  const { pgUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await using proxy = FaultProxy.start(pgUrl);
  const setup = await setUp(db, indices.prefix, { pg: proxy.url(db.url) }, { receiveTimeoutMs: 4_000 });
  const engine = startEngine(["run", "--config", setup.config, "--progress", "log"]);
  let workload: Workload | undefined;
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    workload = startWorkload(db.sql);
    await sleep(2_000);
    const [{ pid }] = await db.sql<{ pid: number }[]>`
      SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = ${setup.slot}`;
    assert.ok(proxy.strand() > 0, "the engine does not go through the proxy");
    await engine.waitFor(/replication stream sent nothing for \d+ s/, 30_000);
    // The stranded walsender would hold the slot until wal_sender_timeout (60 s here); the engine ends it instead.
    const ended = await engine.waitFor(/ended the walsender left behind[^\n]*/, 30_000);
    assert.match(ended, new RegExp(`"pid":${pid},"ended":true`));
    await finish(setup, workload, engine);
  } finally {
    proxy.mode = "pass";
    await workload?.stop();
    engine.kill("SIGKILL");
    await engine.exited;
  }
});

// wal2json's table filter drops the big transaction's changes while PostgreSQL replays it: nothing is sent for seconds,
// and pings go unanswered, yet the stream is not lost.
Deno.test("faults: a stream silent while its walsender replays a long filtered transaction is waited for, not reopened", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, n int)`;
  await db.sql`CREATE TABLE other (id int PRIMARY KEY, n int)`;
  await db.sql`INSERT INTO items SELECT g, 0 FROM generate_series(1, 100) g`;
  const slot = uniqueName("fault_busy");
  const index = `${indices.prefix}_items`;
  const config = await writeConfig({
    source: { url: db.url, slot, plugin: "wal2json", receiveTimeoutMs: 1_000, statusIntervalMs: 200 },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index } },
  });
  const engine = startEngine(["run", "--config", config]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await db.sql`INSERT INTO other SELECT g, 0 FROM generate_series(1, 3000000) g`;
    await db.sql`UPDATE items SET n = 1 WHERE id <= 10`;
    await waitForCatchUp(db.sql, slot, 180_000);
    assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "items" }, index));
    const output = await stopEngine(engine);
    assert.match(output, /"msg":"the replication stream is silent while its walsender works/);
    assert.doesNotMatch(output, /replication stream sent nothing for/);
  } finally {
    engine.kill("SIGKILL");
    await engine.exited;
  }
});

Deno.test("faults: timeouts set on the database for applications do not cut the engine's snapshot or stream", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
  await db.sql`INSERT INTO items SELECT g, 0, repeat(md5(g::text), 4) FROM generate_series(1, 300000) g`;
  // Short enough that a chunk's COPY, and the idle snapshot-exporting transaction, would be cut.
  await db.sql.unsafe(
    `ALTER DATABASE ${db.name} SET statement_timeout = '50ms'; ALTER DATABASE ${db.name} SET idle_in_transaction_session_timeout = '100ms'`,
  );
  const slot = uniqueName("timeouts");
  const index = `${indices.prefix}_items`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    supervision: { maxRestarts: 0 },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index, snapshot: { concurrency: 1, chunkRows: 300000 } } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/, 180_000);
    await db.sql`UPDATE items SET n = 1 WHERE id % 1000 = 0`;
    await waitForCatchUp(db.sql, slot);
    assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "items" }, index));
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("faults: an index blocked for writes waits alone: the other table's items in the same requests go on", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const { sql } = db;
  await sql`CREATE TABLE blocked (id int PRIMARY KEY, v text)`;
  await sql`CREATE TABLE open (id int PRIMARY KEY, v text)`;
  const slot = uniqueName("block");
  const blockedIndex = `${indices.prefix}_blocked`;
  const openIndex = `${indices.prefix}_open`;
  const config = await writeConfig({
    source: { url: db.url, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { blocked: { index: blockedIndex }, open: { index: openIndex } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  const block = (on: boolean) =>
    esRequest("PUT", `/${blockedIndex}/_settings`, JSON.stringify({ "index.blocks.write": on ? true : null }));
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    assert.equal((await block(true)).status, 200);
    // One transaction writing both tables, interleaved: one segment, so the bulk requests (one per lane) carry items of
    // both indices. (Requests queued behind a retrying one on its lane wait for it, whatever their index: lanes keep
    // a document's changes in order.)
    await sql.begin(async (tx) => {
      for (let i = 1; i <= 50; i++) {
        await tx`INSERT INTO blocked VALUES (${i}, 'waits')`;
        await tx`INSERT INTO open VALUES (${i}, 'goes on')`;
      }
    });
    const written = await currentWalLsn(sql);
    for (let tries = 0; (await allDocuments(openIndex)).size < 50; tries++) {
      assert.ok(tries < 200, "the open index's items did not arrive while the other index was blocked");
      await sleep(100);
    }
    assert.equal((await allDocuments(blockedIndex)).size, 0);
    await engine.waitFor(/"msg":"bulk request retried"/);
    assert.ok((await confirmedLsn(sql, slot)) < written, "the slot moved past changes the blocked index does not have");

    assert.equal((await block(false)).status, 200);
    await waitForCatchUp(sql, slot);
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "blocked" }, blockedIndex));
    assertSameDocuments(await compareIndex(sql, { schema: "public", name: "open" }, openIndex));
  } finally {
    await block(false);
    await stopEngine(engine);
  }
});

/** The engine's own gauge `name` for `slot` from its /metrics page. */
async function gauge(metrics: URL, name: string, slot: string): Promise<number> {
  const text = await (await fetch(metrics)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`slot="${slot}"`));
  if (!line) throw new Error(`${name} for ${slot} is not on the metrics page`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

// Each bound alone, the other far away: a stalled Elasticsearch acknowledges nothing, so the reader must stop at it.
for (const bound of ["maxInFlightEvents", "maxInFlightBytes"] as const) {
  Deno.test(`faults: Elasticsearch stalled: the wal reader stops reading at ${bound}, the slot stays, nothing is lost`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    await using proxy = FaultProxy.start(esUrl);
    const { sql } = db;
    await sql`CREATE TABLE items (id int PRIMARY KEY, n int, t text)`;
    await sql`INSERT INTO items SELECT g, 0, 'copied' FROM generate_series(1, 3000) g`;
    const slot = uniqueName("inflight");
    const index = `${indices.prefix}_items`;
    // One transaction of 3,000 rows, ~850 kB of WAL, which the walsender sends in reads of up to 256 kB: the bound
    // under test is far below both, and must hold to the record, not to the read.
    const limits = bound === "maxInFlightEvents"
      ? { maxInFlightEvents: 300, maxInFlightBytes: 16_000_000 }
      : { maxInFlightEvents: 1_000_000, maxInFlightBytes: 100_000 };
    const config = await writeConfig({
      source: { url: db.url, slot, ...limits },
      metrics: { port: 0 },
      sinks: {
        search: { type: "elasticsearch", url: proxy.url(esUrl), requestTimeoutMs: 5_000, batch: { maxDocs: 20, timeoutMs: 20 } },
      },
      tables: { items: { index } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"]);
    try {
      const metrics = await metricsUrl(engine);
      await engine.waitFor(/"msg":"streaming from slot"/);
      proxy.mode = "stall";
      await sql`UPDATE items SET n = 1, t = repeat('x', 200) || id`;
      const written = await currentWalLsn(sql);
      const inFlight = async () => ({
        events: await gauge(metrics, "oesophagus_inflight_events", slot),
        bytes: await gauge(metrics, "oesophagus_inflight_bytes", slot),
      });
      const reached = () => bound === "maxInFlightEvents" ? "events" : "bytes";
      const limit = bound === "maxInFlightEvents" ? limits.maxInFlightEvents : limits.maxInFlightBytes;
      for (let tries = 0; (await inFlight())[reached()] < limit; tries++) {
        assert.ok(tries < 150, `the reader never reached ${bound}: ${JSON.stringify(await inFlight())}`);
        await sleep(100);
      }
      // Time to read on if it did not stop; it may pass the bound by the segment that reached it (two lanes of 20
      // rows, ~400 bytes each), no more.
      await sleep(3_000);
      const held = await inFlight();
      const segment = segmentBounds([{ batch: { maxDocs: 20, maxBytes: 5_000_000 }, concurrency: 2 }], limits).rows;
      const slack = bound === "maxInFlightEvents" ? segment : segment * 400;
      assert.ok(held[reached()] <= limit + slack, `${bound} ${limit}, yet ${JSON.stringify(held)} in flight`);
      assert.ok((await confirmedLsn(sql, slot)) < written, "the slot moved past changes Elasticsearch does not have");

      proxy.mode = "pass";
      await waitForCatchUp(sql, slot, 120_000);
      assertSameDocuments(await compareIndex(sql, { schema: "public", name: "items" }, index));
      assert.deepEqual(await inFlight(), { events: 0, bytes: 0 });
    } finally {
      proxy.mode = "pass";
      await stopEngine(engine);
    }
  });
}
