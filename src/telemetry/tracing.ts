/**
 * Traces over OTLP/HTTP: a `cdc.change` span per change event (children `cdc.route` and
 * `cdc.batch`, recorded by change_spans.ts without SDK span objects), a `sink.flush` span per
 * bulk request linked to the changes it carries, and a `snapshot.chunk` span per chunk; in
 * `consume`, a `cdc.consume` span per event, the child of its change's span when the event
 * carries its traceparent. Off unless `tracing.enabled` or an OTLP endpoint is set in the
 * standard `OTEL_*` variables; while off, `tracer()` is null and callers skip all span work.
 * The standard variables win over the config: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
 * OTEL_TRACES_SAMPLER_ARG (with a ratio sampler), OTEL_SERVICE_NAME, OTEL_SDK_DISABLED,
 * OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE.
 */
import type { Tracer } from "@opentelemetry/api";
import type { ParsedConfig } from "../config/schema.ts";
import { readPemFile } from "../pem.ts";
import { settleWithin } from "../settle_within.ts";
import { ChangeSpans } from "./change_spans.ts";
import { logger } from "./log.ts";

let active: Tracer | null = null;
let changes: ChangeSpans | null = null;

/** The tracer, or null while tracing is off. */
export function tracer(): Tracer | null {
  return active;
}

/** The recorder of per-change spans, or null while tracing is off. */
export function changeSpans(): ChangeSpans | null {
  return changes;
}

export interface TracingSettings {
  readonly enabled: boolean;
  readonly url: string;
  readonly samplingRatio: number;
  readonly serviceName: string;
  /** OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: a collector's credentials, sent with every export, never logged. */
  readonly headers: Readonly<Record<string, string>>;
  /** OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE: a PEM file of CA certificates to trust for an https collector. */
  readonly caFile: string | null;
  /** Which of the two variables named it, for errors. */
  readonly caSetting: string;
}

/** `key1=value1,key2=value2` with URL-encoded values, as the OTLP exporter specification has it. */
export function parseOtlpHeaders(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    let value = pair.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not URL-encoded after all: taken as it is.
    }
    if (key) headers[key] = value;
  }
  return headers;
}

/** The config's `tracing`, overridden by the standard OTEL_* variables. */
export function tracingSettings(config: ParsedConfig["tracing"], env: (name: string) => string | undefined): TracingSettings {
  const tracesEndpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT");
  const url = tracesEndpoint ?? `${(endpoint ?? config.endpoint).replace(/\/$/, "")}/v1/traces`;
  const sampler = env("OTEL_TRACES_SAMPLER");
  const samplerArg = Number(env("OTEL_TRACES_SAMPLER_ARG"));
  const ratioFromEnv =
    (sampler === "traceidratio" || sampler === "parentbased_traceidratio") && samplerArg >= 0 && samplerArg <= 1
      ? samplerArg
      : sampler === "always_off" || sampler === "parentbased_always_off"
      ? 0
      : undefined;
  const disabled = env("OTEL_SDK_DISABLED") === "true" || env("OTEL_TRACES_EXPORTER") === "none";
  return {
    enabled: !disabled && (config.enabled || tracesEndpoint !== undefined || endpoint !== undefined),
    url,
    samplingRatio: ratioFromEnv ?? config.samplingRatio,
    serviceName: env("OTEL_SERVICE_NAME") ?? "oesophagus",
    headers: parseOtlpHeaders(env("OTEL_EXPORTER_OTLP_TRACES_HEADERS") ?? env("OTEL_EXPORTER_OTLP_HEADERS")),
    caFile: env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") ?? env("OTEL_EXPORTER_OTLP_CERTIFICATE") ?? null,
    caSetting: env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE") !== undefined
      ? "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"
      : "OTEL_EXPORTER_OTLP_CERTIFICATE",
  };
}

export async function startTracing(settings: TracingSettings): Promise<AsyncDisposable> {
  if (!settings.enabled) return { [Symbol.asyncDispose]: () => Promise.resolve() };
  const ca = settings.caFile === null ? null : readPemFile(settings.caFile, {
    name: settings.caSetting,
    code: "config_unreadable",
    certificate: true,
    holding: "the collector's CA",
  });
  // The SDK is loaded only now: with tracing off (the default) its modules would cost start-up time for nothing.
  const sdk = await import("./tracing_sdk.ts");
  const provider = sdk.tracerProvider(settings, ca);
  active = settings.samplingRatio > 0 ? provider.getTracer("oesophagus") : null;
  // Kept at ratio 0 too: `consume` still continues the traces of changes the engine sampled (parent-based).
  const recorder = new ChangeSpans({
    url: settings.url,
    headers: settings.headers,
    ...(ca === null ? {} : { caCerts: [ca] }),
    serviceName: settings.serviceName,
    samplingRatio: settings.samplingRatio,
  });
  changes = recorder;
  logger.info("tracing", { url: settings.url, samplingRatio: settings.samplingRatio, caFile: settings.caFile });
  return {
    async [Symbol.asyncDispose]() {
      active = null;
      changes = null;
      // What is still queued goes out before the process ends, for at most 1.5 s in all.
      await settleWithin(Promise.all([recorder.shutdown(1_500), provider.shutdown()]), 1_500);
    },
  };
}
