/**
 * A trace for every change event, found in a real Jaeger: one inserted row has its `cdc.change`
 * span (table, op, commit LSN, key, plugin) with `cdc.route` and `cdc.batch` children, and the
 * `sink.flush` span of the bulk request that carried it links to it, also for changes left out
 * of the request for a later change of their row. The copy has its
 * `snapshot.chunk` spans.
 */
import assert from "node:assert/strict";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { Jaeger, type JaegerSpan } from "../helpers/jaeger.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { terminateWithTestCertificate } from "../helpers/tls_terminator.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

const tag = (span: JaegerSpan, key: string) => span.tags.find((t) => t.key === key)?.value;

async function eventually<T>(what: string, find: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const found = await find();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no ${what} in Jaeger within 20 s`);
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`tracing (${plugin}): one inserted row is one cdc.change trace in Jaeger, linked from its sink.flush`, async () => {
    const { esUrl } = await services();
    await using jaeger = await Jaeger.start();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    await sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
    await sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 100) g`;
    const slot = uniqueName("traced");
    const service = uniqueName("oesophagus");
    const config = await writeConfig({
      source: { url: db.url, slot, plugin },
      tracing: { enabled: true, endpoint: jaeger.otlpUrl, samplingRatio: 1 },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { items: { index: `${indices.prefix}_items` } },
    });
    const engine = startEngine(["run", "--config", config, "--progress", "log"], { OTEL_SERVICE_NAME: service });
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql`INSERT INTO items VALUES (4242, 'traced')`;
      await waitForCatchUp(sql, slot);

      const trace = await eventually("cdc.change trace for key 4242", async () => {
        const traces = await jaeger.traces(service, "cdc.change");
        return traces.find((spans) => spans.some((s) => s.operationName === "cdc.change" && tag(s, "cdc.key") === "4242"));
      });
      const change = trace.find((s) => s.operationName === "cdc.change")!;
      assert.equal(tag(change, "db.table"), "public.items");
      assert.equal(tag(change, "cdc.op"), "insert");
      assert.equal(tag(change, "cdc.plugin"), plugin);
      assert.match(String(tag(change, "cdc.commit_lsn")), /^[0-9A-F]+\/[0-9A-F]+$/);
      for (const child of ["cdc.route", "cdc.batch"]) {
        const span = trace.find((s) => s.operationName === child);
        assert.ok(span, `no ${child} span in the trace: ${trace.map((s) => s.operationName)}`);
        assert.ok(span.references.some((r) => r.refType === "CHILD_OF" && r.spanID === change.spanID), `${child} is not a child`);
      }
      await eventually("sink.flush linked to the change", async () => {
        const flushes = (await jaeger.traces(service, "sink.flush")).flat().filter((s) => s.operationName === "sink.flush");
        return flushes.find((s) => s.references.some((r) => r.spanID === change.spanID && r.traceID === change.traceID));
      });

      // A bulk request of hundreds of traced changes links to every one: more than the SDK's default
      // 128 links a span keeps (two lanes: at most two requests carry these 300).
      await sql`INSERT INTO items SELECT g, 'bulk' FROM generate_series(10001, 10300) g`;
      await waitForCatchUp(sql, slot);
      const linked = await eventually("sink.flush spans linking to all 300 changes", async () => {
        const flushes = (await jaeger.traces(service, "sink.flush")).flat().filter((s) => s.operationName === "sink.flush");
        const links = new Set(flushes.flatMap((s) => s.references.map((r) => `${r.traceID}/${r.spanID}`)));
        return links.size >= 301 ? links : undefined;
      });
      const changes = await eventually("the 300 cdc.change spans", async () => {
        const found = (await jaeger.traces(service, "cdc.change")).flat().filter((s) =>
          s.operationName === "cdc.change" && Number(tag(s, "cdc.key")) > 10000
        );
        return found.length >= 300 ? found : undefined;
      });
      assert.equal(changes.length, 300);
      for (const c of changes) assert.ok(linked.has(`${c.traceID}/${c.spanID}`), `change ${tag(c, "cdc.key")} not linked`);

      // A row changed three times in one transaction: one document is written, and each change
      // still has its trace, with its cdc.batch child, linked from the bulk request that wrote the last.
      await sql.begin(async (tx) => {
        for (const v of ["a", "b", "c"]) await tx`UPDATE items SET v = ${v} WHERE id = 4242`;
      });
      await waitForCatchUp(sql, slot);
      const updates = await eventually("the three cdc.change spans of the updates", async () => {
        const spans = (await jaeger.traces(service, "cdc.change")).flat();
        const found = spans.filter((s) =>
          s.operationName === "cdc.change" && tag(s, "cdc.key") === "4242" && tag(s, "cdc.op") === "update"
        );
        const batched = found.filter((u) =>
          spans.some((s) => s.operationName === "cdc.batch" && s.references.some((r) => r.spanID === u.spanID))
        );
        return batched.length >= 3 ? found : undefined;
      });
      assert.equal(updates.length, 3);
      await eventually("sink.flush linked to the three updates", async () => {
        const flushes = (await jaeger.traces(service, "sink.flush")).flat().filter((s) => s.operationName === "sink.flush");
        const links = new Set(flushes.flatMap((s) => s.references.map((r) => `${r.traceID}/${r.spanID}`)));
        return updates.every((u) => links.has(`${u.traceID}/${u.spanID}`)) ? true : undefined;
      });

      const chunks = (await jaeger.traces(service, "snapshot.chunk")).flat().filter((s) => s.operationName === "snapshot.chunk");
      assert.ok(
        chunks.some((s) => tag(s, "db.table") === "public.items" && tag(s, "cdc.rows") === 100),
        "no snapshot.chunk span",
      );
    } finally {
      await stopEngine(engine);
    }
  });
}

Deno.test("tracing: with the collector hanging, changes still flow and SIGTERM still exits 0 within 10 s", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  // A collector that accepts connections and never answers.
  await using collector = FaultProxy.start(esUrl);
  collector.mode = "stall";
  await db.sql`CREATE TABLE items (id int PRIMARY KEY)`;
  const slot = uniqueName("untraced");
  const config = await writeConfig({
    source: { url: db.url, slot },
    tracing: { enabled: true, endpoint: collector.url(esUrl), samplingRatio: 1 },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index: `${indices.prefix}_items` } },
  });
  const engine = startEngine(["run", "--config", config, "--progress", "log"]);
  await engine.waitFor(/"msg":"streaming from slot"/);
  await db.sql`INSERT INTO items SELECT generate_series(1, 1000)`;
  await waitForCatchUp(db.sql, slot);
  const stopping = Date.now();
  await stopEngine(engine);
  assert.ok(Date.now() - stopping < 10_000, `stopping took ${Date.now() - stopping} ms`);
});

Deno.test("tracing: an https collector with a private CA (OTEL_EXPORTER_OTLP_CERTIFICATE) gets the spans; an unreadable CA file stops the engine with its name", async () => {
  const { esUrl, pgCaFile } = await services();
  await using jaeger = await Jaeger.start();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const tlsDir = pgCaFile.replace(/\/ca\.crt$/, "");
  await using terminator = terminateWithTestCertificate(jaeger.otlpUrl, pgCaFile);
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await db.sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g`;
  const service = uniqueName("oesophagus_tls");
  const config = await writeConfig({
    source: { url: db.url, slot: uniqueName("traced_tls") },
    tracing: { samplingRatio: 1 },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index: `${indices.prefix}_items` } },
  });

  const missing = await runEngine(["run", "--config", config], {
    OTEL_EXPORTER_OTLP_ENDPOINT: terminator.url,
    OTEL_EXPORTER_OTLP_CERTIFICATE: `${tlsDir}/no-such-ca.crt`,
  });
  assert.equal(missing.code, 2, missing.output);
  assert.match(missing.output, /OTEL_EXPORTER_OTLP_CERTIFICATE \S*no-such-ca\.crt cannot be read/);

  const engine = startEngine(["run", "--config", config, "--progress", "log"], {
    OTEL_EXPORTER_OTLP_ENDPOINT: terminator.url,
    OTEL_EXPORTER_OTLP_CERTIFICATE: pgCaFile,
    OTEL_SERVICE_NAME: service,
  });
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await db.sql`INSERT INTO items VALUES (4343, 'over tls')`;
    await eventually("cdc.change over TLS", async () => {
      const traces = await jaeger.traces(service, "cdc.change");
      return traces.flat().find((s) => s.operationName === "cdc.change" && tag(s, "cdc.key") === "4343");
    });
    // The SDK's exporter (snapshot.chunk) trusts the same CA.
    await eventually("snapshot.chunk over TLS", async () => {
      const chunks = (await jaeger.traces(service, "snapshot.chunk")).flat();
      return chunks.find((s) => s.operationName === "snapshot.chunk");
    });
  } finally {
    await stopEngine(engine);
  }
});
