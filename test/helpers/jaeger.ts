/**
 * A real Jaeger v2 (built from the Go module proxy by scripts/install) with in-memory storage,
 * on free ports, for as long as a test needs it: OTLP/HTTP in, its query API out.
 */
import { freePort } from "./ports.ts";

const OESOPHAGUS_HOME = Deno.env.get("OESOPHAGUS_HOME") ??
  (Deno.uid() === 0
    ? "/var/cache/oesophagus"
    : `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/oesophagus`);
export const JAEGER_BIN = `${OESOPHAGUS_HOME}/bin/jaeger`;

export interface JaegerSpan {
  readonly traceID: string;
  readonly spanID: string;
  readonly operationName: string;
  readonly references: { refType: string; traceID: string; spanID: string }[];
  readonly tags: { key: string; value: unknown }[];
}

export class Jaeger implements AsyncDisposable {
  private constructor(
    readonly otlpUrl: string,
    readonly queryUrl: string,
    private readonly child: Deno.ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(): Promise<Jaeger> {
    const [otlp, query, queryGrpc, health] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dir = await Deno.makeTempDir({ prefix: "oesophagus-jaeger-" });
    await Deno.writeTextFile(
      `${dir}/jaeger.yaml`,
      `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${query}
    grpc:
      endpoint: 127.0.0.1:${queryGrpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:${health}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${otlp}
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`,
    );
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(JAEGER_BIN, { args: ["--config", `${dir}/jaeger.yaml`], stdout: "null", stderr: "piped" }).spawn();
    } catch (error) {
      throw new Error(`cannot start ${JAEGER_BIN} (run scripts/install): ${(error as Error).message}`);
    }
    const jaeger = new Jaeger(`http://127.0.0.1:${otlp}`, `http://127.0.0.1:${query}`, child, dir);
    for (let i = 0; i < 150; i++) {
      const ready = await fetch(`${jaeger.queryUrl}/api/services`).then((r) => (r.body?.cancel(), r.ok), () => false);
      if (ready) return jaeger;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { stderr } = await jaeger.stop();
    throw new Error(`jaeger did not become ready within 15 s:\n${stderr.slice(-3000)}`);
  }

  /** Spans of the service's traces in the last hour whose operation is `operation`. */
  async traces(service: string, operation?: string): Promise<JaegerSpan[][]> {
    const query = new URLSearchParams({ service, lookback: "1h", limit: "1000", ...(operation ? { operation } : {}) });
    const response = await fetch(`${this.queryUrl}/api/traces?${query}`);
    if (!response.ok) return [];
    const body = await response.json() as { data: { spans: JaegerSpan[] }[] | null };
    return (body.data ?? []).map((t) => t.spans);
  }

  private async stop(): Promise<{ stderr: string }> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const output = await this.child.output().catch(() => null);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    return { stderr: output ? new TextDecoder().decode(output.stderr) : "" };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
