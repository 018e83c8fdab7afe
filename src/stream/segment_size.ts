/**
 * How many row changes (and bytes) the wal reader puts in one segment. The router splits a
 * segment over each sink's lanes by document, one bulk request per lane, so a segment of one
 * request's worth left every request at 1/concurrency of the configured `maxDocs`: twice the
 * requests (and translog syncs) for the same documents with the default two lanes.
 */
export interface SegmentBounds {
  readonly rows: number;
  readonly bytes: number;
}

/**
 * Hashing documents to lanes is uneven: a segment of exactly `maxDocs` per lane would overflow
 * one lane into a second, small request about every other time. At 90% the spread that does so
 * is over 5 standard deviations for the default sizes.
 */
const LANE_FILL = 0.9;

/**
 * The bounds for every sink's lanes to get full requests, but no more than half of the in-flight
 * bounds, so that a second segment can be read while the first is written.
 */
export function segmentBounds(
  sinks: readonly { readonly batch: { readonly maxDocs: number; readonly maxBytes: number }; readonly concurrency: number }[],
  source: { readonly maxInFlightEvents: number; readonly maxInFlightBytes: number },
): SegmentBounds {
  const rows = Math.min(...sinks.map((s) => Math.max(s.batch.maxDocs, Math.floor(LANE_FILL * s.batch.maxDocs * s.concurrency))));
  const bytes = Math.min(
    ...sinks.map((s) => Math.max(s.batch.maxBytes, Math.floor(LANE_FILL * s.batch.maxBytes * s.concurrency))),
  );
  return {
    rows: Math.max(1, Math.min(rows, Math.floor(source.maxInFlightEvents / 2))),
    bytes: Math.max(1, Math.min(bytes, Math.floor(source.maxInFlightBytes / 2))),
  };
}
