/**
 * A TCP proxy of our own for injecting faults between the engine and a real service. It is the
 * only fake in the suite, and it fakes only faults:
 * - `down`: every connection is closed and new ones are refused (the service looks down);
 * - `stall`: connections stay open but no byte moves either way, new ones included, until `pass`;
 * - `cut()`: the open connections are closed (FIN); new ones pass;
 * - `strand()`: the open connections stay open but never carry a byte again, as behind a firewall
 *   that forgot them (no FIN, no RST, what is sent is lost); new ones pass;
 * - `reset()`: the open connections stop being read for a moment, then are closed with the
 *   peer's bytes unread, which makes the kernel answer with a TCP RST instead of a FIN.
 */
export type ProxyMode = "pass" | "down" | "stall";

interface Link {
  readonly client: Deno.Conn;
  server: Deno.Conn | null;
}

export class FaultProxy implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #target: { hostname: string; port: number };
  readonly #links = new Set<Link>();
  readonly #stranded = new WeakSet<Link>();
  #mode: ProxyMode = "pass";
  /** Resolves when traffic may flow again; replaced while stalled. */
  #flowing: Promise<void> = Promise.resolve();
  #release: () => void = () => {};

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

  get mode(): ProxyMode {
    return this.#mode;
  }

  set mode(mode: ProxyMode) {
    const wasStalled = this.#mode === "stall";
    this.#mode = mode;
    if (mode === "stall" && !wasStalled) this.#flowing = new Promise((resolve) => (this.#release = resolve));
    if (mode !== "stall" && wasStalled) this.#release();
    if (mode === "down") this.cut();
  }

  /** Number of connections open through the proxy now. */
  get connections(): number {
    return this.#links.size;
  }

  cut(): void {
    for (const link of this.#links) this.#close(link);
  }

  /** Number of connections stranded so far (still open: only `down` or dispose closes them). */
  strand(): number {
    for (const link of this.#links) this.#stranded.add(link);
    return this.#links.size;
  }

  async reset(holdMs = 1_500): Promise<void> {
    const links = [...this.#links];
    const previous = this.#mode;
    this.mode = "stall";
    // While nothing is read, the engine's next writes (status updates, requests) pile up unread.
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    for (const link of links) this.#close(link);
    this.mode = previous === "stall" ? "pass" : previous;
  }

  #close(link: Link) {
    this.#links.delete(link);
    for (const conn of [link.client, link.server]) {
      try {
        conn?.close();
      } catch {
        // Already closed.
      }
    }
  }

  async #pipe(link: Link, from: Deno.Conn, to: Deno.Conn) {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        await this.#flowing;
        if (!this.#links.has(link)) return;
        const read = await from.read(buffer);
        if (read === null) break;
        // Bytes read just before a stall are held, not dropped: a stall delays, it never corrupts.
        await this.#flowing;
        if (!this.#links.has(link)) return;
        // Left open and unread from now on: neither end hears of it.
        if (this.#stranded.has(link)) return;
        let written = 0;
        while (written < read) written += await to.write(buffer.subarray(written, read));
      }
    } catch {
      // The other side went away, or we closed it.
    }
    this.#close(link);
  }

  async #accept() {
    for await (const client of this.#listener) {
      const link: Link = { client, server: null };
      if (this.#mode === "down") {
        this.#close(link);
        continue;
      }
      this.#links.add(link);
      Deno.connect(this.#target).then((server) => {
        link.server = server;
        if (!this.#links.has(link)) return this.#close(link);
        void this.#pipe(link, client, server);
        void this.#pipe(link, server, client);
      }, () => this.#close(link));
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.mode = "down";
    this.#listener.close();
    return Promise.resolve();
  }
}
