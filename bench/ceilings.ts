/**
 * The ceilings the engine is measured against, each run with no engine in between:
 * Elasticsearch's own `_bulk` rate for the same documents, and PostgreSQL's own decoding rate
 * (`pg_recvlogical` with the same plugin and options, to /dev/null).
 */
import type postgres from "postgres";
import type { IndexMapping } from "../src/sinks/elasticsearch/mapping.ts";
import { countFields } from "../src/sinks/elasticsearch/mapping.ts";
import { actionLine } from "../src/sinks/elasticsearch/bulk_body.ts";
import type { Lsn } from "../src/pg/lsn.ts";
import { measureProcess, timed } from "./measure.ts";

export async function es(esUrl: string, method: string, path: string, body?: string | Uint8Array): Promise<string> {
  const response = await fetch(`${esUrl}${path}`, {
    method,
    headers: { "content-type": typeof body === "string" ? "application/json" : "application/x-ndjson" },
    body: body as BodyInit | undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return text;
}

export async function freshIndex(esUrl: string, name: string, mapping: IndexMapping): Promise<void> {
  await fetch(`${esUrl}/${name}`, { method: "DELETE" }).then((r) => r.body?.cancel());
  await es(
    esUrl,
    "PUT",
    `/${name}`,
    JSON.stringify({
      mappings: mapping,
      settings: { "index.mapping.total_fields.limit": Math.max(1000, countFields(mapping) + 100) },
    }),
  );
}

/**
 * Seconds Elasticsearch takes to index the documents `query` returns (columns: id text, doc
 * text) into a fresh index, in requests of `maxDocs` with `concurrency` in flight. The NDJSON is
 * built before the clock starts.
 */
export async function bulkCeiling(
  sql: postgres.Sql,
  esUrl: string,
  mapping: IndexMapping,
  query: string,
  maxDocs: number,
  concurrency: number,
): Promise<{ seconds: number; docs: number }> {
  const { bodies, docs } = await bulkBodies(sql, query, maxDocs, (id) => `{"index":{"_id":${JSON.stringify(id)}}}`);
  await freshIndex(esUrl, "bench_bulk_ceiling", mapping);
  const seconds = await sendBulk(esUrl, "bench_bulk_ceiling", bodies, concurrency);
  await es(esUrl, "DELETE", "/bench_bulk_ceiling");
  return { seconds, docs };
}

/**
 * Seconds Elasticsearch alone takes for the kind of write the engine makes: the documents `query`
 * returns written over the existing ones of `index` as versioned index items (`external_gte`,
 * the engine's action line), with no decoding beside it. Plain `_bulk` into an empty index is the
 * ceiling the issue names; this is what the same cores give for versioned updates of existing
 * documents, which is what a change stream asks of Elasticsearch. `version` must be at least the
 * documents' own, so every item is applied, not refused.
 */
export async function versionedWritesAlone(
  sql: postgres.Sql,
  esUrl: string,
  index: string,
  query: string,
  version: Lsn,
  maxDocs: number,
  concurrency: number,
): Promise<{ seconds: number; docs: number }> {
  const { bodies, docs } = await bulkBodies(
    sql,
    query,
    maxDocs,
    (id) => actionLine("index", index, JSON.stringify(id), version).trimEnd(),
  );
  const seconds = await sendBulk(esUrl, index, bodies, concurrency);
  return { seconds, docs };
}

/** NDJSON bodies of at most `maxDocs` items, one per row of `query` (columns: id text, doc text). */
async function bulkBodies(
  sql: postgres.Sql,
  query: string,
  maxDocs: number,
  action: (id: string) => string,
): Promise<{ bodies: Uint8Array[]; docs: number }> {
  const encoder = new TextEncoder();
  const bodies: Uint8Array[] = [];
  let lines: string[] = [];
  let docs = 0;
  const cursor = sql.unsafe<{ id: string; doc: string }[]>(query).cursor(10_000);
  for await (const rows of cursor) {
    for (const row of rows) {
      lines.push(action(row.id), row.doc);
      docs++;
      if (lines.length >= maxDocs * 2) {
        bodies.push(encoder.encode(lines.join("\n") + "\n"));
        lines = [];
      }
    }
  }
  if (lines.length > 0) bodies.push(encoder.encode(lines.join("\n") + "\n"));
  return { bodies, docs };
}

/** Seconds to send every body to `index`'s `_bulk`, `concurrency` at a time; any item error fails. */
async function sendBulk(esUrl: string, index: string, bodies: readonly Uint8Array[], concurrency: number): Promise<number> {
  const { seconds } = await timed(async () => {
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const answer = await es(esUrl, "POST", `/${index}/_bulk?filter_path=errors`, bodies[next++]);
        if (answer.includes('"errors":true')) throw new Error(`a bulk load into ${index} had item errors`);
      }
    }));
  });
  return seconds;
}

/** Seconds pg_recvlogical takes to decode the slot from its position to `endpos`, to /dev/null. */
export async function recvlogicalCeiling(
  url: string,
  slot: string,
  endpos: string,
  options: Readonly<Record<string, string>>,
): Promise<number> {
  const args = ["-d", url, "--slot", slot, "--start", "--endpos", endpos, "--no-loop", "-f", "/dev/null"];
  for (const [key, value] of Object.entries(options)) args.push("-o", `${key}=${value}`);
  const run = await measureProcess("/usr/lib/postgresql/15/bin/pg_recvlogical", args);
  if (run.code !== 0) throw new Error(`pg_recvlogical failed: ${run.output}`);
  return run.seconds;
}

/**
 * Refreshes and flushes every index, then waits until Elasticsearch has no merge running (and a
 * moment more), so every measurement starts from the same quiet cluster rather than from the
 * previous one's background work. Without the refresh, the first versioned write to a shard left
 * search-idle with a million unrefreshed updates makes Elasticsearch refresh it there and then
 * (its version map is unsafe), and the first commits of (c) waited 0.6-0.9 s for it.
 */
export async function quietElasticsearch(esUrl: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await es(esUrl, "POST", "/_refresh");
  await es(esUrl, "POST", "/_flush");
  let quietSince = 0;
  while (Date.now() < deadline) {
    const stats = JSON.parse(await es(esUrl, "GET", "/_nodes/stats/indices/merge?filter_path=nodes.*.indices.merges.current"));
    const current = Object.values(stats.nodes ?? {}).reduce(
      (n: number, node) => n + ((node as { indices: { merges: { current: number } } }).indices.merges.current),
      0,
    );
    if (current === 0) {
      quietSince ||= Date.now();
      if (Date.now() - quietSince >= 3_000) return;
    } else quietSince = 0;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Elasticsearch's work counters (all indices of the node), to compare what two runs asked of it. */
export interface ElasticsearchWork {
  readonly bulkRequests: number;
  readonly operations: number;
  readonly refreshes: number;
  readonly merges: number;
  /** Lucene commits (translog flushes): a large one stalls indexing for a moment. */
  readonly flushes: number;
}

export async function elasticsearchWork(esUrl: string): Promise<ElasticsearchWork> {
  const stats = JSON.parse(
    await es(esUrl, "GET", "/_nodes/stats/indices/bulk,indexing,refresh,merge,flush?filter_path=nodes.*.indices"),
  ) as {
    nodes: Record<string, {
      indices: {
        bulk: { total_operations: number };
        indexing: { index_total: number; delete_total: number };
        refresh: { total: number };
        merges: { total: number };
        flush: { total: number };
      };
    }>;
  };
  const sum = (pick: (i: typeof stats.nodes[string]["indices"]) => number) =>
    Object.values(stats.nodes).reduce((n, node) => n + pick(node.indices), 0);
  return {
    bulkRequests: sum((i) => i.bulk.total_operations),
    operations: sum((i) => i.indexing.index_total + i.indexing.delete_total),
    refreshes: sum((i) => i.refresh.total),
    merges: sum((i) => i.merges.total),
    flushes: sum((i) => i.flush.total),
  };
}

/** What happened between two samples, as one line. */
export function describeWork(before: ElasticsearchWork, after: ElasticsearchWork): string {
  const requests = after.bulkRequests - before.bulkRequests;
  const operations = after.operations - before.operations;
  return `${requests.toLocaleString("en")} bulk requests of ${
    requests === 0 ? 0 : Math.round(operations / requests).toLocaleString("en")
  } items on average, ${after.refreshes - before.refreshes} refreshes, ${after.merges - before.merges} merges, ${
    after.flushes - before.flushes
  } flushes`;
}
