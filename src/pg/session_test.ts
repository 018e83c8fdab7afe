/**
 * Sessions to a URL with several hosts fail when no host can be used. postgres.js, left to try
 * such a list itself, swallowed every error while connecting and never failed a query (see
 * url_hosts.ts); these ran forever before.
 */
import assert from "node:assert/strict";
import { explainConnectionError } from "./connect_errors.ts";
import { connect, connectReplication } from "./session.ts";

/** A port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A server that answers the SSLRequest with "N" and closes: a host that answered, and cannot serve sslmode=require. */
function refusingTls(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(8)).catch(() => null);
      await conn.write(new TextEncoder().encode("N")).catch(() => 0);
      conn.close();
    }
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

Deno.test("session: several hosts, none up: a query fails naming each host, as unreachable", async () => {
  const url = `postgres://u@127.0.0.1:${closedPort()},127.0.0.2:${closedPort()}/db?sslmode=disable`;
  for (const sql of [connect(url, { max: 1 }), connectReplication(url)]) {
    try {
      const error = await sql`SELECT 1`.then(() => null, (e) => e);
      assert.equal(error?.code, "ECONNREFUSED");
      assert.match(error.message, /no host of source\.url could be used \(127\.0\.0\.1:\d+: .*; 127\.0\.0\.2:\d+: /);
      const explained = explainConnectionError(error, url);
      assert.equal(explained.code, "source_unreachable");
      assert.match(explained.message, /cannot reach PostgreSQL at 127\.0\.0\.1:\d+,127\.0\.0\.2:\d+\/db/);
    } finally {
      await sql.end();
    }
  }
});

Deno.test("session: several hosts from PGHOST, for a URL without one, none up: a query fails too", async () => {
  const before = Deno.env.get("PGHOST");
  Deno.env.set("PGHOST", `127.0.0.1:${closedPort()},127.0.0.2:${closedPort()}`);
  const sql = connect("postgres:///db?sslmode=disable", { max: 1 });
  try {
    const error = await sql`SELECT 1`.then(() => null, (e) => e);
    assert.equal(error?.code, "ECONNREFUSED");
    assert.match(error.message, /no host of source\.url could be used/);
  } finally {
    await sql.end();
    if (before === undefined) Deno.env.delete("PGHOST");
    else Deno.env.set("PGHOST", before);
  }
});

Deno.test("session: several hosts, one down and one refusing TLS under require: the refusal is what is reported", async () => {
  const server = refusingTls();
  try {
    const url = `postgres://u@127.0.0.1:${server.port},127.0.0.2:${closedPort()}/db?sslmode=require`;
    const sql = connect(url, { max: 1 });
    try {
      const error = await sql`SELECT 1`.then(() => null, (e) => e);
      assert.equal(error?.code, "TLS_REFUSED");
      assert.equal(explainConnectionError(error, url).code, "source_misconfigured");
    } finally {
      await sql.end();
    }
  } finally {
    server.close();
  }
});

Deno.test("session: a connection error is explained even for a URL whose list of hosts cannot be read", () => {
  const error = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const explained = explainConnectionError(error, "postgres://u:secret@db1:x,db2/app");
  assert.equal(explained.code, "source_unreachable");
  assert.match(explained.message, /cannot reach PostgreSQL at the source: connect ECONNREFUSED/);
  assert.doesNotMatch(explained.message, /secret/);
});
