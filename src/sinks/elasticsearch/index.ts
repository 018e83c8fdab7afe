/**
 * A table's index: created once with mappings derived from its columns, and, when the table gains
 * columns (ALTER TABLE), given mappings for them. Only indices the engine created are extended:
 * one an operator made keeps exactly the mapping they gave it.
 */
import type { Client } from "@elastic/elasticsearch";
import type { TableDescription } from "../../pg/catalog.ts";
import { countFields, type FieldMapping, indexMapping } from "./mapping.ts";
import { classifyRequestError } from "./classify.ts";
import { errors } from "@elastic/elasticsearch";

/**
 * Replicas the engine's indices ask for: one when the cluster has a second node for it, none on a
 * single node (the compose stack, a laptop), where a replica can never be assigned and would leave
 * the index, and the cluster's health, yellow for good.
 */
export const REPLICAS = { "index.auto_expand_replicas": "0-1" } as const;

/** Marks an index as the engine's in its mapping's `_meta`: its mapping may be extended. */
const MANAGED = { managed_by: "oesophagus" } as const;
const LIMIT = "index.mapping.total_fields.limit";

/**
 * `index.refresh_interval` while a table is copied into an index the engine made. Not -1 (no
 * refresh): Elasticsearch then holds the whole copy in memory, up to its indexing buffer (a tenth
 * of its heap), and the refresh that ends the copy writes it out on one thread, with the other
 * cores idle (7-10 s after 1,000,000 rows with an 11.8 GiB heap). Every few seconds, what is left
 * for the end stays small, and fewer refreshes than the default 1 s cost less during the copy. An
 * explicit interval also keeps the shard of a long copy from going search-idle, which stops
 * refreshes just as -1 does.
 */
export const BULK_LOAD_REFRESH_INTERVAL = "5s";

/** Room for the fields of the mapping, and never below Elasticsearch's default of 1,000. */
const fieldLimit = (mapping: { properties?: Record<string, FieldMapping> }) => Math.max(1_000, countFields(mapping) + 100);

export interface PreparedIndex {
  readonly created: boolean;
  /** Columns that had no field in an existing index of the engine's, and now have one. */
  readonly added: readonly string[];
  /** Why Elasticsearch would not take the new fields (they stay in `_source`, unsearchable). */
  readonly refused?: string;
}

/** Creates the index, or extends an existing one of the engine's with fields for new columns. */
export async function ensureIndex(
  client: Client,
  sinkName: string,
  index: string,
  table: TableDescription,
  options: { bulkLoad: boolean } = { bulkLoad: false },
): Promise<PreparedIndex> {
  const mappings = indexMapping(table);
  try {
    await client.indices.create({
      index,
      mappings: { ...mappings, _meta: MANAGED },
      settings: {
        [LIMIT]: fieldLimit(mappings),
        // A delete's version is remembered this long (default 60 s): a replay after a longer outage
        // must still find the tombstone, or an older write could bring the document back.
        "index.gc_deletes": "1h",
        ...REPLICAS,
        // A table about to be copied: fewer refreshes until the copy is over (endBulkLoad). The
        // documents are durable meanwhile, only not yet searchable.
        ...(options.bulkLoad ? { "index.refresh_interval": BULK_LOAD_REFRESH_INTERVAL } : {}),
      },
    });
    return { created: true, added: [] };
  } catch (error) {
    if (
      error instanceof errors.ResponseError &&
      (error.body as { error?: { type?: string } })?.error?.type === "resource_already_exists_exception"
    ) {
      return { created: false, ...await addMissingFields(client, sinkName, index, table) };
    }
    throw classifyRequestError(error, sinkName);
  }
}

/**
 * Puts mappings for the table's columns that an index of the engine's has no field for (a column
 * added, or renamed, since the index was made) and returns their names. A field that exists keeps
 * its mapping, also when its column changed type: Elasticsearch cannot change a field's type in
 * place, and numbers and dates tolerate malformed values (mapping.ts). Documents indexed before
 * the field was mapped keep the column in `_source` but are not searchable by it.
 */
export async function addMissingFields(
  client: Client,
  sinkName: string,
  index: string,
  table: TableDescription,
): Promise<{ added: string[]; refused?: string }> {
  try {
    const answer = await client.indices.getMapping({ index });
    const current = Object.values(answer)[0]?.mappings;
    if (!isManaged(current)) return { added: [] };
    const wanted = indexMapping(table).properties;
    const existing = (current.properties ?? {}) as Record<string, FieldMapping>;
    const missing = Object.fromEntries(Object.entries(wanted).filter(([name]) => !(name in existing)));
    const added = Object.keys(missing);
    if (added.length === 0) return { added };
    const settings = await client.indices.getSettings({ index, name: LIMIT, flat_settings: true, include_defaults: true });
    const { settings: set, defaults } = Object.values(settings)[0] ?? {};
    const limit = Number((set as Record<string, unknown> | undefined)?.[LIMIT] ?? (defaults as Record<string, unknown>)?.[LIMIT]);
    const needed = fieldLimit({ properties: { ...existing, ...missing } });
    if (!(limit >= needed)) await client.indices.putSettings({ index, settings: { [LIMIT]: needed } });
    await client.indices.putMapping({ index, properties: missing });
    return { added };
  } catch (error) {
    // An index deleted by hand has nothing to extend (a write creates it again, as Elasticsearch does).
    if (error instanceof errors.ResponseError && error.statusCode === 404) return { added: [] };
    // A mapping Elasticsearch will not take is no reason to stop streaming: the values stay in _source.
    if (error instanceof errors.ResponseError && error.statusCode === 400) {
      return { added: [], refused: (error.body as { error?: { reason?: string } })?.error?.reason ?? error.message };
    }
    throw classifyRequestError(error, sinkName);
  }
}

/**
 * The identity of the index (or of the indices behind an alias) the name stands for now: a copy
 * made into it is not in an index made under the same name later, nor in another cluster's.
 */
export async function indexUuid(client: Client, sinkName: string, index: string): Promise<string> {
  try {
    return await readIndexUuid(client, index);
  } catch (error) {
    throw classifyRequestError(error, sinkName);
  }
}

/** `indexUuid`, or null when no index (or alias) has the name now. */
export async function currentIndexUuid(client: Client, sinkName: string, index: string): Promise<string | null> {
  try {
    return await readIndexUuid(client, index);
  } catch (error) {
    if (error instanceof errors.ResponseError && error.statusCode === 404) return null;
    throw classifyRequestError(error, sinkName);
  }
}

async function readIndexUuid(client: Client, index: string): Promise<string> {
  const settings = await client.indices.getSettings({ index, name: "index.uuid", flat_settings: true });
  return Object.values(settings).map((s) => String(s.settings?.["index.uuid"])).sort().join(",");
}

/**
 * Gives an index the engine made for a copy Elasticsearch's default refresh again, and refreshes
 * it, so that everything copied is searchable before anything is streamed. An index whose
 * settings the operator chose is left alone. Idempotent, so it runs after every snapshot, also one
 * resumed after a crash, and one begun by an engine that turned refreshes off (-1) for the copy.
 */
export async function endBulkLoad(client: Client, sinkName: string, index: string): Promise<void> {
  try {
    const settings = await client.indices.getSettings({ index, name: "index.refresh_interval", flat_settings: true });
    const value = Object.values(settings)[0]?.settings?.["index.refresh_interval"];
    // -1 on any index, as before the interval: a copy an earlier engine began.
    const ours = value === "-1" || (value === BULK_LOAD_REFRESH_INTERVAL && await madeByEngine(client, index));
    if (!ours) return;
    await client.indices.putSettings({ index, settings: { "index.refresh_interval": null } });
    await client.indices.refresh({ index });
  } catch (error) {
    throw classifyRequestError(error, sinkName);
  }
}

/** Whether the engine made every index behind the name, and so chose their settings. */
async function madeByEngine(client: Client, index: string): Promise<boolean> {
  const indices = Object.values(await client.indices.getMapping({ index }));
  return indices.length > 0 && indices.every((i) => isManaged(i.mappings));
}

/** Whether the engine made the index (its mapping's `_meta`), and so chose its mapping and settings. */
function isManaged(mappings: { _meta?: Record<string, unknown> } | undefined): boolean {
  return mappings?._meta?.managed_by === MANAGED.managed_by;
}
