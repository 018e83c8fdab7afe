/**
 * The byte converters against the string converters they stand in for: on any text (its UTF-8,
 * as a message holds it), one that answers writes exactly the string converter's output, within
 * `room`, and never answers where the string converter throws. And they do answer for the
 * shapes PostgreSQL prints most.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { PgType } from "../pg/catalog.ts";
import { DocWriter } from "./doc_writer.ts";
import { converterFor } from "./to_jsonb.ts";
import { byteConverterFor, room } from "./to_jsonb_bytes.ts";

const scalar = (name: string): PgType => ({ kind: "scalar", name, category: "X" });
const array = (element: PgType): PgType => ({ kind: "array", element });
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** What the byte converter writes for `text`'s UTF-8 (placed mid-buffer, between other bytes), or null when it declines. */
function viaBytes(type: PgType, text: string): string | null {
  const convert = byteConverterFor(type)!;
  const message = new TextEncoder().encode(`xx${text}yy`);
  const length = message.length - 4;
  const out = new DocWriter(4);
  out.ensure(3);
  out.byte(0x41);
  out.begin();
  out.ensure(room(length));
  if (!convert(message, 2, 2 + length, out)) return null;
  const written = out.end();
  assert.ok(written.length <= room(length), `${written.length} bytes written for ${length}`);
  return utf8.decode(written);
}

function viaString(type: PgType, text: string): string | Error {
  try {
    return converterFor(type)!(text);
  } catch (error) {
    return error as Error;
  }
}

const TYPES: Record<string, PgType> = {
  int8: scalar("int8"),
  numeric: scalar("numeric"),
  float8: scalar("float8"),
  bool: scalar("bool"),
  text: scalar("text"),
  timestamp: scalar("timestamp"),
  timestamptz: scalar("timestamptz"),
  jsonb: scalar("jsonb"),
  "int4[]": array(scalar("int4")),
  "text[]": array(scalar("text")),
  "bool[]": array(scalar("bool")),
  "float8[]": array(scalar("float8")),
  "timestamptz[]": array(scalar("timestamptz")),
  mood: { kind: "enum", name: "mood" },
};

/** ASCII text built from the characters these types' texts are made of, and the ones that break them. */
const pieces = fc.constantFrom(
  ...'0123456789-+.:eE ,{}"\\NULtfTBCa'.split(""),
  "NULL",
  "\n",
  "\t",
  "\u0001",
  "\u001f",
  "\u007f",
  "+00",
  "-05:30",
  "+05:21:10",
  " BC",
  "2024-02-29 ",
  "05:11:12.5",
  "infinity",
  "NaN",
  "e+100",
  "0.",
  // Text beyond ASCII: two, three and four bytes, a leading byte order mark, separators JSON leaves alone.
  "é",
  "☕",
  "😀",
  "\uFEFF",
  "\u2028",
  "\u00a0",
);
const anyText = fc.oneof(
  fc.array(pieces, { maxLength: 12 }).map((p) => p.join("")),
  fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
);

/** Texts as PostgreSQL's output functions print them. */
const offsets = fc.constantFrom("+00", "-03", "+05:30", "-09:30", "+05:21:10", "+14");
const timestamptz = fc.tuple(fc.date({ noInvalidDate: true }), offsets, fc.boolean()).map(([d, offset, bc]) =>
  `${d.toISOString().slice(0, 10).replace(/^[+-]0*/, "").padStart(4, "0")} ${d.toISOString().slice(11, 19)}${
    d.getUTCMilliseconds() ? `.${d.getUTCMilliseconds()}` : ""
  }${offset}${bc ? " BC" : ""}`
);
const printed: Record<string, fc.Arbitrary<string>> = {
  int8: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  numeric: fc.tuple(fc.bigInt(), fc.nat({ max: 20 })).map(([n, scale]) => {
    const digits = (n < 0n ? -n : n).toString().padStart(scale + 1, "0");
    return `${n < 0n ? "-" : ""}${scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits}`;
  }),
  float8: fc.double().map((x) => Object.is(x, -0) ? "-0" : String(x)),
  bool: fc.constantFrom("t", "f", "true", "false", "tru", "fals"),
  text: fc.string({ unit: "grapheme" }),
  timestamptz,
  "int4[]": fc.array(fc.oneof(fc.integer().map(String), fc.constant("NULL"))).map((a) => `{${a.join(",")}}`),
  "text[]": fc.array(fc.stringMatching(/^[a-z0-9_.-]{1,8}$/).filter((s) => s !== "null")).map((a) => `{${a.join(",")}}`),
};

Deno.test("byte converters write exactly what the string converters do, or decline", () => {
  for (const [name, type] of Object.entries(TYPES)) {
    const texts = printed[name] ? fc.oneof(anyText, printed[name]) : anyText;
    fc.assert(
      fc.property(texts, (text) => {
        const bytes = viaBytes(type, text);
        if (bytes === null) return;
        const string = viaString(type, text);
        assert.ok(
          !(string instanceof Error),
          `${name}: ${JSON.stringify(text)} written as ${bytes}, which the string converter refuses`,
        );
        assert.equal(bytes, string, `${name}: ${JSON.stringify(text)}`);
      }),
      { numRuns: 2000 },
    );
  }
});

Deno.test("byte converters answer for the texts PostgreSQL prints most, and leave the rest to strings", () => {
  const answered: [string, string, string][] = [
    ["int8", "-9223372036854775808", "-9223372036854775808"],
    ["numeric", "-123456789012345678901234567890.0100", "-123456789012345678901234567890.0100"],
    ["float8", "0.001", "0.001"],
    ["float8", "-2.5", "-2.5"],
    ["bool", "t", "true"],
    ["bool", "false", "false"],
    ["text", 'a "quoted" \\ line\nand\ttab\u0001', '"a \\"quoted\\" \\\\ line\\nand\\ttab\\u0001"'],
    ["timestamp", "2024-02-29 05:11:12.5", '"2024-02-29T05:11:12.5"'],
    ["timestamptz", "2020-01-01 00:02:03+00", '"2020-01-01T00:02:03+00:00"'],
    ["timestamptz", "1883-11-18 12:00:00+05:21:10", '"1883-11-18T12:00:00+05:21:10"'],
    ["jsonb", '{"k": 1, "v": "x"}', '{"k": 1, "v": "x"}'],
    ["text[]", "{t3,NULL,t4}", '["t3", null, "t4"]'],
    ["int4[]", "{}", "[]"],
    ["bool[]", "{t,f}", "[true, false]"],
    ["mood", "happy", '"happy"'],
  ];
  for (const [name, text, json] of answered) assert.equal(viaBytes(TYPES[name], text), json, `${name}: ${text}`);
  const declined: [string, string][] = [
    ["float8", "1e+100"],
    ["float8", "-0"],
    ["float8", "NaN"],
    ["numeric", "Infinity"],
    ["bool", "yes"],
    ["timestamp", "infinity"],
    ["timestamptz", "0044-03-15 05:11:12+00 BC"],
    ["text[]", '{"a b",c}'],
    ["int4[]", "{{1,2},{3,4}}"],
    ["int4[]", "[0:1]={1,2}"],
    ["int4[]", "{1,x}"],
  ];
  for (const [name, text] of declined) assert.equal(viaBytes(TYPES[name], text), null, `${name}: ${text}`);
  assert.equal(byteConverterFor(scalar("json")), null);
  assert.equal(byteConverterFor({ kind: "composite", name: "c", fields: [] }), null);
});
