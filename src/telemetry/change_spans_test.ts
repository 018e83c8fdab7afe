import assert from "node:assert/strict";
import { ChangeSpans } from "./change_spans.ts";
import { registerSecret } from "./redact.ts";

/** A local OTLP endpoint that keeps every request body it is sent. */
function collector(status = 200) {
  const bodies: unknown[] = [];
  const keys: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    keys.push(request.headers.get("api-key"));
    bodies.push(JSON.parse(await request.text()));
    return new Response("{}", { status });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/v1/traces`, bodies, keys, close: () => server.shutdown() };
}

type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: { stringValue: string } }[];
};

const key = '["a\\"b", 2]';
const attributes = {
  table: 'public."we""ird"',
  op: "update",
  commitLsn: "0/16B3748",
  keyJson: JSON.stringify(key),
  plugin: "pgoutput",
};

Deno.test("ChangeSpans: a change's three spans as OTLP/JSON, children under it, once its last batch is acknowledged", async () => {
  const sink = collector();
  try {
    const spans = new ChangeSpans({ url: sink.url, serviceName: 'svc "x"', samplingRatio: 1 });
    const change = spans.start(attributes, 1_700_000_000_000, 1_700_000_000_005, 1_700_000_000_007);
    spans.batched(change, "search");
    spans.batched(change, "archive"); // a second sink: the batch span stays the first one's
    spans.acknowledged(change);
    await spans.shutdown(2_000);
    assert.equal(sink.bodies.length, 0, "exported before its last batch was acknowledged");

    const again = new ChangeSpans({ url: sink.url, headers: { "api-key": "k1" }, serviceName: 'svc "x"', samplingRatio: 1 });
    const traced = again.start(attributes, 1_700_000_000_000, 1_700_000_000_005, 1_700_000_000_007);
    again.batched(traced, "search");
    again.acknowledged(traced);
    await again.shutdown(2_000);
    assert.equal(sink.bodies.length, 1);
    assert.deepEqual(sink.keys, ["k1"]);
    const body = sink.bodies[0] as {
      resourceSpans: { resource: { attributes: unknown[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
    };
    assert.deepEqual(body.resourceSpans[0].resource.attributes, [{ key: "service.name", value: { stringValue: 'svc "x"' } }]);
    const exported = body.resourceSpans[0].scopeSpans[0].spans;
    assert.deepEqual(exported.map((s) => s.name), ["cdc.change", "cdc.route", "cdc.batch"]);
    const [root, route, batch] = exported;
    assert.equal(root.traceId, traced.context.traceId);
    assert.equal(root.spanId, traced.context.spanId);
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.match(root.spanId, /^[0-9a-f]{16}$/);
    for (const child of [route, batch]) {
      assert.equal(child.traceId, root.traceId);
      assert.equal(child.parentSpanId, root.spanId);
      assert.notEqual(child.spanId, root.spanId);
    }
    assert.equal(root.startTimeUnixNano, "1700000000000000000");
    assert.equal(route.startTimeUnixNano, "1700000000005000000");
    assert.equal(route.endTimeUnixNano, "1700000000007000000");
    assert.ok(BigInt(root.endTimeUnixNano) >= BigInt(batch.startTimeUnixNano));
    assert.deepEqual(
      Object.fromEntries(root.attributes!.map((a) => [a.key, a.value.stringValue])),
      {
        "db.table": attributes.table,
        "cdc.op": "update",
        "cdc.commit_lsn": "0/16B3748",
        "cdc.key": key,
        "cdc.plugin": "pgoutput",
      },
    );
    assert.deepEqual(batch.attributes, [{ key: "cdc.sink", value: { stringValue: "search" } }]);
  } finally {
    await sink.close();
  }
});

Deno.test("ChangeSpans: sampling decides per change; at 0.25 about a quarter are traced", () => {
  const spans = new ChangeSpans({ url: "http://127.0.0.1:9/v1/traces", serviceName: "s", samplingRatio: 0.25 });
  let sampled = 0;
  for (let i = 0; i < 40_000; i++) if (spans.sample()) sampled++;
  assert.ok(sampled > 9_000 && sampled < 11_000, `${sampled} of 40,000`);
  const all = new ChangeSpans({ url: "http://127.0.0.1:9/v1/traces", serviceName: "s", samplingRatio: 1 });
  assert.ok(Array.from({ length: 1000 }, () => all.sample()).every(Boolean));
  return Promise.all([spans.shutdown(100), all.shutdown(100)]).then(() => {});
});

/** `count` changes, each through one batch and acknowledged, then shut down. */
async function traceChanges(spans: ChangeSpans, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const change = spans.start(attributes, Date.now(), Date.now(), Date.now());
    spans.batched(change, "search");
    spans.acknowledged(change);
  }
  await spans.shutdown(2_000);
}

const spanCount = (body: unknown) =>
  (body as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] }).resourceSpans[0].scopeSpans[0].spans.length;

const spansOf = (body: unknown) =>
  (body as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans[0].scopeSpans[0].spans;

Deno.test("ChangeSpans: requests of bounded size, a change's spans never split; past the queue bound spans are dropped, not held", async () => {
  const sink = collector();
  try {
    await traceChanges(new ChangeSpans({ url: sink.url, serviceName: "s", samplingRatio: 1, batchChars: 2_000 }), 25);
    assert.ok(sink.bodies.length > 2, `${sink.bodies.length} requests`);
    assert.equal(sink.bodies.map(spanCount).reduce((a, b) => a + b), 75);
    for (const body of sink.bodies) {
      const names = spansOf(body).map((s) => s.name).join(",");
      assert.match(names, /^(cdc\.change,cdc\.route,cdc\.batch,?)+$/);
      // At most one change's spans past the bound (the one that crossed it).
      assert.ok(JSON.stringify(spansOf(body)).length < 2_000 + 2_000, `${JSON.stringify(body).length} characters`);
    }

    const before = sink.bodies.length;
    await traceChanges(
      new ChangeSpans({ url: sink.url, serviceName: "s", samplingRatio: 1, batchChars: 1 << 20, maxQueuedChars: 2_500 }),
      5,
    );
    assert.equal(sink.bodies.length, before + 1);
    const kept = spanCount(sink.bodies.at(-1));
    assert.ok(kept > 0 && kept < 15 && kept % 3 === 0, `${kept} spans kept of 15`);
    assert.ok(JSON.stringify(spansOf(sink.bodies.at(-1))).length <= 2_500 + 100);
  } finally {
    await sink.close();
  }
});

Deno.test("ChangeSpans: a sink.flush span links to every change it carries (past the SDK's 128), and a failed one says why, redacted", async () => {
  const sink = collector();
  try {
    const spans = new ChangeSpans({ url: sink.url, serviceName: "s", samplingRatio: 1 });
    const changes = Array.from({ length: 3_000 }, () => spans.start(attributes, Date.now(), Date.now(), Date.now()).context);
    const ok = spans.flushStarted("search", 3_000, 123_456, changes);
    spans.flushEnded(ok);
    registerSecret("s3cret-pw");
    const failed = spans.flushStarted("search", 1, 10, changes.slice(0, 1));
    spans.flushEnded(failed, "bulk refused by http://elastic:s3cret-pw@127.0.0.1:9200");
    await spans.shutdown(2_000);
    const flushes = sink.bodies.flatMap(spansOf) as (OtlpSpan & {
      kind: number;
      links: { traceId: string; spanId: string }[];
      status: { code?: number; message?: string };
      attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
    })[];
    assert.deepEqual(flushes.map((s) => s.name), ["sink.flush", "sink.flush"]);
    const [first, second] = flushes;
    assert.equal(first.traceId, ok.traceId);
    assert.equal(first.spanId, ok.spanId);
    assert.equal(first.parentSpanId, undefined);
    assert.equal(first.kind, 3);
    assert.deepEqual(first.links, changes.map((c) => ({ traceId: c.traceId, spanId: c.spanId })));
    assert.deepEqual(first.attributes, [
      { key: "cdc.sink", value: { stringValue: "search" } },
      { key: "cdc.documents", value: { intValue: "3000" } },
      { key: "cdc.bytes", value: { intValue: "123456" } },
    ]);
    assert.deepEqual(first.status, {});
    assert.ok(BigInt(first.endTimeUnixNano) >= BigInt(first.startTimeUnixNano));
    assert.equal(second.status.code, 2);
    assert.match(second.status.message!, /bulk refused/);
    assert.doesNotMatch(second.status.message!, /s3cret-pw/);
  } finally {
    await sink.close();
  }
});

Deno.test("ChangeSpans: a collector that refuses or is down loses spans, never the caller", async () => {
  const refusing = collector(503);
  try {
    await traceChanges(new ChangeSpans({ url: refusing.url, serviceName: "s", samplingRatio: 1 }), 1);
    assert.equal(refusing.bodies.length, 1);
  } finally {
    await refusing.close();
  }
  const down = new ChangeSpans({ url: "http://127.0.0.1:9/v1/traces", serviceName: "s", samplingRatio: 1, timeoutMs: 300 });
  const change = down.start(attributes, Date.now(), Date.now(), Date.now());
  down.batched(change, "search");
  down.acknowledged(change);
  const started = performance.now();
  await down.shutdown(1_000);
  assert.ok(performance.now() - started < 1_500);
});
