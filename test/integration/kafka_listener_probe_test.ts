/**
 * probeListener against the test broker's four listeners (one per security protocol), a peer that
 * speaks no Kafka, and a port nothing listens on.
 */
import assert from "node:assert/strict";
import { probeListener } from "../../src/sinks/kafka/listener_probe.ts";
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

Deno.test("probeListener: a peer that answers no Kafka, one that answers nothing, and no peer, are nobody's listener", async () => {
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
      assert.equal(await probeListener(`127.0.0.1:${server.addr.port}`, false, 500), null, `answer ${answer}`);
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
