import assert from "node:assert/strict";
import { explainConnectionError } from "./connect_errors.ts";

const URL = "postgres://engine@db.internal:5433/app";

/** An error as postgres.js makes it for a connection through a socket it did not open: no host or port known. */
function driverError(code: string): Error {
  return Object.assign(new Error(`write ${code} undefined:undefined`), { code, errno: code });
}

Deno.test("explainConnectionError: postgres.js's startup timeout through the engine's socket says what timed out, with the host from the URL", () => {
  const explained = explainConnectionError(driverError("CONNECT_TIMEOUT"), URL);
  assert.equal(explained.code, "source_unreachable");
  assert.ok(explained.retriable);
  assert.equal(
    explained.message,
    "cannot reach PostgreSQL at db.internal:5433/app: the server did not finish the startup within 15 s",
  );
  assert.match(explained.fix!, /name a PostgreSQL server/);
});

Deno.test("explainConnectionError: postgres.js's other connection errors lose only the host and port it did not know", () => {
  const explained = explainConnectionError(driverError("CONNECTION_CLOSED"), URL);
  assert.equal(explained.message, "cannot reach PostgreSQL at db.internal:5433/app: write CONNECTION_CLOSED");
  assert.match(explained.fix!, /check that the server runs/);
  // A message that names its host is kept whole.
  const named = Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5433"), { code: "ECONNREFUSED" });
  assert.equal(
    explainConnectionError(named, URL).message,
    "cannot reach PostgreSQL at db.internal:5433/app: connect ECONNREFUSED 10.0.0.5:5433",
  );
});
