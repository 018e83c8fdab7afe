import assert from "node:assert/strict";
import type { Lsn } from "../../pg/lsn.ts";
import { OesophagusError } from "../../errors.ts";
import { bulkActionPrefix } from "../../pg/snapshot_query.ts";
import type { BulkBatch } from "../../snapshot/row_batcher.ts";
import { changeMessages, truncateMessages } from "./change_messages.ts";
import { readConsumedEvent } from "./consumed_event.ts";

const decoder = new TextDecoder();
const destination = { topic: "cdc.a", table: "public.a" };

Deno.test("readConsumedEvent() reads back what the Kafka sink writes, the row's text exact", () => {
  const doc = '{"id": 1, "n": 123456789012345678901234567890.000000001, "k": {"z": 1, "a": [2]}}';
  const line = `${bulkActionPrefix("a", 18446744073709551615n)}"1"}}\n${doc}\n`;
  const batch: BulkBatch = { body: new TextEncoder().encode(line), offsets: new Uint32Array([0]), docs: 1 };
  const [{ messages: [message] }] = changeMessages(batch, () => destination);
  assert.deepEqual(readConsumedEvent(message.key, decoder.decode(message.value), "cdc.a/0@0"), {
    op: "r",
    id: "1",
    version: 18446744073709551615n as Lsn,
    after: doc,
  });
  const truncate = truncateMessages(destination, "a", 5n as Lsn, [0], false).messages[0];
  assert.deepEqual(readConsumedEvent(truncate.key, decoder.decode(truncate.value), "cdc.a/0@1"), {
    op: "t",
    id: null,
    version: 5n,
    after: null,
  });
});

Deno.test("readConsumedEvent() takes an envelope a stream processor rewrote: other order, spacing, line breaks", () => {
  const value =
    '{\n  "source": {"version": "42", "extra": true},\n  "after": {\n    "id": 7,\n    "s": "a\\nb"\n  },\n  "op": "u"\n}';
  assert.deepEqual(readConsumedEvent("7", value, "t/0@0"), {
    op: "u",
    id: "7",
    version: 42n,
    after: '{     "id": 7,     "s": "a\\nb"   }',
  });
  assert.deepEqual(readConsumedEvent('[1, "a"]', '{"op":"d","source":{"version":"9"}}', "t/0@1"), {
    op: "d",
    id: '[1, "a"]',
    version: 9n,
    after: null,
  });
});

Deno.test("readConsumedEvent() refuses what it cannot apply, naming where it is", () => {
  const cases: [string | null, RegExp][] = [
    [null, /no value/],
    ["{", /not a JSON object/],
    ['{"op":"u","after":{},"source":{"version":"1"}} x', /not a JSON object/],
    ['{"op":u,"after":{},"source":{"version":"1"}}', /op that is not JSON/],
    ["[1]", /not a JSON object/],
    ['{"op":"x","source":{"version":"1"}}', /has op "x"/],
    ['{"after":{},"source":{"version":"1"}}', /has op missing/],
    ['{"op":"u","after":{},"source":{"version":1}}', /source\.version/],
    ['{"op":"u","after":{},"source":{"version":"18446744073709551616"}}', /source\.version/],
    ['{"op":"u","after":{}}', /source\.version/],
    ['{"op":"c","after":null,"source":{"version":"1"}}', /c without a row/],
    ['{"op":"r","source":{"version":"1"}}', /r without a row/],
    ['{"op":"d","source":{"version":"1"}}', /d without a key/],
  ];
  for (const [value, reason] of cases) {
    const key = reason.source.includes("without a key") ? null : "1";
    assert.throws(() => readConsumedEvent(key, value, "cdc.a/2@17"), (error: unknown) => {
      assert.ok(error instanceof OesophagusError && error.code === "event_malformed", String(error));
      assert.match(error.message, /^the change event at cdc\.a\/2@17 /);
      assert.match(error.message, reason);
      return true;
    }, String(value));
  }
});
