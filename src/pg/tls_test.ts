import assert from "node:assert/strict";
import { sourceTls } from "./tls.ts";

const noEnv = () => undefined;

Deno.test("sourceTls(): libpq's sslmode, default prefer, taken out of the URL", () => {
  assert.deepEqual(sourceTls("postgres://u@h/db", noEnv), { url: "postgres://u@h/db", mode: "prefer", ssl: "prefer" });
  assert.deepEqual(sourceTls("postgres://u@h/db?sslmode=disable&application_name=x"), {
    url: "postgres://u@h/db?application_name=x",
    mode: "disable",
    ssl: false,
  });
  assert.equal(sourceTls("postgres://u@h/db?sslmode=require").ssl, "require");
  assert.equal(sourceTls("postgres://u@h/db?sslmode=allow").ssl, "prefer");
});

Deno.test("sourceTls(): PGSSLMODE is the default, as in libpq; the URL wins over it", () => {
  const env = (name: string) => name === "PGSSLMODE" ? "disable" : undefined;
  assert.equal(sourceTls("postgres://u@h/db", env).ssl, false);
  assert.equal(sourceTls("postgres://u@h/db?sslmode=require", env).ssl, "require");
  assert.throws(() => sourceTls("postgres://u@h/db", () => "on"), /PGSSLMODE=on is not a PostgreSQL SSL mode/);
});

Deno.test("sourceTls(): verify modes read the root certificate and check the chain; only verify-full the host", async () => {
  const ca = await Deno.makeTempFile({ suffix: ".pem" });
  await Deno.writeTextFile(ca, "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n");
  try {
    for (const mode of ["verify-ca", "verify-full", "require"]) {
      const tls = sourceTls(`postgres://u@h/db?sslmode=${mode}&sslrootcert=${encodeURIComponent(ca)}`);
      assert.equal(tls.url, "postgres://u@h/db");
      assert.ok(typeof tls.ssl === "object");
      assert.equal(tls.ssl.rejectUnauthorized, true);
      assert.match(String(tls.ssl.ca), /BEGIN CERTIFICATE/);
      // A certificate for another host: only verify-full refuses it.
      const identity = tls.ssl.checkServerIdentity!(
        "h",
        { subject: { CN: "elsewhere" }, subjectaltname: "DNS:elsewhere" } as never,
      );
      assert.equal(identity instanceof Error, mode === "verify-full", mode);
      // The host checked is the one the socket connected to, passed in: here the certificate's.
      assert.equal(
        tls.ssl.checkServerIdentity!("elsewhere", { subject: { CN: "elsewhere" }, subjectaltname: "DNS:elsewhere" } as never),
        undefined,
      );
    }
  } finally {
    await Deno.remove(ca);
  }
  const system = sourceTls("postgres://u@h/db?sslmode=verify-full&sslrootcert=system");
  assert.ok(typeof system.ssl === "object" && system.ssl.ca === undefined && system.ssl.rejectUnauthorized === true);
});

Deno.test("sourceTls(): an unreadable certificate file or an unknown mode is a clear error", () => {
  assert.throws(
    () => sourceTls("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"),
    /sslrootcert \/nonexistent\/ca.pem cannot be read/,
  );
  assert.throws(() => sourceTls("postgres://u@h/db?sslmode=on"), /sslmode=on is not a PostgreSQL SSL mode/);
});

Deno.test("sourceTls(): a URL with several hosts has its TLS parameters read and taken out too", () => {
  const tls = sourceTls("postgres://u@db1:5432,db2:5433/app?application_name=x&sslmode=require", noEnv);
  assert.deepEqual(tls, { url: "postgres://u@db1:5432,db2:5433/app?application_name=x", mode: "require", ssl: "require" });
  assert.equal(sourceTls("postgres://u@db1:5432,db2:5433/app", () => "disable").ssl, false);
});

Deno.test("sourceTls(): postgres.js's own ssl parameter is refused: it would negotiate TLS a second time", () => {
  assert.throws(() => sourceTls("postgres://u@h/db?ssl=true", noEnv), /ssl=true is not a libpq parameter/);
});
