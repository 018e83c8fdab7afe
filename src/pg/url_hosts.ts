import { OesophagusError } from "../errors.ts";

/**
 * The hosts of a connection URL, read as text: `postgres://u@db1:5432,db2:5433/app` is not a URL
 * the WHATWG parser takes. postgres.js splits such a list itself, but then swallows every error
 * while it connects, expecting the next host to be tried, and tries them again forever (its retry
 * count never grows): with every host down, or a certificate that does not verify, a session
 * never failed. So the engine hands postgres.js one host and tries the list in its own socket.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * The hosts of `url` (or of PGHOST, when the URL has none) in order, when it names more than one;
 * null otherwise (postgres.js then reads the URL as it does, Unix socket directories included). A
 * host without a port gets PGPORT's, else 5432, as in libpq.
 */
export function urlHosts(url: string, env: (name: string) => string | undefined = (n) => Deno.env.get(n)): HostPort[] | null {
  const parts = urlAuthority(url);
  if (parts === null) return null;
  const { authority } = parts;
  // A URL without a host takes PGHOST's, which may be a list too.
  const list = authority.slice(authority.lastIndexOf("@") + 1) || env("PGHOST") || "";
  if (!list.includes(",")) return null;
  const fallbackPort = Number(env("PGPORT") || 5432);
  return list.split(",").map((item) => {
    const text = decodeURIComponent(item);
    const bracketed = /^\[([^\]]*)\](?::(\d*))?$/.exec(text);
    const [host, port] = bracketed
      ? [bracketed[1], bracketed[2]]
      : text.includes(":")
      ? [text.slice(0, text.lastIndexOf(":")), text.slice(text.lastIndexOf(":") + 1)]
      : [text, ""];
    if (!host || (port !== undefined && port !== "" && !/^\d+$/.test(port))) {
      throw new OesophagusError("source_misconfigured", `source.url: "${text}" in its list of hosts is not a host[:port]`, {
        fix: "write the hosts as host1:port1,host2:port2",
      });
    }
    return { host, port: port ? Number(port) : fallbackPort };
  });
}

/** A URL's authority (user, password, hosts) and what follows it (path and query), split as text. */
export function urlAuthority(url: string): { readonly authority: string; readonly rest: string } | null {
  const scheme = url.indexOf("://");
  if (scheme === -1) return null;
  const after = url.slice(scheme + 3);
  const end = after.search(/[/?]/);
  return end === -1 ? { authority: after, rest: "" } : { authority: after.slice(0, end), rest: after.slice(end) };
}

/** `host:port` as an operator writes it (IPv6 in brackets). */
export function describeHost({ host, port }: HostPort): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
