/**
 * The replication stream over a plain TCP socket of Deno's own, when the connection is not
 * encrypted (sslmode=disable, or prefer/allow and a server without TLS). postgres.js hands each
 * CopyData message through Node's stream machinery and reads the socket as fast as the walsender
 * writes, one small read per message: about 3 µs of CPU per message, as much as the rest of the
 * engine. Here the socket is read in large chunks (a small read waits a millisecond for more)
 * and messages are cut out of them in one loop: measured 54 ms instead of 1,002 ms of CPU for
 * 300,000 messages. Encrypted connections keep postgres.js (Deno's TLS cannot leave a
 * certificate unverified, which prefer and require need, nor present a client certificate).
 */
import type { CopyBothHandlers, CopyBothStream } from "./replication_stream.ts";
import { settleWithin } from "../settle_within.ts";
import { CONNECT_TIMEOUT_MS, connectionError } from "./connect_errors.ts";
import { SCRAM_SHA_256, ScramClient } from "./scram.ts";
import { sourceTls } from "./tls.ts";
import {
  type BackendMessage,
  BackendMessages,
  copyData,
  errorFields,
  int32,
  passwordMessage,
  ProtocolError,
  queryMessage,
  saslInitialResponse,
  saslResponse,
  ServerError,
  SSL_REQUEST,
  startupMessage,
  TERMINATE,
  text,
} from "./wire.ts";
import { createHash } from "node:crypto";

const READ_BYTES = 256 * 1024;
/** A read shorter than this waits a moment before the next, so the next one finds more. */
const SMALL_READ_BYTES = 32 * 1024;
const COALESCE_MS = 1;

export interface PlainTarget {
  readonly hostname: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | null;
  readonly database: string;
  /** Whether to ask for TLS first (prefer, allow) and give up on a plain socket if the server has it. */
  readonly askTls: boolean;
}

/**
 * Where a plain socket can serve `url`, or null when postgres.js must: TLS required or verified,
 * client certificates, several hosts, Unix sockets, or other URL parameters the driver handles.
 */
export function plainTarget(url: string, env: (name: string) => string | undefined = (n) => Deno.env.get(n)): PlainTarget | null {
  const tls = sourceTls(url);
  if (tls.mode !== "disable" && tls.mode !== "prefer" && tls.mode !== "allow") return null;
  if (typeof tls.ssl === "object") return null;
  let parsed: URL;
  try {
    parsed = new URL(tls.url);
  } catch {
    return null;
  }
  if (!["postgres:", "postgresql:"].includes(parsed.protocol) || !parsed.hostname || parsed.hostname.includes(",")) return null;
  if ([...parsed.searchParams.keys()].length > 0) return null;
  const user = decodeURIComponent(parsed.username) || env("PGUSER") || env("PGUSERNAME") || env("USER");
  if (!user) return null;
  return {
    hostname: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: Number(parsed.port || env("PGPORT") || 5432),
    user,
    password: parsed.password ? decodeURIComponent(parsed.password) : env("PGPASSWORD") ?? null,
    database: decodeURIComponent(parsed.pathname.slice(1)) || env("PGDATABASE") || user,
    askTls: tls.mode !== "disable",
  };
}

/**
 * A walsender session on a plain socket, authenticated and idle; null if the server answered
 * the SSLRequest with yes (the caller then connects with TLS through postgres.js).
 */
export async function connectPlainReplication(
  target: PlainTarget,
  parameters: Readonly<Record<string, string>>,
): Promise<PlainReplication | null> {
  const timeout = AbortSignal.timeout(CONNECT_TIMEOUT_MS);
  const conn = await Deno.connect({ hostname: target.hostname, port: target.port, signal: timeout }).catch((error) => {
    throw timeout.aborted ? connectionError("CONNECT_TIMEOUT", `connect timeout after ${CONNECT_TIMEOUT_MS} ms`) : error;
  });
  const session = new PlainReplication(conn);
  const timer = setTimeout(
    () => session.abort(connectionError("CONNECT_TIMEOUT", "the server did not finish the startup")),
    CONNECT_TIMEOUT_MS,
  );
  try {
    conn.setNoDelay(true);
    if (target.askTls) {
      await session.send(SSL_REQUEST);
      const answer = await session.readByte();
      if (answer === 0x53) {
        session.close();
        return null;
      }
      if (answer !== 0x4e) throw new ProtocolError(`the server answered the SSLRequest with 0x${answer.toString(16)}`);
    }
    await session.startup(target, parameters);
    return session;
  } catch (error) {
    session.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

export class PlainReplication implements CopyBothStream {
  readonly #conn: Deno.TcpConn;
  readonly #messages = new BackendMessages();
  #queue: BackendMessage[] = [];
  #head = 0;
  #closed = false;
  #failure: Error | null = null;
  #paused = false;
  #resume: (() => void) | null = null;
  #writing: Promise<void> = Promise.resolve();
  #handlers: CopyBothHandlers | null = null;
  /** Reused for every read; what was read is copied out at its exact length. */
  readonly #readBuffer = new Uint8Array(READ_BYTES);

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  async send(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  async #read(): Promise<Uint8Array> {
    if (this.#failure) throw this.#failure;
    let n: number | null;
    try {
      n = await this.#conn.read(this.#readBuffer);
    } catch (error) {
      throw this.#failure ?? error;
    }
    if (n === null) throw this.#failure ?? connectionError("CONNECTION_CLOSED", "the server closed the replication connection");
    return this.#readBuffer.slice(0, n);
  }

  /** One byte outside the message framing: the answer to an SSLRequest. */
  async readByte(): Promise<number> {
    const bytes = await this.#read();
    if (bytes.length !== 1) throw new ProtocolError(`the server answered the SSLRequest with ${bytes.length} bytes`);
    return bytes[0];
  }

  async #next(): Promise<BackendMessage> {
    while (this.#head >= this.#queue.length) {
      this.#queue = this.#messages.push(await this.#read());
      this.#head = 0;
    }
    return this.#queue[this.#head++];
  }

  /** Startup and authentication, up to ReadyForQuery. */
  async startup(target: PlainTarget, parameters: Readonly<Record<string, string>>): Promise<void> {
    await this.send(startupMessage({ user: target.user, database: target.database, ...parameters }));
    let scram: ScramClient | null = null;
    const password = () => {
      if (target.password === null) {
        throw new ServerError(new Map([["C", "28P01"], ["M", "the server asks for a password and source.url has none"]]));
      }
      return target.password;
    };
    for (;;) {
      const message = await this.#next();
      switch (message.type) {
        case "R": {
          const kind = int32(message.body);
          if (kind === 0) continue; // AuthenticationOk
          if (kind === 3) await this.send(passwordMessage(password()));
          else if (kind === 5) {
            const inner = createHash("md5").update(password() + target.user).digest("hex");
            const outer = createHash("md5").update(inner).update(message.body.subarray(4, 8)).digest("hex");
            await this.send(passwordMessage(`md5${outer}`));
          } else if (kind === 10) {
            const mechanisms = text(message.body.subarray(4)).split("\0");
            if (!mechanisms.includes(SCRAM_SHA_256)) {
              throw new ProtocolError(`the server offers only ${mechanisms.filter(Boolean).join(", ")} for authentication`);
            }
            scram = new ScramClient(password());
            await this.send(saslInitialResponse(SCRAM_SHA_256, scram.first()));
          } else if (kind === 11 && scram) await this.send(saslResponse(scram.final(text(message.body.subarray(4)))));
          else if (kind === 12 && scram) {
            if (!scram.verify(text(message.body.subarray(4)))) {
              throw new ProtocolError("the server's SCRAM signature is wrong: it does not know the password");
            }
          } else throw new ProtocolError(`authentication method ${kind} is not supported on a plain connection`);
          continue;
        }
        case "E":
          throw new ServerError(errorFields(message.body));
        case "Z":
          return;
        default:
          continue; // ParameterStatus, BackendKeyData, NoticeResponse
      }
    }
  }

  /** Sends a command that answers with CopyBothResponse (START_REPLICATION). */
  async startCopyBoth(command: string): Promise<void> {
    await this.send(queryMessage(command));
    for (;;) {
      const message = await this.#next();
      if (message.type === "W") return;
      if (message.type === "E") {
        const error = new ServerError(errorFields(message.body));
        this.close();
        throw error;
      }
      if (message.type === "Z") {
        this.close();
        throw new ProtocolError(`${command.split(" ")[0]} ended without a copy stream`);
      }
    }
  }

  start(handlers: CopyBothHandlers): void {
    this.#handlers = handlers;
    this.#pump().then(
      () => handlers.end(null),
      (error) => handlers.end(this.#closed && !this.#failure ? null : error),
    );
  }

  async #pump(): Promise<void> {
    const handlers = this.#handlers!;
    /**
     * Delivers messages from `from` on; returns where it stopped: the end, a pause (taken between two
     * frames, so the reader's in-flight bounds hold to the frame rather than to a 256 kB read), or -1
     * at CopyDone (the server ended the stream).
     */
    const deliver = (messages: readonly BackendMessage[], from: number): number => {
      for (let i = from; i < messages.length; i++) {
        if (this.#paused) return i;
        const { type, body } = messages[i];
        if (type === "d") handlers.frame(body);
        else if (type === "E") throw new ServerError(errorFields(body));
        else if (type === "c") return -1;
        // NoticeResponse and ParameterStatus may come at any time.
      }
      return messages.length;
    };
    // Messages already read with the CopyBothResponse come first.
    let messages: readonly BackendMessage[] = this.#queue;
    let next = this.#head;
    this.#queue = [];
    let small = false;
    for (;;) {
      next = deliver(messages, next);
      if (next < 0) return;
      while (this.#paused && !this.#closed) await new Promise<void>((resolve) => this.#resume = resolve);
      if (this.#closed) return;
      if (next < messages.length) continue;
      if (small) await new Promise((resolve) => setTimeout(resolve, COALESCE_MS));
      const chunk = await this.#read();
      messages = this.#messages.push(chunk);
      next = 0;
      small = chunk.length < SMALL_READ_BYTES;
    }
  }

  /** A CopyData frame to the server, in order after every earlier one. */
  write(frame: Uint8Array): void {
    if (this.#closed) return;
    const bytes = copyData(frame);
    this.#writing = this.#writing.then(() => this.send(bytes)).catch((error) => this.abort(error));
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#resume?.();
    this.#resume = null;
  }

  /** Ends the stream with `error` (a stall or a timeout seen from outside). */
  abort(error: Error): void {
    this.#failure ??= error;
    this.close();
  }

  /** Closes after what was written has gone out (for at most a second): the last status update matters. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#resume?.();
    const conn = this.#conn;
    settleWithin(this.#writing.then(() => conn.write(TERMINATE)), 1_000).finally(() => {
      try {
        conn.close();
      } catch {
        // Already closed by the peer.
      }
    });
  }
}
