/** A throwaway database per test, dropped with its replication slots afterwards. */
import postgres from "postgres";
import { RENDER_SETTINGS } from "../../src/pg/session.ts";
import { services, uniqueName } from "./services.ts";

export interface TestDatabase extends AsyncDisposable {
  readonly name: string;
  readonly url: string;
  /** A connection with the engine's render settings, so to_jsonb here renders as the engine's does. */
  readonly sql: postgres.Sql;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const { pgUrl } = await services();
  const name = uniqueName("t");
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
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
