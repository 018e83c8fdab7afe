/** Creates a table's index with mappings derived from its columns, once. */
import type { Client } from "@elastic/elasticsearch";
import type { TableDescription } from "../../pg/catalog.ts";
import { countFields, indexMapping } from "./mapping.ts";
import { classifyRequestError } from "./classify.ts";
import { errors } from "@elastic/elasticsearch";

/** Returns true when the index was created, false when it existed (its mapping is left as the operator has it). */
export async function ensureIndex(client: Client, sinkName: string, index: string, table: TableDescription): Promise<boolean> {
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
