/** The command line as a user meets it: exit codes, messages, `check` and `status`. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { createTestDatabase } from "../helpers/database.ts";
import { uniqueIndexPrefix } from "../helpers/elasticsearch.ts";
import { runEngine, writeConfig } from "../helpers/engine.ts";
import { INVALID_CONFIGS } from "../helpers/invalid_configs.ts";
import { serviceControl } from "../helpers/service_control.ts";
import { REPO, services, uniqueName } from "../helpers/services.ts";

Deno.test("cli: an invalid config exits 2 naming each path, before any connection is made", async () => {
  const config = await writeConfig({
    // Port 1 on loopback: if the engine tried to connect, it would hang or fail differently.
    source: { url: "postgres://nobody:canary-pw-4411@127.0.0.1:1/none", plugin: "decoderbufs" },
    tables: { "public.users": { snapshot: { concurrency: 0 } }, "bad name": {} },
  });
  const started = Date.now();
  const result = await runEngine(["run", "--config", config]);
  assert.equal(result.code, 2, result.output);
  assert.ok(Date.now() - started < 10_000);
  assert.match(result.output, /is invalid:/);
  assert.match(result.output, /source\.plugin: must be "pgoutput" or "wal2json"/);
  assert.match(result.output, /tables\."public\.users"\.snapshot\.concurrency: must be a positive integer/);
  assert.match(result.output, /tables\."bad name": is not a table name/);
  assert.ok(!result.output.includes("canary-pw-4411"), "the password leaked into the output");
});

Deno.test(`cli: each of ${INVALID_CONFIGS.length} invalid configs exits 2 with its paths and reasons`, async () => {
  const failures: string[] = [];
  const queue = [...INVALID_CONFIGS];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [what, config, expected, vars] = next;
      const file = await writeConfig(config);
      const result = await runEngine(["run", "--config", file], vars);
      // A problem with a path is listed as `  path: reason`; one of the whole file as `FILE reason`.
      const missing = expected.filter((problem) =>
        !result.output.includes(`\n  ${problem}\n`) && !result.output.includes(`\n  ${file} ${problem}\n`)
      );
      if (result.code !== 2 || missing.length > 0) {
        failures.push(`${what}: exit ${result.code}, missing ${missing}\n${result.output}`);
      }
      await Deno.remove(file);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.deepEqual(failures, []);
});

Deno.test("cli: a missing config file and an unknown command exit 2 with usage help", async () => {
  const missing = await runEngine(["run", "--config", "/nonexistent/producer.json"]);
  assert.equal(missing.code, 2);
  assert.match(missing.output, /\/nonexistent\/producer\.json does not exist: pass --config FILE/);
  const unknown = await runEngine(["replicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.output, /unknown command "replicate"/);
  assert.match(unknown.output, /usage: oesophagus <command>/);
});

Deno.test("cli: check lists every problem with its fix and exits 1; passes on a good setup", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await db.sql`CREATE TABLE good (id int PRIMARY KEY)`;
  await db.sql`CREATE TABLE keyless (v text)`;
  const bad = await writeConfig({
    source: { url: db.url, slot: "check_bad" },
    sinks: { search: { type: "elasticsearch", url: esUrl }, down: { type: "elasticsearch", url: "http://127.0.0.1:1" } },
    tables: { good: {}, keyless: {}, missing: {} },
  });
  const failed = await runEngine(["check", "--config", bad]);
  assert.equal(failed.code, 1, failed.output);
  assert.match(failed.output, /✓ source reachable: PostgreSQL 15\./);
  assert.match(failed.output, /✓ wal_level = logical/);
  assert.match(failed.output, /✓ output plugin pgoutput is installed and allowed/);
  assert.match(failed.output, /✗ table public\.keyless has no primary key.*; table public\.missing does not exist/);
  assert.match(failed.output, /✗ sink down: .*\n {4}fix: check that Elasticsearch runs at sinks\.down\.url/);
  assert.match(failed.output, /✓ sink search: Elasticsearch 8\./);
  assert.match(failed.output, /2 problem\(s\) found/);

  const good = await writeConfig({
    source: { url: db.url, slot: "check_good", plugin: "wal2json" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { good: {} },
  });
  const passed = await runEngine(["check", "--config", good]);
  assert.equal(passed.code, 0, passed.output);
  assert.match(passed.output, /✓ output plugin wal2json is installed and allowed/);
  assert.match(passed.output, /all checks passed/);
  // check changes nothing: no slot, no engine schema.
  assert.equal((await db.sql`SELECT 1 FROM pg_replication_slots WHERE database = ${db.name}`).length, 0);
  assert.equal((await db.sql`SELECT 1 FROM pg_namespace WHERE nspname = 'oesophagus'`).length, 0);
});

Deno.test("cli: status reports the slot, sink health and dead letters, and per-table snapshot progress, as text and JSON", async () => {
  const { esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  await db.sql`CREATE TABLE a (id int PRIMARY KEY)`;
  await db.sql`INSERT INTO a SELECT generate_series(1, 1234)`;
  const config = await writeConfig({
    source: { url: db.url, slot: "status" },
    sinks: { search: { type: "elasticsearch", url: esUrl, deadLetterIndex: `${indices.prefix}_dead` } },
    tables: { a: { index: `${indices.prefix}_a`, snapshot: { chunkRows: 500 } } },
  });
  const before = await runEngine(["status", "--config", config, "--json"]);
  assert.equal(before.code, 0, before.output);
  const health = JSON.parse(await (await fetch(`${esUrl}/_cluster/health`)).text()).status;
  assert.deepEqual(JSON.parse(before.output), {
    slot: { name: "status", exists: false },
    sinks: [{ name: "search", health, deadLetters: 0 }],
    snapshot: [{ table: "public.a", state: "not started", rowsCopied: 0, rowsTotal: null, chunksDone: 0, chunksTotal: 0 }],
  });
  const run = await runEngine(["run", "--config", config, "--snapshot-only", "--progress", "log"]);
  assert.equal(run.code, 0, run.output);
  const after = JSON.parse((await runEngine(["status", "--config", config, "--json"])).output);
  assert.equal(after.slot.exists, true);
  assert.equal(after.slot.plugin, "pgoutput");
  assert.match(after.slot.confirmedFlushLsn, /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.deepEqual(after.snapshot, [{
    table: "public.a",
    state: "done",
    rowsCopied: 1234,
    rowsTotal: 1234,
    chunksDone: 3,
    chunksTotal: 3,
    columnsChanged: false,
  }]);
  // The index the run made asks for a replica only where a second node can hold it: green on this single node.
  const indexHealth = JSON.parse(await (await fetch(`${esUrl}/_cluster/health/${indices.prefix}_a`)).text()).status;
  assert.equal(indexHealth, "green");
  // Cluster health is the cluster's (other indices count): taken again, right before the status.
  const healthNow = JSON.parse(await (await fetch(`${esUrl}/_cluster/health`)).text()).status;
  const text = await runEngine(["status", "--config", config]);
  assert.match(
    text.output,
    /slot status {2}pgoutput {2}inactive {2}confirmed [0-9A-F]+\/[0-9A-F]+ {2}lag [\d.]+ (B|KiB|MiB) {2}retained WAL /,
  );
  assert.match(text.output, new RegExp(`search\\s+${healthNow}\\s+0\\n`));
  assert.match(text.output, /public\.a\s+done\s+1234 \/ 1234\s+3\/3/);

  // A sink that cannot be reached says so, with the reason.
  const down = await writeConfig({
    source: { url: db.url, slot: "status" },
    sinks: { down: { type: "elasticsearch", url: "http://127.0.0.1:1" } },
    tables: { a: { index: `${indices.prefix}_a` } },
  });
  const report = JSON.parse((await runEngine(["status", "--config", down, "--json"])).output);
  assert.equal(report.sinks[0].health, "unreachable");
  assert.match(report.sinks[0].error, /ECONNREFUSED|connect/i);
});

Deno.test("cli: a source database that does not exist stops the engine at once with the fix, not after retries", async () => {
  const { esUrl, pgUrl } = await services();
  const url = new URL(pgUrl);
  url.pathname = "/no_such_database_here";
  const config = await writeConfig({
    source: { url: url.toString(), slot: "missing_db" },
    sinks: { search: { type: "elasticsearch", url: esUrl } },
    tables: { t: {} },
  });
  const started = Date.now();
  const result = await runEngine(["run", "--config", config, "--progress", "log"]);
  assert.equal(result.code, 1, result.output);
  assert.ok(Date.now() - started < 15_000, "the engine retried a failure that needs the operator");
  assert.match(result.output, /oesophagus: the database in source\.url does not exist/);
  assert.match(result.output, /fix: fix the database name in source\.url, or create the database/);
});

Deno.test("cli: a user without REPLICATION, a wrong password and an unreachable server each get their own message and fix", async () => {
  const { pgUrl, esUrl } = await services();
  await using db = await createTestDatabase();
  await using indices = uniqueIndexPrefix();
  const role = uniqueName("noreplication");
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE ROLE ${role} LOGIN`);
    await db.sql`CREATE TABLE items (id int PRIMARY KEY)`;
    await db.sql.unsafe(`ALTER TABLE items OWNER TO ${role}; GRANT CREATE ON DATABASE ${db.name} TO ${role}`);
    const { host } = new URL(db.url);
    const config = (url: string) =>
      writeConfig({
        source: { url, slot: uniqueName("denied") },
        supervision: { maxRestarts: 1, backoffMinMs: 50, backoffMaxMs: 100 },
        sinks: { search: { type: "elasticsearch", url: esUrl } },
        tables: { items: { index: `${indices.prefix}_items` } },
      });

    const noReplication = await config(`postgres://${role}@${host}/${db.name}`);
    const checked = await runEngine(["check", "--config", noReplication]);
    assert.equal(checked.code, 1, checked.output);
    assert.match(
      checked.output,
      /✗ the source user has neither REPLICATION nor SUPERUSER\n {4}fix: ALTER ROLE <user> WITH REPLICATION;/,
    );
    const run = await runEngine(["run", "--config", noReplication]);
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /REPLICATION/);
    assert.match(run.output, /fix: .*ALTER ROLE/);

    // scripts/services asks this role (and only it) for a password.
    await admin.unsafe(`DROP ROLE IF EXISTS oesophagus_password_test`);
    await admin.unsafe(`CREATE ROLE oesophagus_password_test LOGIN PASSWORD 'right'`);
    const wrong = await config(`postgres://oesophagus_password_test:wrong@${host}/${db.name}`);
    const refused = await runEngine(["check", "--config", wrong]);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, /✗ .*refused the password/);
    assert.match(refused.output, /fix: check the user and password in source\.url/);

    const unreachable = await runEngine(["run", "--config", await config(`postgres://nobody@127.0.0.1:1/${db.name}`)]);
    assert.equal(unreachable.code, 1, unreachable.output);
    assert.match(unreachable.output, /cannot reach PostgreSQL at 127\.0\.0\.1:1\//);
    assert.match(unreachable.output, /fix: check that the server runs and that host and port in source\.url are right/);
  } finally {
    await db.sql.unsafe(`DROP OWNED BY ${role} CASCADE`).catch(() => {});
    await admin.unsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.unsafe(`DROP ROLE IF EXISTS oesophagus_password_test`).catch(() => {});
    await admin.end();
  }
});

Deno.test("cli: a server without wal_level=logical: check names the setting and the fix; run stops with it", async () => {
  const { esUrl } = await services();
  // A small cluster of its own, so the shared one keeps logical decoding.
  const env = { OESOPHAGUS_INSTANCE: "test_wal_replica", PG_WAL_LEVEL: "replica" };
  await serviceControl("start", "pg", env);
  try {
    const printed = await new Deno.Command(`${REPO}scripts/services`, { args: ["env", "pg"], env, stdout: "piped" }).output();
    const pgUrl = new TextDecoder().decode(printed.stdout).trim().replace(/^PG_URL=/, "");
    const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
    await admin`CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY)`;
    await admin.end();
    const config = await writeConfig({
      source: { url: pgUrl, slot: uniqueName("replica") },
      sinks: { search: { type: "elasticsearch", url: esUrl } },
      tables: { items: { index: uniqueName("test_replica") } },
    });
    const checked = await runEngine(["check", "--config", config]);
    assert.equal(checked.code, 1, checked.output);
    assert.match(
      checked.output,
      /✗ wal_level is replica, not logical\n {4}fix: ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL/,
    );
    const run = await runEngine(["run", "--config", config]);
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /wal_level/);
    assert.match(run.output, /fix: .*wal_level = logical/);
  } finally {
    await serviceControl("stop", "pg", env);
  }
});
