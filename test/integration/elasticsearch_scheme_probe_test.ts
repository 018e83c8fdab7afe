/**
 * The scheme probe against the tests' Elasticsearch (plain HTTP), the same behind TLS, and a port
 * nothing listens on.
 */
import assert from "node:assert/strict";
import { answersPlainHttp, speaksTls } from "../../src/sinks/elasticsearch/scheme_probe.ts";
import { services } from "../helpers/services.ts";
import { terminateWithTestCertificate } from "../helpers/tls_terminator.ts";

Deno.test("answersPlainHttp and speaksTls tell a plain HTTP server from a TLS one, and find neither where nobody listens", async () => {
  const { esUrl, pgCaFile } = await services();
  await using terminator = terminateWithTestCertificate(esUrl, pgCaFile);
  const plain = new URL(esUrl);
  const secure = new URL(terminator.url);
  assert.equal(await answersPlainHttp(plain.hostname, Number(plain.port), 3_000), true);
  assert.equal(await speaksTls(plain.hostname, Number(plain.port), 3_000), false);
  assert.equal(await speaksTls(secure.hostname, Number(secure.port), 3_000), true);
  assert.equal(await answersPlainHttp(secure.hostname, Number(secure.port), 3_000), false);
  const unused = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = unused.addr.port;
  unused.close();
  assert.equal(await answersPlainHttp("127.0.0.1", port, 1_000), false);
  assert.equal(await speaksTls("127.0.0.1", port, 1_000), false);
});
