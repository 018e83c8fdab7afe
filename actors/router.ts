/**
 * The router: segments in, bulk batches out. Row changes are grouped per table, rendered into
 * exact documents and `_id`s (in TypeScript, or by PostgreSQL in one round trip per table per part
 * of a segment), turned into versioned index/delete items, and written into the batches of every
 * sink of the table, on the document's lane (of several items for one document rendered together,
 * only the last: `supersededBy`). A long segment comes in parts; its batches fill
 * over them. A segment is acked to the checkpointer when every sink acked every batch of it. A
 * TRUNCATE is a barrier: everything before it is acked first, then the index is emptied up to its
 * version.
 */
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { type Config, type TableConfig, tableConfigNamed } from "../src/config/load.ts";
import { MAX_SINK_CONCURRENCY } from "../src/config/schema.ts";
import { describeTables, keyText, type TableDescription } from "../src/pg/catalog.ts";
import { OesophagusError } from "../src/errors.ts";
import { displayName, type QualifiedName } from "../src/pg/identifier.ts";
import type { Lsn } from "../src/pg/lsn.ts";
import { leafPartitions, partitionAncestors } from "../src/pg/partitions.ts";
import { currentIdentities } from "../src/pg/table_identity.ts";
import { connect, type Sql } from "../src/pg/session.ts";
import type { SinkCommand, TransactionSource } from "../src/protocol/sink.ts";
import type { CheckpointerCommand, RouterCommand, WalReaderCommand } from "../src/protocol/stream.ts";
import type { ChangeEvent, RowImage } from "../src/stream/change.ts";
import { pairKey } from "../src/stream/pair_key.ts";
import { supersededBy } from "../src/stream/superseded.ts";
import { tableChangeError } from "../src/stream/table_watch.ts";
import { type BulkItem, KeylessChange, type RowChange, TableRenderer } from "../src/stream/render.ts";
import { BulkBodyWriter, laneOf } from "../src/sinks/elasticsearch/bulk_body.ts";
import { copyVersions, recordedTypeStamps, recordTypeStamp } from "../src/snapshot/progress_store.ts";
import { logger } from "../src/telemetry/log.ts";
import { counters } from "../src/telemetry/metrics.ts";
import { type ChangeSpan, type ChangeSpans, linksTo, traceparentOf } from "../src/telemetry/change_spans.ts";
import { changeSpans } from "../src/telemetry/tracing.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";

interface Route {
  readonly config: TableConfig;
  /** `schema.table`, for metrics. */
  readonly table: string;
  readonly renderer: TableRenderer;
  /** Row shapes (decoder column arrays) the table was described again for: once each, whatever the catalog says. */
  readonly redescribed: WeakSet<readonly string[]>;
  /**
   * Where the table's copy stands (`copyVersions`): changes committed before it are in the copy
   * already. They are dropped rather than written again: replayed from a slot older than the copy,
   * they would bring back, for a moment, documents of rows deleted before it, and for good those of
   * a table dropped and made anew under the name (its old rows' changes have no later delete).
   */
  readonly copiedAt: Lsn;
}

interface Routed {
  readonly route: Route;
  readonly item: BulkItem;
  readonly trace: ChangeSpan | null;
  /** For sinks of change events: the old row the item's change replaced (`before`), when the WAL has it whole. */
  readonly before: string | Uint8Array | null;
}

/** The `counts` action of items left out of a batch for a later item of their document. */
const SUPERSEDED = "superseded";

/** A batch in flight: whose segment it belongs to, and what it carries (for events-out counts and traces). */
interface SentBatch {
  readonly work: Work;
  readonly sink: string;
  /** `table\0action` -> documents (action `superseded`: items left out for a later one); empty for a truncate. */
  readonly counts: Map<string, number>;
  readonly traces: ChangeSpan[];
}

/** A batch being filled for one sink's lane: its body written as items come, so no item is held. */
interface OpenBatch {
  readonly sink: string;
  readonly lane: number;
  readonly body: BulkBodyWriter;
  /** For a sink of change events (Kafka): each item's change, `c`, `u` or `d`; null for a sink of documents. */
  ops: string[] | null;
  /** With `ops`: each item's change's `traceparent` (null if not sampled); null while no item of the batch is traced. */
  traceparents: (string | null)[] | null;
  /** With `ops`: each item's `before` (null without); null while no item of the batch has one. */
  befores: (string | Uint8Array | null)[] | null;
  /** With `ops`: the transaction of each run of items with one version (`StreamedItems.transactions`); the last one's version. */
  transactions: TransactionSource[] | null;
  lastVersion: Lsn | null;
  counts: Map<string, number>;
  traces: ChangeSpan[];
}

/** A segment in the router, from its first events to its last batch's ack. */
interface Work {
  readonly segmentId: number;
  readonly readAt: number;
  /**
   * Batches being filled, by sink and lane: sent when full, and the rest once the segment's last
   * events are rendered, or before a TRUNCATE. A segment comes in parts, rendered as they come,
   * so that few changes are held as objects at a time: those V8's young generation finds alive
   * are copied, and held long enough, collected as old objects.
   */
  readonly open: Map<string, OpenBatch>;
  /** Batches (and truncates) sent for this segment and not yet acked by their sink. */
  pending: number;
  /** Its last events are processed: acked when no batch is pending. */
  done: boolean;
}

/** Events of a segment, as they came: all of a short one, or a part of a long one. */
interface Part {
  readonly work: Work;
  /** Held by the queue (or as the blocked part) only; batches hold the work, not its parts. */
  readonly events: readonly ChangeEvent[];
  /** Index of the next event to process. */
  next: number;
  /** The segment's last events: its open batches go after them. */
  readonly last: boolean;
  /** Told when the events are rendered. */
  readonly replyTo: Ref<WalReaderCommand>;
}

interface RouterState {
  sql: Sql | null;
  routes: Map<string, Route>;
  /**
   * Relations that are not configured tables, by route key: the nearest configured partitioned
   * table they are a partition of (its route key), or null, with when that was read from the catalog.
   */
  readonly partitions: Map<string, { readonly root: string | null; readonly checkedAt: number }>;
  /** Configured tables by OID (route keys): a table renamed while streaming keeps its OID (pgoutput sends it). */
  byOid: Map<number, string>;
  /** New names of renamed tables already reported (route keys), so the warning comes once per name. */
  readonly renamed: Set<string>;
  /** Partitions truncated so far in the current transaction, per partitioned table not yet wholly truncated. */
  readonly partialTruncates: Map<Route, QualifiedName[]>;
  readonly queue: Part[];
  /** A part waiting for every earlier batch to be acked (a TRUNCATE is next). */
  blocked: Part | null;
  /** The segment whose parts are coming (the wal reader is still reading it). */
  receiving: Work | null;
  readonly batches: Map<string, SentBatch>;
  inFlight: number;
  version: Lsn | null;
  /** Where the current transaction's first change was logged (see RowChange.begunAt). */
  begunAt: Lsn | undefined;
  /**
   * With a sink of change events: the transactions whose changes are being rendered, by commit
   * LSN (their items' version); those before the current one are dropped once their items are sent.
   */
  readonly transactions: Map<Lsn, TransactionSource>;
  nextBatch: number;
}

export interface RouterDeps {
  readonly config: Config;
  readonly sinks: Readonly<Record<string, Ref<SinkCommand>>>;
  readonly checkpointer: Ref<CheckpointerCommand>;
}

const routeKey = pairKey;
/** Lane numbers as strings, for `pairKey`: one per lane a sink may have. */
const LANE_NAMES = Array.from({ length: MAX_SINK_CONCURRENCY }, (_, lane) => String(lane));
/** undefined_table, undefined_object (a row type): a table renamed or dropped since the router described it. */
const isUndefinedRelation = (error: unknown) =>
  error instanceof Error && ["42P01", "42704"].includes((error as { code?: string }).code ?? "");
/** A relation found to be no partition of a configured table is asked about again after this (it may be attached since). */
const NOT_A_PARTITION_FOR_MS = 60_000;
/** Whether the change being processed committed before the table's copy, and so is in it. */
const inCopy = (state: RouterState, route: Route) => state.version !== null && state.version < route.copiedAt;

export function router(deps: RouterDeps): Behaviour<RouterState, RouterCommand> {
  const { config } = deps;
  const tag = crypto.randomUUID().slice(0, 8);
  /** Whether any sink keeps documents: only those leave out changes a later one supersedes. */
  const documentSinks = Object.values(config.sinks).some((sink) => sink.type !== "kafka");
  /** Whether any sink publishes change events: only those name each change's transaction. */
  const eventSinks = Object.values(config.sinks).some((sink) => sink.type === "kafka");

  /** Sends an open batch (if it has items) to its sink. */
  function flush(state: RouterState, work: Work, ctx: ActorContext<RouterCommand>, open: OpenBatch) {
    if (open.body.docs === 0) return;
    const batchId = `${tag}-${state.nextBatch++}`;
    state.batches.set(batchId, { work, sink: open.sink, counts: open.counts, traces: open.traces });
    work.pending++;
    state.inFlight++;
    ctx.send(deps.sinks[open.sink], {
      type: "Write",
      batchId,
      batch: open.body.take(),
      lane: open.lane,
      replyTo: ctx.self,
      ...(open.ops
        ? {
          events: {
            ops: open.ops.join(""),
            ...(open.traceparents ? { traceparents: open.traceparents } : {}),
            ...(open.befores ? { befores: open.befores } : {}),
            transactions: open.transactions!,
          },
        }
        : {}),
      ...(open.traces.length > 0 ? { links: linksTo(open.traces) } : {}),
    });
    open.ops = open.ops ? [] : null;
    open.traceparents = null;
    open.befores = null;
    open.transactions = open.ops ? [] : null;
    open.lastVersion = null;
    open.counts = new Map();
    open.traces = [];
  }

  /** Sends every open batch of the segment. */
  function flushOpen(state: RouterState, work: Work, ctx: ActorContext<RouterCommand>) {
    for (const open of work.open.values()) flush(state, work, ctx, open);
  }

  /**
   * Writes rendered items into the segment's open batches (per sink and lane), sending those that
   * are full. For a sink of documents, an item another one for its document follows in `routed`
   * is left out (`supersededBy`); it is counted, and its change's trace ended, with the item that
   * replaces it. A sink of change events gets every item.
   */
  function send(state: RouterState, work: Work, ctx: ActorContext<RouterCommand>, routed: Routed[]) {
    const replacedBy = documentSinks
      ? supersededBy(routed.length, (i) => routed[i].route.config.index, (i) => routed[i].item.id)
      : null;
    /** By the position of the item that replaces them: the items left out for it (none without a repeat). */
    const carried = replacedBy === null ? null : new Map<number, Routed[]>();
    for (let i = 0; i < routed.length; i++) {
      const { route, item, trace, before } = routed[i];
      const replacer = replacedBy === null ? -1 : replacedBy[i];
      if (replacer !== -1) {
        const list = carried!.get(replacer);
        if (list) list.push(routed[i]);
        else carried!.set(replacer, [routed[i]]);
      }
      const left = carried?.get(i);
      for (const sink of route.config.sinks) {
        const sinkConfig = config.sinks[sink];
        const events = sinkConfig.type === "kafka";
        if (replacer !== -1 && !events) continue;
        const lane = laneOf(route.config.index, item.id, sinkConfig.concurrency);
        const key = pairKey(sink, LANE_NAMES[lane]);
        let open = work.open.get(key);
        if (!open) {
          work.open.set(
            key,
            open = {
              sink,
              lane,
              body: new BulkBodyWriter(),
              ops: events ? [] : null,
              traceparents: null,
              befores: null,
              transactions: events ? [] : null,
              lastVersion: null,
              counts: new Map(),
              traces: [],
            },
          );
        }
        // Characters, not bytes, for a document still a string: a cheap bound, exact for ASCII.
        const size = (item.doc?.length ?? 0) + item.id.length + 120;
        if (
          open.body.docs > 0 &&
          (open.body.docs >= sinkConfig.batch.maxDocs || open.body.bytes + size > sinkConfig.batch.maxBytes)
        ) flush(state, work, ctx, open);
        open.body.add(route.config.index, item);
        if (open.ops) {
          if (trace && !open.traceparents) open.traceparents = new Array(open.ops.length).fill(null);
          open.traceparents?.push(trace ? traceparentOf(trace) : null);
          if (before !== null && !open.befores) open.befores = new Array(open.ops.length).fill(null);
          open.befores?.push(before);
          open.ops.push(item.action === "delete" ? "d" : item.op === "insert" ? "c" : "u");
          if (item.version !== open.lastVersion) {
            open.lastVersion = item.version;
            open.transactions!.push(state.transactions.get(item.version)!);
          }
        }
        const countKey = pairKey(route.table, item.action);
        open.counts.set(countKey, (open.counts.get(countKey) ?? 0) + 1);
        if (trace) {
          changeSpans()?.batched(trace, sink);
          open.traces.push(trace);
        }
        if (events || left === undefined) continue;
        for (const moot of left) {
          const supersededKey = pairKey(moot.route.table, SUPERSEDED);
          open.counts.set(supersededKey, (open.counts.get(supersededKey) ?? 0) + 1);
          if (moot.trace) {
            changeSpans()?.batched(moot.trace, sink);
            open.traces.push(moot.trace);
          }
        }
      }
    }
  }

  /**
   * The route of the relation a change names: a configured table, or a partition of a configured
   * partitioned table (both plugins name the partition that holds the row). The catalog is asked
   * once per relation, not per change.
   */
  function knownRoute(state: RouterState, schema: string, table: string, relid?: number): Route | null | undefined {
    const configured = configuredRoute(state, schema, table, relid);
    if (configured) return configured;
    const known = state.partitions.get(routeKey(schema, table));
    if (known === undefined || (known.root === null && Date.now() - known.checkedAt >= NOT_A_PARTITION_FOR_MS)) return undefined;
    return known.root === null ? null : state.routes.get(known.root) ?? null;
  }

  /** The route of a configured table, by its name or, renamed since, by its OID. */
  function configuredRoute(state: RouterState, schema: string, table: string, relid?: number): Route | undefined {
    const direct = state.routes.get(routeKey(schema, table));
    if (direct) return direct;
    const byOid = relid === undefined ? undefined : state.byOid.get(relid);
    return byOid === undefined ? undefined : renamedRoute(state, byOid, schema, table);
  }

  /**
   * A configured table renamed while streaming (pgoutput names it anew, with the same OID): its
   * changes keep going to its index; the config must follow before the next start, which would
   * otherwise not find the table.
   */
  function renamedRoute(state: RouterState, key: string, schema: string, table: string): Route {
    const route = state.routes.get(key)!;
    const now = routeKey(schema, table);
    if (!state.renamed.has(now)) {
      state.renamed.add(now);
      logger.warn("a replicated table was renamed while streaming: its changes still go to its index", {
        table: route.table,
        renamedTo: displayName({ schema, name: table }),
        index: route.config.index,
        fix: `name it ${JSON.stringify(displayName({ schema, name: table }))} in the config (same index) before the next start`,
      });
    }
    return route;
  }

  async function routeOf(state: RouterState, schema: string, table: string, relid?: number): Promise<Route | null> {
    const known = knownRoute(state, schema, table, relid);
    if (known !== undefined) return known;
    const ancestors = await partitionAncestors(state.sql!, { schema, name: table });
    const configured = ancestors.map((a) => routeKey(a.schema, a.name)).find((key) => state.routes.has(key)) ?? null;
    state.partitions.set(routeKey(schema, table), { root: configured, checkedAt: Date.now() });
    return configured === null ? null : state.routes.get(configured)!;
  }

  /**
   * The configured tables a TRUNCATE empties. A partitioned table is emptied once every one of its
   * leaves is truncated in the transaction: TRUNCATE of the table names them all, in one record
   * (pgoutput) or one record each (wal2json). A transaction that truncates only some partitions
   * cannot be mirrored, as documents do not record their partition: its commit stops the pipeline
   * (`partitionTruncateLeftOver`) before anything after it is acknowledged.
   */
  async function truncatedRoutes(
    state: RouterState,
    tables: readonly { schema: string; table: string; relid?: number }[],
  ): Promise<Route[]> {
    const routes = new Set<Route>();
    const partial = state.partialTruncates;
    for (const { schema, table, relid } of tables) {
      const direct = configuredRoute(state, schema, table, relid);
      if (direct) {
        if (!inCopy(state, direct)) routes.add(direct);
        continue;
      }
      const root = await routeOf(state, schema, table, relid);
      if (root && !inCopy(state, root)) partial.set(root, [...(partial.get(root) ?? []), { schema, name: table }]);
    }
    for (const [root, truncated] of partial) {
      const leaves = await leafPartitions(state.sql!, root.config.name);
      if (leaves.every((leaf) => truncated.some((t) => t.schema === leaf.schema && t.name === leaf.name))) {
        partial.delete(root);
        routes.add(root);
      }
    }
    return [...routes];
  }

  /** What rebuilds an index the stream can no longer keep right. */
  function newSnapshotSteps(index: string): string {
    const slot = config.source.slot;
    return `rebuild the index from a new snapshot: stop the engine, delete the index ${index}, run SELECT pg_drop_replication_slot('${slot}'); DELETE FROM oesophagus.snapshot_table WHERE slot = '${slot}'; and start it again (every configured table is copied anew)`;
  }

  async function partitionTruncateLeftOver(state: RouterState): Promise<OesophagusError> {
    const [[root, truncated]] = state.partialTruncates;
    const leaves = await leafPartitions(state.sql!, root.config.name);
    const left = leaves.filter((leaf) => !truncated.some((t) => t.schema === leaf.schema && t.name === leaf.name));
    return new OesophagusError(
      "partition_truncated",
      `TRUNCATE of ${truncated.map(displayName).join(", ")} empties only part of ${root.table} (not ${
        left.map(displayName).join(", ")
      }): its index ${root.config.index} cannot mirror that, as documents do not record their partition`,
      {
        fix: `${
          newSnapshotSteps(root.config.index)
        }. To drop old data of a partitioned table, DELETE its rows, or detach the partition and delete its documents yourself`,
      },
    );
  }

  /**
   * A renderer for `table` whose rows rendered as they are now (see TableRenderer) are said in the
   * log, and which records each new stamp of the table's composite types with its copy.
   */
  function rendererOf(sql: Sql, table: TableDescription): TableRenderer {
    return new TableRenderer(table, {
      onTypesSeen: (seen) => recordTypeStamp(sql, config.source.slot, displayName(table.name), seen),
      onStale: ({ table, rows, reason }) =>
        logger.warn("changes read after their column types changed are indexed as their rows are now", {
          table: displayName(table),
          rows,
          reason,
          cause: "they were logged before an ALTER TYPE or ALTER DOMAIN that changed how their values read",
          note: "later changes of those rows are written over them in turn",
        }),
    });
  }

  /**
   * PostgreSQL renders what TypeScript cannot by the table's name (its row type). Changes made
   * before a rename may be rendered after it: the table is then found again by its OID and
   * rendered under its new name. A dropped table's type is gone with it: the pipeline stops.
   */
  async function render(
    state: RouterState,
    route: Route,
    changes: RowChange[],
    options: { befores?: boolean } = {},
  ): Promise<BulkItem[]> {
    try {
      return await route.renderer.render(state.sql!, changes, options);
    } catch (error) {
      if (error instanceof KeylessChange) throw await keyChanged(state, route, error);
      if (!isUndefinedRelation(error)) throw error;
      const table = await describeNow(state, route);
      const renamed = withRenderer(state, route, rendererOf(state.sql!, table));
      logger.info("rendering a renamed table's changes under its new name", {
        table: route.table,
        renamedTo: displayName(table.name),
      });
      return await renamed.renderer.render(state.sql!, changes, options);
    }
  }

  /**
   * A change without a value for the table's key, read before the wal reader's watch saw the key
   * change: the same stop as the watch's (the restart copies the table under its new `_id`s).
   * With the key unchanged, the change was logged under a replica identity that does not hold it
   * (a partition's own, made while streaming): no restart can find its document, and fixing the
   * identity helps only the changes after it, so the stop says to copy the table anew too.
   */
  async function keyChanged(state: RouterState, route: Route, error: KeylessChange): Promise<Error> {
    const lost = (why: string, fix?: string) =>
      new OesophagusError("table_without_key", `${error.message}: ${why}`, {
        fix: `${fix ? `${fix}\nthen ` : ""}${newSnapshotSteps(route.config.index)}`,
        cause: error,
      });
    let table: TableDescription;
    try {
      table = await describeNow(state, route);
    } catch (refused) {
      if (refused instanceof OesophagusError && refused.code === "table_without_key") return lost(refused.message, refused.fix);
      throw refused;
    }
    const [from, to] = [route.renderer.table.key, table.key].map(keyText);
    if (from === to) {
      return lost("it was logged under a replica identity that did not hold the key, so its document cannot be found");
    }
    return tableChangeError(
      { kind: "rekeyed", oid: table.oid, name: table.name, from, to },
      config.source.plugin,
      route.config.index,
    )!;
  }

  /** `route` rendering with `renderer` from now on, under the configured name (however the table is named now). */
  function withRenderer(state: RouterState, route: Route, renderer: TableRenderer): Route {
    const next: Route = { ...route, renderer };
    state.routes.set(routeKey(route.config.name.schema, route.config.name.name), next);
    return next;
  }

  /** The table as the catalog has it now, found by OID (it may have been renamed); dropped, the pipeline stops. */
  async function describeNow(state: RouterState, route: Route): Promise<TableDescription> {
    const oid = route.renderer.table.oid;
    const now = (await currentIdentities(state.sql!, [oid])).get(oid)?.name;
    if (!now) {
      throw tableChangeError(
        { kind: "dropped", oid, name: route.config.name },
        config.source.plugin,
        route.config.index,
      )!;
    }
    const [table] = await describeTables(state.sql!, [now]);
    return table;
  }

  async function renderGroups(state: RouterState, groups: Map<Route, RowChange[]>, readAt: number): Promise<Routed[]> {
    const traced = changeSpans();
    const rendered = await Promise.all(
      [...groups].map(async ([route, changes]) => {
        const started = Date.now();
        const items = await render(state, route, changes);
        const before = publishes(route) ? await befores(state, route, changes) : null;
        if (!traced) return items.map((item, i) => ({ route, item, trace: null, before: before?.[i] ?? null }));
        return traceChanges(traced, route, changes, items, before, readAt, started);
      }),
    );
    return rendered.flat();
  }

  /** Whether a table's changes go to a sink of change events. */
  function publishes(route: Route): boolean {
    return route.config.sinks.some((sink) => config.sinks[sink].type === "kafka");
  }

  /**
   * Per item of `changes` (as `render` makes them), the old row its change replaced, rendered as
   * a document is, for the `before` of its change event: an update's or a delete's whole old row
   * (REPLICA IDENTITY FULL). Of a key change's two items, the old key's delete has it and the new
   * key's row not. Null when no change has one.
   */
  async function befores(
    state: RouterState,
    route: Route,
    changes: readonly RowChange[],
  ): Promise<(string | Uint8Array | null)[] | null> {
    const whole = changes.map((change) => change.op !== "insert" && change.old !== null && route.renderer.wholeRow(change.old));
    const olds: RowChange[] = [];
    changes.forEach((change, i) => {
      if (whole[i]) olds.push({ op: "insert", new: change.old, old: null, version: change.version, begunAt: change.begunAt });
    });
    if (olds.length === 0) return null;
    const rendered = await render(state, route, olds, { befores: true });
    const perItem: (string | Uint8Array | null)[] = [];
    let next = 0;
    changes.forEach((change, i) => {
      perItem.push(whole[i] ? rendered[next++].doc : null);
      for (let n = route.renderer.itemCount(change); n > 1; n--) perItem.push(null);
    });
    return perItem;
  }

  /** A `cdc.change` span per change (from when it was read), with its `cdc.route` child; items keep their change's trace. */
  function traceChanges(
    traced: ChangeSpans,
    route: Route,
    changes: readonly RowChange[],
    items: readonly BulkItem[],
    before: readonly (string | Uint8Array | null)[] | null,
    readAt: number,
    renderStarted: number,
  ): Routed[] {
    const routed: Routed[] = [];
    const routedAt = Date.now();
    let next = 0;
    for (const change of changes) {
      const count = route.renderer.itemCount(change);
      const first = items[next];
      const trace = traced.sample()
        ? traced.start(
          {
            table: route.table,
            op: change.op,
            commitLsn: change.version,
            keyJson: first ? first.id : '""',
            plugin: config.source.plugin,
          },
          readAt,
          renderStarted,
          routedAt,
        )
        : null;
      for (let i = 0; i < count && next < items.length; i++, next++) {
        routed.push({ route, item: items[next], trace, before: before?.[next] ?? null });
      }
    }
    return routed;
  }

  /** Processes a part until it ends or reaches a TRUNCATE that must wait for earlier batches. */
  async function process(state: RouterState, part: Part, ctx: ActorContext<RouterCommand>): Promise<boolean> {
    const groups = new Map<Route, RowChange[]>();
    // Counted per segment, not per change: a metric update per change would cost more than the change.
    const received = new Map<string, number>();
    const receive = (table: string, op: string) => {
      const key = pairKey(table, op);
      received.set(key, (received.get(key) ?? 0) + 1);
    };
    try {
      return await processEvents(state, part, ctx, groups, receive);
    } finally {
      for (const [key, n] of received) {
        const [table, op] = key.split("\u0000");
        counters.eventsIn.add(n, { table, op });
      }
    }
  }

  async function processEvents(
    state: RouterState,
    part: Part,
    ctx: ActorContext<RouterCommand>,
    groups: Map<Route, RowChange[]>,
    receive: (table: string, op: string) => void,
  ): Promise<boolean> {
    const { work } = part;
    const events = part.events;
    const flushGroups = async () => {
      if (groups.size > 0) {
        send(state, work, ctx, await renderGroups(state, groups, work.readAt));
        groups.clear();
      }
      // Every item of an earlier transaction is sent (or it had none for these tables).
      for (const version of state.transactions.keys()) if (version !== state.version) state.transactions.delete(version);
    };
    while (part.next < events.length) {
      const event: ChangeEvent = events[part.next];
      switch (event.kind) {
        case "begin":
          state.version = event.commitLsn;
          state.begunAt = event.firstLsn;
          if (eventSinks) state.transactions.set(event.commitLsn, { xid: event.xid, commitMicros: event.commitMicros });
          break;
        case "commit":
          if (state.partialTruncates.size > 0) throw await partitionTruncateLeftOver(state);
          break;
        case "row": {
          let route = knownRoute(state, event.schema, event.table, event.relid);
          if (route === undefined) route = await routeOf(state, event.schema, event.table, event.relid);
          if (route && inCopy(state, route)) break;
          if (route && event.new && !route.renderer.describes(event.new) && !route.redescribed.has(event.new.columns)) {
            // Changes before this one are rendered with the description they were decoded under.
            await flushGroups();
            route = await redescribe(state, route, event.new, ctx);
          }
          if (route) {
            if (state.version === null) throw new Error("a row change arrived outside a transaction");
            const list = groups.get(route) ?? [];
            list.push({ op: event.op, new: event.new, old: event.old, version: state.version, begunAt: state.begunAt });
            groups.set(route, list);
            receive(route.table, event.op);
          }
          break;
        }
        case "truncate": {
          await flushGroups();
          flushOpen(state, work, ctx);
          if (state.inFlight > 0) return false;
          for (const route of await truncatedRoutes(state, event.tables)) {
            if (state.version === null) continue;
            receive(route.table, "truncate");
            for (const sink of route.config.sinks) {
              const requestId = `${tag}-${state.nextBatch++}`;
              state.batches.set(requestId, { work, sink, counts: new Map(), traces: [] });
              work.pending++;
              state.inFlight++;
              const transaction = state.transactions.get(state.version);
              ctx.send(deps.sinks[sink], {
                type: "Truncate",
                index: route.config.index,
                version: state.version,
                ...(transaction ? { transaction } : {}),
                requestId,
                replyTo: ctx.self,
              });
            }
          }
          part.next++;
          // Nothing after the truncate may be written before it is done.
          if (state.inFlight > 0) return false;
          continue;
        }
        default:
          assertNever(event);
      }
      part.next++;
    }
    await flushGroups();
    ctx.send(part.replyTo, { type: "Rendered", events: events.length });
    if (!part.last) return true;
    flushOpen(state, work, ctx);
    work.done = true;
    if (work.pending === 0) ctx.send(deps.checkpointer, { type: "SegmentAcked", id: work.segmentId });
    return true;
  }

  /**
   * A row arrived in a shape the table's description does not have (ALTER TABLE while streaming:
   * a column added, dropped, renamed or retyped): the catalog is read again and the table gets a
   * renderer for what it is now. A stale one would render wrongly: TypeScript converters of the old
   * types, and a dropped or renamed column taken for an unchanged TOAST value (`"c": null`).
   */
  async function redescribe(state: RouterState, route: Route, image: RowImage, ctx: ActorContext<RouterCommand>): Promise<Route> {
    route.redescribed.add(image.columns);
    const table = await describeNow(state, route);
    // The same columns: the row only left some out (wal2json omits unchanged TOAST values), or the key-only image.
    const same = (a: TableDescription, b: TableDescription) =>
      a.columns.length === b.columns.length &&
      a.columns.every((c, i) => c.name === b.columns[i].name && c.typeOid === b.columns[i].typeOid);
    if (same(route.renderer.table, table)) return route;
    const renderer = rendererOf(state.sql!, table);
    const next = withRenderer(state, route, renderer);
    // Ahead of every batch rendered with the new columns, in each sink's mailbox.
    for (const sink of route.config.sinks) {
      ctx.send(deps.sinks[sink], { type: "ExtendMapping", table, index: route.config.index });
    }
    logger.warn("table schema changed while streaming: rendering with the new columns", {
      table: route.table,
      columns: table.columns.map((c) => c.name),
      matches: renderer.describes(image),
      note: "documents of rows not changed since keep the columns they had until those rows change",
      fix: `to rewrite them all: stop the engine, run "oesophagus recopy ${route.table}", start it`,
    });
    return next;
  }

  async function drain(state: RouterState, ctx: ActorContext<RouterCommand>): Promise<void> {
    while (!state.blocked && state.queue.length > 0) {
      const part = state.queue.shift()!;
      if (!await process(state, part, ctx)) state.blocked = part;
    }
  }

  /** Queues a segment's events behind those before them: the first of a segment opens its work. */
  function enqueue(
    state: RouterState,
    segmentId: number,
    readAt: number,
    events: readonly ChangeEvent[],
    last: boolean,
    replyTo: Ref<WalReaderCommand>,
  ) {
    let work = state.receiving;
    if (!work || work.segmentId !== segmentId) {
      work = { segmentId, readAt, open: new Map(), pending: 0, done: false };
    }
    state.receiving = last ? null : work;
    state.queue.push({ work, events, next: 0, last, replyTo });
  }

  return {
    init(ctx) {
      ctx.send(ctx.self, { type: "Start" });
      return {
        sql: null,
        routes: new Map(),
        partitions: new Map(),
        byOid: new Map(),
        renamed: new Set(),
        partialTruncates: new Map(),
        queue: [],
        blocked: null,
        receiving: null,
        batches: new Map(),
        inFlight: 0,
        version: null,
        begunAt: undefined,
        transactions: new Map(),
        nextBatch: 0,
      };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "Start": {
          const sql = ctx.scope.own(
            connect(config.source.url, { max: 4, applicationName: "oesophagus router" }),
            (s) => s.end({ timeout: 1 }),
          );
          const tables = await describeTables(sql, config.tables.map((t) => t.name));
          const copied = await copyVersions(sql, config.source.slot);
          const routes = new Map<string, Route>();
          for (const table of tables) {
            const tableConfig = tableConfigNamed(config, displayName(table.name));
            routes.set(routeKey(table.name.schema, table.name.name), {
              config: tableConfig,
              table: displayName(table.name),
              renderer: rendererOf(sql, table),
              redescribed: new WeakSet(),
              copiedAt: copied.get(displayName(table.name)) ?? (0n as Lsn),
            });
          }
          // Before the first change is read: those of transactions that begin later (or since the
          // recorded stamp, if the types are as it says) are rendered from their values.
          const stamps = await recordedTypeStamps(sql, config.source.slot);
          for (const route of routes.values()) await route.renderer.watchTypes(sql, stamps.get(route.table));
          state.sql = sql;
          state.routes = routes;
          state.byOid = new Map(tables.map((t) => [t.oid, routeKey(t.name.schema, t.name.name)]));
          logger.info("router ready", { actor: ctx.path, tables: tables.length });
          await drain(state, ctx);
          return state;
        }
        case "RouteEvents":
          enqueue(state, msg.segmentId, msg.readAt, msg.events, false, msg.replyTo);
          if (state.sql) await drain(state, ctx);
          return state;
        case "Route":
          enqueue(state, msg.segment.id, msg.segment.readAt, msg.segment.events, true, msg.replyTo);
          if (state.sql) await drain(state, ctx);
          return state;
        case "Resume":
          if (state.blocked && state.inFlight === 0) {
            const part = state.blocked;
            state.blocked = null;
            if (!await process(state, part, ctx)) state.blocked = part;
            await drain(state, ctx);
          }
          return state;
        case "BatchAcked": {
          const sent = state.batches.get(msg.batchId);
          if (!sent) return state;
          const { work } = sent;
          state.batches.delete(msg.batchId);
          for (const [key, n] of sent.counts) {
            const [table, action] = key.split("\u0000");
            if (action === SUPERSEDED) counters.eventsSuperseded.add(n, { sink: sent.sink, table });
            else counters.eventsOut.add(n, { sink: sent.sink, table, action });
          }
          for (const trace of sent.traces) {
            changeSpans()?.acknowledged(trace);
          }
          state.inFlight--;
          work.pending--;
          if (work.done && work.pending === 0) ctx.send(deps.checkpointer, { type: "SegmentAcked", id: work.segmentId });
          if (state.blocked && state.inFlight === 0) ctx.send(ctx.self, { type: "Resume" });
          return state;
        }
        default:
          return assertNever(msg);
      }
    },
  };
}
