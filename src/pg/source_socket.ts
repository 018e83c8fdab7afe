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
import tls from "node:tls";
import { CONNECT_TIMEOUT_MS, connectionError } from "./connect_errors.ts";
import type { SourceTls } from "./tls.ts";
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
 * `ssl`). As libpq: the hosts of the URL in order, the first that answers wins (postgres.js would
 * start each session at the next host instead, spreading a pool over a primary and a standby);
 * TLS asked for unless on a Unix socket; the TLS socket returned if the server agrees.
 */
export function sourceSocket(ssl: SourceTls["ssl"]): (target: SocketTarget) => Promise<net.Socket> {
  return async (target) => {
    const places = target.path ? [{ path: target.path }] : target.host.map((host, i) => ({ host, port: target.port[i] }));
    let failure: unknown = new Error("source.url names no host");
    for (const place of places) {
      const raw = "path" in place ? net.connect(place.path) : net.connect(place.port, place.host);
      try {
        return await negotiate(raw, ssl, "host" in place ? place.host : null);
      } catch (error) {
        raw.destroy();
        failure = error;
      }
    }
    throw failure;
  };
}

async function negotiate(raw: net.Socket, ssl: SourceTls["ssl"], host: string | null): Promise<net.Socket> {
  // As in libpq, a Unix socket never carries TLS, whatever sslmode says.
  const accepted = await opened(raw, ssl !== false && host !== null);
  if (accepted === null) return raw;
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
  return secure;
}

/** The identity check of `ssl` (verify-full) made against the host connected to, not one the driver guesses. */
function withHost(ssl: tls.ConnectionOptions, host: string): tls.ConnectionOptions {
  const check = ssl.checkServerIdentity;
  return check ? { ...ssl, checkServerIdentity: (_: string, cert: tls.PeerCertificate) => check(host, cert) } : ssl;
}

/**
 * Waits for the connection; with `askTls`, sends the SSLRequest and resolves true if the server
 * answers "S", false for "N"; without, resolves null once connected.
 */
function opened(raw: net.Socket, askTls: boolean): Promise<boolean | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(connectionError("CONNECT_TIMEOUT", `connect timeout after ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    const done = () => {
      clearTimeout(timer);
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
      } else raw.write(SSL_REQUEST);
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
