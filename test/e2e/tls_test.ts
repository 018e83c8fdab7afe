/**
 * TLS, against certificates from the test CA. PostgreSQL: with sslmode=verify-full every engine
 * session (the walsender included) is encrypted and the pipeline is exact; a role the server
 * accepts only over TLS is refused without it; a certificate from another CA is refused with a
 * message that says what to fix. Elasticsearch: the same over https with `caFile`, and a URL of the
 * other scheme than its server's (https:// at plain HTTP, http:// at TLS) stops the engine at once
 * with the scheme to use; one with the cluster's transport port, with the HTTP port to use.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { assertSameDocuments, assertStreamsExactly, compareIndex } from "../helpers/contract.ts";
import { assertSessionsEncrypted, createEngineRole, createTestDatabase, TLS_ONLY_ROLE } from "../helpers/database.ts";
import { transportAddress, uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";
import { terminateWithTestCertificate } from "../helpers/tls_terminator.ts";

Deno.test("tls: sslmode=verify-full encrypts every session; without TLS or with another CA the engine is refused, clearly", async () => {
  const { pgUrl, esUrl, pgCaFile } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  const [{ ssl }] = await admin<{ ssl: string }[]>`SELECT current_setting('ssl') AS ssl`;
  assert.equal(ssl, "on", "the test cluster runs without TLS: restart it with scripts/services stop && scripts/services start");
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await db.sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 1000) g`;
  await using _role = await createEngineRole(db, TLS_ONLY_ROLE, { table: "items", attributes: "LOGIN REPLICATION" });
  try {
    const { host } = new URL(db.url);
    const slot = uniqueName("tls");
    const index = `${indices.prefix}_items`;
    const config = (query: string) =>
      writeConfig({
        source: { url: `postgres://${TLS_ONLY_ROLE}@${host}/${db.name}?${query}`, slot },
        supervision: { maxRestarts: 0 },
        sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
        tables: { items: { index } },
      });

    const plain = await runEngine(["run", "--config", await config("sslmode=disable")]);
    assert.equal(plain.code, 1, plain.output);
    assert.match(plain.output, /refused the connection: .*no encryption/);

    const stranger = await runEngine([
      "run",
      "--config",
      await config(`sslmode=verify-full&sslrootcert=${pgCaFile.replace("ca.crt", "other-ca.crt")}`),
    ]);
    assert.equal(stranger.code, 1, stranger.output);
    assert.match(stranger.output, /TLS: the server's certificate is not trusted/);
    assert.match(stranger.output, /sslrootcert/);

    const file = await config(`sslmode=verify-full&sslrootcert=${encodeURIComponent(pgCaFile)}`);
    const engine = startEngine(["run", "--config", file, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await assertStreamsExactly(db.sql, slot, index, 1000);
      await assertSessionsEncrypted(TLS_ONLY_ROLE);
    } finally {
      await stopEngine(engine);
    }
  } finally {
    await admin.end();
  }
});

Deno.test("tls: an https Elasticsearch with caFile is trusted; with another CA the sink stops at once with the fix", async () => {
  const { esUrl, pgCaFile } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const tlsDir = pgCaFile.replace(/\/ca\.crt$/, "");
  await using terminator = terminateWithTestCertificate(esUrl, pgCaFile);
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  await db.sql`INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 500) g`;
  const index = `${indices.prefix}_items`;
  const config = (caFile: string, slot: string) =>
    writeConfig({
      source: { url: db.url, slot },
      supervision: { maxRestarts: 0 },
      sinks: { search: { type: "elasticsearch", url: terminator.url, caFile, batch: { timeoutMs: 20 } } },
      tables: { items: { index } },
    });

  const refused = await runEngine(["run", "--config", await config(`${tlsDir}/other-ca.crt`, uniqueName("tls_es_bad"))]);
  assert.equal(refused.code, 1, refused.output);
  assert.match(refused.output, /TLS: Elasticsearch's certificate is not trusted/);
  assert.match(refused.output, /sinks\.search\.caFile/);

  const slot = uniqueName("tls_es");
  const engine = startEngine(["run", "--config", await config(pgCaFile, slot), "--progress", "log"]);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await db.sql`UPDATE items SET v = 'over TLS' WHERE id % 10 = 0`;
    await waitForCatchUp(db.sql, slot);
    assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "items" }, index));
  } finally {
    await stopEngine(engine);
  }
});

Deno.test("tls: an Elasticsearch URL of the other scheme than its server's, with its transport port, or at another server, stops run and check at once with the fix", async () => {
  const { esUrl, pgCaFile, pgUrl, kafkaBrokers } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await using terminator = terminateWithTestCertificate(esUrl, pgCaFile);
  const transport = await transportAddress();
  await db.sql`CREATE TABLE items (id int PRIMARY KEY, v text)`;
  const cases = [
    {
      url: esUrl.replace(/^http:/, "https:"),
      message: /sinks\.search\.url is https:\/\/, and the server at \S+ answers plain HTTP/,
      fix: /fix: use http:\/\/ in sinks\.search\.url/,
    },
    {
      url: terminator.url.replace(/^https:/, "http:"),
      message: /sinks\.search\.url is http:\/\/, and the server at \S+ takes TLS only/,
      fix: /fix: use https:\/\/ in sinks\.search\.url/,
    },
    ...["http", "https"].map((scheme) => ({
      url: `${scheme}://${transport}`,
      message:
        /sinks\.search\.url names Elasticsearch's transport port \(\S+, which nodes talk to each other on\), not its HTTP port/,
      fix: /fix: use the HTTP port in sinks\.search\.url/,
    })),
    // PostgreSQL and Kafka close an HTTP request without a word ("other side closed", retried for ever before).
    ...[[`http://${new URL(pgUrl).host}`, "PostgreSQL"], [`http://${kafkaBrokers}`, "a Kafka broker"]].map(([url, other]) => ({
      url,
      message: new RegExp(`sinks\\.search\\.url names \\S+, where ${other} listens, not Elasticsearch`),
      fix: /fix: use the host and HTTP port of Elasticsearch in sinks\.search\.url/,
    })),
  ];
  for (const { url, message, fix } of cases) {
    const config = await writeConfig({
      source: { url: db.url, slot: uniqueName("es_scheme") },
      sinks: { search: { type: "elasticsearch", url } },
      tables: { items: { index: `${indices.prefix}_items` } },
    });
    for (const command of ["run", "check"]) {
      const stopped = await runEngine([command, "--config", config]);
      assert.equal(stopped.code, 1, stopped.output);
      assert.match(stopped.output, message, `${command}: ${stopped.output}`);
      assert.match(stopped.output, fix, `${command}: ${stopped.output}`);
    }
  }
});
