/** The benchmark table: `rows` rows of 10 mixed columns, in a database of its own, freshly made. */
import postgres from "postgres";

export interface BenchDatabase {
  readonly url: string;
  readonly sql: postgres.Sql;
  /** Drops the database and its slots. */
  drop(): Promise<void>;
}

export async function createBenchDatabase(pgUrl: string, database: string, rows: number): Promise<BenchDatabase> {
  const admin = postgres(pgUrl, { max: 1, onnotice: () => {} });
  const dropAll = async () => {
    await admin`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = ${database}`;
    await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  };
  await dropAll();
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const url = pgUrl.replace(/\/[^/]*$/, `/${database}`);
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  await sql.unsafe(`
    CREATE TABLE items (
      id bigint PRIMARY KEY, name text, email text, amount numeric(12, 2), score float8,
      created timestamptz, active boolean, tags text[], attrs jsonb, ref uuid);
    INSERT INTO items SELECT g, 'item ' || g, 'user' || (g % 50000) || '@example.com', (g % 1000000) / 100.0, g * 0.001,
      timestamptz '2020-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0, ARRAY['t' || (g % 10), 't' || (g % 7)],
      jsonb_build_object('k', g % 100, 'v', 'x' || g), md5(g::text)::uuid
    FROM generate_series(1, ${rows}) g;`);
  await sql.unsafe("VACUUM ANALYZE items");
  return {
    url,
    sql,
    async drop() {
      await sql.end();
      await dropAll();
      await admin.end();
    },
  };
}
