import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  apiVersionRange,
  kafkaRequest,
  mayBeListenerMismatch,
  metadataRequestBody,
  peerKind,
  protocolName,
} from "./listener_probe.ts";

Deno.test("kafkaRequest frames a request with header v1: size, api key, version, correlation id, client id, body", () => {
  const frame = kafkaRequest(3, 4, 77, Uint8Array.of(0, 0, 0, 0, 1));
  assert.equal(frame.readInt32BE(0), frame.length - 4);
  assert.equal(frame.readInt16BE(4), 3);
  assert.equal(frame.readInt16BE(6), 4);
  assert.equal(frame.readInt32BE(8), 77);
  const idLength = frame.readInt16BE(12);
  assert.equal(frame.subarray(14, 14 + idLength).toString(), "oesophagus-probe");
  assert.deepEqual([...frame.subarray(14 + idLength)], [0, 0, 0, 0, 1]);
});

/** An ApiVersions v0 response's body after the correlation id: error code, then [key, min, max] entries. */
function apiVersions(errorCode: number, entries: [number, number, number][]): Buffer {
  const body = Buffer.alloc(6 + 6 * entries.length);
  body.writeInt16BE(errorCode, 0);
  body.writeInt32BE(entries.length, 2);
  entries.forEach(([key, min, max], i) => {
    body.writeInt16BE(key, 6 + 6 * i);
    body.writeInt16BE(min, 8 + 6 * i);
    body.writeInt16BE(max, 10 + 6 * i);
  });
  return body;
}

Deno.test("apiVersionRange finds an API's versions in an ApiVersions response, and nothing in an error or a short one", () => {
  const body = apiVersions(0, [[0, 3, 11], [3, 4, 12], [18, 0, 4]]);
  assert.deepEqual(apiVersionRange(body, 3), [4, 12]);
  assert.deepEqual(apiVersionRange(body, 18), [0, 4]);
  assert.equal(apiVersionRange(body, 19), null);
  assert.equal(apiVersionRange(apiVersions(35, [[3, 0, 12]]), 3), null);
  // The count says three entries, the bytes hold one: the missing ones are not read.
  assert.equal(apiVersionRange(body.subarray(0, 12), 3), null);
  assert.equal(apiVersionRange(Buffer.alloc(3), 3), null);
});

Deno.test("metadataRequestBody asks for no topics in the version the broker takes, 1 to 8", () => {
  // Kafka 3: 0..12; Kafka 4 dropped 0..3.
  assert.deepEqual(metadataRequestBody(0, 12), { version: 4, body: new Uint8Array(5) });
  assert.deepEqual(metadataRequestBody(4, 13), { version: 4, body: new Uint8Array(5) });
  assert.deepEqual(metadataRequestBody(0, 2), { version: 2, body: new Uint8Array(4) });
  assert.deepEqual(metadataRequestBody(8, 12), { version: 8, body: new Uint8Array(7) });
  assert.equal(metadataRequestBody(9, 13), null);
  assert.equal(metadataRequestBody(0, 0), null);
});

Deno.test("protocolName gives Kafka's names of the four security protocols", () => {
  assert.deepEqual(
    [[false, false], [true, false], [false, true], [true, true]].map(([tls, sasl]) => protocolName({ tls, sasl })),
    ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
  );
});

Deno.test("mayBeListenerMismatch: connection failures and SASL handshakes refused, however wrapped; no other error", () => {
  const closed = Object.assign(new Error("Closed connection"), { name: "KafkaJSConnectionClosedError" });
  const tls = Object.assign(new Error("Connection error: Client network socket disconnected"), {
    name: "KafkaJSConnectionError",
  });
  const saslState = Object.assign(new Error("Request is not valid given the current SASL state"), {
    name: "KafkaJSProtocolError",
    type: "ILLEGAL_SASL_STATE",
  });
  const exhausted = Object.assign(new Error("retries exhausted"), { name: "KafkaJSNumberOfRetriesExceeded", cause: closed });
  assert.ok(mayBeListenerMismatch(closed));
  assert.ok(mayBeListenerMismatch(tls));
  assert.ok(mayBeListenerMismatch(saslState));
  assert.ok(mayBeListenerMismatch(exhausted));
  const timedOut = Object.assign(new Error("Request ApiVersions(key: 18, version: 2) timed out"), {
    name: "KafkaJSRequestTimeoutError",
  });
  assert.ok(mayBeListenerMismatch(timedOut));
  const authFailed = Object.assign(new Error("SASL SCRAM SHA512 authentication failed"), {
    name: "KafkaJSSASLAuthenticationError",
  });
  const tooLarge = Object.assign(new Error("too large"), { name: "KafkaJSProtocolError", type: "MESSAGE_TOO_LARGE" });
  assert.ok(!mayBeListenerMismatch(authFailed));
  assert.ok(!mayBeListenerMismatch(tooLarge));
  assert.ok(!mayBeListenerMismatch(new Error("anything")));
  assert.ok(!mayBeListenerMismatch(undefined));
});

Deno.test("peerKind tells an HTTP answer, PostgreSQL's ErrorResponse and a TLS alert from any other bytes", () => {
  assert.equal(peerKind(Buffer.from("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")), "an HTTP server");
  const fatal = "SFATAL\0VFATAL\0C0A000\0Munsupported frontend protocol 18.0: server supports 3.0 to 3.0\0\0";
  const errorResponse = Buffer.concat([Buffer.from("E"), Buffer.alloc(4), Buffer.from(fatal)]);
  errorResponse.writeInt32BE(errorResponse.length - 1, 1);
  assert.equal(peerKind(errorResponse), "a PostgreSQL server");
  assert.equal(peerKind(Buffer.from([21, 3, 3, 0, 2, 2, 40])), "a TLS server");
  assert.equal(peerKind(Buffer.from("-ERR unknown command\r\n")), "a server of another protocol");
  // "E" not framed as a message, or "HTTP" not followed by a version, is no such answer.
  assert.equal(peerKind(Buffer.from("Error: HTTP/x")), "a server of another protocol");
  assert.equal(peerKind(Buffer.from("HTTPS")), "a server of another protocol");
});
