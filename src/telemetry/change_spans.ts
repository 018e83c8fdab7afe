/**
 * The streaming spans (`cdc.change` with its `cdc.route` and `cdc.batch` children, and the
 * `sink.flush` span of each bulk request), recorded and exported without the SDK's span objects.
 * At tens of thousands of changes a second the SDK's three spans per change cost 17 µs of CPU
 * each (creation, OTLP conversion, export), and the same spans written as OTLP/JSON still cost
 * 8 µs: a kilobyte of string per change, built as ropes and flattened again to be sent. Here a
 * change is a small record until its last batch is acknowledged; then its three spans are
 * encoded straight into OTLP protobuf in one reused buffer and posted to the same endpoint as the
 * SDK's spans, in requests of bounded size. `sink.flush` is written here too because it links to
 * every change it carries, up to a batch's 2,000 and more: the SDK keeps the last 128 links of a
 * span (its default `linkCountLimit`) and would drop the rest. `oesophagus consume` writes its
 * `cdc.consume` spans here for the same reasons. `snapshot.chunk` stays an SDK span.
 */
import { formatLsn, type Lsn } from "../pg/lsn.ts";
import { settleWithin } from "../settle_within.ts";
import { logger } from "./log.ts";
import {
  fieldSize,
  ProtoWriter,
  SPAN_KIND_CLIENT,
  SPAN_KIND_INTERNAL,
  STATUS_CODE_ERROR,
  stringAttribute,
  stringKeyValueSize,
  TAG,
  utf8Size,
} from "./otlp_proto.ts";
import { redact } from "./redact.ts";
import type { TraceParent } from "./traceparent.ts";

export interface ChangeSpanAttributes {
  readonly table: string;
  readonly op: string;
  readonly commitLsn: Lsn;
  /** `cdc.key`, the document `_id`, as a JSON string literal (as the router has it). */
  readonly keyJson: string;
  readonly plugin: string;
}

/** Links to traced changes: 24 bytes each, a change's trace id and its `cdc.change` span id. */
export type ChangeLinks = Uint8Array;
const LINK_BYTES = 24;

/**
 * One traced change, from routing until every batch carrying it is acknowledged. Flat, and
 * holding only strings that exist anyway (names, the `_id`): it lives as long as the change is
 * in flight, long enough to be promoted by the young-generation GC, so what it allocates costs
 * twice.
 */
export interface ChangeSpan {
  /**
   * The change's ids, 40 random bytes from `idAt` in a pool shared with other changes (a view
   * each would cost an object per change): trace id (+0), then the span ids of `cdc.change`
   * (+16), `cdc.route` (+24) and `cdc.batch` (+32).
   */
  readonly idPool: Uint8Array;
  readonly idAt: number;
  readonly attributes: ChangeSpanAttributes;
  readonly readAt: number;
  readonly routeStart: number;
  readonly routeEnd: number;
  /** The sink whose batch the `cdc.batch` span is (the first to take the change), or null before. */
  batchSink: string | null;
  batchStart: number;
  /** Batches carrying it and not yet acknowledged. */
  pending: number;
}

/** A bulk request carrying traced changes, from when it was sent. */
export interface FlushSpan {
  /** Trace id (0-15) and span id (16-23). */
  readonly ids: Uint8Array;
  readonly sink: string;
  readonly documents: number;
  readonly bytes: number;
  readonly links: ChangeLinks;
  readonly start: number;
}

/**
 * A change event `oesophagus consume` read from a topic, until the batch carrying it into
 * Elasticsearch is acknowledged: its `cdc.consume` span continues the trace of the change that
 * published it (the message's `traceparent`), or is a trace of its own.
 */
export interface ConsumedSpan {
  /** Trace id (0-15), this span's id (16-23), the publishing change's span id (24-31, unused without `parent`). */
  readonly ids: Uint8Array;
  readonly parent: boolean;
  /** Attributes shared by the events of one fetched batch (`consumedBatch`). */
  readonly batch: Uint8Array;
  readonly op: string;
  /** The document `_id`, or null for a TRUNCATE event. */
  readonly key: string | null;
  readonly offset: string;
  readonly start: number;
}

/** Where a fetched batch came from and where it goes. */
export interface ConsumedBatchAttributes {
  readonly table: string;
  readonly topic: string;
  readonly partition: number;
  readonly group: string;
  readonly sink: string;
}

const IDS_PER_CHANGE = 40;

/** Random ids from pooled buffers: one getRandomValues per 1,600 changes. */
class Ids {
  #pool = new Uint8Array(0);
  #at = 0;

  /** The pool the last `take` drew from. */
  get pool(): Uint8Array {
    return this.#pool;
  }

  /** Offset of `bytes` fresh random bytes in `pool`. */
  take(bytes: number): number {
    if (this.#at + bytes > this.#pool.length) {
      // A fresh pool: changes still in flight keep the old one alive until they end.
      this.#pool = crypto.getRandomValues(new Uint8Array(64_000));
      this.#at = 0;
      // All-zero ids are invalid; at 2⁻⁶⁴ a draw this never happens, but it costs nothing to rule out.
      const pool = this.#pool;
      for (let id = 0; id < pool.length; id += 8) {
        let zero = true;
        for (let i = id; i < id + 8 && zero; i++) zero = pool[i] === 0;
        if (zero) pool[id] = 1;
      }
    }
    const at = this.#at;
    this.#at += bytes;
    return at;
  }
}

const encoder = new TextEncoder();
const NAME = {
  change: encoder.encode("cdc.change"),
  route: encoder.encode("cdc.route"),
  batch: encoder.encode("cdc.batch"),
  flush: encoder.encode("sink.flush"),
  consume: encoder.encode("cdc.consume"),
};
const SPAN_KIND_CONSUMER = 5;

/** The `cdc.key` value: the `_id` the router holds as a JSON string literal. */
const keyOf = (keyJson: string): string => keyJson.includes("\\") ? JSON.parse(keyJson) : keyJson.slice(1, -1);

export interface ChangeSpansOptions {
  readonly url: string;
  /** Sent with every export (a collector's credentials). */
  readonly headers?: Readonly<Record<string, string>>;
  /** PEM CA certificates to trust for an https collector (besides the system's). */
  readonly caCerts?: readonly string[];
  readonly serviceName: string;
  readonly samplingRatio: number;
  /** Bytes of spans per export request. */
  readonly batchBytes?: number;
  /** Export requests in flight at most; past it a full request is dropped (counted in the log), as the SDK's queue does. */
  readonly maxExports?: number;
  readonly flushIntervalMs?: number;
  readonly timeoutMs?: number;
}

export class ChangeSpans {
  readonly #ids = new Ids();
  readonly #options: Required<Omit<ChangeSpansOptions, "caCerts">>;
  readonly #client: Deno.HttpClient | undefined;
  /** Spans encoded as `ScopeSpans.spans` fields, waiting for the next request. */
  readonly #spans = new ProtoWriter();
  #queued = 0;
  #dropped = 0;
  readonly #resource: Uint8Array;
  readonly #scope: Uint8Array;
  #inFlight = new Set<Promise<void>>();
  readonly #timer: ReturnType<typeof setInterval>;
  #failures = 0;
  /** Encoded attributes that repeat: per table, op and plugin; per sink; the last commit LSN (a transaction's changes share it). */
  readonly #fixed = new Map<string, Uint8Array>();
  #lastFixed: { table: string; op: string; plugin: string; bytes: Uint8Array } | null = null;
  readonly #sinks = new Map<string, Uint8Array>();
  #lastLsn: Lsn | null = null;
  #lastLsnText = "";

  constructor(options: ChangeSpansOptions) {
    this.#client = options.caCerts ? Deno.createHttpClient({ caCerts: [...options.caCerts] }) : undefined;
    this.#options = {
      headers: {},
      batchBytes: 512 * 1024,
      maxExports: 16,
      flushIntervalMs: 1_000,
      timeoutMs: 2_000,
      ...options,
    };
    // Resource { attributes: [service.name] } and InstrumentationScope { name }, as fields of their parents.
    const serviceName = new ProtoWriter(256);
    serviceName.stringKeyValue(TAG.resourceAttribute, "service.name", options.serviceName);
    const resource = new ProtoWriter(serviceName.at + 8);
    resource.header(TAG.resource, serviceName.at);
    resource.raw(serviceName.view());
    this.#resource = resource.bytes();
    const scope = new ProtoWriter(64);
    scope.header(TAG.scope, fieldSize(utf8Size("oesophagus")));
    scope.string(TAG.scopeName, "oesophagus");
    this.#scope = scope.bytes();
    this.#timer = setInterval(() => this.#flush(), this.#options.flushIntervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Whether the next change is traced (the sampling ratio, decided per change: each is a root span). */
  sample(): boolean {
    return this.#options.samplingRatio >= 1 || Math.random() < this.#options.samplingRatio;
  }

  /** A traced change, read at `readAt`, routed between the two times. */
  start(attributes: ChangeSpanAttributes, readAt: number, routeStart: number, routeEnd: number): ChangeSpan {
    const idAt = this.#ids.take(IDS_PER_CHANGE);
    return {
      idPool: this.#ids.pool,
      idAt,
      attributes,
      readAt,
      routeStart,
      routeEnd,
      batchSink: null,
      batchStart: 0,
      pending: 0,
    };
  }

  /** The change joined a batch for `sink` (its `cdc.batch` child starts now, once). */
  batched(span: ChangeSpan, sink: string): void {
    span.pending++;
    if (span.batchSink !== null) return;
    span.batchSink = sink;
    span.batchStart = Date.now();
  }

  #fixedAttributes(a: ChangeSpanAttributes): Uint8Array {
    const last = this.#lastFixed;
    if (last && last.table === a.table && last.op === a.op && last.plugin === a.plugin) return last.bytes;
    const key = `${a.table}\u0000${a.op}\u0000${a.plugin}`;
    let bytes = this.#fixed.get(key);
    if (bytes === undefined) {
      if (this.#fixed.size >= 10_000) this.#fixed.clear();
      const out = new ProtoWriter(256);
      out.stringKeyValue(TAG.attribute, "db.table", a.table);
      out.stringKeyValue(TAG.attribute, "cdc.op", a.op);
      out.stringKeyValue(TAG.attribute, "cdc.plugin", a.plugin);
      bytes = out.bytes();
      this.#fixed.set(key, bytes);
    }
    this.#lastFixed = { table: a.table, op: a.op, plugin: a.plugin, bytes };
    return bytes;
  }

  /** The commit LSN as text, formatted once per transaction (its changes share it). */
  #lsnText(lsn: Lsn): string {
    if (lsn !== this.#lastLsn) {
      this.#lastLsn = lsn;
      this.#lastLsnText = formatLsn(lsn);
    }
    return this.#lastLsnText;
  }

  #sinkAttribute(sink: string): Uint8Array {
    let bytes = this.#sinks.get(sink);
    if (bytes === undefined) this.#sinks.set(sink, bytes = stringAttribute("cdc.sink", sink));
    return bytes;
  }

  /** Bytes of the fields `#common` writes: trace id 18, span id 10, parent 10, name, kind 2, start and end 9 each. */
  static #commonSize(name: Uint8Array, parent: boolean): number {
    return 18 + 10 + (parent ? 10 : 0) + fieldSize(name.length) + 2 + 9 + 9;
  }

  /** The fields every span has: trace id, span id, parent, name, kind, times. */
  #common(
    ids: Uint8Array,
    at: number,
    spanAt: number,
    parentAt: number,
    name: Uint8Array,
    kind: number,
    start: number,
    end: number,
  ) {
    const out = this.#spans;
    out.header(TAG.traceId, 16);
    out.copy(ids, at, 16);
    out.header(TAG.spanId, 8);
    out.copy(ids, at + spanAt, 8);
    if (parentAt >= 0) {
      out.header(TAG.parentSpanId, 8);
      out.copy(ids, at + parentAt, 8);
    }
    out.header(TAG.name, name.length);
    out.raw(name);
    out.byte(TAG.kind);
    out.byte(kind);
    out.fixed64Millis(TAG.start, start);
    out.fixed64Millis(TAG.end, end);
  }

  /** One batch carrying the change was acknowledged; the last one ends its spans. */
  acknowledged(span: ChangeSpan): void {
    if (--span.pending > 0) return;
    const end = Date.now();
    const { idPool, idAt, attributes } = span;
    const fixed = this.#fixedAttributes(attributes);
    const lsn = this.#lsnText(attributes.commitLsn);
    const key = keyOf(attributes.keyJson);
    const change = ChangeSpans.#commonSize(NAME.change, false) + fixed.length + stringKeyValueSize("cdc.commit_lsn", lsn) +
      stringKeyValueSize("cdc.key", key);
    const route = ChangeSpans.#commonSize(NAME.route, true);
    const sink = span.batchSink === null ? null : this.#sinkAttribute(span.batchSink);
    const batch = sink === null ? 0 : ChangeSpans.#commonSize(NAME.batch, true) + sink.length;
    const out = this.#spans;
    out.reserve(fieldSize(change) + fieldSize(route) + (sink === null ? 0 : fieldSize(batch)));

    out.header(TAG.span, change);
    this.#common(idPool, idAt, 16, -1, NAME.change, SPAN_KIND_INTERNAL, span.readAt, end);
    out.raw(fixed);
    out.stringKeyValue(TAG.attribute, "cdc.commit_lsn", lsn);
    out.stringKeyValue(TAG.attribute, "cdc.key", key);

    out.header(TAG.span, route);
    this.#common(idPool, idAt, 24, 16, NAME.route, SPAN_KIND_INTERNAL, span.routeStart, span.routeEnd);
    this.#queued += 2;

    if (sink !== null) {
      out.header(TAG.span, batch);
      this.#common(idPool, idAt, 32, 16, NAME.batch, SPAN_KIND_INTERNAL, span.batchStart, end);
      out.raw(sink);
      this.#queued++;
    }
    if (out.at >= this.#options.batchBytes) this.#flush();
  }

  /** The attributes of a fetched batch's `cdc.consume` spans, encoded once for all of them. */
  consumedBatch(a: ConsumedBatchAttributes): Uint8Array {
    const out = new ProtoWriter(512);
    out.stringKeyValue(TAG.attribute, "db.table", a.table);
    out.stringKeyValue(TAG.attribute, "messaging.system", "kafka");
    out.stringKeyValue(TAG.attribute, "messaging.operation.type", "process");
    out.stringKeyValue(TAG.attribute, "messaging.destination.name", a.topic);
    out.stringKeyValue(TAG.attribute, "messaging.destination.partition.id", String(a.partition));
    out.stringKeyValue(TAG.attribute, "messaging.consumer.group.name", a.group);
    const sink = this.#sinkAttribute(a.sink);
    const bytes = new Uint8Array(out.at + sink.length);
    bytes.set(out.view());
    bytes.set(sink, out.at);
    return bytes;
  }

  /**
   * A change event read at `start`, or null when it is not traced: an event whose `traceparent`
   * is sampled continues that trace, one with a `traceparent` not sampled is not traced, and
   * one without (or with one that does not parse) is a new trace by this process's ratio.
   */
  consumed(
    traceparent: TraceParent | null,
    batch: Uint8Array,
    op: string,
    key: string | null,
    offset: string,
    start: number,
  ): ConsumedSpan | null {
    if (traceparent ? !traceparent.sampled : !this.sample()) return null;
    const at = this.#ids.take(traceparent ? 8 : 24);
    const ids = new Uint8Array(32);
    if (traceparent) {
      ids.set(traceparent.ids.subarray(0, 16), 0);
      ids.set(this.#ids.pool.subarray(at, at + 8), 16);
      ids.set(traceparent.ids.subarray(16, 24), 24);
    } else {
      ids.set(this.#ids.pool.subarray(at, at + 24), 0);
    }
    return { ids, parent: traceparent !== null, batch, op, key, offset, start };
  }

  /** The event's batch was acknowledged (or its TRUNCATE done): its span ends now. */
  consumeEnded(span: ConsumedSpan): void {
    const end = Date.now();
    const attributes = span.batch.length + stringKeyValueSize("cdc.op", span.op) +
      stringKeyValueSize("messaging.kafka.offset", span.offset) +
      (span.key === null ? 0 : stringKeyValueSize("cdc.key", span.key));
    const size = ChangeSpans.#commonSize(NAME.consume, span.parent) + attributes;
    const out = this.#spans;
    out.reserve(fieldSize(size));
    out.header(TAG.span, size);
    this.#common(span.ids, 0, 16, span.parent ? 24 : -1, NAME.consume, SPAN_KIND_CONSUMER, span.start, end);
    out.raw(span.batch);
    out.stringKeyValue(TAG.attribute, "cdc.op", span.op);
    out.stringKeyValue(TAG.attribute, "messaging.kafka.offset", span.offset);
    if (span.key !== null) out.stringKeyValue(TAG.attribute, "cdc.key", span.key);
    this.#queued++;
    if (out.at >= this.#options.batchBytes) this.#flush();
  }

  /** A bulk request carrying these traced changes was sent: its `sink.flush` span, a root linked to each of them. */
  flushStarted(sink: string, documents: number, bytes: number, links: ChangeLinks): FlushSpan {
    const at = this.#ids.take(24);
    return { ids: this.#ids.pool.slice(at, at + 24), sink, documents, bytes, links, start: Date.now() };
  }

  /** The bulk request ended: acknowledged, or failed with `error`. */
  flushEnded(flush: FlushSpan, error?: string): void {
    const end = Date.now();
    const sink = this.#sinkAttribute(flush.sink);
    const counts = new ProtoWriter(128);
    counts.intKeyValue(TAG.attribute, "cdc.documents", flush.documents);
    counts.intKeyValue(TAG.attribute, "cdc.bytes", flush.bytes);
    // A span leaves the process like a log line: redacted.
    const message = error === undefined ? "" : redact(error);
    const messageSize = utf8Size(message);
    const status = error === undefined ? 0 : fieldSize(fieldSize(messageSize) + 2);
    // Link { trace_id, span_id }: 28 bytes, 30 as a field.
    const links = flush.links.length / LINK_BYTES;
    const span = ChangeSpans.#commonSize(NAME.flush, false) + sink.length + counts.at + 30 * links + status;
    const out = this.#spans;
    out.reserve(fieldSize(span));
    out.header(TAG.span, span);
    this.#common(flush.ids, 0, 16, -1, NAME.flush, SPAN_KIND_CLIENT, flush.start, end);
    out.raw(sink);
    out.raw(counts.view());
    for (let link = 0; link < flush.links.length; link += LINK_BYTES) {
      out.header(TAG.link, 28);
      out.header(TAG.linkTraceId, 16);
      out.copy(flush.links, link, 16);
      out.header(TAG.linkSpanId, 8);
      out.copy(flush.links, link + 16, 8);
    }
    if (error !== undefined) {
      out.header(TAG.status, fieldSize(messageSize) + 2);
      out.header(TAG.statusMessage, messageSize);
      out.utf8(message, messageSize);
      out.byte(TAG.statusCode);
      out.byte(STATUS_CODE_ERROR);
    }
    this.#queued++;
    if (out.at >= this.#options.batchBytes) this.#flush();
  }

  /** The queued spans as an `ExportTraceServiceRequest`, in a buffer of its own (the queue's is reused). */
  #request(): Uint8Array<ArrayBuffer> {
    const spans = this.#spans.view();
    const scopeSpans = this.#scope.length + spans.length;
    const resourceSpans = this.#resource.length + fieldSize(scopeSpans);
    const head = new ProtoWriter(64 + this.#resource.length + this.#scope.length);
    head.header(TAG.resourceSpans, resourceSpans);
    head.raw(this.#resource);
    head.header(TAG.scopeSpans, scopeSpans);
    head.raw(this.#scope);
    const body = new Uint8Array(head.at + spans.length);
    body.set(head.view());
    body.set(spans, head.at);
    return body;
  }

  #flush(): void {
    if (this.#spans.at > 0 && this.#inFlight.size >= this.#options.maxExports) {
      this.#dropped += this.#queued;
    } else if (this.#spans.at > 0) {
      this.#send(this.#request());
    }
    this.#spans.at = 0;
    this.#queued = 0;
    if (this.#dropped > 0) {
      logger.warn("tracing: change spans dropped, the collector is not keeping up", { dropped: this.#dropped });
      this.#dropped = 0;
    }
  }

  #send(body: Uint8Array<ArrayBuffer>): void {
    const sent: Promise<void> = fetch(this.#options.url, {
      method: "POST",
      headers: { ...this.#options.headers, "content-type": "application/x-protobuf" },
      body,
      signal: AbortSignal.timeout(this.#options.timeoutMs),
      ...(this.#client ? { client: this.#client } : {}),
    }).then(async (response) => {
      await response.body?.cancel();
      if (!response.ok) throw new Error(`the collector answered ${response.status}`);
      this.#failures = 0;
    }).catch((error) => {
      // Once per run of failures: a collector that is down must not flood the log.
      if (this.#failures++ === 0) logger.warn("tracing: exporting change spans failed", { reason: (error as Error).message });
    }).finally(() => this.#inFlight.delete(sent));
    this.#inFlight.add(sent);
  }

  /** Sends what is queued and waits for every export, for at most `timeoutMs`. */
  async shutdown(timeoutMs: number): Promise<void> {
    clearInterval(this.#timer);
    this.#flush();
    await settleWithin(Promise.allSettled([...this.#inFlight]), timeoutMs);
    this.#client?.close();
  }
}

/** Links to these changes (for the `sink.flush` span of the batch carrying them). */
export function linksTo(spans: readonly ChangeSpan[]): ChangeLinks {
  const links = new Uint8Array(spans.length * LINK_BYTES);
  for (let i = 0; i < spans.length; i++) {
    const { idPool, idAt } = spans[i];
    for (let b = 0; b < LINK_BYTES; b++) links[i * LINK_BYTES + b] = idPool[idAt + b];
  }
  return links;
}

/** Links to these consumed events' `cdc.consume` spans (for the `sink.flush` span of the batch carrying them). */
export function linksToConsumed(spans: readonly ConsumedSpan[]): ChangeLinks {
  const links = new Uint8Array(spans.length * LINK_BYTES);
  for (let i = 0; i < spans.length; i++) links.set(spans[i].ids.subarray(0, LINK_BYTES), i * LINK_BYTES);
  return links;
}

/**
 * The W3C `traceparent` of a change's `cdc.change` span, for messages that carry the change
 * further (Kafka headers): a consumer's spans join the change's trace.
 */
export function traceparentOf(span: ChangeSpan): string {
  return `00-${hexId(span.idPool, span.idAt, 16)}-${hexId(span.idPool, span.idAt + 16, 8)}-01`;
}

/** Ids as the hex OTLP/JSON and Jaeger show them (for tests and logs). */
export function hexId(ids: Uint8Array, from: number, bytes: number): string {
  let text = "";
  for (let i = from; i < from + bytes; i++) text += ids[i].toString(16).padStart(2, "0");
  return text;
}
