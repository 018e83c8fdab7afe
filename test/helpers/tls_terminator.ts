/**
 * TLS in front of a plain service, the way a load balancer terminates it: the tests' Elasticsearch
 * runs without security (its test distribution has no TLS module), so this puts a real TLS
 * handshake, with a certificate from the test CA, between the engine and the real cluster.
 */
export class TlsTerminator implements AsyncDisposable {
  readonly #listener: Deno.TlsListener;
  readonly #open = new Set<Deno.Conn>();

  constructor(target: URL, certFile: string, keyFile: string) {
    this.#listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: Deno.readTextFileSync(certFile),
      key: Deno.readTextFileSync(keyFile),
    });
    void this.#accept({ hostname: target.hostname, port: Number(target.port) });
  }

  get url(): string {
    return `https://127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}`;
  }

  async #accept(target: { hostname: string; port: number }) {
    for await (const client of this.#listener) {
      this.#open.add(client);
      Deno.connect(target).then((server) => {
        this.#open.add(server);
        const close = () => {
          for (const conn of [client, server]) {
            this.#open.delete(conn);
            try {
              conn.close();
            } catch {
              // Already closed.
            }
          }
        };
        client.readable.pipeTo(server.writable).catch(() => {}).finally(close);
        server.readable.pipeTo(client.writable).catch(() => {}).finally(close);
      }, () => client.close());
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#open) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    return Promise.resolve();
  }
}

/** TLS in front of `target` with the tests' server certificate, which `caFile`'s CA signed (scripts/services keeps them side by side). */
export function terminateWithTestCertificate(target: string, caFile: string): TlsTerminator {
  const dir = caFile.replace(/\/ca\.crt$/, "");
  return new TlsTerminator(new URL(target), `${dir}/server.crt`, `${dir}/server.key`);
}
