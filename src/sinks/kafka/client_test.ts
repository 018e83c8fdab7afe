import assert from "node:assert/strict";
import { classifyKafkaError } from "./client.ts";

/** A kafkajs connection error as it reaches the sink: wrapped once retries ran out. */
function connectionError(broker: string) {
  const failed = Object.assign(new Error(`Connection error: connect ECONNREFUSED ${broker}`), {
    name: "KafkaJSConnectionError",
    retriable: true,
    broker,
  });
  return Object.assign(new Error(failed.message), { name: "KafkaJSNumberOfRetriesExceeded", retriable: false, cause: failed });
}

Deno.test("classifyKafkaError: a broker none of the sink's brokers names is the cluster's advertised address, retried with that fix", () => {
  const advertised = classifyKafkaError(connectionError("kafka-1.internal:9092"), "events", ["127.0.0.1:9092"]);
  assert.equal(advertised.code, "sink_unreachable");
  assert.ok(advertised.retriable);
  assert.match(
    advertised.message,
    /broker kafka-1\.internal:9092, as the cluster's metadata lists it \(its advertised\.listeners\)/,
  );
  assert.match(advertised.fix!, /set its advertised\.listeners to an address this machine can reach/);

  const seed = classifyKafkaError(connectionError("127.0.0.1:9092"), "events", ["127.0.0.1:9092"]);
  assert.equal(seed.code, "sink_unreachable");
  assert.ok(seed.retriable);
  assert.doesNotMatch(seed.message, /advertised/);
  assert.match(seed.fix!, /check that the brokers in the sink's `brokers` run and are reachable/);
});
