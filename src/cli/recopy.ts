/**
 * `oesophagus recopy TABLE...`: the next start copies these tables again into the targets they
 * have, overwriting documents in place (versioned at the new copy's LSN, so nothing newer is
 * undone) and sweeping those of rows gone, as for a table put back into the config. It is how the
 * documents of rows unchanged since an `ALTER TABLE` get the table's columns as they are now:
 * a schema change writes no row to the WAL. Unlike deleting the index, searches keep their
 * documents meanwhile. The engine must be stopped: it reads its copy records when it starts.
 */
import type { Config } from "../config/load.ts";
import { OesophagusError } from "../errors.ts";
import { explainConnectionError } from "../pg/connect_errors.ts";
import { displayName, parseQualifiedName } from "../pg/identifier.ts";
import { connect } from "../pg/session.ts";
import { inspectSlot } from "../pg/slot.ts";
import { ENGINE_SCHEMA } from "../snapshot/progress_store.ts";
import { printFatal } from "./fatal.ts";

/** The configured tables `names` mean (as in producer.json: `items`, `public.items`), or what is wrong with one. */
export function resolveTables(config: Config, names: readonly string[]): { tables: string[] } | { error: string } {
  const configured = config.tables.map((t) => displayName(t.name));
  const tables: string[] = [];
  for (const name of names) {
    const parsed = parseQualifiedName(name);
    if ("error" in parsed) return { error: `recopy: the table name ${JSON.stringify(name)} ${parsed.error}` };
    const table = displayName(parsed);
    if (!configured.includes(table)) {
      return { error: `recopy: ${table} is not a configured table (configured: ${configured.join(", ")})` };
    }
    if (!tables.includes(table)) tables.push(table);
  }
  return { tables };
}

function engineRunning(slot: string, pid: number | null): OesophagusError {
  return new OesophagusError(
    "engine_running",
    `slot ${slot} is in use${
      pid ? ` (walsender pid ${pid})` : ""
    }: the engine is running, and reads its copy records only when it starts`,
    { fix: "stop the engine (SIGTERM), run recopy again, then start the engine" },
  );
}

export async function recopy(config: Config, names: readonly string[]): Promise<number> {
  const resolved = resolveTables(config, names);
  if ("error" in resolved) {
    console.error(resolved.error);
    return 2;
  }
  const { slot } = config.source;
  const sql = connect(config.source.url, { max: 1, applicationName: "oesophagus recopy" });
  try {
    const info = await inspectSlot(sql, slot);
    if (!info) {
      console.log(`slot ${slot} does not exist yet: the first start copies every configured table`);
      return 0;
    }
    if (info.active) throw engineRunning(slot, info.activePid);
    const [{ recorded }] = await sql<{ recorded: boolean }[]>`
      SELECT to_regclass(${`${ENGINE_SCHEMA}.snapshot_table`}) IS NOT NULL AS recorded`;
    // Forgotten only while no walsender holds the slot, in the same statement: a start since the
    // check above would read the record before this deletes it.
    const none: { held: boolean; pid: number | null; forgotten: string[] }[] = [{ held: false, pid: null, forgotten: [] }];
    const [{ held, pid, forgotten }] = recorded
      ? await sql<typeof none>`
          WITH holder AS (SELECT active_pid FROM pg_replication_slots WHERE slot_name = ${slot} AND active),
          gone AS (
            DELETE FROM oesophagus.snapshot_table
            WHERE slot = ${slot} AND table_name = ANY(${resolved.tables}::text[]) AND NOT EXISTS (SELECT FROM holder)
            RETURNING table_name)
          SELECT EXISTS (SELECT FROM holder) AS held, (SELECT active_pid FROM holder) AS pid,
                 array(SELECT table_name FROM gone) AS forgotten`
      : none;
    if (held) throw engineRunning(slot, pid);
    for (const table of resolved.tables) {
      console.log(
        forgotten.includes(table)
          ? `${table}: copied again at the next start, over its documents, and those of rows gone since swept`
          : `${table}: no copy recorded: the next start copies it anyway`,
      );
    }
    return 0;
  } catch (error) {
    printFatal(explainConnectionError(error, config.source.url));
    return 1;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
