/**
 * Secrets and identifiers. A canary password (PostgreSQL, with real SCRAM authentication) and
 * canary Elasticsearch credentials go through a full run, `check`, `status`, a wrong password and
 * an Elasticsearch outage: no byte the engine prints contains them, in any encoding. And a table
 * whose name is an SQL injection attempt is replicated, not executed.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { assertSameDocuments, compareIndex } from "../helpers/contract.ts";
import { createEngineRole, createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, startEngine, stopEngine, writeConfig } from "../helpers/engine.ts";
import { FaultProxy } from "../helpers/fault_proxy.ts";
import { services, uniqueName } from "../helpers/services.ts";
import { waitForCatchUp } from "../helpers/stream.ts";

/** The role scripts/services makes authenticate with a password (SCRAM); every other role is trusted. */
const PASSWORD_ROLE = "oesophagus_password_test";

/** Every form a secret could leak in: as is, URL-encoded, base64 alone and in a Basic header. */
function leakForms(user: string, secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString("base64").replace(/=+$/, ""),
    Buffer.from(`${user}:${secret}`).toString("base64").replace(/=+$/, ""),
  ];
}

Deno.test("security: passwords and API keys never appear in anything the engine prints", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await using proxy = FaultProxy.start(esUrl);
  // Characters that need URL encoding, so the encoded form is a different string to look for.
  const pgPassword = `canary-pg/${crypto.randomUUID()}@:`;
  const esPassword = `canary-es-${crypto.randomUUID()}`;
  const wrongPassword = `canary-wrong-${crypto.randomUUID()}`;
  await db.sql`CREATE TABLE accounts (id int PRIMARY KEY, owner text)`;
  await db.sql`INSERT INTO accounts SELECT g, 'owner ' || g FROM generate_series(1, 50) g`;
  await using _role = await createEngineRole(db, PASSWORD_ROLE, {
    table: "accounts",
    attributes: `LOGIN REPLICATION PASSWORD '${pgPassword.replaceAll("'", "''")}'`,
  });
  const { host } = new URL(db.url);
  const slot = uniqueName("canary");
  const index = `${indices.prefix}_accounts`;
  const config = (sinkUrl: string) => ({
    source: { url: `postgres://${PASSWORD_ROLE}:\${CANARY_PG_PASSWORD}@${host}/${db.name}`, slot },
    sinks: {
      search: {
        type: "elasticsearch",
        url: sinkUrl,
        username: "elastic",
        password: "${CANARY_ES_PASSWORD}",
        requestTimeoutMs: 2_000,
        batch: { timeoutMs: 20 },
      },
    },
    tables: { accounts: { index } },
  });
  const file = await writeConfig(config(proxy.url(esUrl)));
  const env = { CANARY_PG_PASSWORD: pgPassword, CANARY_ES_PASSWORD: esPassword };
  const printed: string[] = [];

  const checked = await runEngine(["check", "--config", file], env);
  printed.push(checked.output);
  assert.equal(checked.code, 0, checked.output);

  const engine = startEngine(["run", "--config", file, "--progress", "log"], env);
  try {
    await engine.waitFor(/"msg":"streaming from slot"/);
    await db.sql`UPDATE accounts SET owner = 'changed' WHERE id <= 5`;
    await waitForCatchUp(db.sql, slot);
    // An outage: retries and their errors are printed, with the request that failed.
    proxy.mode = "down";
    await db.sql`UPDATE accounts SET owner = 'during the outage' WHERE id = 6`;
    await engine.waitFor(/"msg":"bulk request retried"/, 30_000);
    proxy.mode = "pass";
    await waitForCatchUp(db.sql, slot);
    assertSameDocuments(await compareIndex(db.sql, { schema: "public", name: "accounts" }, index));
  } finally {
    engine.kill("SIGTERM");
    printed.push((await engine.exited).output);
  }

  const status = await runEngine(["status", "--config", file, "--json"], env);
  printed.push(status.output);
  assert.equal(status.code, 0, status.output);

  const refused = await runEngine(["run", "--config", file], { ...env, CANARY_PG_PASSWORD: wrongPassword });
  printed.push(refused.output);
  assert.equal(refused.code, 1, refused.output);
  assert.match(refused.output, /refused the password/);

  const all = printed.join("\n");
  for (
    const secret of [
      ...leakForms(PASSWORD_ROLE, pgPassword),
      ...leakForms("elastic", esPassword),
      ...leakForms(PASSWORD_ROLE, wrongPassword),
    ]
  ) {
    assert.ok(!all.includes(secret), `the engine printed a secret (${secret.slice(0, 12)}...)`);
  }
});

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`security (${plugin}): a table named like an SQL injection is replicated, not executed`, async () => {
    const { esUrl } = await services();
    await using db = await createTestDatabase();
    await using indices = uniqueIndexPrefix();
    const { sql } = db;
    const schema = `s"; DROP TABLE victims; --`;
    const table = `we"ird, name.with * dots; DELETE FROM victims; --`;
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
    await sql`CREATE TABLE victims (id int PRIMARY KEY)`;
    await sql`INSERT INTO victims VALUES (1), (2)`;
    await sql.unsafe(`CREATE SCHEMA ${quote(schema)}`);
    await sql.unsafe(`CREATE TABLE ${quote(schema)}.${quote(table)} ("id; --" int PRIMARY KEY, "v'al" text)`);
    await sql.unsafe(`INSERT INTO ${quote(schema)}.${quote(table)} SELECT g, 'row ' || g FROM generate_series(1, 20) g`);
    const slot = uniqueName("inject");
    const index = `${indices.prefix}_weird`;
    const file = await writeConfig({
      source: { url: db.url, slot, plugin },
      sinks: { search: { type: "elasticsearch", url: esUrl, batch: { timeoutMs: 20 } } },
      tables: { [`${quote(schema)}.${quote(table)}`]: { index } },
    });
    const engine = startEngine(["run", "--config", file, "--progress", "log"]);
    try {
      await engine.waitFor(/"msg":"streaming from slot"/);
      await sql.unsafe(`INSERT INTO ${quote(schema)}.${quote(table)} VALUES (21, 'streamed')`);
      await sql.unsafe(`UPDATE ${quote(schema)}.${quote(table)} SET "v'al" = 'changed' WHERE "id; --" = 3`);
      await sql.unsafe(`DELETE FROM ${quote(schema)}.${quote(table)} WHERE "id; --" = 4`);
      await waitForCatchUp(sql, slot);
      assertSameDocuments(await compareIndex(sql, { schema, name: table }, index));
      const [{ victims }] = await sql<{ victims: string }[]>`SELECT count(*)::text AS victims FROM victims`;
      assert.equal(victims, "2");
    } finally {
      await stopEngine(engine);
    }
  });
}
