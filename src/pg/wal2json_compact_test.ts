/**
 * The compact fast path against the general path of the wal2json decoder: for records as wal2json
 * writes them, and for the same records reshaped (white space, other key orders, extra or
 * repeated keys, escapes, other number forms, nesting) or broken, both give the same event or
 * both a DecodeError. Records in wal2json's own form must take the fast path.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { jsonNumberLiteral } from "../../test/helpers/json_arbitraries.ts";
import { type ChangeEvent, DecodeError, type RowImage } from "../stream/change.ts";
import { Wal2jsonDecoder } from "./wal2json.ts";
import { scanCompactRecord } from "./wal2json_compact.ts";

const encoder = new TextEncoder();

const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 10 }),
  // A leading byte order mark is a character of the text, not something to drop.
  fc.string({ unit: "grapheme", maxLength: 10 }).map((s) => `\uFEFF${s}`),
);
const valueLiteral = fc.oneof(
  jsonNumberLiteral,
  text.map((s) => JSON.stringify(s)),
  fc.constantFrom("null", "true", "false"),
);
/** Type OIDs as wal2json prints them, bytea's among them (its values gain a \x prefix). */
const typeOid = fc.oneof(fc.constantFrom(17, 20, 25, 1700, 3802), fc.integer({ min: 1, max: 0xffffffff }));
/** With `include-types` off (the engine's option) there is no "type"; with it on, there is. */
const columnObject = fc.record({ name: text, typeOid, value: valueLiteral, typed: fc.boolean() }).map((c) =>
  `{"name":${JSON.stringify(c.name)},${c.typed ? '"type":"t",' : ""}"typeoid":${c.typeOid},"value":${c.value}}`
);
const columnList = fc.array(columnObject, { maxLength: 6 }).map((cs) => `[${cs.join(",")}]`);
const lsn = fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })).map(([hi, lo]) =>
  `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`
);

/** Records in wal2json's own compact form, every action. */
const compactRecord = fc.oneof(
  fc.tuple(fc.constantFrom("B", "C"), lsn, lsn, fc.nat()).map(([action, a, b, xid]) =>
    `{"action":"${action}","xid":${xid},"timestamp":"2026-11-30 20:00:00.123456+00","lsn":"${a}","nextlsn":"${b}"}`
  ),
  fc.tuple(fc.constantFrom("I", "U", "D"), lsn, text, text, columnList, fc.option(columnList)).map((
    [action, at, schema, table, columns, identity],
  ) =>
    `{"action":"${action}","timestamp":"2026-11-30 20:00:00+00","lsn":"${at}","schema":${JSON.stringify(schema)},"table":${
      JSON.stringify(table)
    }${action === "D" ? "" : `,"columns":${columns}`}${
      identity === null && action !== "D" ? "" : `,"identity":${identity ?? "[]"}`
    }}`
  ),
  fc.tuple(text, text).map(([schema, table]) =>
    `{"action":"T","schema":${JSON.stringify(schema)},"table":${JSON.stringify(table)}}`
  ),
  fc.constant('{"action":"M","transactional":false,"prefix":"oesophagus","content":"x"}'),
);

type Outcome = ChangeEvent | null | { error: string };

/** Row images as plain objects: the compact path leaves ASCII values in the record (MessageRow) until asked. */
const plain = (image: RowImage | null) => image && { columns: image.columns, types: image.types, values: [...image.values] };

function decodeWith(decoder: Wal2jsonDecoder, bytes: Uint8Array): Outcome {
  try {
    const event = decoder.decode(bytes);
    return event?.kind === "row" ? { ...event, new: plain(event.new), old: plain(event.old) } : event;
  } catch (error) {
    if (error instanceof DecodeError) return { error: "DecodeError" };
    throw error;
  }
}

function assertSamePaths(bytes: Uint8Array): void {
  const fast = decodeWith(new Wal2jsonDecoder(), bytes);
  const general = decodeWith(new Wal2jsonDecoder({ compact: false }), bytes);
  assert.deepEqual(fast, general, new TextDecoder().decode(bytes));
}

Deno.test("wal2json compact path: wal2json's own records take it, and decode as the general path decodes them", () => {
  fc.assert(
    fc.property(compactRecord, (record) => {
      const bytes = encoder.encode(record);
      assert.ok(scanCompactRecord(bytes) !== null, `not read as compact: ${record}`);
      assertSamePaths(bytes);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("wal2json compact path: reshaped records decode as the general path decodes them, or fail there too", () => {
  const reshaped = fc.tuple(compactRecord, fc.array(fc.nat(), { maxLength: 4 }), fc.constantFrom(" ", "\n", "\t")).map((
    [record, at, space],
  ) => {
    // White space after structural characters, where JSON allows it.
    let out = record;
    for (const n of at) {
      const spots = [...out.matchAll(/[{[,:]/g)].map((m) => m.index!);
      if (spots.length === 0) break;
      const i = spots[n % spots.length] + 1;
      out = out.slice(0, i) + space + out.slice(i);
    }
    return out;
  });
  const edited = fc.tuple(
    compactRecord,
    fc.constantFrom<[RegExp, string]>(
      [/"typeoid":(\d+)/, '"typeoid":$1.0'],
      [/"typeoid":(\d+)/, '"typeoid":"$1"'],
      [/"typeoid":\d+/, '"typeoid":0'],
      [/"typeoid":\d+/, '"typeoid":4294967296'],
      [/"name":/, '"name":1,"nam\\u0065":'],
      [/"value":/, '"extra":{},"value":'],
      [/"value":[^,}]+/, '"value":[1]'],
      [/"value":[^,}]+/, '"value":{"a":1}'],
      [/,"value":[^,}]+/, ""],
      [/"action":"(\w)"/, '"action":"$1","action":"$1"'],
      [/"action"/, '"\\u0061ction"'],
      [/"schema":/, '"columns":"x","schema":'],
      [/"lsn":"/, '"lsn":"0/'],
      [/"lsn":"[^"]*"/, '"lsn":1'],
      [/\[/, "[ "],
      [/\{/, '{"nested":{"a":[1,2]},'],
      [/"table":"/, '"table":"\\"'],
      [/"schema":/, '"__proto__":null,"schema":'],
    ),
  ).map(([record, [pattern, replacement]]) => record.replace(pattern, replacement));
  fc.assert(fc.property(fc.oneof(reshaped, edited), (record) => assertSamePaths(encoder.encode(record))), { numRuns: 3000 });
});

Deno.test("wal2json compact path: records cut short or with a changed byte decode as the general path decodes them", () => {
  fc.assert(
    fc.property(compactRecord, fc.nat(), fc.integer({ min: 1, max: 255 }), (record, at, xor) => {
      const bytes = encoder.encode(record);
      assertSamePaths(bytes.subarray(0, at % bytes.length));
      const changed = bytes.slice();
      changed[at % changed.length] ^= xor;
      assertSamePaths(changed);
    }),
    { numRuns: 3000 },
  );
});
