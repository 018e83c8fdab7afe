/** The Elasticsearch client for one sink: credentials from config, retries left to the sink. */
import { Client } from "@elastic/elasticsearch";
import type { ElasticsearchSinkConfig } from "../../config/schema.ts";
import { OesophagusError } from "../../errors.ts";

/**
 * Errors drop request headers and connection details instead of deep-copying them with
 * secrets masked: the default copy walks the request body too, byte by byte (seconds for a
 * 5 MB bulk body, on every retry), and headers carry the credentials anyway.
 */
export const REDACTION = { type: "remove" } as const;

function readCaFile(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new OesophagusError("sink_misconfigured", `caFile ${path} cannot be read: ${(error as Error).message}`, {
      fix: "point caFile at a readable PEM file",
    });
  }
}

export function createClient(config: ElasticsearchSinkConfig): Client {
  const auth = config.username !== undefined && config.password !== undefined
    ? { username: config.username, password: config.password }
    : config.apiKey !== undefined
    ? { apiKey: config.apiKey }
    : undefined;
  return new Client({
    node: config.url,
    auth,
    ...(config.caFile === undefined ? {} : { tls: { ca: readCaFile(config.caFile), rejectUnauthorized: true } }),
    // The sink retries with its own backoff and knows which items to retry; the client must not.
    maxRetries: 0,
    requestTimeout: config.requestTimeoutMs,
    compression: false,
    redaction: REDACTION,
  });
}
