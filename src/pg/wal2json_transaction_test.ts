/**
 * wal2json's begin and commit records read from their bytes against the decoder's general path:
 * records in the engine's form take the transaction path and give the same events, with every
 * bit of both LSNs, the transaction id and the commit time as Date.parse reads it; records in any other form, cut
 * short or with a changed byte, are left to the other paths and decode as the general one does.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { assertSamePaths } from "../../test/helpers/wal2json_paths.ts";
import { readTransactionRecord } from "./wal2json_transaction.ts";

const encoder = new TextEncoder();

const half = fc.nat({ max: 0xffffffff });
/** An LSN's high half: below 0x200000 the two halves join exactly as a number, above not; both often. */
const highHalf = fc.oneof(fc.nat({ max: 0x1fffff }), fc.constantFrom(0x1fffff, 0x200000, 0x3fffff), half);
const hex = (n: number) => n.toString(16).toUpperCase();
const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** Commit times as timestamptz prints them in UTC: any date of years 1000-9999, 0-6 fractional digits. */
const time = fc.record({
  year: fc.integer({ min: 1000, max: 9999 }),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.integer({ min: 1, max: 31 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
  second: fc.integer({ min: 0, max: 59 }),
  fraction: fc.stringMatching(/^[0-9]{0,6}$/),
}).map((t) =>
  `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)} ${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${
    t.fraction === "" ? "" : `.${t.fraction}`
  }+00`
);

const engineForm = fc.record({
  action: fc.constantFrom("B", "C"),
  // With include-xids (a sink of change events) and without.
  xid: fc.option(fc.integer({ min: 1, max: 0xffff_ffff })),
  time,
  lsn: fc.tuple(highHalf, half),
  next: fc.tuple(highHalf, half),
});
type Fields = typeof engineForm extends fc.Arbitrary<infer T> ? T : never;

const record = (r: Fields) =>
  `{"action":"${r.action}",${r.xid === null ? "" : `"xid":${r.xid},`}"timestamp":"${r.time}","lsn":"${hex(r.lsn[0])}/${
    hex(r.lsn[1])
  }","nextlsn":"${hex(r.next[0])}/${hex(r.next[1])}"}`;

const joined = ([high, low]: [number, number]) => (BigInt(high) << 32n) + BigInt(low);

Deno.test("wal2json transaction records in the engine's form take the transaction path and decode as the general path does", () => {
  fc.assert(
    fc.property(engineForm, (fields) => {
      const bytes = encoder.encode(record(fields));
      const read = readTransactionRecord(bytes);
      assert.ok(read !== null, `not read as a transaction record: ${record(fields)}`);
      assert.equal(read.commitLsn, joined(fields.lsn));
      assert.equal(read.endLsn, joined(fields.next));
      const [seconds, fraction = ""] = fields.time.replace(" ", "T").replace("+00", "").split(".");
      assert.equal(read.commitTime, Date.parse(`${fields.time.replace(" ", "T").replace("+00", "Z")}`));
      // Every printed digit, computed apart from the reader: whole seconds by Date.parse, the rest as text.
      const micros = BigInt(Date.parse(`${seconds}Z`)) * 1000n + BigInt(fraction.padEnd(6, "0"));
      const exact = micros >= BigInt(Number.MIN_SAFE_INTEGER) && micros <= BigInt(Number.MAX_SAFE_INTEGER);
      assert.equal(read.commitMicros === null ? null : BigInt(read.commitMicros), exact ? micros : null);
      assert.equal(read.xid, fields.xid);
      assertSamePaths(bytes);
    }),
    { numRuns: 3000 },
  );
  // The widest LSN: 64 bits, no digit lost.
  const widest = readTransactionRecord(
    encoder.encode('{"action":"C","timestamp":"2026-12-02 14:48:43.539181+00","lsn":"FFFFFFFF/FFFFFFFF","nextlsn":"1/0"}'),
  );
  assert.equal(widest?.commitLsn, 0xffff_ffff_ffff_ffffn);
  assert.equal(widest?.endLsn, 0x1_0000_0000n);
  // Either side of 2^53, where a number stops holding every integer: 2^54 - 1 is no double.
  const around = readTransactionRecord(
    encoder.encode(
      '{"action":"B","timestamp":"2026-12-02 14:48:43.539181+00","lsn":"1FFFFF/FFFFFFFF","nextlsn":"3FFFFF/FFFFFFFF"}',
    ),
  );
  assert.equal(around?.commitLsn, 0x1f_ffff_ffff_ffffn);
  assert.equal(around?.endLsn, 0x3f_ffff_ffff_ffffn);
});

Deno.test("wal2json transaction records in other forms are left to the other paths and decode as the general path does", () => {
  const begin = '{"action":"B","timestamp":"2026-12-02 14:48:43.539181+00","lsn":"0/E93C7C88","nextlsn":"0/E93C7CB8"}';
  const others = [
    begin.replace('"timestamp"', '"xid":0,"timestamp"'),
    begin.replace('"timestamp"', '"xid":0771,"timestamp"'),
    begin.replace('"timestamp"', '"xid":4294967296,"timestamp"'),
    begin.replace('"timestamp"', '"xid":-1,"timestamp"'),
    begin.replace('"timestamp"', '"xid":77.0,"timestamp"'),
    begin.replace('"timestamp"', '"xid":"771","timestamp"'),
    begin.replace('"timestamp"', '"xid":771 ,"timestamp"'),
    begin.replace('"lsn"', '"xid":771,"lsn"'),
    begin.replace('","lsn"', '", "lsn"'),
    begin.replace("E93C7C88", "e93c7c88"),
    begin.replace("0/E93C7C88", "100000000/0"),
    begin.replace("0/E93C7C88", "/E93C7C88"),
    begin.replace("0/E93C7C88", "0E93C7C88"),
    begin.replace("14:48:43", "24:00:00"),
    begin.replace("14:48:43", "23:59:60"),
    begin.replace("2026-12-02", "0999-12-02"),
    begin.replace("2026-12-02", "12026-12-02"),
    begin.replace("2026-12-02", "2026-13-02"),
    begin.replace(".539181", ".5391812"),
    begin.replace(".539181", "."),
    begin.replace("+00", "+01"),
    begin.replace("+00", "Z"),
    begin.replace('"}', '","extra":1}'),
    begin.replace('"nextlsn":"0/E93C7CB8"', '"nextlsn":null'),
    begin.replace('"action":"B"', '"action":"U"'),
    `${begin} `,
  ];
  for (const other of others) {
    const bytes = encoder.encode(other);
    assert.equal(readTransactionRecord(bytes), null, other);
    assertSamePaths(bytes);
  }
});

Deno.test("wal2json transaction records cut short or with a changed byte decode as the general path decodes them", () => {
  fc.assert(
    fc.property(engineForm, fc.nat(), fc.integer({ min: 1, max: 255 }), (fields, at, xor) => {
      const bytes = encoder.encode(record(fields));
      assertSamePaths(bytes.subarray(0, at % bytes.length));
      const changed = bytes.slice();
      changed[at % changed.length] ^= xor;
      assertSamePaths(changed);
    }),
    { numRuns: 5000 },
  );
});
