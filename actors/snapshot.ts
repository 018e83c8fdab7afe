/**
 * The snapshot coordinator. It validates the tables, creates the slot with an exported snapshot
 * (or, when resuming, a temporary slot's snapshot at a newer LSN), has every sink prepare its
 * targets, plans chunks inside the snapshot, and runs one table actor per table with work left.
 * The exporting connection stays open and idle until every table is copied: that is what keeps
 * the snapshot importable.
 */
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { type Config, tableConfigNamed } from "../src/config/load.ts";
import { OesophagusError } from "../src/errors.ts";
import { columnsChangedSince, columnSignature, describeTables, keyText, type TableDescription } from "../src/pg/catalog.ts";
import { explainConnectionError, isUnreachable } from "../src/pg/connect_errors.ts";
import { displayName } from "../src/pg/identifier.ts";
import { formatLsn } from "../src/pg/lsn.ts";
import { connect, connectReplication, type Sql } from "../src/pg/session.ts";
import { createSlotWithSnapshot, ensurePublication } from "../src/pg/slot.ts";
import { judgeEncoding, sourceEncoding } from "../src/pg/encoding.ts";
import { unindexableColumnsError } from "../src/sinks/elasticsearch/unindexable_columns.ts";
import { waitForIdleSlot } from "../src/pg/slot_wait.ts";
import { leavesWithEarlierRows, unreadableLeaf } from "../src/pg/partitions.ts";
import { currentIdentities } from "../src/pg/table_identity.ts";
import { copiesAgain, leafChanges } from "../src/stream/table_watch.ts";
import type { PipelineCommand } from "../src/protocol/pipeline.ts";
import type { SinkCommand } from "../src/protocol/sink.ts";
import type { SnapshotCommand, SnapshotHandle, TableSnapshotSpec } from "../src/protocol/snapshot.ts";
import { planTable } from "../src/snapshot/plan.ts";
import type { SnapshotProgress } from "../src/snapshot/progress.ts";
import {
  type CopyTargets,
  ensureEngineSchema,
  forgetTable,
  forgetUnconfigured,
  loadProgress,
  recordLeaves,
  recordTargets,
  savePlan,
  type TableProgress,
} from "../src/snapshot/progress_store.ts";
import { logger } from "../src/telemetry/log.ts";
import { type ActorContext, actorName, type Behaviour, spawnActor } from "../supervision/actor.ts";
import { tableSnapshot } from "./table_snapshot.ts";

type CoordinatorState =
  | { readonly phase: "starting" }
  | {
    readonly phase: "preparing";
    readonly sql: Sql;
    readonly replication: Sql | null;
    readonly snapshot: SnapshotHandle | null;
    readonly tables: readonly TableDescription[];
    readonly progress: Map<string, TableProgress>;
    readonly waiting: Set<string>;
    /** The slot streamed before this start: a table copied now was added to the config since. */
    readonly slotExisted: boolean;
    /** `sink\0index` of the indices made by this start: empty, nothing to sweep after their copy. */
    readonly created: Set<string>;
    /** `sink\0index` of the targets found holding nothing at all (`TablePrepared.empty`), those in `created` among them. */
    readonly empty: Set<string>;
    /** `sink\0index` -> the index's UUID (TablePrepared). */
    readonly uuids: Map<string, string>;
  }
  | { readonly phase: "copying"; readonly replication: Sql | null; readonly remaining: Set<string> }
  | { readonly phase: "finishing"; readonly waiting: Set<string> }
  | { readonly phase: "done" };

export interface SnapshotDeps {
  readonly config: Config;
  readonly sinks: Readonly<Record<string, Ref<SinkCommand>>>;
  readonly parent: Ref<PipelineCommand>;
  readonly progress: SnapshotProgress;
  /** Walsenders of streams given up on as silent: ended when found holding the slot. */
  readonly abandonedWalsenders: Set<number>;
}

export function snapshotCoordinator(deps: SnapshotDeps): Behaviour<CoordinatorState, SnapshotCommand> {
  const { config } = deps;
  const source = config.source;
  const tableConfig = (name: string) => tableConfigNamed(config, name);

  async function start(ctx: ActorContext<SnapshotCommand>): Promise<CoordinatorState> {
    const sql = ctx.scope.own(
      connect(source.url, { max: 2, applicationName: "oesophagus snapshot" }),
      (s) => s.end({ timeout: 1 }),
    );
    let tables: TableDescription[];
    try {
      tables = await describeTables(sql, config.tables.map((t) => t.name));
    } catch (error) {
      // The first statement is where a wrong password or database shows (for the operator to
      // fix, not for restarts to retry) and where an unreachable server does (retried, and
      // explained if the restarts run out).
      const explained = explainConnectionError(error, source.url);
      const fatal = explained.code === "source_auth_failed" || explained.code === "source_misconfigured";
      throw fatal || isUnreachable(error) ? explained : error;
    }
    const unindexable = unindexableColumnsError(tables);
    if (unindexable) throw unindexable;
    const encoding = judgeEncoding(await sourceEncoding(sql), source.plugin);
    if (encoding.error) throw encoding.error;
    if (encoding.warning) logger.warn(encoding.warning, { actor: ctx.path, encoding: encoding.encoding });
    await ensureEngineSchema(sql);
    if (source.plugin === "pgoutput") {
      const changed = await ensurePublication(sql, source.publication, config.tables.map((t) => t.name));
      if (changed.widenedFrom !== null) {
        logger.warn("the publication left out some changes: it publishes every kind of change now", {
          actor: ctx.path,
          publication: source.publication,
          published: changed.widenedFrom,
        });
      }
      if (changed.viaRootReset) {
        logger.warn(
          "the publication published partitions' changes as their root's, which sends nothing for a TRUNCATE of one partition: it publishes each partition under its own name now",
          { actor: ctx.path, publication: source.publication },
        );
      }
      if (changed.allTables) {
        logger.info("the publication publishes every table: the stream carries the other tables' changes, and they are dropped", {
          actor: ctx.path,
          publication: source.publication,
        });
      }
    }
    const slot = await waitForIdleSlot(sql, source.slot, {
      signal: ctx.scope.signal,
      abandoned: deps.abandonedWalsenders,
    });
    if (slot !== null) {
      // Before the slot can move past their changes (streaming starts after this), not after.
      const forgotten = await forgetUnconfigured(sql, source.slot, config.tables.map((t) => displayName(t.name)));
      if (forgotten.length > 0) {
        logger.info("tables no longer configured: their copies are forgotten, configured again they are copied anew", {
          actor: ctx.path,
          tables: forgotten,
        });
      }
    }
    const progress = await loadProgress(sql, source.slot);

    let replication: Sql | null = null;
    let snapshot: SnapshotHandle | null = null;

    if (slot === null) {
      if (progress.size > 0) {
        throw new OesophagusError(
          "slot_missing",
          `replication slot ${source.slot} is gone, but a snapshot was recorded for it: changes since then are lost to the engine`,
          {
            fix:
              `to start over with a new snapshot, forget the old one: DELETE FROM oesophagus.snapshot_table WHERE slot = '${source.slot}'; then start again`,
          },
        );
      }
      replication = openReplication(ctx);
      const exported = await createSlotWithSnapshot(replication, source.slot, source.plugin, { temporary: false });
      snapshot = { name: exported.snapshotName, version: exported.consistentPoint };
      logger.info("replication slot created", {
        actor: ctx.path,
        slot: source.slot,
        plugin: source.plugin,
        consistentPoint: formatLsn(exported.consistentPoint),
      });
    } else {
      if (slot.plugin !== source.plugin) {
        throw new OesophagusError(
          "slot_plugin_mismatch",
          `replication slot ${source.slot} uses plugin ${slot.plugin}, but the config says ${source.plugin}`,
          {
            fix: `set source.plugin to "${slot.plugin}", or use another source.slot name`,
          },
        );
      }
      const unfinished = tables.filter((t) => !progress.get(displayName(t.name))?.completed);
      if (unfinished.length > 0) ({ replication, snapshot } = await laterSnapshot(ctx, unfinished));
    }

    const waiting = new Set<string>();
    for (const table of tables) {
      const { index, sinks } = tableConfig(displayName(table.name));
      for (const sink of sinks) {
        waiting.add(`${sink}\u0000${index}`);
        const bulkLoad = snapshot !== null && !progress.get(displayName(table.name))?.completed;
        ctx.send(deps.sinks[sink], { type: "PrepareTable", table, index, bulkLoad, replyTo: ctx.self });
      }
    }
    return {
      phase: "preparing",
      sql,
      replication,
      snapshot,
      tables,
      progress,
      waiting,
      slotExisted: slot !== null,
      created: new Set(),
      empty: new Set(),
      uuids: new Map(),
    };
  }

  /** The connection that exports the snapshot: it must stay open, and idle, until every table is copied. */
  function openReplication(ctx: ActorContext<SnapshotCommand>): Sql {
    return ctx.scope.own(connectReplication(source.url, "oesophagus snapshot export"), (s) => s.end({ timeout: 1 }));
  }

  /**
   * A snapshot for tables to copy while the slot stands where it was (a copy resumed, or a table
   * added): a temporary slot's, at a later LSN, covers everything the stream will replay before it.
   */
  async function laterSnapshot(
    ctx: ActorContext<SnapshotCommand>,
    tables: readonly TableDescription[],
  ): Promise<{ replication: Sql; snapshot: SnapshotHandle }> {
    const replication = openReplication(ctx);
    const temporary = `oesophagus_snapshot_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const exported = await createSlotWithSnapshot(replication, temporary, "pgoutput", { temporary: true });
    logger.info("snapshot resumed", {
      actor: ctx.path,
      tables: tables.map((t) => displayName(t.name)),
      version: formatLsn(exported.consistentPoint),
    });
    return { replication, snapshot: { name: exported.snapshotName, version: exported.consistentPoint } };
  }

  /** The table's targets as prepared: sink -> index -> UUID. */
  function targetsOf(state: Extract<CoordinatorState, { phase: "preparing" }>, name: string): CopyTargets {
    const { index, sinks } = tableConfig(name);
    return Object.fromEntries(sinks.map((sink) => [sink, { [index]: state.uuids.get(`${sink}\u0000${index}`)! }]));
  }

  /**
   * A copy, finished or not, that is not in one of its table's indices now (the index was made
   * anew since: deleted by hand, another cluster, another index or sink in the config), whose
   * `_id`s were made from another key than the table has now, or that is of a table dropped since
   * (another OID under the name) is forgotten, so the table is copied again from the start (and,
   * the slot having streamed, swept); streaming alone would leave out every row that does not
   * change, or keep documents under the old `_id`s. A finished copy recorded by an older engine
   * version is taken as it is.
   */
  async function checkCopies(state: Extract<CoordinatorState, { phase: "preparing" }>, ctx: ActorContext<SnapshotCommand>) {
    const identities = await currentIdentities(state.sql, state.tables.map((t) => t.oid));
    for (const table of state.tables) {
      const name = displayName(table.name);
      const progress = state.progress.get(name);
      if (!progress) continue;
      const now = targetsOf(state, name);
      const idKey = keyText(table.key);
      const unrecorded = progress.targets === null || progress.idKey === null || progress.tableOid === null;
      if (unrecorded && progress.completed) {
        await recordTargets(state.sql, source.slot, name, { targets: now, idKey, tableOid: table.oid });
      }
      // A copy an older version recorded without targets or key is taken as it is (they are on record now).
      if (progress.targets === null || progress.idKey === null) continue;
      const remade = progress.tableOid !== null && progress.tableOid !== table.oid;
      // A target that holds nothing at all (made by this start, or a topic never written to)
      // holds neither the copy nor what streamed since, whatever its name says: a Kafka topic,
      // unlike an index, has no id the sink can read, so that is how a topic made anew shows.
      const missing = Object.entries(now).flatMap(([sink, indices]) =>
        Object.entries(indices).filter(([index, uuid]) =>
          progress.targets![sink]?.[index] !== uuid || state.empty.has(`${sink}\u0000${index}`)
        ).map(([index]) => ({ sink, index }))
      );
      if (missing.length === 0 && progress.idKey === idKey && !remade) {
        await checkLeaves(state, ctx, table, progress, identities.get(table.oid)?.leaves ?? null);
        if (progress.completed && progress.columns !== null && columnsChangedSince(progress.columns, table)) {
          // Not copied again unasked: the table may be large, and only the rows unchanged since are behind.
          logger.warn(
            "a table's columns changed since its copy (ALTER TABLE, or ALTER TYPE of a composite type it has): documents of rows unchanged since may show the old ones",
            {
              actor: ctx.path,
              table: name,
              fix: `to rewrite them all: stop the engine, run "oesophagus recopy ${name}", start it`,
            },
          );
        }
        continue;
      }
      await forgetTable(state.sql, source.slot, name);
      state.progress.delete(name);
      if (remade) {
        logger.warn("a table was dropped and made anew under its name since its copy: copying it again", {
          actor: ctx.path,
          table: name,
        });
      } else if (missing.length > 0) {
        logger.warn("a table's index was made anew since its copy: copying the table again", {
          actor: ctx.path,
          table: name,
          indices: missing,
        });
      } else {
        logger.warn("a table's key changed since its copy, and with it the documents' _id: copying the table again", {
          actor: ctx.path,
          table: name,
          key: table.key.columns,
        });
      }
    }
  }

  /**
   * Partitions attached or detached since the copy (while the engine was stopped, or while it
   * streamed, which restarted it): the same decision as the table watch's (`copiesAgain`), taken
   * here from the leaves the copy recorded. What needs no copy is recorded as it is now.
   */
  async function checkLeaves(
    state: Extract<CoordinatorState, { phase: "preparing" }>,
    ctx: ActorContext<SnapshotCommand>,
    table: TableDescription,
    progress: TableProgress,
    leaves: readonly number[] | null,
  ) {
    if (leaves === null) return;
    const name = displayName(table.name);
    // A copy an older version planned did not record them: from now on it has.
    if (progress.leaves === null) return await recordLeaves(state.sql, source.slot, name, leaves);
    const moved = leafChanges(progress.leaves, leaves);
    if (!moved) return;
    const change = { kind: "repartitioned", oid: table.oid, name: table.name, ...moved } as const;
    const earlier = (await leavesWithEarlierRows(state.sql, table.oid, moved.attached, unreadableLeaf(ctx.path)))
      .map(displayName);
    if (!copiesAgain(change, source.plugin, earlier)) {
      logger.info("a partitioned table's partitions changed since its copy: nothing to copy again", {
        actor: ctx.path,
        table: name,
        attached: moved.attached.length,
        detached: moved.detached.length,
      });
      return await recordLeaves(state.sql, source.slot, name, leaves);
    }
    await forgetTable(state.sql, source.slot, name);
    state.progress.delete(name);
    logger.warn(
      "a partitioned table's partitions changed since its copy: copying it again, and sweeping what it no longer holds",
      {
        actor: ctx.path,
        table: name,
        attachedWithEarlierRows: earlier,
        detached: moved.detached.length,
      },
    );
  }

  async function copy(
    state: Extract<CoordinatorState, { phase: "preparing" }>,
    ctx: ActorContext<SnapshotCommand>,
  ): Promise<CoordinatorState> {
    if (state.slotExisted) {
      await checkCopies(state, ctx);
      const uncopied = state.tables.filter((t) => !state.progress.get(displayName(t.name))?.completed);
      if (uncopied.length > 0 && state.snapshot === null) {
        state = { ...state, ...await laterSnapshot(ctx, uncopied) };
      }
    }
    const remaining = new Set<string>();
    if (state.snapshot) {
      for (const table of state.tables) {
        const name = displayName(table.name);
        const settings = tableConfig(name);
        let progress = state.progress.get(name);
        if (progress?.completed) continue;
        const targets = targetsOf(state, name);
        if (!progress) {
          const plan = await planTable(state.sql, state.snapshot.name, table, settings.snapshot.chunkRows);
          progress = await savePlan(state.sql, source.slot, name, plan, {
            sweep: state.slotExisted,
            targets,
            idKey: keyText(table.key),
            tableOid: table.oid,
            columns: columnSignature(table),
            snapshotVersion: state.snapshot.version,
          });
        }
        const versions = [state.snapshot.version, ...progress.chunks.flatMap((c) => c.doneVersion ?? [])];
        const spec: TableSnapshotSpec = {
          table,
          tableName: name,
          index: settings.index,
          concurrency: settings.snapshot.concurrency,
          pendingChunks: progress.chunks.filter((c) => c.doneVersion === null),
          rowsTotal: progress.rowsTotal,
          rowsDone: progress.chunks.reduce((sum, c) => sum + (c.rows ?? 0), 0),
          snapshot: state.snapshot,
          sinks: settings.sinks.map((sink) => ({ name: sink, ref: deps.sinks[sink] })),
          targets,
          sweepBelow: progress.sweep && settings.sinks.some((sink) => !state.created.has(`${sink}\u0000${settings.index}`))
            ? versions.reduce((a, b) => (b < a ? b : a))
            : null,
        };
        remaining.add(name);
        spawnActor(
          ctx.self,
          actorName(name),
          tableSnapshot({
            spec,
            sourceUrl: source.url,
            slot: source.slot,
            limits: {
              maxDocs: Math.min(...settings.sinks.map((s) => config.sinks[s].batch.maxDocs)),
              maxBytes: Math.min(...settings.sinks.map((s) => config.sinks[s].batch.maxBytes)),
            },
            parent: ctx.self,
            progress: deps.progress,
          }),
          { displayName: name },
        );
      }
    }
    if (remaining.size === 0) return await complete(state.replication, ctx);
    return { phase: "copying", replication: state.replication, remaining };
  }

  async function complete(replication: Sql | null, ctx: ActorContext<SnapshotCommand>): Promise<CoordinatorState> {
    // Ending the exporting connection releases the snapshot (and drops a temporary slot).
    await replication?.end({ timeout: 1 });
    // Refreshes back on everywhere before the stream starts: streamed changes must be searchable.
    const waiting = new Set<string>();
    for (const table of config.tables) {
      for (const sink of table.sinks) {
        waiting.add(`${sink}\u0000${table.index}`);
        ctx.send(deps.sinks[sink], { type: "EndBulkLoad", index: table.index, replyTo: ctx.self });
      }
    }
    return { phase: "finishing", waiting };
  }

  function completed(ctx: ActorContext<SnapshotCommand>): CoordinatorState {
    logger.info("snapshot complete", { actor: ctx.path });
    ctx.send(deps.parent, { type: "SnapshotCompleted" });
    return { phase: "done" };
  }

  return {
    init(ctx) {
      ctx.send(ctx.self, { type: "Start" });
      return { phase: "starting" };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "Start":
          return state.phase === "starting" ? await start(ctx) : state;
        case "TablePrepared":
          if (state.phase !== "preparing") return state;
          state.waiting.delete(`${msg.sink}\u0000${msg.index}`);
          if (msg.created) state.created.add(`${msg.sink}\u0000${msg.index}`);
          if (msg.empty) state.empty.add(`${msg.sink}\u0000${msg.index}`);
          state.uuids.set(`${msg.sink}\u0000${msg.index}`, msg.uuid);
          return state.waiting.size === 0 ? await copy(state, ctx) : state;
        case "BulkLoadEnded":
          if (state.phase !== "finishing") return state;
          state.waiting.delete(`${msg.sink}\u0000${msg.index}`);
          return state.waiting.size === 0 ? completed(ctx) : state;
        case "TableCopied":
          if (state.phase !== "copying") return state;
          state.remaining.delete(msg.table);
          return state.remaining.size === 0 ? await complete(state.replication, ctx) : state;
        default:
          return assertNever(msg);
      }
    },
  };
}
