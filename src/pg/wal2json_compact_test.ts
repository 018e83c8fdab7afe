/**
 * The compact fast path against the general path of the wal2json decoder: for records as wal2json
 * writes them, and for the same records reshaped (white space, other key orders, extra or
 * repeated keys, escapes, other number forms, nesting) or broken, both give the same event or
 * both a DecodeError. Records in wal2json's own form must take the fast path.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { jsonNumberLiteral } from "../../test/helpers/json_arbitraries.ts";
import { assertSamePaths, decodeWith } from "../../test/helpers/wal2json_paths.ts";
import { Wal2jsonDecoder } from "./wal2json.ts";
import { RecentStrings, scanCompactRecord } from "./wal2json_compact.ts";
import { RecordTemplates } from "./wal2json_template.ts";

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
  // Without "xid" as the engine asks for them (read by wal2json_transaction.ts), with it as other options give.
  fc.tuple(fc.constantFrom("B", "C"), lsn, lsn, fc.option(fc.nat())).map(([action, a, b, xid]) =>
    `{"action":"${action}",${
      xid === null ? "" : `"xid":${xid},`
    }"timestamp":"2026-11-30 20:00:00.123456+00","lsn":"${a}","nextlsn":"${b}"}`
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

/** A table's row records in wal2json's form: one shape, many rows (what templates are made for). */
const shape = fc.record({
  action: fc.constantFrom("I", "U", "D"),
  schema: text,
  table: text,
  columns: fc.array(fc.record({ name: text, typeOid, typed: fc.boolean() }), { minLength: 1, maxLength: 5 }),
  keyColumns: fc.integer({ min: 1, max: 2 }),
  // wal2json writes timestamp and lsn before the names; a record with them after is read alike.
  namesFirst: fc.boolean(),
});
type Shape = typeof shape extends fc.Arbitrary<infer T> ? T : never;

function rowRecord(s: Shape, values: readonly string[], at: string): string {
  const list = (columns: Shape["columns"], offset: number) =>
    `[${
      columns.map((c, i) =>
        `{"name":${JSON.stringify(c.name)},${c.typed ? '"type":"t",' : ""}"typeoid":${c.typeOid},"value":${
          values[(offset + i) % values.length]
        }}`
      ).join(",")
    }]`;
  const key = s.columns.slice(0, s.keyColumns);
  const position = `"timestamp":"2026-12-02 03:00:00.${at.length}+00","lsn":"${at}"`;
  const names = `"schema":${JSON.stringify(s.schema)},"table":${JSON.stringify(s.table)}`;
  return `{"action":"${s.action}",${s.namesFirst ? `${names},${position}` : `${position},${names}`}${
    s.action === "D" ? "" : `,"columns":${list(s.columns, 0)}`
  }${s.action === "I" ? "" : `,"identity":${list(key, s.columns.length)}`}}`;
}

Deno.test("wal2json compact path: rows of a few tables read by their shape decode as the general path decodes them", () => {
  const rows = fc.array(fc.tuple(fc.nat({ max: 2 }), fc.array(valueLiteral, { minLength: 1, maxLength: 12 }), lsn, fc.nat()), {
    minLength: 1,
    maxLength: 30,
  });
  fc.assert(
    fc.property(fc.array(shape, { minLength: 1, maxLength: 3 }), rows, (shapes, rows) => {
      const fast = new Wal2jsonDecoder();
      const general = new Wal2jsonDecoder({ compact: false });
      const [recent, templates] = [new RecentStrings(), new RecordTemplates()];
      for (const [which, values, at, edit] of rows) {
        let record = rowRecord(shapes[which % shapes.length], values, at);
        // Now and then the record is not quite of its shape: a template must not take it for one.
        if (edit % 5 === 4) {
          const spots = [...record.matchAll(/[{[,:]/g)].map((m) => m.index!);
          const i = spots[edit % spots.length] + 1;
          record = record.slice(0, i) + " " + record.slice(i);
        } else if (edit % 7 === 6) record = record.slice(0, edit % record.length);
        const bytes = encoder.encode(record);
        assert.deepEqual(decodeWith(fast, bytes), decodeWith(general, bytes), record);
        // Read by a template or whole, the same records are compact, with the same fields where
        // both have them (a template's read leaves out a row's timestamp and lsn).
        const byShape = scanCompactRecord(bytes, recent, templates)?.fields;
        const whole = scanCompactRecord(bytes, new RecentStrings())?.fields;
        assert.equal(byShape === undefined, whole === undefined, record);
        for (const key of ["action", "schema", "table"]) assert.equal(byShape?.[key], whole?.[key], record);
        for (const key of Object.keys(byShape ?? {})) assert.equal(byShape?.[key], whole?.[key], record);
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("wal2json compact path: a row of a shape seen before is read by its template, not whole", () => {
  const recent = new RecentStrings();
  const templates = new RecordTemplates();
  const table = { action: "U" as const, schema: "public", table: "items", keyColumns: 1, namesFirst: false };
  const columns = [{ name: "id", typeOid: 20, typed: false }, { name: "doc", typeOid: 3802, typed: false }];
  const record = (id: number, doc: string) =>
    encoder.encode(rowRecord({ ...table, columns }, [String(id), JSON.stringify(doc), String(id)], `0/${id}`));
  const first = scanCompactRecord(record(1, '{"a": 1}'), recent, templates);
  const learnt = templates.last;
  assert.ok(learnt !== null);
  for (let id = 2; id < 50; id++) {
    const bytes = record(id, id % 2 ? "plain" : '{"a": "\\n"}');
    const read = scanCompactRecord(bytes, recent, templates);
    assert.deepEqual(read?.lists.columns.names, ["id", "doc"]);
    const [start, end] = read!.lists.columns.spans;
    assert.equal(new TextDecoder().decode(bytes.subarray(start, end)), String(id));
    // No string is made of the fields no change event carries.
    assert.deepEqual(read?.fields, { action: "U", schema: "public", table: "items" });
  }
  // Read whole, a record would have left a template of its own.
  assert.equal(templates.last, learnt);
  assert.deepEqual(first?.lists.identity.names, ["id"]);
  // Another table: a template of its own; then the first table's is found again by its name.
  const other = (id: number) =>
    encoder.encode(rowRecord({ ...table, table: "other", columns }, [`${id}`, "null", `${id}`], "0/1"));
  scanCompactRecord(other(1), recent, templates);
  const otherLearnt = templates.last;
  assert.equal(templates.size, 2);
  assert.notEqual(otherLearnt, learnt);
  scanCompactRecord(record(60, "x"), recent, templates);
  assert.equal(templates.last, learnt);
  scanCompactRecord(other(2), recent, templates);
  assert.equal(templates.last, otherLearnt);
  assert.equal(templates.size, 2);
});

Deno.test("wal2json compact path: a row of a known shape whose timestamp or lsn is no valid JSON string is the general path's to refuse", () => {
  const recent = new RecentStrings();
  const templates = new RecordTemplates();
  const decoder = new Wal2jsonDecoder();
  const row = (timestamp: string, lsn = '"0/1"') =>
    encoder.encode(
      `{"action":"I","timestamp":${timestamp},"lsn":${lsn},"schema":"public","table":"t","columns":[{"name":"id","typeoid":20,"value":1}]}`,
    );
  const good = row('"2026-12-02 03:00:00+00"');
  assert.ok(scanCompactRecord(good, recent, templates) !== null);
  assert.ok(templates.last !== null);
  decoder.decode(good);
  const broken = [
    row('"2026-12-02 03:00:00\\q+00"'), // an escape JSON does not have
    row('"2026-12-02\t03:00:00+00"'), // a raw control character
    row('"2026-12-02 03:00:00+00"', '"0/\\u12"'),
    Uint8Array.from([...row('"2026-12-02 03:00:00+00"')].map((b, i, all) => i === all.indexOf(0x2b) ? 0xc3 : b)), // a lone UTF-8 lead byte
  ];
  for (const bytes of broken) {
    assert.equal(scanCompactRecord(bytes, recent, templates), null, new TextDecoder().decode(bytes));
    assert.deepEqual(decodeWith(decoder, bytes), { error: "DecodeError" });
    assertSamePaths(bytes);
  }
  // Valid escapes and text beyond ASCII are read and accepted, as the general path accepts them.
  for (const bytes of [row('"2026-12-02 03:00:00\\u002b00"'), row('"2026-12-02 03:00:00+00 été"')]) {
    assert.deepEqual(scanCompactRecord(bytes, recent, templates)?.fields, { action: "I", schema: "public", table: "t" });
    assertSamePaths(bytes);
  }
});
