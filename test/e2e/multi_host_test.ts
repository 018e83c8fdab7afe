/**
 * A source URL with several hosts, the first one down: as libpq, every session of the engine
 * (the walsender that exports the snapshot and the sessions that import it) goes to the first
 * host that answers, and the pipeline is exact. With sslmode=verify-full, the certificate is
 * checked against the host the session reached, and one from another CA is refused.
 */
import assert from "node:assert/strict";
import { assertStreamsExactly } from "../helpers/contract.ts";
import { assertSessionsEncrypted, createEngineRole, createTestDatabase, TLS_ONLY_ROLE } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { freePort } from "../helpers/ports.ts";
import { services, uniqueName } from "../helpers/services.ts";

Deno.test("source: a URL with several hosts, the first down: every session on the next, snapshot and stream exact", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await db.sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 5000) g`;
  const url = new URL(db.url);
  const down = await freePort();
  // Not a URL the WHATWG parser takes: the hosts are spliced in as text.
  const multiHost = `${url.protocol}//${url.username}@127.0.0.1:${down},${url.hostname}:${url.port}${url.pathname}`;
  assert.equal(URL.canParse(multiHost), false);
  const slot = uniqueName("multi_host");
  const index = `${indices.prefix}_items`;
  const file = await writeConfig({
    source: { url: multiHost, slot },
    sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
    tables: { items: { index, snapshot: { chunkRows: 1000, concurrency: 2 } } },
  });
  const engine = startEngine(["run", "--config", file, "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await assertStreamsExactly(db.sql, slot, index, 5000);
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("source: several hosts with sslmode=verify-full: the certificate is checked against the host reached; another CA is refused", async () => {
  const { esUrl, pgCaFile } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await db.sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 2000) g`;
  // The server refuses this role without TLS, so no session can have gone unencrypted unseen.
  await using _role = await createEngineRole(db, TLS_ONLY_ROLE, { table: "items", attributes: "LOGIN REPLICATION" });
  const url = new URL(db.url);
  const down = await freePort();
  // 127.0.0.2 is not a name on the server's certificate (127.0.0.1 and localhost are): had the
  // check used the first host of the URL rather than the one reached, it would fail.
  const hosts = `127.0.0.2:${down},${url.hostname}:${url.port}`;
  const slot = uniqueName("multi_host_tls");
  const index = `${indices.prefix}_items`;
  const config = (ca: string) =>
    writeConfig({
      source: {
        url: `postgres://${TLS_ONLY_ROLE}@${hosts}${url.pathname}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`,
        slot,
      },
      supervision: { maxRestarts: 0 },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { items: { index, snapshot: { chunkRows: 500, concurrency: 2 } } },
    });

  const stranger = await runEngine(["run", "--config", await config(pgCaFile.replace("ca.crt", "other-ca.crt"))]);
  assert.equal(stranger.code, 1, stranger.output);
  assert.match(stranger.output, /TLS: the server's certificate is not trusted/);
  // Each host's failure, the one down and the one whose certificate did not verify.
  assert.match(stranger.output, /no host of source\.url could be used \(127\.0\.0\.2:\d+: [^;]+; 127\.0\.0\.1:\d+: /);
  assert.match(stranger.output, /sslrootcert/);

  const engine = startEngine(["run", "--config", await config(pgCaFile), "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await assertStreamsExactly(db.sql, slot, index, 2000);
    await assertSessionsEncrypted(TLS_ONLY_ROLE);
  } finally {
    await stopEngine(engine);
  }
});
