import assert from "node:assert/strict";
import { redact, registerSecret, registerUrlSecrets } from "./redact.ts";

Deno.test("redact() masks the password of any URL", () => {
  assert.equal(redact("connect postgres://app:hunter2@db:5432/x failed"), "connect postgres://app:***@db:5432/x failed");
});

Deno.test("redact() masks registered secrets wherever they appear", () => {
  registerUrlSecrets("postgres://app:p%40ss-canary-91@db/x");
  registerSecret("api-key-canary-17");
  assert.equal(redact("bad password p@ss-canary-91 and key api-key-canary-17"), "bad password *** and key ***");
});

Deno.test("redact() leaves a ${VAR} reference in a URL alone: it is advice, not a password", () => {
  assert.equal(redact("e.g. postgres://user:${PGPASSWORD}@host/db"), "e.g. postgres://user:${PGPASSWORD}@host/db");
  assert.equal(redact("postgres://user:${PG}x@host/db"), "postgres://user:***@host/db");
});

Deno.test("registerUrlSecrets() takes the password of a URL with several hosts, which the URL parser refuses", () => {
  const url = "postgres://app:multi-canary-53@db1:5432,db2:5433/x";
  assert.equal(URL.canParse(url), false);
  registerUrlSecrets(url);
  assert.equal(redact("bad password multi-canary-53"), "bad password ***");
  // No password, or an empty one: nothing to register, and nothing masked by accident.
  registerUrlSecrets("postgres://app@db1,db2/x");
  registerUrlSecrets("postgres://app:@db1,db2/x");
  assert.equal(redact("app db1 db2"), "app db1 db2");
});
