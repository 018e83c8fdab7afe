/**
 * The one error type the engine raises on purpose. `code` is stable (logs, metrics and tests
 * key on it); `retriable` tells a supervisor whether waiting and trying again can help;
 * `fix` is the sentence a person needs to act on it.
 */
export type ErrorCode =
  | "config_invalid"
  | "config_unreadable"
  | "table_missing"
  | "table_without_key"
  | "table_unindexable"
  | "source_unreachable"
  | "source_auth_failed"
  | "source_misconfigured"
  | "slot_plugin_mismatch"
  | "slot_missing"
  | "slot_invalidated"
  | "wal_malformed"
  | "event_malformed"
  | "partition_truncated"
  | "table_renamed"
  | "table_dropped"
  | "table_key_changed"
  | "table_partitions_changed"
  | "snapshot_failed"
  | "engine_running"
  | "sink_unreachable"
  | "sink_rejected"
  | "sink_misconfigured"
  /** A sink's topic or index is gone (or made anew) while the engine writes to it: the restart copies its table again. */
  | "sink_target_missing"
  | "internal";

export class OesophagusError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly fix?: string;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retriable?: boolean; fix?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "OesophagusError";
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.fix = options.fix;
  }
}

export function isRetriable(error: unknown): boolean {
  return error instanceof OesophagusError ? error.retriable : false;
}

/** Message text of anything thrown, without the stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** `error` and the errors it wraps (`cause`), outermost first, at most `depth` of them. */
export function* causes(error: unknown, depth = 8): Generator<unknown> {
  for (let e = error; e !== undefined && e !== null && depth-- > 0; e = (e as { cause?: unknown }).cause) yield e;
}
