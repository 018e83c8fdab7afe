/**
 * bench/hot_path: the engine's per-change work alone, without services: plugin messages for the
 * bench table's row (bench/fixture.ts's columns and values) decoded, rendered to documents and
 * encoded into `_bulk` bodies, as the wal reader, router and sink do it. Prints microseconds per
 * change for each plugin: the part of the engine's CPU in bench/stream that is its own code's.
 * Then the same with the row's name beyond ASCII (accents and a dash), as most real text is. For
 * wal2json it also times V8's JSON.parse of the same messages alone: no decoder in JS does less.
 * Last, one-row transactions (begin, row, commit messages), as in bench/stream's workload (a).
 *
 *   deno run -A --v8-flags=--max-semi-space-size=8 bench/hot_path.ts [--changes 1000000]
 */
import { parseArgs } from "node:util";
import type { PgType, TableDescription } from "../src/pg/catalog.ts";
import { formatLsn, type Lsn } from "../src/pg/lsn.ts";
import { PgoutputDecoder } from "../src/pg/pgoutput.ts";
import { Wal2jsonDecoder } from "../src/pg/wal2json.ts";
import { encodeItems, laneOf } from "../src/sinks/elasticsearch/bulk_body.ts";
import type { ChangeEvent } from "../src/stream/change.ts";
import { type BulkItem, type RowChange, TableRenderer } from "../src/stream/render.ts";

const { values } = parseArgs({ options: { changes: { type: "string", default: "1000000" } } });
const CHANGES = Number(values.changes);
const SEGMENT = 2_000;
const LANES = 2;
const VERSION = 0x1_2345_6789n as Lsn;
const encoder = new TextEncoder();

const scalar = (name: string): PgType => ({ kind: "scalar", name, category: "X" });
/** name, type, type OID: the bench table's columns. */
const COLUMNS: [string, PgType, number][] = [
  ["id", scalar("int8"), 20],
  ["name", scalar("text"), 25],
  ["email", scalar("text"), 25],
  ["amount", scalar("numeric"), 1700],
  ["score", scalar("float8"), 701],
  ["created", scalar("timestamptz"), 1184],
  ["active", scalar("bool"), 16],
  ["tags", { kind: "array", element: scalar("text") }, 1009],
  ["attrs", scalar("jsonb"), 3802],
  ["ref", scalar("uuid"), 2950],
];
const TABLE: TableDescription = {
  name: { schema: "public", name: "items" },
  oid: 16_400,
  columns: COLUMNS.map(([name, type, typeOid]) => ({ name, type, typeOid, typeName: name })),
  key: { source: "primary_key", columns: ["id"] },
  replicaIdentity: "default",
};

/** The name column's text: the bench table's, or one beyond ASCII. */
let nameOf = (g: number) => `item ${g}`;

/** Row g as PostgreSQL's output functions print it (bench/fixture.ts's INSERT). */
function rowText(g: number): (string | null)[] {
  const created = new Date(Date.UTC(2020, 0, 1) + g * 1000).toISOString().replace("T", " ").replace(".000Z", "+00");
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  return [
    String(g),
    nameOf(g),
    `user${g % 50000}@example.com`,
    ((g % 1000000) / 100).toFixed(2),
    String(g * 0.001),
    created,
    g % 2 === 0 ? "t" : "f",
    `{t${g % 10},t${g % 7}}`,
    `{"k": ${g % 100}, "v": "x${g}"}`,
    `${hex(g)}-0000-4000-8000-${hex(g * 7)}0000`,
  ];
}

class Bytes {
  readonly parts: number[] = [];
  byte(...b: number[]) {
    this.parts.push(...b);
    return this;
  }
  int16(v: number) {
    return this.byte((v >> 8) & 255, v & 255);
  }
  int32(v: number) {
    return this.byte((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  }
  int64(v: bigint) {
    return this.int32(Number(v >> 32n)).int32(Number(v & 0xffffffffn));
  }
  text(s: string, nul = false) {
    this.byte(...encoder.encode(s));
    return nul ? this.byte(0) : this;
  }
}

const pgoutput = {
  relation(): Uint8Array {
    const w = new Bytes().byte(0x52).int32(TABLE.oid).text("public", true).text("items", true).byte(0x64).int16(COLUMNS.length);
    for (const [name, , oid] of COLUMNS) w.byte(name === "id" ? 1 : 0).text(name, true).int32(oid).int32(-1);
    return Uint8Array.from(w.parts);
  },
  update(g: number): Uint8Array {
    const w = new Bytes().byte(0x55).int32(TABLE.oid).byte(0x4e).int16(COLUMNS.length);
    for (const value of rowText(g)) {
      const bytes = encoder.encode(value!);
      w.byte(0x74).int32(bytes.length).byte(...bytes);
    }
    return Uint8Array.from(w.parts);
  },
  begin(g: number): Uint8Array {
    return Uint8Array.from(new Bytes().byte(0x42).int64(commitLsn(g)).int64(commitMicros(g)).int32(1000 + g).parts);
  },
  commit(g: number): Uint8Array {
    return Uint8Array.from(
      new Bytes().byte(0x43, 0).int64(commitLsn(g)).int64(commitLsn(g) + 0x30n).int64(commitMicros(g)).parts,
    );
  },
};

/** Transaction g's commit LSN and time (microseconds since 2000-01-01, as pgoutput sends it). */
const commitLsn = (g: number) => 0x1_0000_0000n + BigInt(g) * 0x130n;
const commitMicros = (g: number) => 849_000_000_000_000n + BigInt(g) * 137n;
const lsnText = (lsn: bigint) => formatLsn(lsn as Lsn);
/** Transaction g's commit time as wal2json prints it (timestamptz, UTC). */
const commitTimeText = (g: number) =>
  new Date(Date.UTC(2000, 0, 1) + Number(commitMicros(g) / 1000n)).toISOString().replace("T", " ").replace("Z", "+00");

/**
 * As wal2json prints it with the engine's options: the transaction's time and the row's LSN in
 * every record, numbers and booleans bare, the rest as JSON strings, no type names.
 */
function wal2jsonUpdate(g: number): Uint8Array {
  const text = rowText(g);
  const column = (i: number) => {
    const [name, , oid] = COLUMNS[i];
    const value = i === 0 || i === 3 || i === 4
      ? text[i]
      : i === 6
      ? (text[i] === "t" ? "true" : "false")
      : JSON.stringify(text[i]);
    return `{"name":"${name}","typeoid":${oid},"value":${value}}`;
  };
  return encoder.encode(
    `{"action":"U","timestamp":"${commitTimeText(g)}","lsn":"${
      lsnText(commitLsn(g) - 0x100n)
    }","schema":"public","table":"items","columns":[${COLUMNS.map((_, i) => column(i)).join(",")}],"identity":[${column(0)}]}`,
  );
}

const wal2json = {
  update: wal2jsonUpdate,
  transaction: (action: "B" | "C", g: number) =>
    encoder.encode(
      `{"action":"${action}","timestamp":"${commitTimeText(g)}","lsn":"${lsnText(commitLsn(g))}","nextlsn":"${
        lsnText(commitLsn(g) + 0x30n)
      }"}`,
    ),
};

/** Messages packed one after another in one buffer, as a socket read holds them. */
function packed(messages: Uint8Array[]): Uint8Array[] {
  const buffer = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
  let at = 0;
  return messages.map((m) => {
    buffer.set(m, at);
    at += m.length;
    return buffer.subarray(at - m.length, at);
  });
}

/** Microseconds per row change: `messages` decoded in turn (begin and commit between rows, if any), rendered and encoded. */
async function run(decode: (payload: Uint8Array) => ChangeEvent | null, messages: readonly Uint8Array[]): Promise<number> {
  const renderer = new TableRenderer(TABLE);
  let bytes = 0;
  let next = 0;
  const started = performance.now();
  for (let done = 0; done < CHANGES; done += SEGMENT) {
    const changes: RowChange[] = [];
    while (changes.length < SEGMENT) {
      const event = decode(messages[next++ % messages.length]);
      if (event?.kind === "begin" || event?.kind === "commit") continue;
      if (event?.kind !== "row") throw new Error("expected a row change, a begin or a commit");
      changes.push({ op: event.op, new: event.new, old: event.old, version: VERSION });
    }
    const items = await renderer.render(null as never, changes);
    const lanes: { index: string; item: BulkItem }[][] = Array.from({ length: LANES }, () => []);
    for (const item of items) lanes[laneOf("items", item.id, LANES)].push({ index: "items", item });
    for (const lane of lanes) bytes += encodeItems(lane).body.length;
  }
  const micros = (performance.now() - started) * 1000 / CHANGES;
  if (bytes < CHANGES * 100) throw new Error(`only ${bytes} bytes of _bulk bodies for ${CHANGES} changes`);
  return micros;
}

const POOL = 10_000;
const rows = Array.from({ length: POOL }, (_, i) => i + 1);
const shapes: [string, (g: number) => string][] = [
  ["bench row", nameOf],
  ["name beyond ASCII", (g) => `Zoë Ångström ${g} — café`],
];
console.log(`== bench/hot_path: decode, render, encode of ${CHANGES.toLocaleString("en")} one-row updates (10 columns) ==`);
for (const [shape, name] of shapes) {
  nameOf = name;
  const w2jMessages = await timePlugins(
    { pgoutput: (g) => [pgoutput.update(g)], wal2json: (g) => [wal2json.update(g)] },
    "change",
    shape,
  );
  nativeParse(w2jMessages); // warm up
  console.log(
    `    wal2json  ${nativeParse(w2jMessages).toFixed(2)} us per change   (${shape}: TextDecoder and JSON.parse alone)`,
  );
}
nameOf = shapes[0][1];
await timePlugins(
  {
    pgoutput: (g) => [pgoutput.begin(g), pgoutput.update(g), pgoutput.commit(g)],
    wal2json: (g) => [wal2json.transaction("B", g), wal2json.update(g), wal2json.transaction("C", g)],
  },
  "transaction",
  "bench row, one-row transactions",
);

/**
 * Both plugins' messages for the pool's rows (each row's messages in turn), decoded, rendered and
 * encoded, timed per row change (`unit`: a change, or a one-row transaction). Returns wal2json's.
 */
async function timePlugins(
  messagesOf: { pgoutput: (g: number) => Uint8Array[]; wal2json: (g: number) => Uint8Array[] },
  unit: string,
  label: string,
): Promise<Uint8Array[]> {
  const pg = new PgoutputDecoder();
  pg.decode(pgoutput.relation());
  const w2j = new Wal2jsonDecoder();
  const w2jMessages = packed(rows.flatMap(messagesOf.wal2json));
  for (
    const [plugin, decode, messages] of [
      ["pgoutput", (p: Uint8Array) => pg.decode(p), packed(rows.flatMap(messagesOf.pgoutput))],
      ["wal2json", (p: Uint8Array) => w2j.decode(p), w2jMessages],
    ] as const
  ) {
    await run(decode, messages); // warm up
    console.log(`    ${plugin.padEnd(9)} ${(await run(decode, messages)).toFixed(2)} us per ${unit}   (${label})`);
  }
  return w2jMessages;
}

/**
 * wal2json's messages through V8's own JSON parser and nothing else: a floor for any decoder
 * written in JavaScript (this one cannot be used, as it reads numbers as doubles).
 */
function nativeParse(messages: readonly Uint8Array[]): number {
  const decoder = new TextDecoder();
  let columns = 0;
  const started = performance.now();
  for (let i = 0; i < CHANGES; i++) columns += JSON.parse(decoder.decode(messages[i % messages.length])).columns.length;
  if (columns !== CHANGES * COLUMNS.length) throw new Error(`parsed ${columns} columns of ${CHANGES} changes`);
  return (performance.now() - started) * 1000 / CHANGES;
}
