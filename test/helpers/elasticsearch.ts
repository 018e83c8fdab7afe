/**
 * Reading Elasticsearch the way the contract is checked: raw HTTP and an exact JSON parser, so
 * no number passes through a JS `number` on the way to a comparison.
 */
import { type ExactJson, JsonNumber, parseExactJson } from "../../src/json/exact_json.ts";
import { services, uniqueName } from "./services.ts";

export interface StoredDocument {
  readonly id: string;
  readonly version: string;
  readonly source: ExactJson;
}

export async function esRequest(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  const { esUrl } = await services();
  const response = await fetch(`${esUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body,
  });
  return { status: response.status, text: await response.text() };
}

/**
 * Every document of an index, `_source` parsed exactly, with its `_version`. Paged in a point in
 * time: a merge between pages (Elasticsearch just restarted, say) renumbers documents, and plain
 * `_doc` paging then returns some twice and skips others.
 */
export async function allDocuments(index: string): Promise<Map<string, StoredDocument>> {
  const refreshed = await esRequest("POST", `/${index}/_refresh`);
  if (refreshed.status !== 200) throw new Error(`refresh of ${index} failed: ${refreshed.status} ${refreshed.text}`);
  const opened = await esRequest("POST", `/${index}/_pit?keep_alive=2m`);
  if (opened.status !== 200) throw new Error(`point in time on ${index} failed: ${opened.status} ${opened.text}`);
  const pit = (JSON.parse(opened.text) as { id: string }).id;
  const documents = new Map<string, StoredDocument>();
  let after: ExactJson[] | null = null;
  try {
    for (;;) {
      const query: string = `{"size":5000,"version":true,"sort":["_shard_doc"],"pit":{"id":${
        JSON.stringify(pit)
      },"keep_alive":"2m"}${
        after ? `,"search_after":[${after.map((v) => (v as JsonNumber).text ?? String(v)).join(",")}]` : ""
      },"query":{"match_all":{}}}`;
      const response = await esRequest("POST", `/_search`, query);
      if (response.status !== 200) throw new Error(`search of ${index} failed: ${response.status} ${response.text}`);
      const body = parseExactJson(response.text) as {
        hits: { hits: { _id: string; _version: JsonNumber; _source: ExactJson; sort: ExactJson[] }[] };
      };
      const hits = body.hits.hits;
      if (hits.length === 0) return documents;
      for (const hit of hits) {
        if (documents.has(hit._id)) throw new Error(`document ${hit._id} returned twice`);
        documents.set(hit._id, { id: hit._id, version: hit._version.text, source: hit._source });
      }
      after = hits[hits.length - 1].sort;
    }
  } finally {
    await esRequest("DELETE", "/_pit", JSON.stringify({ id: pit }));
  }
}

export async function deleteIndices(pattern: string): Promise<void> {
  await esRequest("DELETE", `/${pattern}?ignore_unavailable=true&allow_no_indices=true`);
}

/** A lower-case index prefix of its own for a test; `dispose` deletes every index under it. */
export function uniqueIndexPrefix(): { prefix: string } & AsyncDisposable {
  const prefix = uniqueName("test").toLowerCase();
  return { prefix, [Symbol.asyncDispose]: () => deleteIndices(`${prefix}*`) };
}

/** `host:port` of the tests' node's transport port (which nodes talk to each other on), as the node publishes it. */
export async function transportAddress(): Promise<string> {
  const { status, text } = await esRequest("GET", "/_nodes/_local/transport?filter_path=nodes.*.transport.publish_address");
  if (status !== 200) throw new Error(`reading the transport address: ${status} ${text}`);
  const nodes = (JSON.parse(text) as { nodes: Record<string, { transport: { publish_address: string } }> }).nodes;
  return Object.values(nodes)[0].transport.publish_address;
}
