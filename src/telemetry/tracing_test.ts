import assert from "node:assert/strict";
import { tracingSettings } from "./tracing.ts";

const config = { enabled: false, endpoint: "http://collector:4318/", samplingRatio: 0.25 };
const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("tracingSettings(): off by default, on by config or by a standard OTLP endpoint", () => {
  assert.equal(tracingSettings(config, env({})).enabled, false);
  assert.deepEqual(tracingSettings({ ...config, enabled: true }, env({})), {
    enabled: true,
    url: "http://collector:4318/v1/traces",
    samplingRatio: 0.25,
    serviceName: "oesophagus",
  });
  const fromEnv = tracingSettings(config, env({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318", OTEL_SERVICE_NAME: "cdc" }));
  assert.deepEqual([fromEnv.enabled, fromEnv.url, fromEnv.serviceName], [true, "http://jaeger:4318/v1/traces", "cdc"]);
  const tracesEndpoint = tracingSettings(config, env({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t:1/custom" }));
  assert.equal(tracesEndpoint.url, "http://t:1/custom");
});

Deno.test("tracingSettings(): the standard sampler variables win over the config; OTEL_SDK_DISABLED turns it off", () => {
  const on = { ...config, enabled: true };
  assert.equal(
    tracingSettings(on, env({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" })).samplingRatio,
    0.1,
  );
  assert.equal(tracingSettings(on, env({ OTEL_TRACES_SAMPLER: "always_off" })).samplingRatio, 0);
  // An argument out of range is ignored rather than trusted.
  assert.equal(
    tracingSettings(on, env({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "7" })).samplingRatio,
    0.25,
  );
  assert.equal(tracingSettings(on, env({ OTEL_SDK_DISABLED: "true" })).enabled, false);
  assert.equal(tracingSettings(on, env({ OTEL_TRACES_EXPORTER: "none" })).enabled, false);
});
