/** The Elasticsearch client for one sink: credentials from config, retries left to the sink. */
import { Client } from "@elastic/elasticsearch";
import type { ElasticsearchSinkConfig } from "../../config/schema.ts";
import { readPemFile } from "../../pem.ts";

/**
 * Errors drop request headers and connection details instead of deep-copying them with
 * secrets masked: the default copy walks the request body too, byte by byte (seconds for a
 * 5 MB bulk body, on every retry), and headers carry the credentials anyway.
 */
export const REDACTION = { type: "remove" } as const;

/** `name`: the sink's name in the config, for errors about its settings. */
export function createClient(name: string, config: ElasticsearchSinkConfig): Client {
  const auth = config.username !== undefined && config.password !== undefined
    ? { username: config.username, password: config.password }
    : config.apiKey !== undefined
    ? { apiKey: config.apiKey }
    : undefined;
  return new Client({
    node: config.url,
    auth,
    ...(config.caFile === undefined ? {} : {
      tls: {
        ca: readPemFile(config.caFile, { name: `sinks.${name}.caFile`, code: "sink_misconfigured", certificate: true }),
        rejectUnauthorized: true,
      },
    }),
    // The sink retries with its own backoff and knows which items to retry; the client must not.
    maxRetries: 0,
    requestTimeout: config.requestTimeoutMs,
    compression: false,
    redaction: REDACTION,
  });
}
