/**
 * What a broker's listener speaks, asked of the listener itself when a connection to it fails.
 * A Kafka listener is one of four security protocols (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL),
 * and a client that assumes the wrong one gets no error from it: a TLS listener closes a
 * connection that sends no handshake, a plain one closes on a handshake, and a SASL listener closes
 * on a request before authentication. kafkajs reports "Closed connection" or "Connection error"
 * for each, which the sink would retry for ever; the probe turns them into the setting to change.
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import tls from "node:tls";
import type { KafkaSinkConfig } from "../../config/schema.ts";
import { OesophagusError } from "../../errors.ts";

/** What the listener took: TLS or not, and whether it wants SASL first (null: it answered no request that tells). */
export interface ListenerKind {
  readonly tls: boolean;
  readonly sasl: boolean | null;
}

/** The listener's security protocol as Kafka names it. */
export function protocolName(kind: { readonly tls: boolean; readonly sasl: boolean }): string {
  return kind.sasl ? (kind.tls ? "SASL_SSL" : "SASL_PLAINTEXT") : (kind.tls ? "SSL" : "PLAINTEXT");
}

const API_VERSIONS = 18;
const METADATA = 3;
const CLIENT_ID = Buffer.from("oesophagus-probe");
const RESPONSE_LIMIT = 1 << 20;

/** A request with header v1 (non-flexible): size, api key, version, correlation id, client id, body. */
export function kafkaRequest(apiKey: number, version: number, correlationId: number, body: Uint8Array): Buffer {
  const frame = Buffer.alloc(4 + 2 + 2 + 4 + 2 + CLIENT_ID.length + body.length);
  let at = frame.writeInt32BE(frame.length - 4, 0);
  at = frame.writeInt16BE(apiKey, at);
  at = frame.writeInt16BE(version, at);
  at = frame.writeInt32BE(correlationId, at);
  at = frame.writeInt16BE(CLIENT_ID.length, at);
  at += CLIENT_ID.copy(frame, at);
  frame.set(body, at);
  return frame;
}

/**
 * A Metadata request's body for no topics, in the first version of 1..8 the broker's ApiVersions
 * range takes (Kafka 4 dropped versions below 4); null if none of them.
 */
export function metadataRequestBody(min: number, max: number): { version: number; body: Uint8Array } | null {
  const version = Math.max(min, Math.min(max, 4));
  if (version < 1 || version > 8 || version > max) return null;
  // topics: an empty array (not null, which means all); v4+ allow_auto_topic_creation; v8 two more booleans.
  const body = new Uint8Array(4 + (version >= 4 ? 1 : 0) + (version >= 8 ? 2 : 0));
  return { version, body };
}

/** The [min, max] version of `apiKey` in an ApiVersions v0 response's body (after its correlation id), or null. */
export function apiVersionRange(body: Buffer, apiKey: number): [number, number] | null {
  if (body.length < 6 || body.readInt16BE(0) !== 0) return null;
  const count = body.readInt32BE(2);
  for (let i = 0, at = 6; i < count && at + 6 <= body.length; i++, at += 6) {
    if (body.readInt16BE(at) === apiKey) return [body.readInt16BE(at + 2), body.readInt16BE(at + 4)];
  }
  return null;
}

/** Reads whole responses (size-prefixed) off a socket, in order; null once it closes or errs. */
class Responses {
  #buffered = Buffer.alloc(0);
  #closed = false;
  #waiting: (() => void) | null = null;

  constructor(socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      this.#wake();
    });
    const close = () => {
      this.#closed = true;
      this.#wake();
    };
    socket.on("close", close);
    socket.on("error", close);
  }

  #wake() {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.();
  }

  /** The next response after its size: correlation id first. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      if (this.#buffered.length >= 4) {
        const size = this.#buffered.readInt32BE(0);
        // No answer to these requests is near a megabyte: the peer speaks something else (HTTP's "HTTP" is 1.2 GB).
        if (size < 4 || size > RESPONSE_LIMIT) return null;
        if (this.#buffered.length >= 4 + size) {
          const response = this.#buffered.subarray(4, 4 + size);
          this.#buffered = this.#buffered.subarray(4 + size);
          return response;
        }
      }
      if (this.#closed) return null;
      await new Promise<void>((resolve) => this.#waiting = resolve);
    }
  }
}

/** ApiVersions, then a Metadata request before any SASL: what the connection's listener is, or null if it speaks no Kafka. */
async function askKafka(socket: net.Socket, tls: boolean): Promise<ListenerKind | null> {
  const responses = new Responses(socket);
  socket.write(kafkaRequest(API_VERSIONS, 0, 1, new Uint8Array(0)));
  const versions = await responses.next();
  if (versions === null || versions.length < 4 || versions.readInt32BE(0) !== 1) return null;
  const range = apiVersionRange(versions.subarray(4), METADATA);
  const metadata = range && metadataRequestBody(range[0], range[1]);
  if (!metadata) return { tls, sasl: null };
  socket.write(kafkaRequest(METADATA, metadata.version, 2, metadata.body));
  const answer = await responses.next();
  // A SASL listener takes nothing but ApiVersions and the SASL handshake before authentication: it closes.
  if (answer === null) return { tls, sasl: true };
  return { tls, sasl: answer.length >= 4 && answer.readInt32BE(0) === 2 ? false : null };
}

/** `host:port` (an IPv6 host in brackets) as connect options. */
function endpoint(broker: string): { host: string; port: number } | null {
  const colon = broker.lastIndexOf(":");
  const port = Number(broker.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) return null;
  return { host: broker.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port };
}

/** One connection, plain or TLS (any certificate: only whether the listener speaks TLS matters), asked within `timeoutMs`. */
function probeOnce(broker: string, useTls: boolean, timeoutMs: number): Promise<ListenerKind | null> {
  const to = endpoint(broker);
  if (!to) return Promise.resolve(null);
  return new Promise((resolve) => {
    const ready = () => askKafka(socket, useTls).then(finish, () => finish(null));
    const socket = useTls
      ? tls.connect({ ...to, servername: net.isIP(to.host) ? undefined : to.host, rejectUnauthorized: false }, ready)
      : net.connect(to, ready);
    const timer = setTimeout(() => finish(null), timeoutMs);
    function finish(kind: ListenerKind | null) {
      clearTimeout(timer);
      socket.destroy();
      resolve(kind);
    }
    socket.on("error", () => finish(null));
  });
}

/** What `broker`'s listener speaks: tried as the sink connects first, then the other way; null if neither answers as Kafka. */
export async function probeListener(broker: string, triedTls: boolean, timeoutMs = 3_000): Promise<ListenerKind | null> {
  return await probeOnce(broker, triedTls, timeoutMs) ?? await probeOnce(broker, !triedTls, timeoutMs);
}

/**
 * Whether a kafkajs error (or one it wraps) may come from a listener of another security protocol:
 * a connection that failed or closed, or a SASL handshake the listener does not take.
 */
export function mayBeListenerMismatch(error: unknown): boolean {
  for (let e = error as { name?: string; type?: string; cause?: unknown } | undefined, depth = 0; e && depth < 8; depth++) {
    if (e.name === "KafkaJSConnectionError" || e.name === "KafkaJSConnectionClosedError") return true;
    if (e.type === "ILLEGAL_SASL_STATE" || e.type === "UNSUPPORTED_SASL_MECHANISM") return true;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * For a request to the brokers that failed as `mayBeListenerMismatch` says: the sink's settings that do not match what the
 * first broker that answers speaks, as an error that says which to change; null when they match
 * or no broker answers (then the failure is the network's or the broker's, and worth retrying).
 */
export async function listenerMismatch(
  name: string,
  config: KafkaSinkConfig,
  error: unknown,
): Promise<OesophagusError | null> {
  if (!mayBeListenerMismatch(error)) return null;
  const usesTls = config.tls || config.caFile !== undefined;
  const usesSasl = config.sasl !== undefined;
  for (const broker of config.brokers) {
    const kind = await probeListener(broker, usesTls);
    if (!kind) continue;
    const sasl = kind.sasl ?? usesSasl;
    if (kind.tls === usesTls && sasl === usesSasl) return null;
    const fixes: string[] = [];
    if (kind.tls && !usesTls) {
      fixes.push(
        `set sinks.${name}.tls to true (and sinks.${name}.caFile to the CA that signed the brokers' certificates, unless the system's CAs did)`,
      );
    }
    if (!kind.tls && usesTls) fixes.push(`remove sinks.${name}.tls and sinks.${name}.caFile`);
    if (sasl && !usesSasl) fixes.push(`set sinks.${name}.sasl (mechanism, username and password)`);
    if (!sasl && usesSasl) fixes.push(`remove sinks.${name}.sasl`);
    return new OesophagusError(
      "sink_misconfigured",
      `sink ${name}: the brokers' listener at ${broker} is ${
        protocolName({ tls: kind.tls, sasl })
      }, and the sink connects to it as ${protocolName({ tls: usesTls, sasl: usesSasl })}: ${(error as Error).message}`,
      {
        fix: `${fixes.join("; ")}; or, if the brokers have one, list their ${
          protocolName({ tls: usesTls, sasl: usesSasl })
        } listener in sinks.${name}.brokers`,
        cause: error,
      },
    );
  }
  return null;
}

/**
 * Runs `work` (requests to the brokers); a failure that is a mismatch with the brokers' listener is
 * thrown as that, any other as it is. A listener that wants SASL takes the connection and its first
 * request, so a client's connect can succeed and its first real request fail.
 */
export async function withListenerCheck<T>(name: string, config: KafkaSinkConfig, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw (await listenerMismatch(name, config, error)) ?? error;
  }
}
