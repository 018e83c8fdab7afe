/**
 * Sessions whose connect fails fail their queries, and go on failing or connecting afresh: to a
 * URL with several hosts when no host can be used (postgres.js, left to try such a list itself,
 * swallowed every error while connecting and never failed a query, see url_hosts.ts); after a
 * connect that failed (postgres.js then left the pool waiting for ever); at a server that closes
 * without answering (postgres.js reconnected at once, for ever). Each of these ran forever before.
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

Deno.test("session: a query after one whose connect failed fails too, instead of waiting for ever", async () => {
  // postgres.js left a connection whose socket option rejected "connecting" for good; the pool's next query waited on it.
  const url = `postgres://u@127.0.0.1:${closedPort()}/db?sslmode=disable`;
  for (const sql of [connect(url, { max: 1 }), connectReplication(url)]) {
    try {
      for (const attempt of [1, 2, 3]) {
        const error = await Promise.race([
          sql`SELECT 1`.then(() => null, (e) => e),
          new Promise((resolve) => setTimeout(() => resolve(new Error(`query ${attempt} still waiting`)), 10_000)),
        ]);
        assert.equal(error?.code, "ECONNREFUSED", `query ${attempt}: ${error}`);
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
});

Deno.test("session: a server that closes after the startup message fails the query, not postgres.js reconnecting for ever", async () => {
  // What another service on the port (Elasticsearch's transport port) or a pooler without its backend does.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.read(new Uint8Array(1024)).then(() => conn.close(), () => {});
    }
  })();
  const sql = connect(`postgres://u@127.0.0.1:${(listener.addr as Deno.NetAddr).port}/db?sslmode=disable`, { max: 1 });
  try {
    const error = await Promise.race([
      sql`SELECT 1`.then(() => null, (e) => e),
      new Promise((resolve) => setTimeout(() => resolve(new Error(`still trying after ${connections} connections`)), 5_000)),
    ]);
    assert.equal(error?.code, "STARTUP_UNANSWERED", String(error));
    assert.match(error.message, /closed the connection without answering the startup message/);
    const explained = explainConnectionError(error, "postgres://u@127.0.0.1/db");
    assert.equal(explained.code, "source_unreachable");
    assert.match(explained.fix!, /name a PostgreSQL server: another service on that port, or a proxy or pooler/);
    // The first connection and postgres.js's immediate second try, which fails; before, thousands within the 5 s.
    assert.ok(connections <= 2, `${connections} connections`);
    // A later query tries afresh (and fails the same way): the failure is not remembered for good.
    const again = await sql`SELECT 1`.then(() => null, (e) => e);
    assert.equal(again?.code, "STARTUP_UNANSWERED");
  } finally {
    await sql.end({ timeout: 1 });
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("session: a connection error is explained even for a URL whose list of hosts cannot be read", () => {
  const error = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  const explained = explainConnectionError(error, "postgres://u:secret@db1:x,db2/app");
  assert.equal(explained.code, "source_unreachable");
  assert.match(explained.message, /cannot reach PostgreSQL at the source: connect ECONNREFUSED/);
  assert.doesNotMatch(explained.message, /secret/);
});
