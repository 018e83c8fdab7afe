/**
 * The streaming spans (`cdc.change` with its `cdc.route` and `cdc.batch` children, and the
 * `sink.flush` span of each bulk request), recorded and exported without the SDK's span objects.
 * At tens of thousands of changes a second the SDK's three spans per change cost 17 µs of CPU
 * each (creation, OTLP conversion, export): measured in bench/stream as 30% of streaming
 * throughput with the collector elsewhere. Here a change is a small record until its last batch
 * is acknowledged; then its three spans are written straight into OTLP/JSON (ids hex, as the OTLP
 * JSON mapping has them) and posted to the same endpoint as the SDK's spans, in requests of
 * bounded size. `sink.flush` is written here too because it links to every change it carries,
 * up to a batch's 2,000 and more: the SDK keeps the last 128 links of a span (its default
 * `linkCountLimit`) and would drop the rest. `snapshot.chunk` stays an SDK span.
 */
import { type SpanContext, TraceFlags } from "@opentelemetry/api";
import { settleWithin } from "../settle_within.ts";
import { logger } from "./log.ts";
import { redact } from "./redact.ts";

export interface ChangeSpanAttributes {
  readonly table: string;
  readonly op: string;
  readonly commitLsn: string;
  /** `cdc.key`, the document `_id`, as a JSON string literal (as the router has it: no parse and re-quote). */
  readonly keyJson: string;
  readonly plugin: string;
}

/**
 * One traced change, from routing until every batch carrying it is acknowledged. Flat, and
 * holding only strings that exist anyway (names, the LSN text, the `_id`): it lives as long as
 * the change is in flight, long enough to be promoted by the young-generation GC, so what it
 * allocates costs twice.
 */
export interface ChangeSpan {
  readonly context: SpanContext;
  readonly attributes: ChangeSpanAttributes;
  readonly readAt: number;
  readonly routeStart: number;
  readonly routeEnd: number;
  batchSpanId: string | null;
  batchSink: string;
  batchStart: number;
  /** Batches carrying it and not yet acknowledged. */
  pending: number;
}

/** A bulk request carrying traced changes, from when it was sent. */
export interface FlushSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly sink: string;
  readonly documents: number;
  readonly bytes: number;
  readonly links: readonly SpanContext[];
  readonly start: number;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Random ids from a pooled buffer: one getRandomValues per 512 span ids, not one per id. */
class Ids {
  readonly #pool = new Uint8Array(4096);
  #at = this.#pool.length;

  hex(bytes: number): string {
    for (;;) {
      if (this.#at + bytes > this.#pool.length) {
        crypto.getRandomValues(this.#pool);
        this.#at = 0;
      }
      let text = "";
      let zero = true;
      for (let i = 0; i < bytes; i++) {
        const byte = this.#pool[this.#at++];
        if (byte !== 0) zero = false;
        text += HEX[byte];
      }
      if (!zero) return text; // all-zero ids are invalid
    }
  }
}

const nanos = (ms: number) => `${Math.round(ms * 1000)}000`;
const attribute = (key: string, value: string) => `{"key":"${key}","value":{"stringValue":${JSON.stringify(value)}}}`;
// int64 is a decimal string in the OTLP JSON mapping.
const intAttribute = (key: string, value: number) => `{"key":"${key}","value":{"intValue":"${value}"}}`;

export interface ChangeSpansOptions {
  readonly url: string;
  /** Sent with every export (a collector's credentials). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly serviceName: string;
  readonly samplingRatio: number;
  /** Characters of spans per export request: small enough to be young garbage when sent. */
  readonly batchChars?: number;
  /** Characters of spans waiting at most; past it new ones are dropped (counted in the log), as the SDK's queue does. */
  readonly maxQueuedChars?: number;
  readonly flushIntervalMs?: number;
  readonly timeoutMs?: number;
}

export class ChangeSpans {
  readonly #ids = new Ids();
  readonly #options: Required<ChangeSpansOptions>;
  readonly #prefix: string;
  #spans: string[] = [];
  #queuedChars = 0;
  #dropped = 0;
  #inFlight = new Set<Promise<void>>();
  readonly #timer: ReturnType<typeof setInterval>;
  #failures = 0;
  /** Attribute JSON that repeats: per table, op and plugin; the last commit LSN (a transaction's changes share it). */
  readonly #fixed = new Map<string, string>();
  #lastLsn = "";
  #lastLsnJson = "";

  constructor(options: ChangeSpansOptions) {
    this.#options = {
      headers: {},
      batchChars: 600_000,
      maxQueuedChars: 64 << 20,
      flushIntervalMs: 1_000,
      timeoutMs: 2_000,
      ...options,
    };
    this.#prefix = `{"resourceSpans":[{"resource":{"attributes":[${
      attribute("service.name", options.serviceName)
    }]},"scopeSpans":[{"scope":{"name":"oesophagus"},"spans":[`;
    this.#timer = setInterval(() => this.#flush(), this.#options.flushIntervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Whether the next change is traced (the sampling ratio, decided per change: each is a root span). */
  sample(): boolean {
    return this.#options.samplingRatio >= 1 || Math.random() < this.#options.samplingRatio;
  }

  /** A traced change, read at `readAt`, routed between the two times. */
  start(attributes: ChangeSpanAttributes, readAt: number, routeStart: number, routeEnd: number): ChangeSpan {
    return {
      context: { traceId: this.#ids.hex(16), spanId: this.#ids.hex(8), traceFlags: TraceFlags.SAMPLED },
      attributes,
      readAt,
      routeStart,
      routeEnd,
      batchSpanId: null,
      batchSink: "",
      batchStart: 0,
      pending: 0,
    };
  }

  #attributes(a: ChangeSpanAttributes): string {
    const fixedKey = `${a.table}\u0000${a.op}\u0000${a.plugin}`;
    let fixed = this.#fixed.get(fixedKey);
    if (fixed === undefined) {
      if (this.#fixed.size >= 10_000) this.#fixed.clear();
      fixed = `${attribute("db.table", a.table)},${attribute("cdc.op", a.op)},${attribute("cdc.plugin", a.plugin)}`;
      this.#fixed.set(fixedKey, fixed);
    }
    if (a.commitLsn !== this.#lastLsn) {
      this.#lastLsn = a.commitLsn;
      this.#lastLsnJson = attribute("cdc.commit_lsn", a.commitLsn);
    }
    return `${fixed},${this.#lastLsnJson},{"key":"cdc.key","value":{"stringValue":${a.keyJson}}}`;
  }

  /** The change joined a batch for `sink` (its `cdc.batch` child starts now, once). */
  batched(span: ChangeSpan, sink: string): void {
    span.pending++;
    if (span.batchSpanId !== null) return;
    span.batchSpanId = this.#ids.hex(8);
    span.batchSink = sink;
    span.batchStart = Date.now();
  }

  /** One batch carrying the change was acknowledged; the last one ends its spans. */
  acknowledged(span: ChangeSpan): void {
    if (--span.pending > 0) return;
    const end = Date.now();
    const { traceId, spanId } = span.context;
    const common = `"traceId":"${traceId}","kind":1,"status":{}`;
    const change = `{${common},"spanId":"${spanId}","name":"cdc.change","startTimeUnixNano":"${
      nanos(span.readAt)
    }","endTimeUnixNano":"${nanos(end)}","attributes":[${this.#attributes(span.attributes)}]}`;
    const route = `{${common},"spanId":"${this.#ids.hex(8)}","parentSpanId":"${spanId}","name":"cdc.route","startTimeUnixNano":"${
      nanos(span.routeStart)
    }","endTimeUnixNano":"${nanos(span.routeEnd)}"}`;
    if (span.batchSpanId === null) {
      this.#queue(`${change},${route}`, 2);
      return;
    }
    const batch = `{${common},"spanId":"${span.batchSpanId}","parentSpanId":"${spanId}","name":"cdc.batch","startTimeUnixNano":"${
      nanos(span.batchStart)
    }","endTimeUnixNano":"${nanos(end)}","attributes":[${attribute("cdc.sink", span.batchSink)}]}`;
    this.#queue(`${change},${route},${batch}`, 3);
  }

  /** A bulk request carrying these traced changes was sent: its `sink.flush` span, a root linked to each of them. */
  flushStarted(sink: string, documents: number, bytes: number, links: readonly SpanContext[]): FlushSpan {
    return { traceId: this.#ids.hex(16), spanId: this.#ids.hex(8), sink, documents, bytes, links, start: Date.now() };
  }

  /** The bulk request ended: acknowledged, or failed with `error`. */
  flushEnded(flush: FlushSpan, error?: string): void {
    const links = flush.links.map((l) => `{"traceId":"${l.traceId}","spanId":"${l.spanId}"}`).join(",");
    // A span leaves the process like a log line: redacted.
    const status = error === undefined ? "{}" : `{"code":2,"message":${JSON.stringify(redact(error))}}`;
    // kind 3: a client span, a request to Elasticsearch.
    this.#queue(
      `{"traceId":"${flush.traceId}","spanId":"${flush.spanId}","kind":3,"name":"sink.flush","startTimeUnixNano":"${
        nanos(flush.start)
      }","endTimeUnixNano":"${nanos(Date.now())}","attributes":[${attribute("cdc.sink", flush.sink)},${
        intAttribute("cdc.documents", flush.documents)
      },${intAttribute("cdc.bytes", flush.bytes)}],"links":[${links}],"status":${status}}`,
      1,
    );
  }

  /** Spans (`count` of them, written and comma-joined) join the next export request, or are dropped past the bound. */
  #queue(spans: string, count: number): void {
    if (this.#queuedChars + spans.length > this.#options.maxQueuedChars) {
      this.#dropped += count;
      return;
    }
    this.#spans.push(spans);
    this.#queuedChars += spans.length;
    if (this.#queuedChars >= this.#options.batchChars) this.#flush();
  }

  #flush(): void {
    if (this.#dropped > 0) {
      logger.warn("tracing: change spans dropped, the collector is not keeping up", { dropped: this.#dropped });
      this.#dropped = 0;
    }
    if (this.#spans.length === 0) return;
    const body = `${this.#prefix}${this.#spans.join(",")}]}]}]}`;
    this.#spans = [];
    this.#queuedChars = 0;
    const sent: Promise<void> = fetch(this.#options.url, {
      method: "POST",
      headers: { ...this.#options.headers, "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(this.#options.timeoutMs),
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
  }
}
