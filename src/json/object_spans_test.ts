import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson, parseExactJson } from "./exact_json.ts";
import { objectSpans, ObjectSpansError } from "./object_spans.ts";

Deno.test("objectSpans() gives each member's exact text, nested strings with braces and escapes included", () => {
  const text =
    ' { "op" : "u", "after":{"n": 12345678901234567890.5, "s": "}\\"]{", "a": [1, {"b": null}]} ,\n"x": -1e5, "e": {} } ';
  const spans = objectSpans(text);
  const at = (key: string) => text.slice(...spans.get(key)!);
  assert.deepEqual([...spans.keys()], ["op", "after", "x", "e"]);
  assert.equal(at("op"), '"u"');
  assert.equal(at("after"), '{"n": 12345678901234567890.5, "s": "}\\"]{", "a": [1, {"b": null}]}');
  assert.equal(at("x"), "-1e5");
  assert.equal(at("e"), "{}");
  assert.equal(objectSpans("{}").size, 0);
});

Deno.test("objectSpans() cuts any object into its members' texts (property)", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.constantFrom("", " ", "\n  "), (object, space) => {
      const text = JSON.stringify(object, null, space.length > 0 ? space : undefined);
      const spans = objectSpans(text);
      assert.deepEqual([...spans.keys()], Object.keys(object));
      for (const [key, [start, end]] of spans) {
        assert.equal(
          canonicalJson(parseExactJson(text.slice(start, end))),
          canonicalJson(parseExactJson(JSON.stringify(object[key]))),
        );
      }
    }),
  );
});

Deno.test("objectSpans() refuses what is not an object's structure, never running past the text", () => {
  const bad = [
    "",
    "[]",
    "{",
    '{"a"',
    '{"a":}',
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a":"x}',
    '{"a":[1}',
    '{"a":{"b":1]}',
    '{"a":1}x',
    "{a:1}",
  ];
  for (const text of bad) assert.throws(() => objectSpans(text), ObjectSpansError, JSON.stringify(text));
});
