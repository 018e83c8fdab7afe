/**
 * A steady stream of small transactions (inserts, updates, deletes, key changes) against one
 * table `items (id int PRIMARY KEY, n int, t text)`, running until stopped. A failed statement (a
 * server restarting under it) is followed by the next one: the table, not the workload's count,
 * is the truth the index is compared with.
 */
import type postgres from "postgres";

export interface Workload {
  /** Stops after the current transaction; resolves with how many committed. */
  stop(): Promise<number>;
  /** Transactions committed so far. */
  readonly committed: number;
}

export function startWorkload(sql: postgres.Sql, options: { pauseMs?: number; firstId?: number } = {}): Workload {
  let stopping = false;
  let committed = 0;
  let nextId = options.firstId ?? 1_000_000;
  const random = (n: number) => Math.floor(Math.random() * n);
  const step = async () => {
    switch (random(5)) {
      case 0:
        await sql`INSERT INTO items VALUES (${nextId++}, 0, 'inserted')`;
        break;
      case 1:
        await sql`UPDATE items SET n = n + 1, t = 'updated' WHERE id = (SELECT id FROM items ORDER BY random() LIMIT 1)`;
        break;
      case 2:
        await sql`DELETE FROM items WHERE id = (SELECT id FROM items ORDER BY random() LIMIT 1)`;
        break;
      case 3:
        await sql`UPDATE items SET id = ${nextId++} WHERE id = (SELECT id FROM items ORDER BY random() LIMIT 1)`;
        break;
      default:
        await sql.begin(async (tx) => {
          await tx`INSERT INTO items SELECT g, 1, 'batch' FROM generate_series(${nextId}::int, ${nextId + 49}::int) g`;
          await tx`UPDATE items SET n = n + 1 WHERE id BETWEEN ${nextId - 500} AND ${nextId}`;
        });
        nextId += 50;
    }
  };
  const done = (async () => {
    while (!stopping) {
      try {
        await step();
        committed++;
      } catch {
        // The server is restarting or unreachable: the transaction did not commit; try another.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 20));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await done;
      return committed;
    },
    get committed() {
      return committed;
    },
  };
}
