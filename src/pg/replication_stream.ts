/**
 * The CopyBoth stream of START_REPLICATION: XLogData ('w') and keepalive ('k') frames in,
 * standby status updates ('r') out. On a plain connection Deno's own socket carries it
 * (plain_replication.ts); with TLS a postgres.js walsender connection does. Only framing lives
 * here; what is acknowledged is the checkpointer's decision, never this module's.
 */
import type { Duplex } from "node:stream";
import { OesophagusError } from "../errors.ts";
import { formatLsn, type Lsn } from "./lsn.ts";
import { quoteIdent } from "./identifier.ts";
import { connectPlainReplication, plainTarget } from "./plain_replication.ts";
import { connectReplication, replicationParameters } from "./session.ts";
import { tlsPauseStopsReads } from "./source_socket.ts";
import { plainView } from "../plain_view.ts";

export interface XLogData {
  readonly kind: "xlogdata";
  readonly walStart: Lsn;
  readonly walEnd: Lsn;
  readonly payload: Uint8Array;
}

export type ReplicationFrame = XLogData | { readonly kind: "keepalive"; readonly walEnd: Lsn; readonly replyRequested: boolean };

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

/** XLogData's header: 'w', the start and end LSNs, the server's clock. */
const XLOGDATA_HEADER_BYTES = 25;

/**
 * The plugin message an XLogData frame carries, or null for any other frame (`parseFrame` says
 * which). The reader's path for every change: it reads no header field, because the plugin
 * message holds the LSNs the stream needs, and a header object, a DataView and two BigInts for
 * every message cost more than decoding pgoutput's one-row transactions did.
 */
export function xlogPayload(frame: Uint8Array): Uint8Array | null {
  if (frame[0] !== 0x77) return null;
  if (frame.length < XLOGDATA_HEADER_BYTES) {
    throw new OesophagusError(
      "internal",
      `XLogData frame of ${frame.length} bytes is shorter than its ${XLOGDATA_HEADER_BYTES}-byte header`,
    );
  }
  return frame.subarray(XLOGDATA_HEADER_BYTES);
}

/**
 * An XLogData frame's start position. For the message of a transaction's begin, the walsender
 * gives the position of the transaction's first change (its first_lsn), not of its commit.
 */
export function xlogStart(frame: Uint8Array): Lsn {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getBigUint64(1) as Lsn;
}

export function parseFrame(frame: Uint8Array): ReplicationFrame {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  switch (frame[0]) {
    case 0x77: // 'w'
      return {
        kind: "xlogdata",
        payload: xlogPayload(frame)!,
        walStart: view.getBigUint64(1) as Lsn,
        walEnd: view.getBigUint64(9) as Lsn,
      };
    case 0x6b: // 'k'
      if (frame.length < 18) throw new OesophagusError("internal", `keepalive frame of ${frame.length} bytes is shorter than 18`);
      return { kind: "keepalive", walEnd: view.getBigUint64(1) as Lsn, replyRequested: frame[17] === 1 };
    default:
      throw new OesophagusError("internal", `unknown replication frame type 0x${frame[0]?.toString(16)}`);
  }
}

/** Standby status update: written, flushed and applied up to `flushed` (the checkpoint), sent now. */
export function statusUpdate(received: Lsn, flushed: Lsn, now = Date.now(), replyRequested = false): Uint8Array {
  const frame = new Uint8Array(34);
  const view = new DataView(frame.buffer);
  frame[0] = 0x72; // 'r'
  view.setBigUint64(1, received);
  view.setBigUint64(9, flushed);
  view.setBigUint64(17, flushed);
  view.setBigInt64(25, BigInt(now) * 1000n - PG_EPOCH_OFFSET_US);
  frame[33] = replyRequested ? 1 : 0;
  return frame;
}

export interface StartOptions {
  readonly slot: string;
  readonly plugin: "pgoutput" | "wal2json";
  readonly startLsn: Lsn;
  /** Plugin options; values are quoted as SQL string literals. */
  readonly options: Readonly<Record<string, string>>;
}

export function startReplicationCommand(start: StartOptions): string {
  const options = Object.entries(start.options).map(([k, v]) => `${quoteIdent(k)} '${v.replaceAll("'", "''")}'`).join(", ");
  return `START_REPLICATION SLOT ${quoteIdent(start.slot)} LOGICAL ${formatLsn(start.startLsn)}${options ? ` (${options})` : ""}`;
}

export interface CopyBothHandlers {
  /** Each CopyData payload, in order; a throw ends nothing (the caller decides). */
  frame(bytes: Uint8Array): void;
  /** Once: null when the stream was closed (by the server or by `close`), else why it broke. */
  end(error: Error | null): void;
}

/** One replication stream, whatever carries it. */
export interface CopyBothStream {
  start(handlers: CopyBothHandlers): void;
  /** A CopyData frame to the server (a standby status update). */
  write(frame: Uint8Array): void;
  /** Stops reading: TCP holds the walsender back. */
  pause(): void;
  resume(): void;
  close(): void;
}

export interface OpenReplication {
  readonly stream: CopyBothStream;
  /** "plain" (Deno's socket) or "tls" (postgres.js), for the log. */
  readonly transport: "plain" | "tls";
  /** Whether a paused stream stops reading the socket (see source_socket.ts); else a backlog is read into memory. */
  readonly pauseHoldsServer: boolean;
}

/** Connects a walsender session for `url` and starts streaming the slot. */
export async function openReplication(url: string, applicationName: string, start: StartOptions): Promise<OpenReplication> {
  const command = startReplicationCommand(start);
  const target = plainTarget(url);
  const plain = target ? await connectPlainReplication(target, replicationParameters(applicationName)) : null;
  if (plain) {
    await plain.startCopyBoth(command);
    return { stream: plain, transport: "plain", pauseHoldsServer: true };
  }
  const sql = connectReplication(url, applicationName);
  try {
    const duplex = await sql.unsafe(command).writable() as unknown as Duplex;
    return {
      stream: duplexStream(duplex, () => sql.end({ timeout: 1 })),
      transport: "tls",
      pauseHoldsServer: tlsPauseStopsReads(),
    };
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
}

function duplexStream(duplex: Duplex, end: () => Promise<void>): CopyBothStream {
  return {
    start(handlers) {
      let ended = false;
      const finish = (error: Error | null) => {
        if (ended) return;
        ended = true;
        handlers.end(error);
      };
      // Plain views, as the plain transport gives (see plain_view.ts).
      duplex.on("data", (bytes: Uint8Array) => handlers.frame(plainView(bytes)));
      duplex.on("error", (error: Error) => finish(error));
      duplex.on("close", () => finish(null));
    },
    write: (frame) => void duplex.write(frame),
    pause: () => void duplex.pause(),
    resume: () => void duplex.resume(),
    close() {
      duplex.destroy();
      void end();
    },
  };
}
