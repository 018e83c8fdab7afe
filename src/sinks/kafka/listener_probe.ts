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
import { causes, OesophagusError } from "../../errors.ts";

/** What the listener took: TLS or not, and whether it wants SASL first (null: it answered no request that tells). */
export interface ListenerKind {
  readonly tls: boolean;
  readonly sasl: boolean | null;
}

/** A peer that answered a Kafka request with something else: what it seems to be, e.g. "an HTTP server". */
export interface ForeignPeer {
  readonly tls: boolean;
  readonly speaks: string;
}

/** What a probe found at a broker's address: a Kafka listener, another server, or nothing that answered. */
export type ProbeAnswer = ListenerKind | ForeignPeer | null;

export function isForeign(answer: ProbeAnswer): answer is ForeignPeer {
  return answer !== null && "speaks" in answer;
}

/** The listener's security protocol as Kafka names it. */
export function protocolName(kind: { readonly tls: boolean; readonly sasl: boolean }): string {
  return kind.sasl ? (kind.tls ? "SASL_SSL" : "SASL_PLAINTEXT") : (kind.tls ? "SSL" : "PLAINTEXT");
}

const API_VERSIONS = 18;
const METADATA = 3;
const CLIENT_ID = Buffer.from("oesophagus-probe");
const RESPONSE_LIMIT = 1 << 20;
/** The first bytes a peer sent, kept to tell what it speaks. */
const HEARD_LIMIT = 512;
/**
 * An HTTP server waits for the end of a request line, which a Kafka request never has, and so
 * answers nothing (Elasticsearch's did not in 2 s). Line ends sent to a peer silent this long make
 * it answer 400; a Kafka listener answers ApiVersions within milliseconds, and is never sent them.
 */
const NUDGE_MS = 300;
const LINE_ENDS = "\r\n\r\n";

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
  /** The peer's first bytes, whatever they are. */
  heard = Buffer.alloc(0);

  constructor(socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.#buffered = Buffer.concat([this.#buffered, chunk]);
      if (this.heard.length < HEARD_LIMIT) this.heard = Buffer.concat([this.heard, chunk]).subarray(0, HEARD_LIMIT);
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

/**
 * ApiVersions, then a Metadata request before any SASL: what the connection's listener is; what
 * else the peer is if it answered no Kafka; null if it answered nothing.
 */
async function askKafka(socket: net.Socket, tls: boolean): Promise<ProbeAnswer> {
  const responses = new Responses(socket);
  socket.write(kafkaRequest(API_VERSIONS, 0, 1, new Uint8Array(0)));
  const nudge = setTimeout(() => {
    if (responses.heard.length === 0 && !socket.destroyed) socket.write(LINE_ENDS);
  }, NUDGE_MS);
  const versions = await responses.next();
  clearTimeout(nudge);
  if (versions === null || versions.length < 4 || versions.readInt32BE(0) !== 1) {
    return responses.heard.length > 0 ? { tls, speaks: peerKind(responses.heard) } : null;
  }
  const range = apiVersionRange(versions.subarray(4), METADATA);
  const metadata = range && metadataRequestBody(range[0], range[1]);
  if (!metadata) return { tls, sasl: null };
  socket.write(kafkaRequest(METADATA, metadata.version, 2, metadata.body));
  const answer = await responses.next();
  // A SASL listener takes nothing but ApiVersions and the SASL handshake before authentication: it closes.
  if (answer === null) return { tls, sasl: true };
  return { tls, sasl: answer.length >= 4 && answer.readInt32BE(0) === 2 ? false : null };
}

/** `peerKind` of PostgreSQL, which answers a Kafka request with an ErrorResponse. */
export const POSTGRES_PEER = "a PostgreSQL server";

/** What a peer that answered a Kafka request with `heard` seems to be. */
export function peerKind(heard: Buffer): string {
  const text = heard.toString("latin1");
  if (/^HTTP\/\d/.test(text)) return "an HTTP server";
  // PostgreSQL reads the request as a startup packet of an unknown protocol and answers an ErrorResponse.
  // Its framing: "E", a length, then the fields, the first of them the severity ("S").
  if (heard.length >= 6 && heard[0] === 0x45 && heard.readInt32BE(1) >= 4 && heard[5] === 0x53) return POSTGRES_PEER;
  // A TLS alert record (content type 21, version 3.x).
  if (heard.length >= 3 && heard[0] === 21 && heard[1] === 3) return "a TLS server";
  return "a server of another protocol";
}

/** `host:port` (an IPv6 host in brackets) as connect options. */
function endpoint(broker: string): { host: string; port: number } | null {
  const colon = broker.lastIndexOf(":");
  const port = Number(broker.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) return null;
  return { host: broker.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), port };
}

/** One connection, plain or TLS (any certificate: only whether the listener speaks TLS matters), asked within `timeoutMs`. */
function probeOnce(broker: string, useTls: boolean, timeoutMs: number): Promise<ProbeAnswer> {
  const to = endpoint(broker);
  if (!to) return Promise.resolve(null);
  return new Promise((resolve) => {
    const ready = () => askKafka(socket, useTls).then(finish, () => finish(null));
    const socket = useTls
      ? tls.connect({ ...to, servername: net.isIP(to.host) ? undefined : to.host, rejectUnauthorized: false }, ready)
      : net.connect(to, ready);
    const timer = setTimeout(() => finish(null), timeoutMs);
    function finish(kind: ProbeAnswer) {
      clearTimeout(timer);
      socket.destroy();
      resolve(kind);
    }
    socket.on("error", () => finish(null));
  });
}

/**
 * What `broker`'s listener speaks: tried as the sink connects first, then the other way. A Kafka
 * answer either way wins (a TLS listener may answer plain bytes with an alert); else what else
 * answered, or null if nothing did.
 */
export async function probeListener(broker: string, triedTls: boolean, timeoutMs = 3_000): Promise<ProbeAnswer> {
  const first = await probeOnce(broker, triedTls, timeoutMs);
  if (first && !isForeign(first)) return first;
  const second = await probeOnce(broker, !triedTls, timeoutMs);
  if (second && !isForeign(second)) return second;
  return first ?? second;
}

/** `whatListens` of a Kafka listener (" (TLS)" follows it for a TLS one). */
export const KAFKA_PEER = "a Kafka broker";

/**
 * What server listens at `address` (host:port), as a phrase: KAFKA_PEER, POSTGRES_PEER, "an HTTP
 * server" (with " over TLS" when it answered only so), ...; null if nothing answered. For the
 * other sides' probes of a URL that may name the wrong server (the source's, Elasticsearch's).
 */
export async function whatListens(address: string, timeoutMs: number): Promise<string | null> {
  const answer = await probeListener(address, false, timeoutMs).catch(() => null);
  if (answer === null) return null;
  if (!isForeign(answer)) return `${KAFKA_PEER}${answer.tls ? " (TLS)" : ""}`;
  return answer.speaks === POSTGRES_PEER ? POSTGRES_PEER : `${answer.speaks}${answer.tls ? " over TLS" : ""}`;
}

/** A kafkajs error of a connection that could not be made, or closed. */
export function isKafkaConnectionError(error: unknown): boolean {
  const { name } = error as { name?: string };
  return name === "KafkaJSConnectionError" || name === "KafkaJSConnectionClosedError";
}

/**
 * Whether a kafkajs error (or one it wraps) may come from a listener of another security protocol,
 * or from a server that is no Kafka listener: a connection that failed or closed, a request never
 * answered (an HTTP server waits for a line end), or a SASL handshake the listener does not take.
 */
export function mayBeListenerMismatch(error: unknown): boolean {
  return causes(error).some((e) => {
    const { name, type } = e as { name?: string; type?: string };
    return isKafkaConnectionError(e) || name === "KafkaJSRequestTimeoutError" || type === "ILLEGAL_SASL_STATE" ||
      type === "UNSUPPORTED_SASL_MECHANISM";
  });
}

/**
 * For a request to the brokers that failed as `mayBeListenerMismatch` says: the sink's settings that do not match what the
 * first broker that answers as Kafka speaks, as an error that says which to change; else, when a
 * listed broker is some other server (Elasticsearch's port, PostgreSQL's), that; null when the
 * settings match or no broker answers (then the failure is the network's or the broker's, and
 * worth retrying).
 */
export async function listenerMismatch(
  name: string,
  config: KafkaSinkConfig,
  error: unknown,
): Promise<OesophagusError | null> {
  return mayBeListenerMismatch(error) ? await probeBrokers(name, config, error) : null;
}

/** `listenerMismatch`'s probe of the sink's brokers, for a failure (or a silence) `error` describes. */
async function probeBrokers(name: string, config: KafkaSinkConfig, error: unknown): Promise<OesophagusError | null> {
  const usesTls = config.tls || config.caFile !== undefined;
  const usesSasl = config.sasl !== undefined;
  let foreign: OesophagusError | null = null;
  for (const broker of config.brokers) {
    const kind = await probeListener(broker, usesTls);
    if (!kind) continue;
    if (isForeign(kind)) {
      foreign ??= new OesophagusError(
        "sink_misconfigured",
        `sink ${name}: ${broker}, in sinks.${name}.brokers, is no Kafka listener: it answers as ${kind.speaks}${
          kind.tls ? " over TLS" : ""
        }: ${(error as Error).message}`,
        {
          fix:
            `list the brokers' own listeners in sinks.${name}.brokers (host:port as in the brokers' listeners setting, 9092 by default)`,
          cause: error,
        },
      );
      continue;
    }
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
  return foreign;
}

/**
 * How long `work` may go unanswered before the brokers are probed anyway. kafkajs retries a
 * request that times out (after `requestTimeoutMs`, 30 s by default) several times before it
 * fails, so a broker address where an HTTP server listens, which never answers, would be retried
 * for minutes before the sink heard of it.
 */
export const PROBE_AFTER_MS = 5_000;

/**
 * Runs `work` (requests to the brokers); a failure that is a mismatch with the brokers' listener is
 * thrown as that, any other as it is. A listener that wants SASL takes the connection and its first
 * request, so a client's connect can succeed and its first real request fail. If `work` has not
 * settled after `probeAfterMs`, the brokers are probed while it goes on, and a mismatch found
 * fails it then (the request left running is abandoned).
 */
export async function withListenerCheck<T>(
  name: string,
  config: KafkaSinkConfig,
  work: () => Promise<T>,
  probeAfterMs = PROBE_AFTER_MS,
): Promise<T> {
  const running = work();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silence = new Promise<OesophagusError>((resolve) => {
    timer = setTimeout(() => {
      const quiet = new Error(`no answer from the brokers within ${probeAfterMs / 1_000} s`);
      probeBrokers(name, config, quiet).then((mismatch) => mismatch && resolve(mismatch), () => {});
    }, probeAfterMs);
  });
  let settled: { value: T } | { mismatch: OesophagusError };
  try {
    settled = await Promise.race([running.then((value) => ({ value })), silence.then((mismatch) => ({ mismatch }))]);
  } catch (error) {
    throw (await listenerMismatch(name, config, error)) ?? error;
  } finally {
    clearTimeout(timer);
  }
  if ("value" in settled) return settled.value;
  running.catch(() => {});
  throw settled.mismatch;
}
