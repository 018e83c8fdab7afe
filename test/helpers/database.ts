/** A throwaway database per test, dropped with its replication slots afterwards. */
import assert from "node:assert/strict";
import postgres from "postgres";
import { RENDER_SETTINGS } from "../../src/pg/session.ts";
import { services, uniqueName } from "./services.ts";

export interface TestDatabase extends AsyncDisposable {
  readonly name: string;
  readonly url: string;
  /** A connection with the engine's render settings, so to_jsonb here renders as the engine's does. */
  readonly sql: postgres.Sql;
}

/** `encoding`: the database's own, other than the server's default UTF8 (from template0, C collation). */
export async function createTestDatabase(options: { encoding?: string } = {}): Promise<TestDatabase> {
  const { pgUrl } = await services();
  const name = uniqueName("t");
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(
    options.encoding === undefined
      ? `CREATE DATABASE ${name}`
      : `CREATE DATABASE ${name} ENCODING '${options.encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
  );
  const url = new URL(pgUrl);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 4, onnotice: () => {}, connection: { ...RENDER_SETTINGS } });
  return {
    name,
    url: url.toString(),
    sql,
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 1 });
      // Slots pin WAL and block DROP DATABASE; an engine killed a moment ago may still hold one.
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          await admin`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = ${name}`;
          await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          break;
        } catch (error) {
          if (attempt === 49) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      await admin.end({ timeout: 1 });
    },
  };
}

/**
 * A login role (not a superuser) that owns `table` in the test database and may create there:
 * what the engine needs for its schema and publication. Dropped, with what it owns and its
 * slots, on dispose.
 */
/** scripts/services makes the server refuse this role without TLS (hostnossl ... reject). */
export const TLS_ONLY_ROLE = "oesophagus_tls_test";

/** Every session `role` has open (an engine's: its walsender and at least one other) is encrypted. */
export async function assertSessionsEncrypted(role: string): Promise<void> {
  const { pgUrl } = await services();
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  try {
    const sessions = await admin<{ backend: string; ssl: boolean }[]>`
      SELECT a.backend_type AS backend, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
      WHERE a.usename = ${role}`;
    assert.ok(sessions.some((s) => s.backend === "walsender"), JSON.stringify(sessions));
    assert.ok(sessions.length >= 2 && sessions.every((s) => s.ssl), JSON.stringify(sessions));
  } finally {
    await admin.end();
  }
}

export async function createEngineRole(
  db: TestDatabase,
  role: string,
  options: { readonly table: string; readonly attributes: string; readonly owner?: boolean },
): Promise<AsyncDisposable> {
  const { pgUrl } = await services();
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
  await admin.unsafe(`CREATE ROLE ${role} ${options.attributes}`);
  // owner false: the role may only read the table, as an application's replication user often does.
  const access = options.owner === false
    ? `GRANT SELECT ON ${options.table} TO ${role}`
    : `ALTER TABLE ${options.table} OWNER TO ${role}`;
  await db.sql.unsafe(`GRANT CREATE ON DATABASE ${db.name} TO ${role}; ${access}`);
  return {
    async [Symbol.asyncDispose]() {
      await db.sql.unsafe(`DROP OWNED BY ${role} CASCADE`).catch(() => {});
      await admin`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = ${db.name}`.catch(
        () => {},
      );
      await admin.unsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
      await admin.end();
    },
  };
}

/** `url` with its sslmode set to `mode`. */
export function withSslMode(url: string, mode: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("sslmode", mode);
  return parsed.toString();
}
