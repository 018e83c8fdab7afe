/**
 * The OpenTelemetry SDK's tracer provider for the spans it makes (`snapshot.chunk`): parent-based
 * ratio sampling, OTLP/HTTP export in batches. Loaded by `startTracing` only when tracing is on.
 */
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from "@opentelemetry/sdk-trace";
import type { TracingSettings } from "./tracing.ts";

/** `ca`: PEM certificates to trust for an https collector, or null. */
export function tracerProvider(settings: TracingSettings, ca: string | null): TracerProvider {
  return new TracerProvider({
    resource: resourceFromAttributes({ "service.name": settings.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.samplingRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        // Short timeouts: a collector that is down must not hold up a SIGTERM (exit within 10 s).
        exporter: new OTLPTraceExporter({
          url: settings.url,
          headers: { ...settings.headers },
          timeoutMillis: 2_000,
          ...(ca === null ? {} : { httpAgentOptions: { ca } }),
        }),
        maxQueueSize: 65_536,
        maxExportBatchSize: 4_096,
        scheduledDelayMillis: 1_000,
        exportTimeoutMillis: 2_000,
      }),
    ],
  });
}
