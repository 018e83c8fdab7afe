/**
 * The replication stream on Deno's own socket against a real PostgreSQL 15: every password
 * method the server may ask for, the same frames as the postgres.js (TLS) transport byte for
 * byte (messages cut across reads included), pause holding the server back, and a server that
 * ends the session.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { type Lsn, parseLsn } from "../../src/pg/lsn.ts";
import { connectPlainReplication, plainTarget } from "../../src/pg/plain_replication.ts";
import { type CopyBothStream, openReplication, type StartOptions } from "../../src/pg/replication_stream.ts";
import { replicationParameters } from "../../src/pg/session.ts";
import { createTestDatabase, type TestDatabase, withSslMode } from "../helpers/database.ts";
import { readPayloads } from "../helpers/replication.ts";
import { services } from "../helpers/services.ts";

function withUrl(url: string, change: (u: URL) => void): string {
  const parsed = new URL(url);
  change(parsed);
  return parsed.toString();
}

const plainUrl = (url: string) => withSslMode(url, "disable");

/** Reads XLogData payloads until one at or past `end`; with `pauseAfter`, pauses there for `pauseMs`. */
async function readUntil(
  stream: CopyBothStream,
  end: Lsn,
  options: { pauseAfter?: number; pauseMs?: number } = {},
): Promise<{ payloads: Uint8Array[]; duringPause: number }> {
  let paused = false;
  let duringPause = 0;
  const payloads = await readPayloads(stream, end, (count) => {
    if (paused) duringPause++;
    if (options.pauseAfter !== undefined && count === options.pauseAfter) {
      paused = true;
      stream.pause();
      setTimeout(() => {
        paused = false;
        stream.resume();
      }, options.pauseMs ?? 500);
    }
  });
  return { payloads, duringPause };
}

async function slotWithChanges(db: TestDatabase, slot: string): Promise<{ start: StartOptions; end: Lsn }> {
  const { sql } = db;
  // No autoanalyze: its relcache invalidation, seen by one walsender and not the other depending on
  // timing, makes pgoutput send the Relation message again in one stream only.
  await sql`CREATE TABLE items (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false)`;
  await sql`CREATE PUBLICATION pub FOR TABLE items`;
  const [{ lsn }] = await sql<{ lsn: string }[]>`SELECT lsn::text FROM pg_create_logical_replication_slot(${slot}, 'pgoutput')`;
  // Many small messages, and rows of 1 MB: messages that span several reads of the socket.
  await sql`INSERT INTO items SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g`;
  await sql`INSERT INTO items SELECT g, repeat(md5(g::text), 32768) FROM generate_series(20001, 20004) g`;
  await sql`UPDATE items SET body = 'x' WHERE id % 7 = 0`;
  await sql`INSERT INTO items VALUES (0, 'last')`;
  const [{ end }] = await sql<{ end: string }[]>`SELECT pg_current_wal_insert_lsn()::text AS end`;
  return {
    start: { slot, plugin: "pgoutput", startLsn: parseLsn(lsn), options: { proto_version: "1", publication_names: "pub" } },
    end: parseLsn(end),
  };
}

Deno.test("plain replication: the same frames as the TLS transport, byte for byte; pause holds the stream", async () => {
  await using db = await createTestDatabase();
  const { start, end } = await slotWithChanges(db, "plain_frames");

  const tls = await openReplication(withSslMode(db.url, "require"), "test", start);
  assert.equal(tls.transport, "tls");
  const expected = await readUntil(tls.stream, end);

  const plain = await openReplication(plainUrl(db.url), "test", start);
  assert.equal(plain.transport, "plain");
  const got = await readUntil(plain.stream, end, { pauseAfter: 1000, pauseMs: 700 });

  assert.ok(expected.payloads.length > 22_000, `only ${expected.payloads.length} messages`);
  assert.equal(got.payloads.length, expected.payloads.length);
  for (let i = 0; i < expected.payloads.length; i++) {
    assert.deepEqual(got.payloads[i], expected.payloads[i], `message ${i} differs`);
  }
  assert.ok(got.payloads.some((p) => p.length > 1_000_000), "no message larger than a read");
  // A paused stream delivers what was already read from the socket at most, never more reads.
  assert.ok(got.duringPause < 20_000, `${got.duringPause} messages arrived while paused`);
});

Deno.test("plain replication: sslmode=prefer against a server with TLS goes through postgres.js, encrypted", async () => {
  await using db = await createTestDatabase();
  const { start, end } = await slotWithChanges(db, "plain_prefer");
  const url = withSslMode(db.url, "prefer");
  assert.notEqual(plainTarget(url), null);
  // The server has TLS: the SSLRequest is answered yes and the plain socket gives way.
  assert.equal(await connectPlainReplication(plainTarget(url)!, replicationParameters("test")), null);
  const opened = await openReplication(url, "oesophagus prefer test", start);
  assert.equal(opened.transport, "tls");
  const [{ ssl }] = await db.sql<{ ssl: boolean }[]>`
    SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'oesophagus prefer test'`;
  assert.equal(ssl, true);
  await readUntil(opened.stream, end);
  // Requiring or verifying TLS, client certificates and other URL parameters never take the plain socket.
  assert.equal(plainTarget(withSslMode(db.url, "require")), null);
  assert.equal(plainTarget(withUrl(db.url, (u) => u.searchParams.set("application_name", "x"))), null);
});

for (
  const [method, role, setup] of [
    ["scram-sha-256", "oesophagus_password_test", ""],
    ["md5", "oesophagus_md5_test", "SET password_encryption = 'md5';"],
    ["password (cleartext)", "oesophagus_cleartext_test", ""],
  ] as const
) {
  Deno.test(`plain replication: ${method} authentication, right and wrong password`, async () => {
    await using db = await createTestDatabase();
    const { pgUrl } = await services();
    const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
    const password = "p@ss:w/rd é%";
    try {
      await admin.unsafe(`DROP ROLE IF EXISTS ${role}`);
      await admin.unsafe(`${setup} CREATE ROLE ${role} LOGIN REPLICATION PASSWORD '${password}'`);
      const [{ stored }] = await admin<{ stored: string }[]>`SELECT rolpassword AS stored FROM pg_authid WHERE rolname = ${role}`;
      assert.ok(stored.startsWith(method === "md5" ? "md5" : "SCRAM-SHA-256$"), stored.slice(0, 14));
      const as = (pass: string) =>
        plainUrl(withUrl(db.url, (u) => {
          u.username = role;
          u.password = encodeURIComponent(pass);
        }));

      const session = await connectPlainReplication(plainTarget(as(password))!, replicationParameters("auth test"));
      assert.ok(session, "no plain session");
      const { start, end } = await slotWithChanges(db, `auth_${role}`);
      await session.startCopyBoth(
        `START_REPLICATION SLOT ${start.slot} LOGICAL 0/0 (proto_version '1', publication_names 'pub')`,
      );
      assert.ok((await readUntil(session, end)).payloads.length > 1000);

      await assert.rejects(
        connectPlainReplication(plainTarget(as("wrong"))!, replicationParameters("auth test")),
        (error: Error & { code?: string }) => error.code === "28P01" && /password authentication failed/.test(error.message),
      );
      const withoutPassword = plainTarget(withUrl(as(password), (u) => u.password = ""), () => undefined)!;
      await assert.rejects(
        connectPlainReplication(withoutPassword, replicationParameters("auth test")),
        (error: Error & { code?: string }) => error.code === "28P01" && /has none/.test(error.message),
      );
    } finally {
      await db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${role}`;
      await admin.unsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
      await admin.end({ timeout: 1 });
    }
  });
}

Deno.test("plain replication: a session the server ends is an error with its SQLSTATE, a slot in use one too", async () => {
  await using db = await createTestDatabase();
  const { start } = await slotWithChanges(db, "plain_ended");
  const opened = await openReplication(plainUrl(db.url), "oesophagus ended test", start);
  const ended = new Promise<Error | null>((resolve) => opened.stream.start({ frame() {}, end: resolve }));

  // The slot is active: a second session is refused with PostgreSQL's own error.
  await assert.rejects(
    openReplication(plainUrl(db.url), "second", start),
    (error: Error & { code?: string }) => error.code === "55006" && /is active/.test(error.message),
  );

  await db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'oesophagus ended test'`;
  const error = await ended;
  assert.ok(error, "the stream ended without an error");
  assert.equal((error as Error & { code?: string }).code, "57P01");
});
