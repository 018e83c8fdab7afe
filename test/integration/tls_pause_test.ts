/**
 * Sessions over TLS (postgres.js on Deno's node:tls, on the engine's own socket) against a real
 * PostgreSQL 15: a paused replication stream holds the walsender back, and a paused COPY the
 * backend, as on a plain socket, instead of reading what they send into memory; after pauses
 * every byte arrives, the same as without TLS.
 */
import assert from "node:assert/strict";
import { formatLsn, type Lsn, parseLsn } from "../../src/pg/lsn.ts";
import { openReplication, type StartOptions } from "../../src/pg/replication_stream.ts";
import { plainTarget } from "../../src/pg/plain_replication.ts";
import { connect } from "../../src/pg/session.ts";
import { createTestDatabase, type TestDatabase, withSslMode } from "../helpers/database.ts";
import { readPayloads } from "../helpers/replication.ts";
import { uniqueName } from "../helpers/services.ts";

const APPLICATION = "oesophagus tls pause test";
/** 600 transactions of 100 rows of 1 kB: about 60 MB of pgoutput, far more than the kernel's socket buffers hold. */
const TRANSACTIONS = 600;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

interface Backlog {
  readonly db: TestDatabase;
  readonly start: StartOptions;
  readonly end: Lsn;
  /** Every XLogData payload from start to end, read on the plain transport. */
  readonly expected: Uint8Array[];
}

async function backlog(db: TestDatabase): Promise<Backlog> {
  const { sql } = db;
  // No autoanalyze: its relcache invalidation, seen by one walsender and not the other depending on
  // timing, makes pgoutput send the Relation message again in one stream only.
  await sql`CREATE TABLE items (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false)`;
  await sql`CREATE PUBLICATION pub FOR TABLE items`;
  const slot = uniqueName("tls_pause");
  const [{ lsn }] = await sql<{ lsn: string }[]>`SELECT lsn::text FROM pg_create_logical_replication_slot(${slot}, 'pgoutput')`;
  // One transaction per 100 rows: the walsender's sent position moves at each commit it decodes.
  await sql.unsafe(`DO $$ BEGIN
    FOR t IN 0..${TRANSACTIONS - 1} LOOP
      INSERT INTO items SELECT g, repeat(md5(g::text), 32) FROM generate_series(t * 100 + 1, t * 100 + 100) g;
      COMMIT;
    END LOOP;
  END $$`);
  const [{ end }] = await sql<{ end: string }[]>`SELECT pg_current_wal_insert_lsn()::text AS end`;
  const start: StartOptions = {
    slot,
    plugin: "pgoutput",
    startLsn: parseLsn(lsn),
    options: { proto_version: "1", publication_names: "pub" },
  };
  // Nothing confirms the slot here: each session reads the same changes from the start.
  const plain = await openReplication(withSslMode(db.url, "disable"), "oesophagus plain test", start);
  assert.equal(plain.transport, "plain");
  const expected = await readPayloads(plain.stream, parseLsn(end));
  assert.ok(expected.length > TRANSACTIONS * 100, `only ${expected.length} messages`);
  return { db, start, end: parseLsn(end), expected };
}

/**
 * Reads the backlog through `url`, pausing once for 1.5 s and briefly at other places; asserts the
 * walsender sent at most half of it during the long pause, and every frame arrived.
 */
async function assertPausesHoldServer(
  { db, start, end, expected }: Backlog,
  url: string,
  session: { transport: string; encrypted: boolean },
): Promise<void> {
  const opened = await openReplication(url, APPLICATION, start);
  assert.equal(opened.transport, session.transport);
  assert.equal(opened.pauseHoldsServer, true);
  const { stream } = opened;
  let held: Promise<{ sent: Lsn; ssl: boolean }> | null = null;
  const got = await readPayloads(stream, end, (count) => {
    if (count === 200) {
      // A long pause: where the walsender stands at its end is what it could send meanwhile.
      stream.pause();
      held = new Promise((resolve, reject) =>
        setTimeout(() => {
          db.sql<{ sent: string; ssl: boolean }[]>`
            SELECT r.sent_lsn::text AS sent, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
            WHERE r.application_name = ${APPLICATION}`
            .then(([row]) => {
              stream.resume();
              resolve({ sent: parseLsn(row.sent), ssl: row.ssl });
            }, reject);
        }, 1_500)
      );
    } else if (count % 5_000 === 0) {
      // Short pauses at other places in the stream: each stop and start of reads mid-TLS-record.
      stream.pause();
      setTimeout(() => stream.resume(), 20);
    }
  });

  assert.ok(held, "the stream never paused");
  const { sent, ssl } = await held!;
  assert.equal(ssl, session.encrypted);
  // The kernel's buffers hold a few MB; reading on underneath the paused stream would have let the walsender send it all.
  assert.ok(
    end - sent > (end - start.startLsn) / 2n,
    `the walsender sent up to ${formatLsn(sent)} of ${formatLsn(start.startLsn)}..${formatLsn(end)} while the stream was paused`,
  );
  // The first message that differs (or is missing, or extra), with the message kinds from there on.
  const differs = expected.findIndex((p, i) => got[i] === undefined || !equalBytes(p, got[i]));
  const at = differs === -1 ? expected.length : differs;
  const kinds = (payloads: Uint8Array[]) => payloads.slice(at, at + 5).map((p) => String.fromCharCode(p[0])).join("");
  assert.ok(
    at === expected.length && got.length === expected.length,
    `message ${at} of ${expected.length} differs (${got.length} read): ${kinds(got)} read, ${kinds(expected)} expected`,
  );
}

Deno.test("tls replication: a paused stream holds the walsender back, and resumes with every frame byte for byte", async () => {
  await using db = await createTestDatabase();
  await assertPausesHoldServer(await backlog(db), withSslMode(db.url, "require"), { transport: "tls", encrypted: true });
});

Deno.test("tls replication: an unencrypted session through postgres.js (a URL parameter it handles) pauses the same way", async () => {
  await using db = await createTestDatabase();
  const changes = await backlog(db);
  // plainTarget leaves URLs with parameters to postgres.js: the socket it is given then carries no TLS.
  const url = new URL(withSslMode(db.url, "disable"));
  url.searchParams.set("search_path", "public");
  assert.equal(plainTarget(url.toString()), null);
  await assertPausesHoldServer(changes, url.toString(), { transport: "tls", encrypted: false });
});

Deno.test("tls: a paused COPY holds the backend back, and every byte arrives after pauses", async () => {
  await using db = await createTestDatabase();
  const ROWS = 100_000;
  // About 100 MB of COPY output: rows of 1 kB.
  const query = `COPY (SELECT g, repeat(md5(g::text), 32) FROM generate_series(1, ${ROWS}) g) TO STDOUT`;
  const sql = connect(withSslMode(db.url, "require"), { max: 1, applicationName: APPLICATION });
  try {
    const stream = await sql.unsafe(query).readable() as unknown as import("node:stream").Readable;
    let bytes = 0;
    let lines = 0;
    let held: Promise<{ tuples: number; ssl: boolean }> | null = null;
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (chunk: Uint8Array) => {
        bytes += chunk.length;
        for (const byte of chunk) if (byte === 0x0a) lines++;
        if (held === null && bytes > 1_000_000) {
          // A long pause: how far the backend got at its end is what it could send meanwhile.
          stream.pause();
          held = new Promise((done, fail) =>
            setTimeout(() => {
              // No COPY in progress any more means the backend has sent every row.
              db.sql<{ tuples: string | null; ssl: boolean }[]>`
                SELECT p.tuples_processed::text AS tuples, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                LEFT JOIN pg_stat_progress_copy p USING (pid) WHERE a.application_name = ${APPLICATION}`
                .then(([row]) => {
                  stream.resume();
                  done({ tuples: row.tuples === null ? ROWS : Number(row.tuples), ssl: row.ssl });
                }, fail);
            }, 1_500)
          );
        } else if (lines % 20_000 < 20 && !stream.isPaused()) {
          stream.pause();
          setTimeout(() => stream.resume(), 20);
        }
      });
      stream.on("end", () => resolve());
      stream.on("error", reject);
    });
    assert.ok(held, "the COPY never paused");
    const { tuples, ssl } = await held!;
    assert.equal(ssl, true);
    // The kernel's buffers hold a few MB of the 100 MB; reading on underneath would have let the backend send all rows.
    assert.ok(tuples < ROWS / 2, `the backend sent ${tuples} of ${ROWS} rows while the COPY was paused`);
    assert.equal(lines, ROWS);
    const [{ expected }] = await db.sql<{ expected: string }[]>`
      SELECT sum(length(g::text) + 1 + 1024 + 1)::text AS expected FROM generate_series(1, ${ROWS}) g`;
    assert.equal(bytes, Number(expected));
  } finally {
    await sql.end({ timeout: 1 });
  }
});
