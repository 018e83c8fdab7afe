/**
 * Every metric the engine exports, in one place: OpenTelemetry instruments (with units) named
 * the way Prometheus wants them (`_total`, `_bytes`, `_seconds`), scraped from `/metrics`.
 * Hot paths count per batch or per segment, never per change. Gauges read state that the
 * actors keep in `gauges` below, when Prometheus scrapes.
 */
import { type Attributes, metrics } from "@opentelemetry/api";
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";

const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
const provider = new MeterProvider({
  resource: resourceFromAttributes({ "service.name": "oesophagus" }),
  readers: [exporter],
});
const meter = provider.getMeter("oesophagus");
// Traces and other libraries find the same provider.
metrics.setGlobalMeterProvider(provider);

/** The exported names, so a dashboard can be checked against them (test/e2e/dashboard_test.ts). */
export const METRIC_NAMES = {
  eventsIn: "oesophagus_events_in_total",
  eventsOut: "oesophagus_events_out_total",
  eventsSuperseded: "oesophagus_events_superseded_total",
  batchSize: "oesophagus_sink_batch_documents",
  flushDuration: "oesophagus_sink_flush_duration_seconds",
  lagBytes: "oesophagus_replication_lag_bytes",
  lagSeconds: "oesophagus_replication_lag_seconds",
  retainedWal: "oesophagus_slot_retained_wal_bytes",
  snapshotRowsDone: "oesophagus_snapshot_rows_done",
  snapshotRowsPlanned: "oesophagus_snapshot_rows_planned",
  inFlightEvents: "oesophagus_inflight_events",
  inFlightBytes: "oesophagus_inflight_bytes",
  restarts: "oesophagus_actor_restarts_total",
  deadLetters: "oesophagus_dead_letters_total",
  errors: "oesophagus_errors_total",
} as const;

const name = (prometheus: string) => prometheus.replace(/_total$/, "");

export const counters = {
  /** Changes read from the slot (op insert/update/delete/truncate) or rows copied (op snapshot), per table. */
  eventsIn: meter.createCounter(name(METRIC_NAMES.eventsIn), {
    description: "Change events read from PostgreSQL (snapshot rows as op=snapshot)",
    unit: "{event}",
  }),
  /** Documents written or deleted and acknowledged, per sink, table and bulk action. */
  eventsOut: meter.createCounter(name(METRIC_NAMES.eventsOut), {
    description: "Documents acknowledged by a sink (action index or delete)",
    unit: "{document}",
  }),
  /** Writes left out of a bulk request because a later write of their document was in it, per sink and table. */
  eventsSuperseded: meter.createCounter(name(METRIC_NAMES.eventsSuperseded), {
    description: "Document writes (index or delete) left out of a bulk request for a later write of the same document in it",
    unit: "{document}",
  }),
  restarts: meter.createCounter(name(METRIC_NAMES.restarts), {
    description: "Restarts caused by a crash of this actor",
    unit: "{restart}",
  }),
  deadLetters: meter.createCounter(name(METRIC_NAMES.deadLetters), {
    description: "Documents refused by Elasticsearch for good and written to the dead-letter index",
    unit: "{document}",
  }),
  errors: meter.createCounter(name(METRIC_NAMES.errors), { description: "Actor crashes by error code", unit: "{error}" }),
};

export const histograms = {
  batchSize: meter.createHistogram(METRIC_NAMES.batchSize, {
    description: "Documents per bulk request",
    unit: "{document}",
    advice: { explicitBucketBoundaries: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000] },
  }),
  flushDuration: meter.createHistogram(METRIC_NAMES.flushDuration, {
    description: "Time from sending a bulk request to every item being acknowledged, retries included",
    unit: "s",
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] },
  }),
};

/** State the actors keep current; read when Prometheus scrapes. Bigints keep LSN distances exact until here. */
export const gauges = {
  /** Per slot: server WAL position minus the slot's confirmed LSN, and minus its restart LSN. */
  slot: new Map<string, { lagBytes: bigint; retainedBytes: bigint }>(),
  /** Per slot: age of the oldest change read but not yet acknowledged by every sink (0 when none). */
  oldestUnacked: new Map<string, { commitTime: number | null }>(),
  /** Per slot: changes and bytes read from the slot and not yet acknowledged. */
  inFlight: new Map<string, { events: number; bytes: number }>(),
  /** Per table: snapshot rows copied and to copy. */
  snapshot: new Map<string, { done: number; total: number }>(),
};

function observe(
  prometheusName: string,
  description: string,
  unit: string,
  read: (observe: (v: number, a: Attributes) => void) => void,
) {
  meter.createObservableGauge(prometheusName, { description, unit }).addCallback((result) =>
    read((v, a) => result.observe(v, a))
  );
}

observe(METRIC_NAMES.lagBytes, "WAL written by the server but not yet confirmed by the slot", "By", (o) => {
  for (const [slot, s] of gauges.slot) o(Number(s.lagBytes), { slot });
});
observe(METRIC_NAMES.retainedWal, "WAL the server keeps for the slot", "By", (o) => {
  for (const [slot, s] of gauges.slot) o(Number(s.retainedBytes), { slot });
});
observe(METRIC_NAMES.lagSeconds, "Age of the oldest committed change not yet in every sink", "s", (o) => {
  const now = Date.now();
  for (const [slot, s] of gauges.oldestUnacked) o(s.commitTime === null ? 0 : Math.max(0, (now - s.commitTime) / 1000), { slot });
});
observe(METRIC_NAMES.inFlightEvents, "Row changes read from the slot and not yet acknowledged", "{event}", (o) => {
  for (const [slot, s] of gauges.inFlight) o(s.events, { slot });
});
observe(METRIC_NAMES.inFlightBytes, "Bytes of changes read from the slot and not yet acknowledged", "By", (o) => {
  for (const [slot, s] of gauges.inFlight) o(s.bytes, { slot });
});
observe(METRIC_NAMES.snapshotRowsDone, "Snapshot rows copied", "{row}", (o) => {
  for (const [table, s] of gauges.snapshot) o(s.done, { table });
});
observe(METRIC_NAMES.snapshotRowsPlanned, "Snapshot rows to copy (estimate at planning)", "{row}", (o) => {
  for (const [table, s] of gauges.snapshot) o(s.total, { table });
});

/** The Prometheus text exposition of every metric, as of now. */
export async function scrape(): Promise<string> {
  const { resourceMetrics } = await exporter.collect();
  return new PrometheusSerializer(undefined, false, undefined, false, true).serialize(resourceMetrics);
}
