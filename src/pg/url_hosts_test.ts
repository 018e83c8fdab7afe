import assert from "node:assert/strict";
import { OesophagusError } from "../errors.ts";
import { describeHost, urlHosts } from "./url_hosts.ts";

const noEnv = () => undefined;

Deno.test("url hosts: one host is left to postgres.js", () => {
  assert.equal(urlHosts("postgres://u:p@db:5432/app?sslmode=require", noEnv), null);
  assert.equal(urlHosts("postgres://u@%2Fvar%2Frun%2Fpostgresql/app", noEnv), null);
  assert.equal(urlHosts("not a url", noEnv), null);
});

Deno.test("url hosts: several hosts in order, each with its port, else PGPORT's, else 5432", () => {
  assert.deepEqual(urlHosts("postgres://u:p%40ss@db1:6000,db2,[::1]:6002,[fe80::1]/app?x=a,b", noEnv), [
    { host: "db1", port: 6000 },
    { host: "db2", port: 5432 },
    { host: "::1", port: 6002 },
    { host: "fe80::1", port: 5432 },
  ]);
  assert.deepEqual(urlHosts("postgres://db1,db2:7000", (n) => n === "PGPORT" ? "6543" : undefined), [
    { host: "db1", port: 6543 },
    { host: "db2", port: 7000 },
  ]);
  assert.deepEqual(urlHosts("postgres:///app", (n) => n === "PGHOST" ? "db1,db2:7000" : undefined), [
    { host: "db1", port: 5432 },
    { host: "db2", port: 7000 },
  ]);
  assert.equal(urlHosts("postgres:///app", (n) => n === "PGHOST" ? "db1" : undefined), null);
  assert.deepEqual(["db1:1", "[::1]:2"], [describeHost({ host: "db1", port: 1 }), describeHost({ host: "::1", port: 2 })]);
});

Deno.test("url hosts: an empty host or a port that is not a number is refused, naming it", () => {
  for (const [url, bad] of [["postgres://u@db1,,db2/app", '""'], ["postgres://u@db1:x,db2/app", '"db1:x"']]) {
    assert.throws(() => urlHosts(url, noEnv), (error: unknown) => {
      assert.ok(error instanceof OesophagusError);
      assert.equal(error.code, "source_misconfigured");
      assert.ok(error.message.includes(bad), error.message);
      return true;
    });
  }
});
