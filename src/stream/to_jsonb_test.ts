import assert from "node:assert/strict";
import { arrayToJson, converterFor, float, jsonbKeyOrder } from "./to_jsonb.ts";

const scalar = (name: string) => ({ kind: "scalar" as const, name, category: "X" });

Deno.test("float() prints float text as numeric does: no exponent, NaN and infinities as strings", () => {
  const cases: [string, string][] = [
    ["0.1", "0.1"],
    ["-0", "0"],
    ["1e+100", "1" + "0".repeat(100)],
    ["1.5e-07", "0.00000015"],
    ["123.456", "123.456"],
    ["-2.5e+3", "-2500"],
    ["1.7976931348623157e+308", "17976931348623157" + "0".repeat(292)],
    ["5e-324", "0." + "0".repeat(323) + "5"],
    ["NaN", '"NaN"'],
    ["-Infinity", '"-Infinity"'],
  ];
  for (const [text, json] of cases) assert.equal(float(text), json, text);
  assert.throws(() => float("1,5"), /not a float/);
});

Deno.test("converterFor() renders timestamps in to_jsonb's ISO form", () => {
  const tz = converterFor(scalar("timestamptz"))!;
  assert.equal(tz("2024-02-29 05:11:12.123456+00"), '"2024-02-29T05:11:12.123456+00:00"');
  assert.equal(tz("0044-03-15 05:11:12+00 BC"), '"0044-03-15T05:11:12+00:00 BC"');
  assert.equal(tz("1883-11-18 12:00:00+05:21:10"), '"1883-11-18T12:00:00+05:21:10"');
  assert.equal(tz("infinity"), '"infinity"');
  const ts = converterFor(scalar("timestamp"))!;
  assert.equal(ts("4713-01-01 00:00:00 BC"), '"4713-01-01T00:00:00 BC"');
  assert.equal(converterFor(scalar("date"))!("0044-03-15 BC"), '"0044-03-15 BC"');
});

Deno.test("arrayToJson() reads flat unquoted arrays in one split, and leaves every other shape to the full reader", () => {
  const int = converterFor(scalar("int4"))!;
  const text = converterFor(scalar("text"))!;
  assert.equal(arrayToJson("{t1,t3}", text), '["t1", "t3"]');
  assert.equal(arrayToJson("{NULL,x,null}", text), '[null, "x", "null"]');
  assert.equal(arrayToJson("{-1}", int), "[-1]");
  assert.equal(arrayToJson("{1,2}", (v) => `<${v}>`), "[<1>, <2>]");
  // Malformed, with the full reader's error: an empty element, a brace inside, text after the end.
  assert.throws(() => arrayToJson("{1,,2}", int), /malformed array literal \(empty element\)/);
  assert.throws(() => arrayToJson("{a}b}", text), /malformed array literal/);
  assert.throws(() => arrayToJson("{a,b", text), /malformed array literal/);
  assert.throws(() => arrayToJson("{1,x}", int), /not a number/);
});

Deno.test("arrayToJson() handles nesting, NULLs, quoting and bounds", () => {
  const int = converterFor(scalar("int4"))!;
  const text = converterFor(scalar("text"))!;
  assert.equal(arrayToJson("{{1,NULL},{3,4}}", int), "[[1, null], [3, 4]]");
  assert.equal(arrayToJson('{"a b",NULL,"c\\"d","NULL",""}', text), '["a b", null, "c\\"d", "NULL", ""]');
  assert.equal(arrayToJson("[0:1]={1,2}", int), "[1, 2]");
  assert.equal(arrayToJson("{}", int), "[]");
  assert.throws(() => arrayToJson("{1,2", int), /malformed array literal/);
  assert.throws(() => arrayToJson("{x}", int), /not a number/);
});

Deno.test("converterFor() leaves json, composites and unknown types to PostgreSQL", () => {
  assert.equal(converterFor(scalar("json")), null);
  assert.equal(converterFor(scalar("hstore")), null);
  assert.equal(converterFor({ kind: "composite", name: "c", fields: [] }), null);
  assert.equal(converterFor({ kind: "array", element: scalar("json") }), null);
  assert.notEqual(converterFor({ kind: "array", element: scalar("jsonb") }), null);
});

Deno.test("jsonbKeyOrder() sorts shorter keys first, then by bytes", () => {
  assert.deepEqual(["bb", "a", "é", "ab", "B"].sort(jsonbKeyOrder), ["B", "a", "ab", "bb", "é"]);
});
