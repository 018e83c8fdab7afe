/**
 * Connections to the source. Every engine session pins the settings that change how
 * PostgreSQL renders values, so a snapshot document and a streamed one for the same row are
 * byte-identical whatever the server's or the role's defaults are.
 */
import postgres from "postgres";

/** What `to_jsonb(row)` means in the contract: rendered under exactly these settings. */
export const RENDER_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  TimeZone: "UTC",
  DateStyle: "ISO, MDY",
  IntervalStyle: "postgres",
  extra_float_digits: "1",
  bytea_output: "hex",
});

export type Sql = postgres.Sql;

export interface ConnectOptions {
  readonly max?: number;
  readonly applicationName?: string;
}

export function connect(url: string, options: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 4,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 15,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "oesophagus", ...RENDER_SETTINGS },
  });
}

/**
 * A walsender connection (`replication=database`): slot commands and, later, the stream.
 * postgres.js cannot fetch types on it, and it must never close on its own while a snapshot it
 * exported is in use.
 */
export function connectReplication(url: string, applicationName = "oesophagus"): Sql {
  return postgres(url, {
    max: 1,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 15,
    fetch_types: false,
    onnotice: () => {},
    // postgres.js passes unknown connection keys through as startup parameters.
    connection: { application_name: applicationName, replication: "database", ...RENDER_SETTINGS } as Record<string, string>,
  });
}
