import assert from "node:assert/strict";
import { classifyItem } from "./classify.ts";

Deno.test("classifyItem() treats created, updated and version conflicts as done", () => {
  for (const status of [200, 201, 409]) assert.equal(classifyItem({ status }).kind, "ok");
});

Deno.test("classifyItem() retries overload, server errors and a read-only block", () => {
  assert.equal(
    classifyItem({ status: 429, error: { type: "es_rejected_execution_exception", reason: "queue full" } }).kind,
    "retry",
  );
  assert.equal(classifyItem({ status: 503, error: { type: "unavailable_shards_exception", reason: "x" } }).kind, "retry");
  assert.equal(classifyItem({ status: 403, error: { type: "cluster_block_exception", reason: "read-only" } }).kind, "retry");
});

Deno.test("classifyItem() refuses a document the mapping cannot take, with the reason", () => {
  const status = classifyItem({
    status: 400,
    error: { type: "document_parsing_exception", reason: "failed to parse", caused_by: { type: "x", reason: "y" } },
  });
  assert.deepEqual(status, { kind: "refused", reason: "400 document_parsing_exception: failed to parse (x: y)" });
});
