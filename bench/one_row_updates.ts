/** Workload (a) of the benches: one-row UPDATE transactions of random rows of the bench table, by pgbench. */
import { tempFile } from "../test/helpers/temp_files.ts";
import { measureProcess } from "./measure.ts";

export const PGBIN = "/usr/lib/postgresql/15/bin";

/** Commits about `count` transactions (four clients, a multiple of four) on `url`; returns how many. */
export async function oneRowUpdates(url: string, rows: number, count: number): Promise<number> {
  const script = await tempFile(".sql");
  await Deno.writeTextFile(script, `\\set id random(1, ${rows})\nUPDATE items SET score = score + 1 WHERE id = :id;\n`);
  const perClient = Math.ceil(count / 4);
  const run = await measureProcess(`${PGBIN}/pgbench`, ["-n", "-c", "4", "-j", "2", "-t", String(perClient), "-f", script, url]);
  if (run.code !== 0) throw new Error(run.output);
  return 4 * perClient;
}
