/** Turns a failed connection into a sentence an operator can act on. */
import { OesophagusError } from "../errors.ts";
import { isTlsTrustFailure } from "../tls_errors.ts";
import { describeHost, urlAuthority, urlHosts } from "./url_hosts.ts";

function target(url: string): string {
  try {
    const hosts = urlHosts(url);
    if (hosts !== null) return `${hosts.map(describeHost).join(",")}${urlAuthority(url)!.rest.split("?")[0]}`;
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`;
  } catch {
    return "the source";
  }
}

/** How long the engine waits for a source connection to be ready (TCP, TLS negotiation, startup). */
export const CONNECT_TIMEOUT_MS = 15_000;

/** An error of the connection itself, with the code `isUnreachable` and the explanation read. */
export function connectionError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ETIMEDOUT",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ECONNRESET",
  "STARTUP_UNANSWERED",
]);

/** The fix for the unreachable codes that say more than "not reached". */
const UNREACHABLE_FIXES: Readonly<Record<string, string>> = {
  CONNECT_TIMEOUT:
    "check that host and port in source.url name a PostgreSQL server: one that accepts the connection and never answers as PostgreSQL (another service on that port), or a network that drops packets, looks like this",
  STARTUP_UNANSWERED:
    "check that host and port in source.url name a PostgreSQL server: another service on that port, or a proxy or pooler whose PostgreSQL is down, closes the connection like this",
};

/** The server could not be reached, or the connection broke: not an answer from PostgreSQL. */
export function isUnreachable(error: unknown): boolean {
  return UNREACHABLE_CODES.has((error as { code?: string })?.code ?? "");
}

/**
 * The driver's message for a connection error. postgres.js ends its own with the host and port it
 * connected to ("write CONNECT_TIMEOUT db:5432"); through the engine's socket it knows neither and
 * printed "undefined:undefined", and its timeout is the startup's (the socket connected already).
 */
function driverMessage(error: unknown, code: string | undefined): string {
  const message = (error as Error)?.message ?? String(error);
  if (!message.endsWith(" undefined:undefined")) return message;
  if (code === "CONNECT_TIMEOUT") return `the server did not finish the startup within ${CONNECT_TIMEOUT_MS / 1000} s`;
  return message.slice(0, -" undefined:undefined".length);
}

/** What a NOT_POSTGRES error found listening (see foreign_server.ts). */
function speaks(error: unknown): string {
  return (error as { speaks?: string })?.speaks ?? "another kind of server";
}

export function explainConnectionError(error: unknown, url: string): OesophagusError {
  if (error instanceof OesophagusError) return error;
  const code = (error as { code?: string })?.code;
  const message = driverMessage(error, code);
  const where = target(url);
  if (isTlsTrustFailure(error)) {
    return new OesophagusError("source_misconfigured", `TLS: the server's certificate is not trusted (${where}): ${message}`, {
      fix: "add sslrootcert=/path/to/ca.pem (the CA that signed the server's certificate) to source.url, " +
        "or use sslmode=require to encrypt without verifying",
      cause: error,
    });
  }
  switch (code) {
    case "TLS_REFUSED":
      return new OesophagusError("source_misconfigured", `PostgreSQL at ${where} refused TLS: ${message}`, {
        fix: "turn ssl on in the server's postgresql.conf, or lower sslmode in source.url (prefer encrypts when the server can)",
        cause: error,
      });
    case "NOT_POSTGRES":
      return new OesophagusError(
        "source_misconfigured",
        `source.url names ${where}, where ${speaks(error)} listens, not PostgreSQL`,
        {
          fix: "set host and port in source.url to PostgreSQL's (5432 unless the server's port setting says otherwise)",
          cause: error,
        },
      );
    case "28P01":
      return new OesophagusError("source_auth_failed", `PostgreSQL at ${where} refused the password: ${message}`, {
        fix: "check the user and password in source.url (put the password in an environment variable: ${PGPASSWORD})",
        cause: error,
      });
    case "28000":
      return new OesophagusError("source_auth_failed", `PostgreSQL at ${where} refused the connection: ${message}`, {
        fix: "allow the engine's host, user and database in pg_hba.conf, then SELECT pg_reload_conf()",
        cause: error,
      });
    case "3D000":
      return new OesophagusError("source_misconfigured", `the database in source.url does not exist: ${message}`, {
        fix: "fix the database name in source.url, or create the database",
        cause: error,
      });
    default:
      if (!isUnreachable(error)) break;
      return new OesophagusError("source_unreachable", `cannot reach PostgreSQL at ${where}: ${message}`, {
        retriable: true,
        fix: UNREACHABLE_FIXES[code ?? ""] ?? "check that the server runs and that host and port in source.url are right",
        cause: error,
      });
  }
  return new OesophagusError("source_unreachable", `connecting to PostgreSQL at ${where} failed: ${message}`, {
    retriable: true,
    cause: error,
  });
}
