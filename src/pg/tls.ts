/**
 * TLS to PostgreSQL the way libpq reads it from the URL: `sslmode` (disable, allow, prefer,
 * require, verify-ca, verify-full; default PGSSLMODE, else prefer), `sslrootcert` (a CA file, or `system`),
 * `sslcert` and `sslkey` (a client certificate). The engine turns them into the driver's TLS
 * options itself and takes them out of the URL: postgres.js would otherwise try TLS for
 * `sslmode=disable` and send the file parameters to the server as settings.
 */
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from "node:tls";
import { OesophagusError } from "../errors.ts";
import { readPemFile } from "../pem.ts";

export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
export type SslMode = typeof SSL_MODES[number];
const TLS_PARAMETERS = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

export interface SourceTls {
  /** The URL without its TLS parameters. */
  readonly url: string;
  readonly mode: SslMode;
  /** What postgres.js takes as `ssl`. */
  readonly ssl: false | "prefer" | "require" | ConnectionOptions;
}

const readPem = (path: string, parameter: string) =>
  readPemFile(path, { name: `source.url: ${parameter}`, code: "source_misconfigured", certificate: parameter !== "sslkey" });

/**
 * The query of a connection URL, read as text: a URL with several hosts (db1:5432,db2:5432) is
 * not one the URL parser takes, and its parameters count all the same.
 */
export function urlQuery(url: string): URLSearchParams {
  const at = url.indexOf("?");
  return new URLSearchParams(at === -1 ? "" : url.slice(at + 1));
}

/** As libpq: the URL's `sslmode`, else the PGSSLMODE environment variable, else prefer. */
export function sourceTls(url: string, env: (name: string) => string | undefined = (name) => Deno.env.get(name)): SourceTls {
  const fallback = env("PGSSLMODE") || "prefer";
  const params = urlQuery(url);
  const base = url.includes("?") ? url.slice(0, url.indexOf("?")) : url;
  if (params.has("ssl")) {
    // postgres.js would act on it and negotiate TLS a second time over the engine's own.
    throw new OesophagusError("source_misconfigured", `source.url: ssl=${params.get("ssl")} is not a libpq parameter`, {
      fix: `use sslmode, one of ${SSL_MODES.join(", ")}`,
    });
  }
  const mode = params.get("sslmode") ?? fallback;
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    const where = params.has("sslmode") ? "source.url: sslmode" : "PGSSLMODE";
    throw new OesophagusError("source_misconfigured", `${where}=${mode} is not a PostgreSQL SSL mode`, {
      fix: `use one of ${SSL_MODES.join(", ")}`,
    });
  }
  const rootCert = params.get("sslrootcert");
  const clientCert = params.get("sslcert");
  const clientKey = params.get("sslkey");
  for (const parameter of TLS_PARAMETERS) params.delete(parameter);
  const rest = params.toString();
  const stripped = rest ? `${base}?${rest}` : base;
  const sslMode = mode as SslMode;

  if (sslMode === "disable") return { url: stripped, mode: sslMode, ssl: false };
  const client: ConnectionOptions = {
    ...(clientCert ? { cert: readPem(clientCert, "sslcert") } : {}),
    ...(clientKey ? { key: readPem(clientKey, "sslkey") } : {}),
  };
  // As libpq: `require` with a root certificate verifies the chain (like verify-ca).
  const verify = sslMode === "verify-ca" || sslMode === "verify-full" || (sslMode === "require" && rootCert !== null);
  if (!verify) {
    if (clientCert || clientKey) return { url: stripped, mode: sslMode, ssl: { ...client, rejectUnauthorized: false } };
    return { url: stripped, mode: sslMode, ssl: sslMode === "require" ? "require" : "prefer" };
  }
  const ca = rootCert === null || rootCert === "system" ? {} : { ca: readPem(rootCert, "sslrootcert") };
  return {
    url: stripped,
    mode: sslMode,
    ssl: {
      ...client,
      ...ca,
      rejectUnauthorized: true,
      // verify-ca checks the chain only; verify-full also that the certificate names the host,
      // which the engine's socket passes: the one of the URL's hosts it connected to.
      checkServerIdentity: sslMode === "verify-full"
        ? (host: string, cert: PeerCertificate) => checkServerIdentity(host.replace(/^\[|\]$/g, ""), cert)
        : () => undefined,
    },
  };
}
