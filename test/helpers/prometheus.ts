/**
 * A real Prometheus (Debian's package) scraping one target every second, in a directory of its
 * own, for as long as the test needs it; queried through its HTTP API.
 */
import { freePort } from "./ports.ts";

export class Prometheus implements AsyncDisposable {
  private constructor(readonly url: string, private readonly child: Deno.ChildProcess, private readonly dir: string) {}

  static async start(target: string): Promise<Prometheus> {
    const dir = await Deno.makeTempDir({ prefix: "oesophagus-prometheus-" });
    await Deno.writeTextFile(
      `${dir}/prometheus.yml`,
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: oesophagus\n    static_configs:\n      - targets: ["${target}"]\n`,
    );
    const port = await freePort();
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command("prometheus", {
        args: [
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/data`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      throw new Error(`cannot start prometheus (run scripts/install): ${(error as Error).message}`);
    }
    const prometheus = new Prometheus(`http://127.0.0.1:${port}`, child, dir);
    for (let i = 0; i < 100; i++) {
      const ready = await fetch(`${prometheus.url}/-/ready`).then((r) => (r.body?.cancel(), r.ok), () => false);
      if (ready) return prometheus;
      await new Promise((r) => setTimeout(r, 100));
    }
    await prometheus[Symbol.asyncDispose]();
    throw new Error("prometheus did not become ready within 10 s");
  }

  /** An instant query; the samples as [labels, value]. */
  async query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = await response.json() as {
      status: string;
      data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      error?: string;
    };
    if (body.status !== "success") throw new Error(`prometheus query ${promql} failed: ${body.error}`);
    return body.data!.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.child.output().catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
