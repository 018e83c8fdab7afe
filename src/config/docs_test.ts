import assert from "node:assert/strict";
import { renderConfigReference, withReference } from "./docs.ts";

Deno.test("the README's configuration reference is the one the schema renders (run `deno task docs`)", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  assert.equal(withReference(readme), readme);
});

Deno.test("renderConfigReference() lists nested keys with their defaults", () => {
  const reference = renderConfigReference();
  assert.match(reference, /\| `source\.url` \| string \| required \|/);
  assert.match(reference, /\| `tables\.<table>\.snapshot\.concurrency` \| integer 1\.\.64 \| `2` \|/);
  assert.match(reference, /\| `sinks\.<elasticsearch sink>\.batch\.maxDocs` \| integer 1\.\.100000 \| `2000` \|/);
  assert.match(reference, /\| `sinks\.<kafka sink>\.topicPrefix` \| string \| `"oesophagus\."` \|/);
});
