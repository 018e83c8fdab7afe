import assert from "node:assert/strict";
import { type DecodedRequest, decodeTraceRequest } from "../../test/helpers/otlp.ts";
import { type Lsn, parseLsn } from "../pg/lsn.ts";
import { ChangeSpans, hexId, linksTo, linksToConsumed, traceparentOf } from "./change_spans.ts";
import { setLogSink } from "./log.ts";
import { registerSecret } from "./redact.ts";
import { parseTraceparent } from "./traceparent.ts";

/** A local OTLP endpoint that keeps every request it is sent, decoded. */
function collector(status = 200) {
  const requests: DecodedRequest[][] = [];
  const sizes: number[] = [];
  const keys: (string | null)[] = [];
  const types: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    keys.push(request.headers.get("api-key"));
    types.push(request.headers.get("content-type"));
    const body = new Uint8Array(await request.arrayBuffer());
    sizes.push(body.length);
    requests.push(decodeTraceRequest(body));
    return new Response(new Uint8Array(0), { status, headers: { "content-type": "application/x-protobuf" } });
  });
  const spans = () => requests.flatMap((r) => r.flatMap((s) => s.spans));
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/traces`,
    requests,
    sizes,
    keys,
    types,
    spans,
    close: () => server.shutdown(),
  };
}

// Non-ASCII and a quote in the key, the table and the service name: sizes are UTF-8 bytes, not characters.
const key = '["a\\"b", "ünï😀"]';
const attributes = {
  table: 'public."wé""ird"',
  op: "update",
  commitLsn: parseLsn("0/16B3748") as Lsn,
  keyJson: JSON.stringify(key),
  plugin: "pgoutput",
};

Deno.test("ChangeSpans: a change's three spans in OTLP protobuf, children under it, once its last batch is acknowledged", async () => {
  const sink = collector();
  try {
    const spans = new ChangeSpans({ url: sink.url, serviceName: 'svc "x" ✓', samplingRatio: 1 });
    const change = spans.start(attributes, 1_700_000_000_000, 1_700_000_000_005, 1_700_000_000_007);
    spans.batched(change, "search");
    spans.batched(change, "archive"); // a second sink: the batch span stays the first one's
    spans.acknowledged(change);
    await spans.shutdown(2_000);
    assert.equal(sink.requests.length, 0, "exported before its last batch was acknowledged");

    const again = new ChangeSpans({ url: sink.url, headers: { "api-key": "k1" }, serviceName: 'svc "x" ✓', samplingRatio: 1 });
    const traced = again.start(attributes, 1_700_000_000_000, 1_700_000_000_005, 1_700_000_000_007);
    again.batched(traced, "search");
    again.acknowledged(traced);
    await again.shutdown(2_000);
    assert.equal(sink.requests.length, 1);
    assert.deepEqual(sink.keys, ["k1"]);
    assert.deepEqual(sink.types, ["application/x-protobuf"]);
    const [request] = sink.requests[0];
    assert.deepEqual(request.resource, { "service.name": 'svc "x" ✓' });
    assert.equal(request.scope, "oesophagus");
    assert.deepEqual(request.spans.map((s) => s.name), ["cdc.change", "cdc.route", "cdc.batch"]);
    const [root, route, batch] = request.spans;
    assert.equal(root.traceId, hexId(traced.idPool, traced.idAt, 16));
    assert.equal(root.spanId, hexId(traced.idPool, traced.idAt + 16, 8));
    assert.equal(root.parentSpanId, undefined);
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.match(root.spanId, /^[0-9a-f]{16}$/);
    for (const child of [route, batch]) {
      assert.equal(child.traceId, root.traceId);
      assert.equal(child.parentSpanId, root.spanId);
      assert.notEqual(child.spanId, root.spanId);
      assert.equal(child.kind, 1);
    }
    assert.notEqual(route.spanId, batch.spanId);
    assert.equal(root.startTimeUnixNano, 1_700_000_000_000_000_000n);
    assert.equal(route.startTimeUnixNano, 1_700_000_000_005_000_000n);
    assert.equal(route.endTimeUnixNano, 1_700_000_000_007_000_000n);
    assert.ok(root.endTimeUnixNano >= batch.startTimeUnixNano);
    assert.ok(root.endTimeUnixNano <= BigInt(Date.now()) * 1_000_000n);
    assert.deepEqual(root.attributes, {
      "db.table": attributes.table,
      "cdc.op": "update",
      "cdc.plugin": "pgoutput",
      "cdc.commit_lsn": "0/16B3748",
      "cdc.key": key,
    });
    assert.deepEqual(batch.attributes, { "cdc.sink": "search" });
    assert.deepEqual(root.status, {});
  } finally {
    await sink.close();
  }
});

Deno.test("ChangeSpans: times are exact nanoseconds across the range a clock can give", async () => {
  const sink = collector();
  try {
    const spans = new ChangeSpans({ url: sink.url, serviceName: "s", samplingRatio: 1 });
    // Values around the 2^21 and 2^32 boundaries the encoder splits on, today, and far ahead.
    const times = [0, 1, 2 ** 21 - 1, 2 ** 21, 2 ** 32 + 7, 1_700_000_000_123, 1_764_000_000_999, 4_102_444_800_000, 2 ** 42 - 1];
    for (const t of times) {
      const change = spans.start(attributes, t, t, t + 1);
      spans.acknowledged(change);
    }
    await spans.shutdown(2_000);
    const routes = sink.spans().filter((s) => s.name === "cdc.route");
    assert.deepEqual(routes.map((s) => s.startTimeUnixNano), times.map((t) => BigInt(t) * 1_000_000n));
    assert.deepEqual(routes.map((s) => s.endTimeUnixNano), times.map((t) => BigInt(t + 1) * 1_000_000n));
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
    const change = spans.start({ ...attributes, keyJson: JSON.stringify(String(i)) }, Date.now(), Date.now(), Date.now());
    spans.batched(change, "search");
    spans.acknowledged(change);
  }
  await spans.shutdown(2_000);
}

Deno.test("ChangeSpans: requests of bounded size, a change's spans never split, every one sent once, distinct ids", async () => {
  const sink = collector();
  try {
    await traceChanges(
      new ChangeSpans({ url: sink.url, serviceName: "s", samplingRatio: 1, batchBytes: 2_000, maxExports: 1_000 }),
      250,
    );
    assert.ok(sink.requests.length > 10, `${sink.requests.length} requests`);
    for (const size of sink.sizes) assert.ok(size < 2_000 + 1_000, `a request of ${size} bytes`);
    for (const request of sink.requests) {
      assert.match(request[0].spans.map((s) => s.name).join(","), /^(cdc\.change,cdc\.route,cdc\.batch,?)+$/);
    }
    const changes = sink.spans().filter((s) => s.name === "cdc.change");
    assert.deepEqual(changes.map((s) => s.attributes["cdc.key"]), Array.from({ length: 250 }, (_, i) => String(i)));
    assert.equal(new Set(changes.map((s) => s.traceId)).size, 250);
    assert.equal(new Set(sink.spans().map((s) => `${s.traceId}/${s.spanId}`)).size, 750);
  } finally {
    await sink.close();
  }
});

Deno.test("ChangeSpans: with every export in flight and the collector not answering, requests are dropped and said so", async () => {
  // A collector that accepts connections and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/v1/traces`;
  const lines: string[] = [];
  setLogSink((line) => lines.push(line));
  try {
    const spans = new ChangeSpans({ url, serviceName: "s", samplingRatio: 1, batchBytes: 500, maxExports: 2, timeoutMs: 500 });
    await traceChanges(spans, 10);
    assert.ok(
      lines.some((l) => /change spans dropped/.test(l) && /"dropped":\d+/.test(l)),
      `no drop reported: ${lines.join("\n")}`,
    );
  } finally {
    setLogSink((line) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n")));
    listener.close();
    for (const conn of held) conn.close();
  }
});

Deno.test("ChangeSpans: a sink.flush span links to every change it carries (past the SDK's 128), and a failed one says why, redacted", async () => {
  const sink = collector();
  try {
    const spans = new ChangeSpans({ url: sink.url, serviceName: "s", samplingRatio: 1 });
    const changes = Array.from({ length: 3_000 }, () => spans.start(attributes, Date.now(), Date.now(), Date.now()));
    const ok = spans.flushStarted("search", 3_000, 123_456_789_012, linksTo(changes));
    spans.flushEnded(ok);
    registerSecret("s3cret-pw");
    const failed = spans.flushStarted("search", 1, 10, linksTo(changes.slice(0, 1)));
    spans.flushEnded(failed, "bulk refused by http://elastic:s3cret-pw@127.0.0.1:9200 ✗");
    await spans.shutdown(2_000);
    const flushes = sink.spans();
    assert.deepEqual(flushes.map((s) => s.name), ["sink.flush", "sink.flush"]);
    const [first, second] = flushes;
    assert.equal(first.traceId, hexId(ok.ids, 0, 16));
    assert.equal(first.spanId, hexId(ok.ids, 16, 8));
    assert.equal(first.parentSpanId, undefined);
    assert.equal(first.kind, 3);
    assert.deepEqual(
      first.links,
      changes.map((c) => ({ traceId: hexId(c.idPool, c.idAt, 16), spanId: hexId(c.idPool, c.idAt + 16, 8) })),
    );
    assert.deepEqual(first.attributes, { "cdc.sink": "search", "cdc.documents": 3_000n, "cdc.bytes": 123_456_789_012n });
    assert.deepEqual(first.status, {});
    assert.ok(first.endTimeUnixNano >= first.startTimeUnixNano);
    assert.equal(second.status.code, 2);
    assert.match(second.status.message!, /^bulk refused by .* ✗$/);
    assert.doesNotMatch(second.status.message!, /s3cret-pw/);
  } finally {
    await sink.close();
  }
});

Deno.test("ChangeSpans: a collector that refuses or is down loses spans, never the caller", async () => {
  const refusing = collector(503);
  try {
    await traceChanges(new ChangeSpans({ url: refusing.url, serviceName: "s", samplingRatio: 1 }), 1);
    assert.equal(refusing.requests.length, 1);
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

Deno.test("ChangeSpans: a consumed event's cdc.consume span continues its traceparent's trace, or starts one by the ratio", async () => {
  const sink = collector();
  try {
    const spans = new ChangeSpans({ url: sink.url, serviceName: "indexer", samplingRatio: 1 });
    const published = spans.start(attributes, 1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000);
    const batch = spans.consumedBatch({
      table: attributes.table,
      topic: "oesophagus.t",
      partition: 2,
      group: "g",
      sink: "search",
    });
    const parent = parseTraceparent(traceparentOf(published));
    const child = spans.consumed(parent, batch, "update", key, "9007199254740993", 1_700_000_000_100)!;
    const root = spans.consumed(null, batch, "truncate", null, "7", 1_700_000_000_200)!;
    assert.equal(
      spans.consumed(parseTraceparent(traceparentOf(published).replace(/01$/, "00")), batch, "update", key, "8", 0),
      null,
    );
    const flush = spans.flushStarted("search", 2, 100, linksToConsumed([child, root]));
    spans.consumeEnded(child);
    spans.consumeEnded(root);
    spans.flushEnded(flush);
    await spans.shutdown(2_000);

    const [consumedChild, consumedRoot, flushSpan] = sink.spans();
    assert.deepEqual([consumedChild.name, consumedRoot.name, flushSpan.name], ["cdc.consume", "cdc.consume", "sink.flush"]);
    assert.equal(consumedChild.traceId, hexId(published.idPool, published.idAt, 16));
    assert.equal(consumedChild.parentSpanId, hexId(published.idPool, published.idAt + 16, 8));
    assert.notEqual(consumedChild.spanId, consumedChild.parentSpanId);
    assert.equal(consumedChild.kind, 5);
    assert.equal(consumedChild.startTimeUnixNano, 1_700_000_000_100_000_000n);
    assert.deepEqual(consumedChild.attributes, {
      "db.table": attributes.table,
      "messaging.system": "kafka",
      "messaging.operation.type": "process",
      "messaging.destination.name": "oesophagus.t",
      "messaging.destination.partition.id": "2",
      "messaging.consumer.group.name": "g",
      "cdc.sink": "search",
      "cdc.op": "update",
      "messaging.kafka.offset": "9007199254740993",
      "cdc.key": key,
    });
    assert.equal(consumedRoot.parentSpanId, undefined);
    assert.notEqual(consumedRoot.traceId, consumedChild.traceId);
    assert.equal(consumedRoot.attributes["cdc.key"], undefined, "a TRUNCATE names no document");
    assert.deepEqual(flushSpan.links, [
      { traceId: consumedChild.traceId, spanId: consumedChild.spanId },
      { traceId: consumedRoot.traceId, spanId: consumedRoot.spanId },
    ]);

    const none = new ChangeSpans({ url: sink.url, serviceName: "indexer", samplingRatio: 0 });
    assert.equal(none.consumed(null, batch, "update", key, "1", 0), null, "no traceparent, ratio 0: not traced");
    assert.ok(none.consumed(parent, batch, "update", key, "1", 0), "a sampled parent is followed whatever the ratio");
    await none.shutdown(100);
  } finally {
    await sink.close();
  }
});
