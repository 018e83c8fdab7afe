/**
 * What an Elasticsearch answer means for the pipeline: done, try again later, or refused for
 * good. Modelled on Vector's elasticsearch/retry.rs: retry what waiting can fix (overload,
 * outages, a cluster blocked read-only), never what it cannot (a document the mapping refuses).
 */
import { errors } from "@elastic/elasticsearch";
import { OesophagusError } from "../../errors.ts";
import { isTlsTrustFailure } from "../../tls_errors.ts";

export type ItemStatus =
  | { readonly kind: "ok" }
  | { readonly kind: "retry"; readonly reason: string }
  | { readonly kind: "refused"; readonly reason: string };

export interface BulkItemResult {
  readonly status: number;
  readonly error?: {
    readonly type?: string;
    readonly reason?: string;
    readonly caused_by?: { readonly type?: string; readonly reason?: string };
  };
}

function describe(error: BulkItemResult["error"]): string {
  if (!error) return "unknown error";
  const cause = error.caused_by ? ` (${error.caused_by.type}: ${error.caused_by.reason})` : "";
  return `${error.type}: ${error.reason}${cause}`;
}

export function classifyItem(item: BulkItemResult): ItemStatus {
  const { status } = item;
  // 409: a newer version is already indexed (external_gte): the write is stale, which is success.
  if ((status >= 200 && status < 300) || status === 409) return { kind: "ok" };
  // 404 on delete: already gone.
  if (status === 404 && item.error === undefined) return { kind: "ok" };
  const reason = describe(item.error);
  if (status === 429 || status >= 500 || item.error?.type === "cluster_block_exception") {
    return { kind: "retry", reason: `${status} ${reason}` };
  }
  return { kind: "refused", reason: `${status} ${reason}` };
}

/** Errors of a whole request: transport failures and non-2xx answers. */
export function classifyRequestError(error: unknown, sinkName: string): OesophagusError {
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    const type = (error.body as { error?: { type?: string; reason?: string } } | undefined)?.error?.type;
    const reason = (error.body as { error?: { type?: string; reason?: string } } | undefined)?.error?.reason ?? error.message;
    if (status === 401 || status === 403 && type !== "cluster_block_exception") {
      return new OesophagusError(
        "sink_misconfigured",
        `sink ${sinkName}: Elasticsearch refused the credentials (${status}: ${reason})`,
        {
          fix: `check sinks.${sinkName}.username/password or apiKey, and that the user may write the index`,
          cause: error,
        },
      );
    }
    if (status === 413) {
      return new OesophagusError("sink_rejected", `sink ${sinkName}: bulk request too large for Elasticsearch (413)`, {
        fix: `lower sinks.${sinkName}.batch.maxBytes below the cluster's http.max_content_length`,
        cause: error,
      });
    }
    if (status === 429 || status >= 500 || type === "cluster_block_exception") {
      return new OesophagusError("sink_unreachable", `sink ${sinkName}: Elasticsearch answered ${status} (${reason})`, {
        retriable: true,
        cause: error,
      });
    }
    return new OesophagusError("sink_rejected", `sink ${sinkName}: Elasticsearch answered ${status} (${reason})`, {
      cause: error,
    });
  }
  if (error instanceof errors.ProductNotSupportedError) {
    return new OesophagusError("sink_misconfigured", `sink ${sinkName}: the server is not Elasticsearch 8`, {
      fix: `point sinks.${sinkName}.url at an Elasticsearch 8 node`,
      cause: error,
    });
  }
  if (error instanceof errors.ElasticsearchClientError && isTlsTrustFailure(error)) {
    return new OesophagusError(
      "sink_misconfigured",
      `sink ${sinkName}: TLS: Elasticsearch's certificate is not trusted: ${error.message}`,
      {
        fix: `set sinks.${sinkName}.caFile to the CA that signed the cluster's certificate (PEM)`,
        cause: error,
      },
    );
  }
  if (error instanceof errors.ElasticsearchClientError) {
    // Connection refused, reset, timeouts, DNS: the cluster may come back.
    return new OesophagusError("sink_unreachable", `sink ${sinkName}: ${error.name}: ${error.message}`, {
      retriable: true,
      cause: error,
    });
  }
  if (error instanceof OesophagusError) return error;
  return new OesophagusError("internal", `sink ${sinkName}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
