/**
 * The wal2json decoder against records written as wal2json 2.5 writes them (format v2), and
 * against those records broken: numbers keep every digit, text keeps every character (also
 * text that looks like a number field), and a malformed record is a DecodeError.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { jsonNumberLiteral } from "../../test/helpers/json_arbitraries.ts";
import { type ChangeEvent, DecodeError } from "../stream/change.ts";
import { Wal2jsonDecoder } from "./wal2json.ts";

const encoder = new TextEncoder();

interface Column {
  readonly name: string;
  /** The value as wal2json prints it: a JSON literal. */
  readonly literal: string;
  /** What the decoder must hand on: PostgreSQL's text form, or null. */
  readonly text: string | null;
}

const record = (action: string, columns: readonly Column[], key = "columns") =>
  `{"action":"${action}","schema":"public","table":"t","${key}":[${
    columns.map((c) => `{"name":${JSON.stringify(c.name)},"type":"text","typeoid":25,"value":${c.literal}}`).join(",")
  }]}`;

const column: fc.Arbitrary<Column> = fc.oneof(
  jsonNumberLiteral.map((n) => ({ literal: n, text: n })),
  fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => ({ literal: JSON.stringify(s), text: s })),
  // A leading byte order mark is a character of the text, not something to drop.
  fc.string({ unit: "grapheme", maxLength: 10 }).map((s) => `\uFEFF${s}`).map((s) => ({ literal: JSON.stringify(s), text: s })),
  // Text that looks like what the decoder rewrites must stay as it was.
  jsonNumberLiteral.map((n) => `x","value":${n},"y`).map((s) => ({ literal: JSON.stringify(s), text: s })),
  fc.constant({ literal: "null", text: null }),
  fc.boolean().map((b) => ({ literal: String(b), text: String(b) })),
).chain((c) => fc.string({ unit: "grapheme", minLength: 1, maxLength: 10 }).map((name) => ({ ...c, name })));

function decodeOrDecodeError(payload: Uint8Array): ChangeEvent | null | DecodeError {
  try {
    return new Wal2jsonDecoder().decode(payload);
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw new Error(`not a DecodeError for ${new TextDecoder().decode(payload)}: ${error}`);
  }
}

Deno.test("wal2json: every value arrives as its exact text, numbers with every digit", () => {
  fc.assert(
    fc.property(fc.array(column, { minLength: 1, maxLength: 8 }), (columns) => {
      const event = new Wal2jsonDecoder().decode(encoder.encode(record("I", columns)));
      // (The image as a plain object: ASCII values stay in the record until asked for.)
      assert.deepEqual(
        event?.kind === "row" &&
          { ...event, new: event.new && { columns: event.new.columns, types: event.new.types, values: [...event.new.values] } },
        {
          kind: "row",
          op: "insert",
          schema: "public",
          table: "t",
          new: { columns: columns.map((c) => c.name), types: columns.map(() => 25), values: columns.map((c) => c.text) },
          old: null,
        },
      );
      const deleted = new Wal2jsonDecoder().decode(encoder.encode(record("D", columns, "identity")));
      assert.deepEqual(deleted?.kind === "row" && deleted.old?.values, columns.map((c) => c.text));
    }),
    { numRuns: 500 },
  );
});

Deno.test("wal2json: transaction records carry 64-bit LSNs and the commit time", () => {
  const decoder = new Wal2jsonDecoder();
  assert.deepEqual(decoder.decode(encoder.encode('{"action":"B","lsn":"FFFFFFFF/FFFFFF00","nextlsn":"FFFFFFFF/FFFFFF10"}')), {
    kind: "begin",
    commitLsn: 0xFFFF_FFFF_FFFF_FF00n,
    xid: 0,
    commitMicros: null,
  });
  // With include-xids and the time: both as the begin's, the time to the microsecond.
  assert.deepEqual(
    decoder.decode(
      encoder.encode(
        '{"action":"B","xid":4294967295,"timestamp":"2026-11-24 10:00:00.123456+00", "lsn":"0/16B3748","nextlsn":"0/16B3778"}',
      ),
    ),
    { kind: "begin", commitLsn: 0x16B3748n, xid: 0xffff_ffff, commitMicros: Date.UTC(2026, 10, 24, 10) * 1000 + 123_456 },
  );
  assert.throws(
    () => decoder.decode(encoder.encode('{"action":"B","xid":"7","lsn":"0/1","nextlsn":"0/2"}')),
    /record "B" has xid "7", not a transaction id/,
  );
  assert.deepEqual(
    decoder.decode(
      encoder.encode('{"action":"C","lsn":"0/16B3748","nextlsn":"0/16B3778","timestamp":"2026-11-24 10:00:00.123456+00"}'),
    ),
    { kind: "commit", commitLsn: 0x16B3748n, endLsn: 0x16B3778n, commitTime: Date.UTC(2026, 10, 24, 10, 0, 0, 123) },
  );
  // A time it cannot read is no time, not an error: it only feeds the lag gauge.
  const odd = decoder.decode(encoder.encode('{"action":"C","lsn":"0/1","nextlsn":"0/2","timestamp":"Tue Nov 24"}'));
  assert.equal(odd?.kind === "commit" && odd.commitTime, null);
  assert.throws(() => decoder.decode(encoder.encode('{"action":"C","lsn":"16B3748","nextlsn":"0/1"}')), /"lsn": not an LSN/);
});

Deno.test("wal2json: a record cut short, or with a broken number, is a DecodeError", () => {
  fc.assert(fc.property(fc.array(column, { minLength: 1, maxLength: 4 }), fc.nat(), (columns, at) => {
    const bytes = encoder.encode(record("U", columns));
    assert.ok(decodeOrDecodeError(bytes.subarray(0, at % bytes.length)) instanceof DecodeError);
  }));
  for (const broken of ["1-2", "01", "1.", ".5", "1e", "--1", "1.2.3", "0x10"]) {
    const bytes = encoder.encode(record("I", [{ name: "n", literal: broken, text: null }]));
    assert.ok(decodeOrDecodeError(bytes) instanceof DecodeError, `${broken} was taken as a number`);
  }
});

Deno.test("wal2json: random text and changed bytes are a DecodeError or a well-formed event", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (text) => {
      decodeOrDecodeError(encoder.encode(text));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.array(column, { minLength: 1, maxLength: 4 }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (columns, at, xor) => {
        const bytes = encoder.encode(record("I", columns));
        bytes[at % bytes.length] ^= xor;
        const event = decodeOrDecodeError(bytes);
        if (event instanceof DecodeError || event === null || event.kind !== "row") return;
        for (const v of event.new?.values ?? []) assert.ok(v === null || typeof v === "string");
        assert.equal(event.new?.columns.length, event.new?.values.length);
      },
    ),
    { numRuns: 1000 },
  );
});
