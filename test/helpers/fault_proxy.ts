/**
 * A TCP proxy of our own for injecting faults between the engine and a real service: it can
 * pass traffic, cut every connection and refuse new ones (the service looks down), or stall
 * (accept, then forward nothing). It is the only fake in the suite, and it fakes only faults.
 */
export type ProxyMode = "pass" | "down" | "stall";

export class FaultProxy implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #target: { hostname: string; port: number };
  readonly #connections = new Set<Deno.Conn>();
  #mode: ProxyMode = "pass";

  private constructor(listener: Deno.TcpListener, target: { hostname: string; port: number }) {
    this.#listener = listener;
    this.#target = target;
    void this.#accept();
  }

  static start(targetUrl: string): FaultProxy {
    const url = new URL(targetUrl);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return new FaultProxy(listener, { hostname: url.hostname, port: Number(url.port) });
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** `targetUrl` with host and port replaced by the proxy's. */
  url(targetUrl: string): string {
    const url = new URL(targetUrl);
    url.hostname = "127.0.0.1";
    url.port = String(this.port);
    return url.toString().replace(/\/$/, "");
  }

  set mode(mode: ProxyMode) {
    this.#mode = mode;
    if (mode !== "pass") { for (const conn of this.#connections) this.#close(conn); }
  }

  #close(conn: Deno.Conn) {
    this.#connections.delete(conn);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }

  async #accept() {
    for await (const client of this.#listener) {
      if (this.#mode === "down") {
        this.#close(client);
        continue;
      }
      this.#connections.add(client);
      if (this.#mode === "stall") continue;
      Deno.connect(this.#target).then((server) => {
        this.#connections.add(server);
        const pipe = (from: Deno.Conn, to: Deno.Conn) =>
          from.readable.pipeTo(to.writable).catch(() => {}).finally(() => {
            this.#close(from);
            this.#close(to);
          });
        void pipe(client, server);
        void pipe(server, client);
      }, () => this.#close(client));
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.mode = "down";
    this.#listener.close();
    return Promise.resolve();
  }
}
