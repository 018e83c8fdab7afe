/**
 * The SSLRequest as libpq makes it, against a server of the test's own that answers what a real
 * one would not (no TLS, bytes after the answer); TLS against the real server is in
 * test/integration/tls_pause_test.ts.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { explainConnectionError } from "./connect_errors.ts";
import { sourceSocket } from "./source_socket.ts";
import { SSL_REQUEST } from "./wire.ts";

/** A server that reads the SSLRequest, answers `answer`, then records what the client sends next. */
async function answering(answer: string, test: (port: number, after: () => Promise<Uint8Array>) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    const conn = await listener.accept();
    const request = new Uint8Array(8);
    let read = 0;
    while (read < 8) read += (await conn.read(request.subarray(read))) ?? Infinity;
    assert.deepEqual(request, SSL_REQUEST);
    await conn.write(new TextEncoder().encode(answer));
    return conn;
  })();
  const after = async () => {
    const conn = await accepted;
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    return buffer.subarray(0, n ?? 0);
  };
  try {
    await test((listener.addr as Deno.NetAddr).port, after);
  } finally {
    listener.close();
    (await accepted.catch(() => null))?.close();
  }
}

const target = (port: number) => ({ host: ["127.0.0.1"], port: [port] });

Deno.test("source socket: sslmode=require and a server without TLS is refused with the setting to change", async () => {
  await answering("N", async (port) => {
    const error = await sourceSocket("require")(target(port)).then(() => null, (e) => e);
    assert.equal(error?.code, "TLS_REFUSED");
    const explained = explainConnectionError(error, `postgres://u@127.0.0.1:${port}/db?sslmode=require`);
    assert.equal(explained.code, "source_misconfigured");
    assert.match(explained.message, /refused TLS/);
  });
});

Deno.test("source socket: sslmode=prefer and a server without TLS goes on unencrypted on the same socket", async () => {
  await answering("N", async (port, after) => {
    const socket: net.Socket = await sourceSocket("prefer")(target(port));
    try {
      assert.equal("encrypted" in socket && socket.encrypted, false);
      socket.write(new TextEncoder().encode("startup"));
      assert.equal(new TextDecoder().decode(await after()), "startup");
    } finally {
      socket.destroy();
    }
  });
});

Deno.test("source socket: bytes after the server's answer to the SSLRequest are refused (CVE-2021-23222)", async () => {
  await answering("Sinjected", async (port) => {
    const error = await sourceSocket("require")(target(port)).then(() => null, (e) => e);
    assert.equal(error?.code, "EPROTO");
    assert.match(error.message, /answered the SSLRequest with 9 bytes, starting 0x53/);
  });
});

Deno.test("source socket: a server that closes instead of answering is a closed connection, retried as unreachable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closing = listener.accept().then((conn) => conn.close());
  try {
    const error = await sourceSocket("prefer")(target((listener.addr as Deno.NetAddr).port)).then(() => null, (e) => e);
    assert.equal(error?.code, "CONNECTION_CLOSED");
    assert.equal(explainConnectionError(error, "postgres://u@127.0.0.1/db").code, "source_unreachable");
  } finally {
    await closing;
    listener.close();
  }
});

Deno.test("source socket: a Unix socket never asks for TLS, as in libpq, even under sslmode=require", async () => {
  const path = `${await Deno.makeTempDir()}/.s.PGSQL.5432`;
  const listener = Deno.listen({ transport: "unix", path });
  const first = listener.accept().then(async (conn) => {
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    conn.close();
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  });
  try {
    const socket = await sourceSocket("require")({ host: ["localhost"], port: [5432], path });
    socket.write("startup");
    assert.equal(await first, "startup");
    socket.destroy();
  } finally {
    listener.close();
    await Deno.remove(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  }
});

Deno.test("source socket: several hosts are tried in order, as libpq does: every session the first that answers", async () => {
  const listen = () => Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const first = listen();
  const second = listen();
  const port = (l: Deno.Listener) => (l.addr as Deno.NetAddr).port;
  const gone = listen();
  const gonePort = port(gone);
  gone.close();
  const accepts = (listener: Deno.Listener) => {
    const conns: Deno.Conn[] = [];
    (async () => {
      for await (const conn of listener) {
        conns.push(conn);
        await conn.read(new Uint8Array(8));
        await conn.write(new TextEncoder().encode("N"));
      }
    })().catch(() => {});
    return conns;
  };
  const onFirst = accepts(first);
  const onSecond = accepts(second);
  const open = sourceSocket("prefer");
  const sockets: net.Socket[] = [];
  try {
    const hosts = { host: ["127.0.0.1", "127.0.0.1", "127.0.0.1"], port: [gonePort, port(first), port(second)] };
    // Two sessions of a pool: both on the first host that answers, none on the one after it.
    sockets.push(await open(hosts), await open(hosts));
    assert.equal(onFirst.length, 2);
    assert.equal(onSecond.length, 0);
    assert.deepEqual(sockets.map((s) => s.remotePort), [port(first), port(first)]);
    // That host gone too: the next one in the list.
    first.close();
    for (const conn of onFirst) conn.close();
    sockets.push(await open(hosts));
    assert.equal(sockets[2].remotePort, port(second));
    // None left: the last host's error.
    second.close();
    for (const conn of onSecond) conn.close();
    const error = await open(hosts).then(() => null, (e) => e);
    assert.equal(error?.code, "ECONNREFUSED");
  } finally {
    for (const socket of sockets) socket.destroy();
    try {
      first.close();
    } catch { /* closed above */ }
    try {
      second.close();
    } catch { /* closed above */ }
  }
});
