import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { guardDriverWriteAfterClose, isDriverWriteAfterClose } from "./driver_guard.ts";

/** The error as the driver throws it: from `nextWrite` in its connection.js, on a null socket. */
function driverError(file = "file:///app/node_modules/.deno/postgres@3.4.9/node_modules/postgres/src/connection.js"): TypeError {
  const error = new TypeError("Cannot read properties of null (reading 'write')");
  error.stack = `${error.name}: ${error.message}\n    at Immediate.nextWrite (${file}:255:22)\n    at processImmediate`;
  return error;
}

Deno.test("isDriverWriteAfterClose() knows the driver's throw and nothing else", () => {
  assert.equal(isDriverWriteAfterClose(driverError()), true);
  assert.equal(isDriverWriteAfterClose(driverError("C:\\app\\node_modules\\postgres\\src\\connection.js")), true);
  assert.equal(isDriverWriteAfterClose(driverError("file:///app/src/mine.js")), false);
  assert.equal(isDriverWriteAfterClose(new TypeError("Cannot read properties of null (reading 'write')")), false);
  const other = driverError();
  assert.equal(isDriverWriteAfterClose(Object.assign(new Error(other.message), { stack: other.stack })), false);
  assert.equal(isDriverWriteAfterClose("Cannot read properties of null (reading 'write')"), false);
});

Deno.test("guardDriverWriteAfterClose() stops the driver's uncaught throw, reports it, and lets the process go on", async () => {
  const stopped: Error[] = [];
  guardDriverWriteAfterClose((error) => stopped.push(error));
  const thrown = driverError();
  setImmediate(() => {
    throw thrown;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(stopped, [thrown]);
});
