/**
 * The socket under every postgres.js session to the source, with TLS negotiated here instead of
 * in postgres.js. Deno's node:tls reads its TCP socket on while the TLS socket is paused (its
 * TLSWrap keeps the decrypted bytes in memory instead), so a paused COPY or replication stream
 * drained the server into the heap: peak RSS 978 MB draining 600,000 wal2json changes, and
 * 301-334 MB in bench/snapshot against 209 MB without TLS. Owning the TLS socket, the engine
 * makes its pause and resume stop and start reads on the TCP handle under it, and the server is
 * held back by TCP as on a plain socket.
 */
import net from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { CONNECT_TIMEOUT_MS, connectionError, isUnreachable } from "./connect_errors.ts";
import { watchForForeignServer } from "./foreign_server.ts";
import type { SourceTls } from "./tls.ts";
import { describeHost, type HostPort } from "./url_hosts.ts";
import { SSL_REQUEST } from "./wire.ts";

/** The part of postgres.js's parsed options its `socket` option is called with. */
export interface SocketTarget {
  readonly host: readonly string[];
  readonly port: readonly number[];
  readonly path?: string | false;
}

interface TcpHandle {
  readStop(): number;
  readStart(): number;
}

/** False once a TLS socket came without a TCP handle to stop: its pauses then leave the server sending. */
let pauseStopsReads = true;

/** Whether every TLS socket so far holds the server back when paused (a later Deno may hide the handle). */
export function tlsPauseStopsReads(): boolean {
  return pauseStopsReads;
}

/**
 * postgres.js's `socket` option for a session with `ssl` (postgres.js itself is then given no
 * `ssl`). As libpq: the hosts in order (`hosts`, else the one postgres.js read from the URL), the
 * first that answers and completes TLS wins, and when none does, the failure names each;
 * TLS asked for unless on a Unix socket; the socket returned once TLS is up, so that a
 * certificate that does not verify fails here, where the next host can be tried.
 */
export function sourceSocket(
  ssl: SourceTls["ssl"],
  hosts?: readonly HostPort[],
): (target: SocketTarget) => Promise<net.Socket> {
  return async (target) => {
    const places: readonly ({ path: string } | HostPort)[] = target.path
      ? [{ path: target.path }]
      : hosts ?? target.host.map((host, i) => ({ host, port: target.port[i] }));
    const failures: { place: HostPort; error: unknown }[] = [];
    for (const place of places) {
      const raw = "path" in place ? net.connect(place.path) : net.connect(place.port, place.host);
      try {
        return await negotiate(raw, ssl, "host" in place ? place : null);
      } catch (error) {
        raw.destroy();
        if ("path" in place || places.length === 1) throw error;
        failures.push({ place, error });
      }
    }
    throw everyHostFailed(failures);
  };
}

/**
 * One error for a list of hosts that all failed, naming each host's failure. It takes the code
 * of the last host that answered at all (a certificate it showed, its refusal of TLS), which an
 * operator must fix, over that of a host that could not be reached.
 */
function everyHostFailed(failures: readonly { place: HostPort; error: unknown }[]): Error {
  if (failures.length === 0) return new Error("source.url names no host");
  const answered = failures.filter((f) => !isUnreachable(f.error));
  const { error } = answered.at(-1) ?? failures.at(-1)!;
  const each = failures.map((f) => `${describeHost(f.place)}: ${(f.error as Error)?.message ?? String(f.error)}`);
  return Object.assign(new Error(`no host of source.url could be used (${each.join("; ")})`), {
    code: (error as { code?: string })?.code,
    cause: error,
  });
}

async function negotiate(raw: net.Socket, ssl: SourceTls["ssl"], place: HostPort | null): Promise<net.Socket> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  const host = place?.host ?? null;
  // As in libpq, a Unix socket never carries TLS, whatever sslmode says.
  const accepted = await opened(raw, ssl !== false && place !== null, place);
  if (accepted === null) {
    // postgres.js writes its startup message next; a server that never answers it may name itself.
    if (place !== null) watchForForeignServer(raw, place, (error) => raw.destroy(error));
    return raw;
  }
  if (!accepted) {
    if (ssl === "prefer") return raw;
    throw connectionError("TLS_REFUSED", "the server does not accept TLS connections, and sslmode requires TLS");
  }
  const secure = tls.connect({
    socket: raw,
    servername: host && !net.isIP(host) ? host : undefined,
    ...(typeof ssl === "object" ? withHost(ssl, host!) : { rejectUnauthorized: false }),
  });
  // Errors of the TCP socket end the TLS one, which postgres.js listens to.
  raw.on("error", (error) => secure.destroy(error));
  holdBackOnPause(secure, raw);
  try {
    await handshake(secure, deadline - Date.now());
  } catch (error) {
    secure.destroy();
    throw error;
  }
  return secure;
}

/** Resolves when TLS is up; rejects with the reason it failed, or when it takes longer than `timeoutMs`. */
function handshake(secure: tls.TLSSocket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => settle(connectionError("CONNECT_TIMEOUT", `connect timeout after ${CONNECT_TIMEOUT_MS} ms (TLS handshake)`)),
      Math.max(0, timeoutMs),
    );
    const settle = (error?: Error) => {
      clearTimeout(timer);
      secure.removeListener("secureConnect", up);
      secure.removeListener("error", settle);
      secure.removeListener("close", closed);
      if (error) reject(error);
      else resolve();
    };
    const up = () => settle();
    const closed = () =>
      settle(connectionError("CONNECTION_CLOSED", "the server closed the connection during the TLS handshake"));
    secure.once("secureConnect", up);
    secure.once("error", settle);
    secure.once("close", closed);
  });
}

/**
 * How long a connection the server ended without a byte of answer fails the next one asked for.
 * postgres.js connects again at once, with no backoff and no end, when a connection closes during
 * its startup: a server that accepts and closes (another service on the port, a proxy or pooler
 * without its backend) had it reconnecting hundreds of times a second, its query never failing.
 * The reconnect comes within milliseconds; a later connection is tried afresh.
 */
const HUNG_UP_REMEMBERED_MS = 1_000;

/**
 * `factory` as postgres.js's `socket` option must be. A failure comes as a socket that errs and
 * closes, never as a rejection: postgres.js fails the query on a rejection too, but leaves that
 * connection "connecting" for good, so every later query of a pool whose connect failed once
 * (ECONNREFUSED while the server restarted, say) waited for ever. A socket that closes puts the
 * connection back among the closed ones, reconnected (with postgres.js's backoff) at the next
 * query. And a server that ends a connection without a byte of answer fails the reconnect that
 * postgres.js makes at once (see HUNG_UP_REMEMBERED_MS).
 */
export function driverSocket<T>(factory: (target: T) => Promise<net.Socket>): (target: T) => Promise<net.Socket> {
  let hungUpAt = -Infinity;
  return async (target) => {
    if (Date.now() - hungUpAt < HUNG_UP_REMEMBERED_MS) {
      hungUpAt = -Infinity;
      return failedSocket(connectionError(
        "STARTUP_UNANSWERED",
        "the server closed the connection without answering the startup message (PostgreSQL answers it, if only with an error)",
      ));
    }
    let socket: net.Socket;
    try {
      socket = await factory(target);
    } catch (error) {
      return failedSocket(error instanceof Error ? error : new Error(String(error)));
    }
    // postgres.js writes its startup message at once: an end before any answer is the server hanging up on it.
    let answered = false;
    socket.once("data", () => answered = true);
    socket.once("end", () => {
      if (!answered) hungUpAt = Date.now();
    });
    return socket;
  };
}

/**
 * A socket that takes writes and then errs with `error` and closes, once postgres.js, which
 * listens only after the socket option's promise settles, has its listeners on.
 */
function failedSocket(error: Error): net.Socket {
  const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
  setTimeout(() => socket.destroy(error), 0);
  return socket as unknown as net.Socket;
}

/** The identity check of `ssl` (verify-full) made against the host connected to, not one the driver guesses. */
function withHost(ssl: tls.ConnectionOptions, host: string): tls.ConnectionOptions {
  const check = ssl.checkServerIdentity;
  return check ? { ...ssl, checkServerIdentity: (_: string, cert: tls.PeerCertificate) => check(host, cert) } : ssl;
}

/**
 * Waits for the connection; with `askTls`, sends the SSLRequest and resolves true if the server
 * answers "S", false for "N" (and rejects at once if what answers at `place` names itself as
 * another kind of server); without, resolves null once connected.
 */
function opened(raw: net.Socket, askTls: boolean, place: HostPort | null): Promise<boolean | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(connectionError("CONNECT_TIMEOUT", `connect timeout after ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    let unwatch = () => {};
    const done = () => {
      clearTimeout(timer);
      unwatch();
      raw.removeListener("connect", connected);
      raw.removeListener("error", fail);
      raw.removeListener("close", closed);
      raw.removeListener("data", answer);
    };
    const fail = (error: Error) => {
      done();
      reject(error);
    };
    const closed = () => fail(connectionError("CONNECTION_CLOSED", "the server closed the connection"));
    const connected = () => {
      if (!askTls) {
        done();
        resolve(null);
      } else {
        raw.write(SSL_REQUEST);
        if (place !== null) unwatch = watchForForeignServer(raw, place, fail);
      }
    };
    const answer = (bytes: Uint8Array) => {
      done();
      // Anything after the one-byte answer would be read as if it came over TLS (CVE-2021-23222).
      if (bytes.length !== 1 || (bytes[0] !== 0x53 && bytes[0] !== 0x4e)) {
        const first = `0x${bytes[0].toString(16).padStart(2, "0")}`;
        reject(connectionError("EPROTO", `the server answered the SSLRequest with ${bytes.length} bytes, starting ${first}`));
      } else resolve(bytes[0] === 0x53);
    };
    raw.once("connect", connected);
    raw.once("error", fail);
    raw.once("close", closed);
    if (askTls) raw.once("data", answer);
  });
}

/** The TLS socket's pause also stops reads on the TCP handle; its resume starts them again. */
function holdBackOnPause(secure: tls.TLSSocket, raw: net.Socket): void {
  const handle = (): TcpHandle | null => {
    if (raw.destroyed) return null;
    const h = (raw as unknown as { _handle?: Partial<TcpHandle> | null })._handle;
    return typeof h?.readStop === "function" && typeof h.readStart === "function" ? h as TcpHandle : null;
  };
  if (handle() === null) {
    pauseStopsReads = false;
    return;
  }
  let stopped = false;
  const pause = secure.pause;
  const resume = secure.resume;
  secure.pause = function (this: tls.TLSSocket) {
    if (!stopped) {
      handle()?.readStop();
      stopped = true;
    }
    return pause.call(this);
  };
  // Only reads this pause stopped start again: a second readStart would start a second read loop.
  secure.resume = function (this: tls.TLSSocket) {
    if (stopped) {
      stopped = false;
      handle()?.readStart();
    }
    return resume.call(this);
  };
}
