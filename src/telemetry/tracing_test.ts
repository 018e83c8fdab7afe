import assert from "node:assert/strict";
import { parseOtlpHeaders, tracingSettings } from "./tracing.ts";

const config = { enabled: false, endpoint: "http://collector:4318/", samplingRatio: 0.25 };
const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("tracingSettings(): off by default, on by config or by a standard OTLP endpoint", () => {
  assert.equal(tracingSettings(config, env({})).enabled, false);
  assert.deepEqual(tracingSettings({ ...config, enabled: true }, env({})), {
    enabled: true,
    url: "http://collector:4318/v1/traces",
    samplingRatio: 0.25,
    serviceName: "oesophagus",
    headers: {},
    caFile: null,
    caSetting: "OTEL_EXPORTER_OTLP_CERTIFICATE",
  });
  const traces = tracingSettings(config, env({ OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: "/ca.pem" }));
  assert.deepEqual([traces.caFile, traces.caSetting], ["/ca.pem", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"]);
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

Deno.test("tracingSettings(): OTLP headers from the standard variables, the traces one first, values URL-decoded", () => {
  assert.deepEqual(parseOtlpHeaders("api-key=s%3Dcret, x-team = core ,broken,=v"), { "api-key": "s=cret", "x-team": "core" });
  assert.deepEqual(parseOtlpHeaders(undefined), {});
  const both = env({ OTEL_EXPORTER_OTLP_HEADERS: "a=1", OTEL_EXPORTER_OTLP_TRACES_HEADERS: "b=2" });
  assert.deepEqual(tracingSettings(config, both).headers, { b: "2" });
  assert.deepEqual(tracingSettings(config, env({ OTEL_EXPORTER_OTLP_HEADERS: "a=1" })).headers, { a: "1" });
});

Deno.test("tracingSettings(): the collector's CA file from the standard variables, the traces one first", () => {
  const both = env({ OTEL_EXPORTER_OTLP_CERTIFICATE: "/a.pem", OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: "/b.pem" });
  assert.equal(tracingSettings(config, both).caFile, "/b.pem");
  assert.equal(tracingSettings(config, env({ OTEL_EXPORTER_OTLP_CERTIFICATE: "/a.pem" })).caFile, "/a.pem");
});
