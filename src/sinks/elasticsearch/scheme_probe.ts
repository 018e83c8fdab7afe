/**
 * Whether an Elasticsearch URL names the port and scheme its server speaks, asked of the server
 * when a connection fails. An https:// URL at a plain HTTP server fails with OpenSSL's "wrong
 * version number", an http:// URL at a TLS one with "socket hang up", and a URL with the transport
 * port (9300 by default, a common slip for 9200) with "Response does not match the HTTP/1.1
 * protocol": none says what to change, and all are connection errors a sink would retry for ever.
 * A URL at PostgreSQL's port or a Kafka broker's fails with "other side closed". The probe turns
 * them into the fix.
 */
import net from "node:net";
import tls from "node:tls";
import { errors } from "@elastic/elasticsearch";
import { causes, OesophagusError } from "../../errors.ts";
import { KAFKA_PEER, POSTGRES_PEER, whatListens } from "../kafka/listener_probe.ts";

const HTTP_ANSWER = /^HTTP\/\d/;
/** What Elasticsearch's transport port answers to an HTTP request. */
const TRANSPORT_ANSWER = "This is not an HTTP port";

/** What the server at host:port answers an HTTP request in the clear (its first bytes), within `timeoutMs`; "" for nothing. */
export function plainAnswer(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let answer = "";
    const socket = net.connect({ host, port }, () => {
      socket.write(`HEAD / HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    });
    const timer = setTimeout(finish, timeoutMs);
    function finish() {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    }
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      answer = (answer + chunk).slice(0, TRANSPORT_ANSWER.length);
      if (answer.length === TRANSPORT_ANSWER.length) finish();
    });
    socket.on("close", finish);
    socket.on("error", finish);
  });
}

/** Whether the server at host:port completes a TLS handshake (any certificate: only whether it speaks TLS matters). */
export function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      { host, port, servername: net.isIP(host) ? undefined : host, rejectUnauthorized: false },
      () => finish(true),
    );
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(secure: boolean) {
      clearTimeout(timer);
      socket.destroy();
      resolve(secure);
    }
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}

/**
 * What other server than Elasticsearch listens at host:port, as a phrase: PostgreSQL or a Kafka
 * broker, as the Kafka listener probe tells them (PostgreSQL answers its request with an error);
 * null if neither.
 */
export async function otherServer(host: string, port: number, timeoutMs: number): Promise<string | null> {
  const speaks = await whatListens(`${net.isIPv6(host) ? `[${host}]` : host}:${port}`, timeoutMs);
  if (speaks?.startsWith(KAFKA_PEER)) return KAFKA_PEER;
  return speaks === POSTGRES_PEER ? "PostgreSQL" : null;
}

/** The client's connection error, or one a classified error wraps as its cause. */
function connectionError(error: unknown): InstanceType<typeof errors.ConnectionError> | null {
  type Failed = InstanceType<typeof errors.ConnectionError>;
  return causes(error).find((e): e is Failed => e instanceof errors.ConnectionError) ?? null;
}

/**
 * For a request that failed with a connection error: an error naming the port or scheme to use
 * when the server at the sink's URL is Elasticsearch's transport port, speaks the other scheme,
 * or is PostgreSQL or a Kafka broker; null when it is none of these, or does not answer.
 */
export async function schemeMismatch(
  name: string,
  url: string,
  error: unknown,
  timeoutMs = 3_000,
): Promise<OesophagusError | null> {
  const failed = connectionError(error);
  if (!failed) return null;
  const parsed = new URL(url);
  const https = parsed.protocol === "https:";
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(parsed.port || (https ? 443 : 80));
  const at = `${parsed.hostname}:${port}`;
  const answer = await plainAnswer(host, port, timeoutMs);
  if (answer.startsWith(TRANSPORT_ANSWER)) {
    return new OesophagusError(
      "sink_misconfigured",
      `sink ${name}: sinks.${name}.url names Elasticsearch's transport port (${at}, which nodes talk to each other on), not its HTTP port: ${failed.message}`,
      {
        fix: `use the HTTP port in sinks.${name}.url (http.port, 9200 by default; the transport port is 9300 by default)`,
        cause: error,
      },
    );
  }
  if (https && HTTP_ANSWER.test(answer)) {
    return new OesophagusError(
      "sink_misconfigured",
      `sink ${name}: sinks.${name}.url is https://, and the server at ${at} answers plain HTTP: ${failed.message}`,
      {
        fix: `use http:// in sinks.${name}.url, or turn TLS on for Elasticsearch's HTTP layer (xpack.security.http.ssl)`,
        cause: error,
      },
    );
  }
  if (!https && await speaksTls(host, port, timeoutMs)) {
    return new OesophagusError(
      "sink_misconfigured",
      `sink ${name}: sinks.${name}.url is http://, and the server at ${at} takes TLS only: ${failed.message}`,
      { fix: `use https:// in sinks.${name}.url (and sinks.${name}.caFile for a private CA)`, cause: error },
    );
  }
  // PostgreSQL and Kafka close an HTTP request without a word, and answer a Kafka request at once
  // (a second each way: a peer that is silent, a stalled Elasticsearch say, is not held up longer).
  const other = answer === "" ? await otherServer(host, port, Math.min(timeoutMs, 1_000)) : null;
  if (other) {
    return new OesophagusError(
      "sink_misconfigured",
      `sink ${name}: sinks.${name}.url names ${at}, where ${other} listens, not Elasticsearch: ${failed.message}`,
      { fix: `use the host and HTTP port of Elasticsearch in sinks.${name}.url (http.port, 9200 by default)`, cause: error },
    );
  }
  return null;
}

/** Runs `work` (requests to Elasticsearch); a failure from the URL's scheme is thrown as that, any other as it is. */
export async function withSchemeCheck<T>(name: string, url: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw (await schemeMismatch(name, url, error)) ?? error;
  }
}
