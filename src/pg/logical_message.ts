/**
 * The engine's own logical messages (`pg_logical_emit_message`), written to the source's WAL
 * and read back through the slot. Each is transactional: its commit record is flushed at once,
 * even on an idle server, and decoded like any commit (wal2json passes it on as a transaction
 * holding one message; pgoutput, without the `messages` option, as the server's position in a
 * keepalive), so the stream reaches a position past it.
 */
import { type Lsn, parseLsn } from "./lsn.ts";
import type { Sql } from "./session.ts";

/** The prefix every message of the engine's carries; decoders skip messages whatever their prefix. */
export const MESSAGE_PREFIX = "oesophagus";

async function emit(sql: Sql, content: string): Promise<Lsn> {
  const [row] = await sql<{ lsn: string }[]>`SELECT pg_logical_emit_message(true, ${MESSAGE_PREFIX}, ${content})::text AS lsn`;
  return parseLsn(row.lsn);
}

/** A position past every commit visible now, which the server is sure to stream. */
export const markPosition = (sql: Sql): Promise<Lsn> => emit(sql, "mark");

/**
 * A write in the slot's own database while the configured tables are quiet: its commit, read
 * back, gives the reader a position to confirm that does not depend on the server's keepalives,
 * and shows the stream carries what is committed now. The slot's name says whose it is.
 */
export const emitHeartbeat = (sql: Sql, slot: string): Promise<Lsn> => emit(sql, `heartbeat ${slot}`);
