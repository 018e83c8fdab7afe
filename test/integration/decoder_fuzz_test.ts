/**
 * Both decoders against real messages: PostgreSQL writes a mixed workload through pgoutput and
 * wal2json, the messages are read back from the slot, and fast-check breaks them. Every intact
 * message decodes; every message cut short is a DecodeError; a changed byte is a DecodeError or
 * an event of the right shape, never another kind of failure.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { PgoutputDecoder } from "../../src/pg/pgoutput.ts";
import { Wal2jsonDecoder, wal2jsonOptions } from "../../src/pg/wal2json.ts";
import { type ChangeEvent, DecodeError, UNCHANGED } from "../../src/stream/change.ts";
import { createTestDatabase } from "../helpers/database.ts";
import { MATRIX_ROWS, MATRIX_SCHEMA } from "../helpers/type_matrix.ts";

interface Decoder {
  decode(payload: Uint8Array): ChangeEvent | null;
}

async function realMessages(plugin: "pgoutput" | "wal2json"): Promise<Uint8Array[]> {
  await using db = await createTestDatabase();
  const { sql } = db;
  await sql.unsafe(MATRIX_SCHEMA);
  await sql`ALTER TABLE matrix REPLICA IDENTITY FULL`;
  await sql`CREATE PUBLICATION fuzz FOR TABLE matrix`;
  await sql`SELECT pg_create_logical_replication_slot('fuzz', ${plugin})`;
  await sql.unsafe(MATRIX_ROWS);
  await sql`UPDATE matrix SET t = 'changed', id = id + 100 WHERE id = 1`;
  await sql`UPDATE matrix SET i4 = 7`;
  await sql`DELETE FROM matrix WHERE id = 2`;
  await sql`TRUNCATE matrix`;
  const rows = plugin === "pgoutput"
    ? await sql<{ data: Uint8Array }[]>`
        SELECT data FROM pg_logical_slot_peek_binary_changes('fuzz', NULL, NULL, 'proto_version', '1', 'publication_names', 'fuzz')`
    : await sql.unsafe<{ data: Uint8Array }[]>(
      `SELECT convert_to(data, 'UTF8') AS data FROM pg_logical_slot_peek_changes('fuzz', NULL, NULL, ${
        Object.entries(wal2jsonOptions([{ schema: "public", name: "matrix" }])).map(([k, v]) => `'${k}', '${v}'`).join(", ")
      })`,
    );
  return rows.map((row) => new Uint8Array(Buffer.from(row.data)));
}

/** A fresh decoder that has seen the messages before `index` (pgoutput's relation cache). */
function primed(make: () => Decoder, messages: readonly Uint8Array[], index: number): Decoder {
  const decoder = make();
  for (const message of messages.slice(0, index)) decoder.decode(message);
  return decoder;
}

function decodeOrDecodeError(decoder: Decoder, payload: Uint8Array): ChangeEvent | null | DecodeError {
  try {
    return decoder.decode(payload);
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw new Error(`${error} is not a DecodeError`);
  }
}

for (const plugin of ["pgoutput", "wal2json"] as const) {
  Deno.test(`decoder fuzz (${plugin}): real messages decode; cut or changed ones fail cleanly`, async () => {
    const messages = await realMessages(plugin);
    const make = () => plugin === "pgoutput" ? new PgoutputDecoder() : new Wal2jsonDecoder();
    const decoded = messages.map((m, i) => primed(make, messages, i).decode(m));
    const kinds = new Set<string>(decoded.map((e) => e === null ? "null" : e.kind === "row" ? e.op : e.kind));
    for (const kind of ["begin", "insert", "update", "delete", "truncate", "commit"]) {
      assert.ok(kinds.has(kind), `no ${kind} in ${[...kinds]}`);
    }

    fc.assert(
      fc.property(fc.nat(messages.length - 1), fc.nat(), fc.integer({ min: 1, max: 255 }), (index, at, xor) => {
        const message = messages[index];
        const cut = message.subarray(0, at % message.length);
        assert.ok(
          decodeOrDecodeError(primed(make, messages, index), cut) instanceof DecodeError,
          `message ${index} cut at ${cut.length}`,
        );

        const changed = message.slice();
        changed[at % changed.length] ^= xor;
        const event = decodeOrDecodeError(primed(make, messages, index), changed);
        if (event instanceof DecodeError || event === null || event.kind !== "row") return;
        for (const image of [event.new, event.old]) {
          if (!image) continue;
          assert.equal(image.columns.length, image.values.length);
          for (const v of image.values) assert.ok(v === null || v === UNCHANGED || typeof v === "string");
        }
      }),
      { numRuns: 300 },
    );
  });
}
