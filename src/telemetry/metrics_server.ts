/**
 * The engine's HTTP port for operators: `/metrics` (Prometheus text format), `/healthz` (the
 * process serves) and `/readyz` (the pipeline copies or streams). A port already in use is a
 * clear error at start, not a pipeline silently without metrics.
 */
import { OesophagusError } from "../errors.ts";
import { currentPhase, isReady } from "./health.ts";
import { logger } from "./log.ts";
import { scrape } from "./metrics.ts";

export interface MetricsServer extends AsyncDisposable {
  readonly port: number;
}

export function startMetricsServer(config: { readonly host: string; readonly port: number }): MetricsServer {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname: config.host, port: config.port, onListen: () => {} }, async (request) => {
      const { pathname } = new URL(request.url);
      switch (pathname) {
        case "/metrics":
          return new Response(await scrape(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
        case "/healthz":
          return new Response("ok\n");
        case "/readyz":
          return new Response(`${currentPhase()}\n`, { status: isReady() ? 200 : 503 });
        default:
          return new Response("not found: try /metrics, /healthz or /readyz\n", { status: 404 });
      }
    });
  } catch (error) {
    throw new OesophagusError(
      "config_invalid",
      `metrics: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`,
      { fix: "set metrics.port to a free port (0 picks one), or metrics.enabled to false", cause: error },
    );
  }
  const port = server.addr.port;
  logger.info("metrics listening", { url: `http://${config.host}:${port}/metrics` });
  return { port, [Symbol.asyncDispose]: () => server.shutdown() };
}
