/**
 * The scheme probe against the tests' Elasticsearch (plain HTTP), the same behind TLS, the node's
 * transport port, PostgreSQL's and Kafka's ports, and a port nothing listens on.
 */
import assert from "node:assert/strict";
import { otherServer, plainAnswer, speaksTls } from "../../src/sinks/elasticsearch/scheme_probe.ts";
import { transportAddress } from "../helpers/elasticsearch.ts";
import { services } from "../helpers/services.ts";
import { terminateWithTestCertificate } from "../helpers/tls_terminator.ts";

Deno.test("plainAnswer and speaksTls tell plain HTTP, TLS and Elasticsearch's transport port apart, and find nothing where nobody listens", async () => {
  const { esUrl, pgCaFile } = await services();
  await using terminator = terminateWithTestCertificate(esUrl, pgCaFile);
  const plain = new URL(esUrl);
  const secure = new URL(terminator.url);
  const transport = new URL(`http://${await transportAddress()}`);
  assert.match(await plainAnswer(plain.hostname, Number(plain.port), 3_000), /^HTTP\/1\.1 \d{3} /);
  assert.equal(await speaksTls(plain.hostname, Number(plain.port), 3_000), false);
  assert.equal(await speaksTls(secure.hostname, Number(secure.port), 3_000), true);
  assert.doesNotMatch(await plainAnswer(secure.hostname, Number(secure.port), 3_000), /^HTTP\//);
  assert.equal(await plainAnswer(transport.hostname, Number(transport.port), 3_000), "This is not an HTTP port");
  assert.equal(await speaksTls(transport.hostname, Number(transport.port), 3_000), false);
  const unused = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = unused.addr.port;
  unused.close();
  assert.equal(await plainAnswer("127.0.0.1", port, 1_000), "");
  assert.equal(await speaksTls("127.0.0.1", port, 1_000), false);
});

Deno.test("otherServer names PostgreSQL and a Kafka broker at their ports, and neither at Elasticsearch's or an unused one", async () => {
  const { esUrl, pgUrl, kafkaBrokers } = await services();
  const at = (url: string) => [new URL(url).hostname, Number(new URL(url).port)] as const;
  const [pgHost, pgPort] = at(pgUrl);
  const [kafkaHost, kafkaPort] = at(`kafka://${kafkaBrokers}`);
  const [esHost, esPort] = at(esUrl);
  const transport = at(`http://${await transportAddress()}`);
  assert.equal(await otherServer(pgHost, pgPort, 1_000), "PostgreSQL");
  assert.equal(await otherServer(kafkaHost, kafkaPort, 1_000), "a Kafka broker");
  assert.equal(await otherServer(esHost, esPort, 1_000), null);
  assert.equal(await otherServer(...transport, 1_000), null);
  const unused = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = unused.addr.port;
  unused.close();
  assert.equal(await otherServer("127.0.0.1", port, 1_000), null);
});
