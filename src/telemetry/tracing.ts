/**
 * Traces over OTLP/HTTP: a `cdc.change` span per change event (children `cdc.route` and
 * `cdc.batch`), a `sink.flush` span per bulk request linked to the changes it carries, and a
 * `snapshot.chunk` span per chunk. Off unless `tracing.enabled` or an OTLP endpoint is set in the
 * standard `OTEL_*` variables; while off, `tracer()` is null and callers skip all span work.
 * The standard variables win over the config: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
 * OTEL_TRACES_SAMPLER_ARG (with a ratio sampler), OTEL_SERVICE_NAME, OTEL_SDK_DISABLED.
 */
import { type Context, ROOT_CONTEXT, type Span, trace, type Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from "@opentelemetry/sdk-trace";
import type { ParsedConfig } from "../config/schema.ts";
import { logger } from "./log.ts";

let active: Tracer | null = null;

/** The tracer, or null while tracing is off. */
export function tracer(): Tracer | null {
  return active;
}

export interface TracingSettings {
  readonly enabled: boolean;
  readonly url: string;
  readonly samplingRatio: number;
  readonly serviceName: string;
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
  };
}

export function startTracing(settings: TracingSettings): AsyncDisposable {
  if (!settings.enabled) return { [Symbol.asyncDispose]: () => Promise.resolve() };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": settings.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.samplingRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        // Short timeouts: a collector that is down must not hold up a SIGTERM (exit within 10 s).
        exporter: new OTLPTraceExporter({ url: settings.url, timeoutMillis: 2_000 }),
        maxQueueSize: 65_536,
        maxExportBatchSize: 4_096,
        scheduledDelayMillis: 1_000,
        exportTimeoutMillis: 2_000,
      }),
    ],
  });
  active = settings.samplingRatio > 0 ? provider.getTracer("oesophagus") : null;
  logger.info("tracing", { url: settings.url, samplingRatio: settings.samplingRatio });
  return {
    async [Symbol.asyncDispose]() {
      active = null;
      // What is still queued goes out before the process ends, for at most 1.5 s.
      await Promise.race([provider.shutdown().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1_500))]);
    },
  };
}

/** A context whose active span is `span`, to start children of it outside any callback. */
export function parentContext(span: Span): Context {
  return trace.setSpan(ROOT_CONTEXT, span);
}
