import assert from "node:assert/strict";
import { canonicalJson, JsonNumber, JsonSyntaxError, parseExactJson } from "./exact_json.ts";

Deno.test("parseExactJson() keeps every digit of a bigint and a 39-digit numeric", () => {
  const value = parseExactJson('{"a": 9223372036854775807, "b": -123456789012345678901234567890.123456789}');
  assert.deepEqual(canonicalJson(value), '{"a":9223372036854775807,"b":-123456789012345678901234567890.123456789}');
});

Deno.test("parseExactJson() distinguishes 1.0 from 1 and -0 from 0", () => {
  assert.deepEqual(canonicalJson(parseExactJson("[1.0, 1, -0, 0, 1e400]")), "[1.0,1,-0,0,1e400]");
});

Deno.test("canonicalJson() sorts keys so key order does not matter", () => {
  assert.deepEqual(
    canonicalJson(parseExactJson('{"b": 1, "a": {"d": null, "c": true}}')),
    canonicalJson(parseExactJson('{"a":{"c":true,"d":null},"b":1}')),
  );
});

Deno.test("parseExactJson() decodes escapes and non-BMP characters", () => {
  const value = parseExactJson('"q\\"b\\\\n\\n\\u00e9\\ud83d\\ude00"');
  assert.deepEqual(value, 'q"b\\n\n\u00e9\u{1F600}');
});

Deno.test("parseExactJson() returns numbers as JsonNumber, not number", () => {
  const value = parseExactJson("[12]") as unknown[];
  assert.deepEqual(value[0] instanceof JsonNumber, true);
});

Deno.test("parseExactJson() rejects malformed JSON with a position", () => {
  for (const bad of ["", "{", '{"a" 1}', "[1,]", "01", "[1] x", '{"a":1,"a":2}', "nul"]) {
    assert.throws(() => parseExactJson(bad), JsonSyntaxError);
  }
});
