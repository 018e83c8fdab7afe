import assert from "node:assert/strict";
import { judgeEncoding } from "./encoding.ts";

Deno.test("encoding: UTF8 is read by both plugins, other encodings by pgoutput only, SQL_ASCII with a warning", () => {
  for (const plugin of ["pgoutput", "wal2json"] as const) {
    assert.deepEqual(judgeEncoding("UTF8", plugin), { encoding: "UTF8" });
    const ascii = judgeEncoding("SQL_ASCII", plugin);
    assert.equal(ascii.error, undefined);
    assert.match(ascii.warning ?? "", /taken as UTF-8/);
  }
  for (const encoding of ["LATIN1", "WIN1252", "EUC_JP"]) {
    assert.deepEqual(judgeEncoding(encoding, "pgoutput"), { encoding });
    const refused = judgeEncoding(encoding, "wal2json");
    assert.equal(refused.error?.code, "source_misconfigured");
    assert.equal(refused.error?.retriable, false);
    assert.match(refused.error?.message ?? "", new RegExp(`encoded in ${encoding}: wal2json`));
    assert.match(refused.error?.fix ?? "", /"pgoutput"/);
  }
});
