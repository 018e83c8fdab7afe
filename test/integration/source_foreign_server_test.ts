/**
 * source.url at another server's port: Elasticsearch's HTTP port and the Kafka broker leave the
 * engine's SSLRequest or startup message unanswered, and held every session for the 15 s connect
 * timeout, whose error could only guess. Now the session asks what listens there and fails with
 * that, as a misconfiguration. And a server that stays silent, or answers the question as
 * PostgreSQL, is waited for as before: the watch stops nothing it cannot name.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { explainConnectionError } from "../../src/pg/connect_errors.ts";
import { watchForForeignServer } from "../../src/pg/foreign_server.ts";
import { connect, connectReplication } from "../../src/pg/session.ts";
import { services } from "../helpers/services.ts";

/** `query`'s failure, or an error saying it was still waiting after `ms` (the connect timeout is 15 s). */
function failure(query: Promise<unknown>, ms: number): Promise<Error & { code?: string }> {
  return Promise.race([
    query.then(() => new Error("the query succeeded"), (error) => error as Error),
    new Promise<Error>((resolve) => setTimeout(() => resolve(new Error(`still waiting after ${ms} ms`)), ms)),
  ]);
}

Deno.test("source.url at Elasticsearch's or Kafka's port: sessions fail naming the server there, for either sslmode", async () => {
  const { esUrl, kafkaBrokers } = await services();
  const targets = [[new URL(esUrl).host, "an HTTP server"], [kafkaBrokers, "a Kafka broker"]] as const;
  for (const [address, speaks] of targets) {
    for (const sslmode of ["disable", "prefer"]) {
      const url = `postgres://postgres:secret-pw@${address}/postgres?sslmode=${sslmode}`;
      for (const [kind, sql] of [["pooled", connect(url, { max: 1 })], ["replication", connectReplication(url)]] as const) {
        const what = `${address}, sslmode=${sslmode}, ${kind} session`;
        try {
          const error = await failure(sql.unsafe("SELECT 1").simple(), 12_000);
          assert.equal(error.code, "NOT_POSTGRES", `${what}: ${error}`);
          const explained = explainConnectionError(error, url);
          assert.equal(explained.code, "source_misconfigured");
          assert.equal(explained.retriable, false);
          assert.equal(explained.message, `source.url names ${address}/postgres, where ${speaks} listens, not PostgreSQL`);
          assert.match(explained.fix!, /set host and port in source\.url to PostgreSQL's/);
          assert.doesNotMatch(`${explained.message} ${error.message}`, /secret-pw/);
        } finally {
          await sql.end({ timeout: 1 });
        }
      }
    }
  }
});

/** A server that takes connections and reads them, answering with `reply` (or nothing) to whatever comes. */
function fakeServer(reply: Uint8Array | null): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      conn.read(new Uint8Array(1024)).then(() => reply && conn.write(reply)).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => {
      listener.close();
      for (const conn of conns) conn.close();
    },
  };
}

/** PostgreSQL's answer to a startup packet of a protocol it does not know: an ErrorResponse. */
const POSTGRES_ERROR = new Uint8Array([
  0x45,
  ...[0, 0, 0, 37],
  ...new TextEncoder().encode("SFATAL\0C0A000\0Munsupported protocol\0\0"),
]);

Deno.test("watchForForeignServer: a silent server, and one that answers the question as PostgreSQL, are left waiting", async () => {
  for (const [what, reply] of [["silent", null], ["PostgreSQL-like", POSTGRES_ERROR]] as const) {
    const server = fakeServer(reply);
    // The connection the engine waits on: the fake never answers its first bytes (the probe's, it does).
    const socket = net.connect(server.port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    try {
      const named: Error[] = [];
      const stop = watchForForeignServer(socket, { host: "127.0.0.1", port: server.port }, (error) => named.push(error), 50);
      // Both of the probe's tries (plain, then TLS) end within their 1.5 s each.
      await new Promise((resolve) => setTimeout(resolve, 4_500));
      stop();
      assert.deepEqual(named.map(String), [], what);
      assert.ok(!socket.destroyed, `${what}: the watch left the connection alone`);
    } finally {
      socket.destroy();
      server.close();
    }
  }
});

Deno.test("watchForForeignServer: the server's first byte ends the watch before any question", async () => {
  const { esUrl } = await services();
  const { hostname, port } = new URL(esUrl);
  const socket = net.connect(Number(port), hostname);
  await new Promise((resolve) => socket.once("connect", resolve));
  try {
    const named: Error[] = [];
    watchForForeignServer(socket, { host: hostname, port: Number(port) }, (error) => named.push(error), 1_000);
    // An HTTP request Elasticsearch answers at once: a server that answers is not asked what it is.
    socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.deepEqual(named.map(String), []);
  } finally {
    socket.destroy();
  }
});
