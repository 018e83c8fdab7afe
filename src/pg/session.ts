/**
 * Connections to the source. Every engine session pins the settings that change how
 * PostgreSQL renders values, so a snapshot document and a streamed one for the same row are
 * byte-identical whatever the server's or the role's defaults are.
 */
import postgres from "postgres";
import { CONNECT_TIMEOUT_MS } from "./connect_errors.ts";
import { driverSocket, sourceSocket } from "./source_socket.ts";
import { type SourceTls, sourceTls } from "./tls.ts";
import { urlHosts } from "./url_hosts.ts";

/** What `to_jsonb(row)` means in the contract: rendered under exactly these settings. */
export const RENDER_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  TimeZone: "UTC",
  DateStyle: "ISO, MDY",
  IntervalStyle: "postgres",
  extra_float_digits: "1",
  bytea_output: "hex",
});

/**
 * Timeouts an operator may set on the database or role for applications; the engine's sessions
 * opt out: a chunk's COPY may run for minutes, and the session that exported the snapshot sits
 * idle in its transaction for the whole copy. Cutting either would fail the snapshot forever.
 */
export const SESSION_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  statement_timeout: "0",
  idle_in_transaction_session_timeout: "0",
  lock_timeout: "0",
});

export type Sql = postgres.Sql;

/**
 * TLS is negotiated by the engine's socket (see source_socket.ts), not by postgres.js. Its
 * `socket` option is in its API though not in its types. A URL's several hosts are tried by that
 * socket too, and postgres.js is told of the first only (see url_hosts.ts).
 */
function socketOptions(tls: SourceTls): Record<string, unknown> {
  const hosts = urlHosts(tls.url);
  if (hosts === null) return { ssl: false, socket: driverSocket(sourceSocket(tls.ssl)) };
  return { ssl: false, socket: driverSocket(sourceSocket(tls.ssl, hosts)), host: [hosts[0].host], port: [hosts[0].port] };
}

export interface ConnectOptions {
  readonly max?: number;
  readonly applicationName?: string;
}

export function connect(url: string, options: ConnectOptions = {}): Sql {
  const tls = sourceTls(url);
  return postgres(tls.url, {
    ...socketOptions(tls),
    max: options.max ?? 4,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: CONNECT_TIMEOUT_MS / 1000,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "oesophagus", ...RENDER_SETTINGS, ...SESSION_SETTINGS },
  });
}

/**
 * A walsender connection (`replication=database`): slot commands and, later, the stream.
 * postgres.js cannot fetch types on it, and it must never close on its own while a snapshot it
 * exported is in use.
 */
export function connectReplication(url: string, applicationName = "oesophagus"): Sql {
  const tls = sourceTls(url);
  // postgres.js passes unknown connection keys through as startup parameters.
  const connection = replicationParameters(applicationName);
  return postgres(tls.url, {
    ...socketOptions(tls),
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: CONNECT_TIMEOUT_MS / 1000,
    fetch_types: false,
    onnotice: () => {},
    connection: connection as Record<string, string>,
  });
}

/**
 * The startup parameters of every walsender session the engine opens. UTF8, as postgres.js asks
 * for its own sessions: the server then converts pgoutput's names and values from the database's
 * encoding (see encoding.ts).
 */
export function replicationParameters(applicationName: string): Readonly<Record<string, string>> {
  return {
    application_name: applicationName,
    replication: "database",
    client_encoding: "UTF8",
    ...RENDER_SETTINGS,
    ...SESSION_SETTINGS,
  };
}
