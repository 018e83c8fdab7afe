/**
 * Backpressure for a replication stream over TLS. Deno's `node:tls` reads its TCP socket on
 * while the TLS socket is paused: its TLSWrap keeps the decrypted bytes in memory for later
 * instead of leaving them in the kernel, so a paused stream drained the walsender into the
 * engine's heap (peak RSS 1 GB for a backlog of 900,000 wal2json changes). Stopping reads on
 * the TCP handle underneath does hold the server back; this opens that socket for postgres.js
 * (its `socket` option), keeps it, and stops and starts its reads when the stream pauses and
 * resumes.
 */
import net from "node:net";

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

export class TlsBackpressure {
  #socket: net.Socket | null = null;
  #attempts = 0;
  #stopped = false;
  #encrypted = false;

  /**
   * For postgres.js's `socket` option: connects as postgres.js would (the next host of a list on
   * each attempt, or the Unix socket) and returns the socket still connecting, so that its
   * connect_timeout covers the TCP connect too.
   */
  readonly connect = (target: SocketTarget): net.Socket => {
    const socket = new net.Socket();
    if (target.path) socket.connect(target.path);
    else {
      const i = this.#attempts++ % target.host.length;
      socket.connect(target.port[i], target.host[i]);
      // postgres.js names the server to TLS (SNI) from this, as for a socket it opens itself.
      (socket as net.Socket & { host?: string }).host = target.host[i];
    }
    this.#socket = socket;
    this.#stopped = false;
    this.#encrypted = false;
    // The first byte is the answer to postgres.js's SSLRequest: "S" starts TLS on this socket. Any
    // other (no TLS, or no SSLRequest at all) leaves the socket to net.Socket's own reads, which
    // a readStop of ours would confuse.
    socket.once("data", (bytes: Uint8Array) => this.#encrypted = bytes[0] === 0x53);
    return socket;
  };

  /** Whether the stream's pause stops the server: with TLS, only if this runtime shows the TCP handle. */
  get holdsServer(): boolean {
    return !this.#encrypted || this.#handle() !== null;
  }

  pause(): void {
    if (this.#stopped) return;
    const handle = this.#handle();
    if (handle === null) return;
    handle.readStop();
    this.#stopped = true;
  }

  /** Starts reads again only if pause stopped them: a second readStart would start a second read loop. */
  resume(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#handle()?.readStart();
  }

  #handle(): TcpHandle | null {
    const socket = this.#socket;
    if (socket === null || socket.destroyed || !this.#encrypted) return null;
    const handle = (socket as unknown as { _handle?: Partial<TcpHandle> | null })._handle;
    return typeof handle?.readStop === "function" && typeof handle.readStart === "function" ? handle as TcpHandle : null;
  }
}
