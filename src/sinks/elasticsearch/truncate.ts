/**
 * TRUNCATE in Elasticsearch: every document of the index that is not newer than the truncate is
 * deleted with the truncate's version, so a document written by a later change survives, and
 * replaying the truncate after a crash has the same effect. Works without the reindex module
 * (no `_delete_by_query`): refresh, scroll the ids, bulk-delete them.
 */
import type { Client } from "@elastic/elasticsearch";
import type { Lsn } from "../../pg/lsn.ts";
import { OesophagusError } from "../../errors.ts";
import { type BulkOptions, writeBulk } from "./bulk.ts";
import { encodeItems } from "./bulk_body.ts";

/**
 * Whether a document is newer than `version`, so a delete at it would be refused: skipped rather
 * than sent (a sweep after a copy would otherwise send one for every document the copy wrote).
 * The client parses `_version` into a JS number; only a safe integer is exact, anything else is
 * left for Elasticsearch to decide.
 */
function newer(documentVersion: number | undefined, version: Lsn): boolean {
  return Number.isSafeInteger(documentVersion) && BigInt(documentVersion!) > version;
}

export async function truncateIndex(client: Client, index: string, version: Lsn, options: BulkOptions): Promise<number> {
  await client.indices.refresh({ index }, { signal: options.signal });
  let deleted = 0;
  let page = await client.search({
    index,
    scroll: "2m",
    size: 5_000,
    _source: false,
    version: true,
    sort: ["_doc"],
    query: { match_all: {} },
  }, { signal: options.signal });
  try {
    for (;;) {
      if (page.hits.hits.length === 0) return deleted;
      const hits = page.hits.hits.filter((hit) => !newer(hit._version, version));
      if (hits.length > 0) {
        const batch = encodeItems(
          hits.map((hit) => ({ index, item: { action: "delete", id: JSON.stringify(hit._id), version, doc: null } })),
        );
        const refusals = await writeBulk(client, batch, options);
        if (refusals.length > 0) {
          // A delete has no document to set aside: a refusal here means the index is not what we think.
          throw new OesophagusError(
            "sink_rejected",
            `sink ${options.sinkName}: Elasticsearch refused ${refusals.length} deletes of a TRUNCATE of ${index}: ${
              refusals[0].reason
            }`,
          );
        }
        deleted += hits.length;
      }
      page = await client.scroll({ scroll_id: page._scroll_id!, scroll: "2m" }, { signal: options.signal });
    }
  } finally {
    if (page._scroll_id) await client.clearScroll({ scroll_id: page._scroll_id }).catch(() => {});
  }
}
