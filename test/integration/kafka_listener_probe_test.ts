/**
 * probeListener against the test broker's four listeners (one per security protocol), the other
 * services' ports, a peer that speaks no Kafka, and a port nothing listens on; withListenerCheck's
 * probe of brokers that leave a request unanswered.
 */
import assert from "node:assert/strict";
import type { KafkaSinkConfig } from "../../src/config/schema.ts";
import { OesophagusError } from "../../src/errors.ts";
import { probeListener, withListenerCheck } from "../../src/sinks/kafka/listener_probe.ts";
import { services } from "../helpers/services.ts";

Deno.test("probeListener tells each of the broker's listeners by what it takes, tried either way first", async () => {
  const { kafkaBrokers, kafkaSaslBrokers, kafkaTlsBrokers, kafkaSaslTlsBrokers } = await services();
  const expected = [
    [kafkaBrokers, { tls: false, sasl: false }],
    [kafkaSaslBrokers, { tls: false, sasl: true }],
    [kafkaTlsBrokers, { tls: true, sasl: false }],
    [kafkaSaslTlsBrokers, { tls: true, sasl: true }],
  ] as const;
  for (const [broker, kind] of expected) {
    for (const triedTls of [false, true]) {
      assert.deepEqual(await probeListener(broker, triedTls), kind, `${broker}, tried with TLS: ${triedTls}`);
    }
  }
});

Deno.test("probeListener: Elasticsearch's HTTP port and PostgreSQL's answer as what they are, tried either way first", async () => {
  const { esUrl, pgUrl } = await services();
  for (const triedTls of [false, true]) {
    assert.deepEqual(await probeListener(new URL(esUrl).host, triedTls), { tls: false, speaks: "an HTTP server" });
    assert.deepEqual(await probeListener(new URL(pgUrl).host, triedTls), { tls: false, speaks: "a PostgreSQL server" });
  }
});

Deno.test("probeListener: a peer that answers no Kafka is what it answers as; one that answers nothing, and no peer, are null", async () => {
  // Faults of our own: a server that answers every connection as an HTTP server would, and one that stays silent.
  for (const answer of ["HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n", null]) {
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const connections: Deno.Conn[] = [];
    const served = (async () => {
      for await (const connection of server) {
        connections.push(connection);
        if (answer) connection.write(new TextEncoder().encode(answer)).catch(() => {});
      }
    })();
    try {
      assert.deepEqual(
        await probeListener(`127.0.0.1:${server.addr.port}`, false, 500),
        answer ? { tls: false, speaks: "an HTTP server" } : null,
        `answer ${answer}`,
      );
    } finally {
      server.close();
      await served.catch(() => {});
      for (const connection of connections) {
        try {
          connection.close();
        } catch {
          // closed by the probe already
        }
      }
    }
  }
  const unused = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = unused.addr.port;
  unused.close();
  assert.equal(await probeListener(`127.0.0.1:${port}`, true, 500), null);
  assert.equal(await probeListener("not a broker", false, 500), null);
});

Deno.test("withListenerCheck: work left unanswered fails once the probe finds no Kafka listener, and goes on at a real one", async () => {
  const { esUrl, kafkaBrokers } = await services();
  const sink = (broker: string) => ({ brokers: [broker], tls: false }) as unknown as KafkaSinkConfig;
  const never = () => new Promise<never>(() => {});
  const started = Date.now();
  await assert.rejects(
    withListenerCheck("events", sink(new URL(esUrl).host), never, 200),
    (error: unknown) =>
      error instanceof OesophagusError && error.code === "sink_misconfigured" &&
      /is no Kafka listener: it answers as an HTTP server: no answer from the brokers within 0\.2 s/.test(error.message),
  );
  assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  // A broker that matches the sink: the probe finds nothing wrong, and slow work's result is returned.
  const slow = () => new Promise<string>((resolve) => setTimeout(() => resolve("answered"), 1_500));
  assert.equal(await withListenerCheck("events", sink(kafkaBrokers), slow, 200), "answered");
  // Work that settles first is never probed: its failure is its own.
  await assert.rejects(
    withListenerCheck("events", sink(new URL(esUrl).host), () => Promise.reject(new Error("own")), 200),
    /^Error: own$/,
  );
});
