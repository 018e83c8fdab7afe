/** Creates a table's index with mappings derived from its columns, once. */
import type { Client } from "@elastic/elasticsearch";
import type { TableDescription } from "../../pg/catalog.ts";
import { countFields, indexMapping } from "./mapping.ts";
import { classifyRequestError } from "./classify.ts";
import { errors } from "@elastic/elasticsearch";

/**
 * Replicas the engine's indices ask for: one when the cluster has a second node for it, none on a
 * single node (the compose stack, a laptop), where a replica can never be assigned and would leave
 * the index, and the cluster's health, yellow for good.
 */
export const REPLICAS = { "index.auto_expand_replicas": "0-1" } as const;

/** Returns true when the index was created, false when it existed (its mapping is left as the operator has it). */
export async function ensureIndex(
  client: Client,
  sinkName: string,
  index: string,
  table: TableDescription,
  options: { bulkLoad: boolean } = { bulkLoad: false },
): Promise<boolean> {
  const mappings = indexMapping(table);
  try {
    await client.indices.create({
      index,
      mappings,
      settings: {
        "index.mapping.total_fields.limit": Math.max(1_000, countFields(mappings) + 100),
        // A delete's version is remembered this long (default 60 s): a replay after a longer outage
        // must still find the tombstone, or an older write could bring the document back.
        "index.gc_deletes": "1h",
        ...REPLICAS,
        // A table about to be copied: no refresh until the copy is over (endBulkLoad), which
        // saves Elasticsearch most of its segment churn. The documents are durable meanwhile.
        ...(options.bulkLoad ? { "index.refresh_interval": "-1" } : {}),
      },
    });
    return true;
  } catch (error) {
    if (
      error instanceof errors.ResponseError &&
      (error.body as { error?: { type?: string } })?.error?.type === "resource_already_exists_exception"
    ) {
      return false;
    }
    throw classifyRequestError(error, sinkName);
  }
}

/**
 * Turns refreshes back on after a copy, if the engine turned them off (refresh_interval -1); an
 * index whose settings the operator chose is left alone. Idempotent, so it runs after every
 * snapshot, also one resumed after a crash.
 */
export async function endBulkLoad(client: Client, sinkName: string, index: string): Promise<void> {
  try {
    const settings = await client.indices.getSettings({ index, name: "index.refresh_interval", flat_settings: true });
    const value = Object.values(settings)[0]?.settings?.["index.refresh_interval"];
    if (value !== "-1") return;
    await client.indices.putSettings({ index, settings: { "index.refresh_interval": null } });
    await client.indices.refresh({ index });
  } catch (error) {
    throw classifyRequestError(error, sinkName);
  }
}
