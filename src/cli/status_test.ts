import assert from "node:assert/strict";
import { humanBytes } from "./status.ts";

Deno.test("humanBytes(): exact bytes from PostgreSQL, shown in binary units", () => {
  assert.equal(humanBytes("0"), "0 B");
  assert.equal(humanBytes("1023"), "1023 B");
  assert.equal(humanBytes("1536"), "1.5 KiB");
  assert.equal(humanBytes(String(64 * 1024 ** 2)), "64.0 MiB");
  assert.equal(humanBytes("5497558138880"), "5.0 TiB");
  assert.equal(humanBytes(null), "-");
});
