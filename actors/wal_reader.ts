/**
 * The wal reader: one replication connection streaming the slot from its confirmed LSN. Frames
 * are decoded as they arrive and cut into segments (bounded by a bulk request for each lane of the
 * sinks, `src/stream/segment_size.ts`, and by the batch timeout, and cut sooner, after `lingerMs`,
 * when nothing is in flight), which go to the router after being registered with the
 * checkpointer; a long one's events go ahead in parts as they are read. When more than
 * `maxInFlightEvents` row changes or `maxInFlightBytes` are un-acked, or the router has more than
 * `UNRENDERED_EVENTS` still to render, the stream is paused (TCP holds PostgreSQL back) while
 * standby status updates keep the connection alive. The flushed LSN sent to PostgreSQL is only
 * ever the checkpointer's, and no further than the configured tables were last seen unrenamed and
 * undropped (`src/stream/table_watch.ts`). A stream that sends nothing for `receiveTimeoutMs` while being read
 * is taken for lost (a connection cut without a FIN or RST never ends by itself), as PostgreSQL's
 * own `wal_receiver_timeout` does for a standby: after half of it the server is asked for a reply,
 * which a live walsender sends even while it decodes a long transaction. While no configured
 * table changes, a heartbeat (a logical message of the engine's) is written every
 * `heartbeatIntervalMs` and read back like any commit.
 */
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import { type Config, tableConfigNamed } from "../src/config/load.ts";
import { errorMessage, OesophagusError } from "../src/errors.ts";
import { displayName, type QualifiedName } from "../src/pg/identifier.ts";
import { formatLsn, type Lsn } from "../src/pg/lsn.ts";
import { emitHeartbeat, markPosition } from "../src/pg/logical_message.ts";
import { currentIdentities, tableIdentities, type TableIdentity } from "../src/pg/table_identity.ts";
import { leavesWithEarlierRows, partitionedTables, unreadableLeaf } from "../src/pg/partitions.ts";
import { PgoutputDecoder } from "../src/pg/pgoutput.ts";
import {
  type CopyBothStream,
  openReplication,
  parseFrame,
  statusUpdate,
  type XLogData,
  xlogPayload,
  xlogStart,
} from "../src/pg/replication_stream.ts";
import { connect, type Sql } from "../src/pg/session.ts";
import { explainSlotError, inspectSlot, walsenderBusy } from "../src/pg/slot.ts";
import { waitForIdleSlot } from "../src/pg/slot_wait.ts";
import { forgetTable, recordedLeaves } from "../src/snapshot/progress_store.ts";
import { Wal2jsonDecoder, wal2jsonOptions } from "../src/pg/wal2json.ts";
import type { CheckpointerCommand, RouterCommand, WalReaderCommand } from "../src/protocol/stream.ts";
import { type ChangeEvent, DecodeError } from "../src/stream/change.ts";
import { copiesAgain, tableChangeError, tableChanges } from "../src/stream/table_watch.ts";
import type { Lifecycle } from "../src/lifecycle.ts";
import { setPhase } from "../src/telemetry/health.ts";
import { segmentBounds } from "../src/stream/segment_size.ts";
import { logger } from "../src/telemetry/log.ts";
import { gauges } from "../src/telemetry/metrics.ts";
import { startSlotProbe } from "../src/telemetry/slot_probe.ts";
import type { ActorContext, Behaviour } from "../supervision/actor.ts";

export interface WalReaderDeps {
  readonly config: Config;
  readonly lifecycle: Lifecycle;
  readonly router: Ref<RouterCommand>;
  readonly checkpointer: Ref<CheckpointerCommand>;
  /** Where the walsender of a stream given up on is left for the next start to end. */
  readonly abandonedWalsenders: Set<number>;
}

/** The live stream and its bookkeeping; mutated by the stream's callbacks and the handlers alike. */
interface Live {
  readonly stream: CopyBothStream;
  flushed: Lsn;
  /** Highest position handed to the checkpointer. */
  queued: Lsn;
  inTransaction: boolean;
  /** Events of the segment being read not yet sent to the router (`RouteEvents` sends them in parts). */
  events: ChangeEvent[];
  /** Events in the segment being read, sent ahead or not. */
  count: number;
  /** Events sent to the router that it has not rendered yet (it says so with `Rendered`). */
  unrendered: number;
  /** Row changes among them (begin and commit records do not become documents). */
  rows: number;
  bytes: number;
  position: Lsn | null;
  startedAt: number;
  /** A cut is scheduled, `lingerMs` after the segment began: a commit arrived with nothing in flight. */
  cutScheduled: boolean;
  nextSegment: number;
  /** Records (rows, BEGIN, COMMIT) not yet acknowledged: zero when nothing is in flight. */
  outstandingEvents: number;
  /** Row changes among them: what maxInFlightEvents bounds. */
  outstandingRows: number;
  outstandingBytes: number;
  paused: boolean;
  /** Reading stopped for good (SIGTERM, or a table change): acks do not resume the stream. */
  draining: boolean;
  lastStatus: number;
  /** Highest position read (a commit's end, a keepalive's): every commit before it is visible to a query sent after. */
  received: Lsn;
  /** Highest position the configured tables were found unchanged at: the slot is confirmed no further. */
  verified: Lsn;
  /** The configured tables, as last seen in the catalog, with their indices. */
  tables: readonly (TableIdentity & { readonly index: string; readonly configName: string })[];
  /** On its own connection: the catalog is read between frames, never in their way. */
  readonly watchSql: Sql;
  watching: boolean;
  lastWatchAt: number;
  /** The next look at the tables, while one is due (see `watchSoon`). */
  watchTimer: ReturnType<typeof setTimeout> | undefined;
  /** A configured table changed: once everything before `bound` is read and in the sinks, the pipeline fails with `error`. */
  stopping: { readonly bound: Lsn; readonly error: OesophagusError } | null;
  /** Frames received so far; a tick that finds the count moved sets `heardAt`. */
  frames: number;
  framesAtTick: number;
  /** When a frame last arrived, to a tick's precision (or reading last resumed). */
  heardAt: number;
  /** When the server was last asked for a reply (0: not since `heardAt`). */
  pingedAt: number;
  /** The walsender serving this stream, once known: ended at the next start if this stream is given up. */
  walsenderPid: number | null;
  /** A look at the walsender from another connection is under way (the stream has been silent too long). */
  probing: boolean;
  /** Commits read and not yet flushed, oldest first from `commitsHead`: their times give the lag in seconds. */
  commits: { endLsn: Lsn; commitTime: number | null }[];
  commitsHead: number;
  /** Row changes read so far, and as many at the last heartbeat tick: none since, and one is written. */
  rowsRead: number;
  rowsAtHeartbeat: number;
  /** The last heartbeat failed: the next one to succeed says so. */
  heartbeatFailed: boolean;
}

type ReaderState = { live: Live | null };

/**
 * How often the configured tables' names are read while the stream is ahead of the last reading:
 * mostly ahead of the sinks' acks, so confirming waits for no query.
 */
const TABLE_WATCH_MS = 20;
/** An ack the last reading does not cover starts one at once, unless one started this recently. */
const TABLE_WATCH_GAP_MS = 5;
/**
 * A long segment goes to the router in parts of this many events as it is read: rendered at
 * once, its changes die young (V8 copies every object alive at each young-generation collection,
 * and promotes what survives two), instead of thousands of them waiting for the segment's end.
 */
const PART_EVENTS = 256;
/** Events the router may have still to render before reading pauses: their objects are what GC copies. */
const UNRENDERED_EVENTS = 2 * PART_EVENTS;
/** A TLS stream that cannot hold the server back is said once per process, not at every restart of the stream. */
let warnedTlsReadAhead = false;
/** How long a look at a silent stream's walsender may take; no answer counts as a lost server. */
const SILENCE_PROBE_MS = 10_000;

export function walReader(deps: WalReaderDeps): Behaviour<ReaderState, WalReaderCommand> {
  const { config } = deps;
  const source = config.source;
  const sinkConfigs = Object.values(config.sinks);
  const { rows: segmentEvents, bytes: segmentBytes } = segmentBounds(sinkConfigs, source);
  const segmentTimeoutMs = Math.min(...sinkConfigs.map((s) => s.batch.timeoutMs));
  const segmentLingerMs = Math.min(segmentTimeoutMs, ...sinkConfigs.map((s) => s.batch.lingerMs));

  const publishInFlight = (live: Live) =>
    gauges.inFlight.set(source.slot, { events: live.outstandingRows, bytes: live.outstandingBytes });
  const publishLag = (live: Live) =>
    gauges.oldestUnacked.set(source.slot, { commitTime: live.commits[live.commitsHead]?.commitTime ?? null });

  /** What the slot may be confirmed to: acked by the sinks, and before any unnoticed table change. */
  const confirmable = (live: Live): Lsn => live.flushed < live.verified ? live.flushed : live.verified;

  const sendStatus = (live: Live, replyRequested = false) => {
    // Written = flushed: reporting more as written would stop the walsender's keepalives (it
    // pings only a client whose write position lags), and with them the idle slot's progress.
    const confirmed = confirmable(live);
    live.stream.write(statusUpdate(confirmed, confirmed, Date.now(), replyRequested));
    live.lastStatus = Date.now();
  };

  /** Asks for a reply after half the receive timeout in silence; gives the stream up after all of it. */
  const checkSilence = (live: Live, ctx: ActorContext<WalReaderCommand>) => {
    const now = Date.now();
    if (live.frames !== live.framesAtTick) {
      live.framesAtTick = live.frames;
      live.heardAt = now;
      live.pingedAt = 0;
    }
    // Paused, the reader reads nothing by design: silence is measured from the resume.
    if (live.paused) return;
    const silentMs = now - live.heardAt;
    if (silentMs >= source.receiveTimeoutMs) {
      if (!live.probing) void giveUpUnlessBusy(live, ctx, silentMs);
    } else if (silentMs >= source.receiveTimeoutMs / 2 && live.pingedAt === 0) {
      live.pingedAt = now;
      sendStatus(live, true);
    }
  };

  /**
   * A walsender at work (replaying a long filtered transaction) is waited for, another timeout at
   * a time; one that is idle, blocked writing to us or gone, or a server that does not answer on a
   * new connection within `SILENCE_PROBE_MS`, means the stream is lost.
   */
  async function giveUpUnlessBusy(live: Live, ctx: ActorContext<WalReaderCommand>, silentMs: number) {
    live.probing = true;
    const pid = live.walsenderPid;
    let busy = false;
    if (pid !== null) {
      const sql = connect(source.url, { max: 1, applicationName: "oesophagus stream probe" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        busy = await Promise.race([
          walsenderBusy(sql, pid).catch(() => false),
          new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), SILENCE_PROBE_MS)),
        ]);
      } finally {
        clearTimeout(timer);
        void sql.end({ timeout: 1 });
      }
    }
    live.probing = false;
    // Heard from while the look was under way (ticks go on meanwhile), or paused since: not lost.
    if (ctx.scope.closed || live.paused || Date.now() - live.heardAt < source.receiveTimeoutMs) return;
    if (busy) {
      logger.info("the replication stream is silent while its walsender works (a long transaction): waiting on", {
        actor: ctx.path,
        silentS: Math.round(silentMs / 1000),
        pid,
      });
      live.heardAt = Date.now();
      live.pingedAt = 0;
      return;
    }
    if (pid !== null) deps.abandonedWalsenders.add(pid);
    live.stream.close();
    ctx.fail(
      new OesophagusError(
        "source_unreachable",
        `the replication stream sent nothing for ${
          Math.round(silentMs / 1000)
        } s, not even a reply when asked, and its walsender is not at work: taken for lost, it is opened again`,
        {
          retriable: true,
          fix:
            "a network path that drops connections silently (a firewall or NAT idle timeout) or an overloaded server; source.receiveTimeoutMs sets how long the engine waits",
        },
      ),
    );
  }

  /**
   * Reads the configured tables' names. Everything read before the query was sent committed
   * before it, so a rename or drop before that position shows here, and the slot may be
   * confirmed up to it only when none does (see `src/stream/table_watch.ts`).
   */
  async function watchTables(live: Live, ctx: ActorContext<WalReaderCommand>): Promise<void> {
    if (live.watching || live.stopping) return;
    const sql = live.watchSql;
    live.watching = true;
    live.lastWatchAt = Date.now();
    const readBefore = live.received;
    try {
      const now = await currentIdentities(sql, live.tables.map((t) => t.oid));
      if (ctx.scope.closed) return;
      const changes = tableChanges(live.tables, now);
      for (const change of changes) {
        const { index, configName } = live.tables.find((t) => t.oid === change.oid)!;
        let recopied: string[] = [];
        if (change.kind === "repartitioned") {
          recopied = (await leavesWithEarlierRows(sql, change.oid, change.attached, unreadableLeaf(ctx.path)))
            .map(displayName);
          // Before the stop: the restart finds no copy of the table, and copies it (and sweeps) as it is now.
          if (copiesAgain(change, source.plugin, recopied)) await forgetTable(sql, source.slot, configName);
        }
        const error = tableChangeError(change, source.plugin, index, recopied);
        if (!error) continue;
        const bound = await markPosition(sql);
        live.stopping = { bound, error };
        logger[error.retriable ? "warn" : "error"](
          "a replicated table changed under the stream: stopping once what was read before it is indexed",
          {
            actor: ctx.path,
            code: error.code,
            reason: error.message,
            confirmed: formatLsn(confirmable(live)),
          },
        );
        return;
      }
      // Renames the stream follows (pgoutput): compared with the new names from now on.
      if (changes.length > 0) live.tables = live.tables.map((t) => ({ ...t, name: now.get(t.oid)!.name }));
      if (readBefore > live.verified) {
        const before = confirmable(live);
        live.verified = readBefore;
        if (confirmable(live) > before) sendStatus(live);
      }
    } catch (error) {
      if (ctx.scope.closed) return;
      // Without a reading the slot cannot be confirmed further, and a server shutting down waits
      // for its walsender's client to confirm all it sent (fast shutdown) while it refuses
      // queries: end the stream instead (the slot stays where it was confirmed), and resume from
      // there through the supervisor's restart, once the server answers again.
      live.stream.close();
      ctx.fail(
        new OesophagusError("source_unreachable", `the replicated tables' names cannot be read: ${errorMessage(error)}`, {
          retriable: true,
          cause: error,
        }),
      );
    } finally {
      live.watching = false;
      if (live.stopping || live.received > live.verified) watchSoon(live, ctx);
    }
  }

  /**
   * A heartbeat goes where the table watch reads (its own connection, never in the stream's
   * way). Its failure loses nothing (keepalives still move the slot): it is reported, and the
   * next tick tries again.
   */
  async function heartbeat(live: Live, ctx: ActorContext<WalReaderCommand>) {
    const quiet = live.rowsRead === live.rowsAtHeartbeat;
    live.rowsAtHeartbeat = live.rowsRead;
    if (!quiet || live.paused || live.stopping) return;
    try {
      const lsn = await emitHeartbeat(live.watchSql, source.slot);
      if (ctx.scope.closed) return;
      if (live.heartbeatFailed) logger.info("heartbeats are written again", { actor: ctx.path });
      else logger.debug("heartbeat written", { actor: ctx.path, lsn: formatLsn(lsn) });
      live.heartbeatFailed = false;
    } catch (error) {
      if (ctx.scope.closed) return;
      live.heartbeatFailed = true;
      logger.warn("a heartbeat could not be written (the slot still moves on the server's keepalives)", {
        actor: ctx.path,
        reason: errorMessage(error),
      });
    }
  }

  /**
   * The tables are looked at every TABLE_WATCH_MS while the stream is ahead of the last look, or
   * while a stop waits for the stream to pass its position, and not at all on an idle stream: its
   * timer runs only while a look is due (an idle engine's wakeups are most of what it costs).
   */
  function watchSoon(live: Live, ctx: ActorContext<WalReaderCommand>): void {
    if (live.watchTimer !== undefined || ctx.scope.closed) return;
    live.watchTimer = setTimeout(() => {
      live.watchTimer = undefined;
      if (ctx.scope.closed) return;
      if (live.stopping) finishStopping(live, ctx);
      else if (live.received > live.verified) void watchTables(live, ctx);
      if (live.stopping || live.received > live.verified) watchSoon(live, ctx);
    }, TABLE_WATCH_MS);
  }

  /** Stop reading, then fail once the stream passed the change's position and everything read is in the sinks. */
  function finishStopping(live: Live, ctx: ActorContext<WalReaderCommand>) {
    const stop = live.stopping!;
    if (live.received < stop.bound || live.inTransaction) return;
    if (!live.draining) {
      live.draining = true;
      live.paused = true;
      live.stream.pause();
      cut(live, ctx);
    }
    if (live.outstandingEvents > 0) return;
    sendStatus(live);
    live.stream.close();
    ctx.fail(stop.error);
  }

  const cut = (live: Live, ctx: ActorContext<WalReaderCommand>) => {
    if (live.count === 0 && live.position === null) return;
    const segment = {
      id: live.nextSegment++,
      events: live.events,
      bytes: live.bytes,
      position: live.position,
      readAt: live.startedAt,
    };
    if (segment.position !== null && segment.position > live.queued) live.queued = segment.position;
    const { rows, count } = live;
    live.events = [];
    live.count = 0;
    live.rows = 0;
    live.bytes = 0;
    live.position = null;
    live.outstandingEvents += count;
    live.outstandingRows += rows;
    live.outstandingBytes += segment.bytes;
    ctx.send(deps.checkpointer, {
      type: "SegmentOpened",
      id: segment.id,
      position: segment.position,
      events: count,
      rows,
      bytes: segment.bytes,
    });
    ctx.send(deps.router, { type: "Route", segment, replyTo: ctx.self });
    live.unrendered += segment.events.length;
    publishInFlight(live);
    throttle(live);
  };

  /** Sends the segment's events read so far to the router, ahead of its end. */
  const sendPart = (live: Live, ctx: ActorContext<WalReaderCommand>) => {
    ctx.send(deps.router, {
      type: "RouteEvents",
      segmentId: live.nextSegment,
      readAt: live.startedAt,
      events: live.events,
      replyTo: ctx.self,
    });
    live.unrendered += live.events.length;
    live.events = [];
    throttle(live);
  };

  /**
   * Reading stops while too much is un-acked (the in-flight bounds) or while the router has more
   * events still to render than `UNRENDERED_EVENTS`: it renders on the same thread, and takes its
   * turns between the reads, each of which can bring a thousand messages.
   */
  const throttle = (live: Live) => {
    const full = live.outstandingRows >= source.maxInFlightEvents || live.outstandingBytes >= source.maxInFlightBytes ||
      live.unrendered >= UNRENDERED_EVENTS;
    if (full && !live.paused) {
      live.paused = true;
      live.stream.pause();
    } else if (!full && live.paused && !live.draining) {
      live.paused = false;
      live.heardAt = Date.now();
      live.stream.resume();
    }
  };

  /**
   * With nothing in flight, waiting the whole batch timeout for a fuller batch only adds latency:
   * committed changes go once the segment is `lingerMs` old (a few milliseconds collect the
   * commits of a busy source into one request instead of one request each). Under load something
   * is always in flight, and segments fill to the batch size as before.
   */
  const cutWhenIdle = (live: Live, ctx: ActorContext<WalReaderCommand>) => {
    if (live.cutScheduled) return;
    live.cutScheduled = true;
    setTimeout(() => {
      live.cutScheduled = false;
      // Inside a transaction its commit comes later and schedules again: a transaction is not split for this.
      if (!ctx.scope.closed && !live.inTransaction && live.count > 0 && live.outstandingEvents === 0) {
        cut(live, ctx);
      }
    }, Math.max(0, live.startedAt + segmentLingerMs - Date.now()));
  };

  async function start(ctx: ActorContext<WalReaderCommand>): Promise<Live> {
    const sql = connect(source.url, { max: 1, applicationName: "oesophagus wal reader" });
    let startLsn: Lsn;
    let partitioned: QualifiedName[] = [];
    let tables: TableIdentity[];
    let recorded: Map<string, readonly number[]>;
    try {
      const slot = await waitForIdleSlot(sql, source.slot, {
        signal: ctx.scope.signal,
        abandoned: deps.abandonedWalsenders,
      });
      if (!slot) {
        throw new OesophagusError(
          "slot_missing",
          `replication slot ${source.slot} does not exist any more: the changes it held are lost to the engine`,
          {
            fix:
              `start over with a new snapshot: DELETE FROM oesophagus.snapshot_table WHERE slot = '${source.slot}'; then restart the engine (documents of rows deleted meanwhile stay in Elasticsearch until the index is rebuilt)`,
          },
        );
      }
      startLsn = slot.confirmedFlushLsn ?? (0n as Lsn);
      tables = await tableIdentities(sql, config.tables.map((t) => t.name));
      recorded = await recordedLeaves(sql, source.slot);
      if (source.plugin === "wal2json") {
        partitioned = await partitionedTables(sql, config.tables.map((t) => t.name));
      }
    } finally {
      await sql.end({ timeout: 1 });
    }

    const options = source.plugin === "pgoutput"
      ? { proto_version: "1", publication_names: source.publication }
      // A partitioned table's changes come under its partitions' names, present and future: no table filter then.
      // Transaction ids only for a sink of change events: the envelope's `source.txid`.
      : wal2jsonOptions(partitioned.length > 0 ? null : config.tables.map((t) => t.name), {
        xids: Object.values(config.sinks).some((sink) => sink.type === "kafka"),
      });
    if (partitioned.length > 0) {
      logger.info("wal2json streams every table: partitioned tables are configured", {
        actor: ctx.path,
        partitioned: partitioned.map(displayName),
      });
    }
    let stream: CopyBothStream;
    let transport: string;
    let pauseHoldsServer: boolean;
    try {
      ({ stream, transport, pauseHoldsServer } = await openReplication(source.url, "oesophagus wal reader", {
        slot: source.slot,
        plugin: source.plugin,
        startLsn,
        options,
      }));
    } catch (error) {
      throw explainSlotError(error, source.slot, source.plugin);
    }
    ctx.scope.own(stream, (s) => s.close());
    const watchSql = ctx.scope.own(
      connect(source.url, { max: 1, applicationName: "oesophagus table watch" }),
      (s) => s.end({ timeout: 1 }),
    );
    const decoder = source.plugin === "pgoutput" ? new PgoutputDecoder() : new Wal2jsonDecoder();
    const live: Live = {
      stream,
      flushed: startLsn,
      queued: startLsn,
      inTransaction: false,
      events: [],
      count: 0,
      unrendered: 0,
      rows: 0,
      bytes: 0,
      position: null,
      startedAt: Date.now(),
      cutScheduled: false,
      nextSegment: 0,
      outstandingEvents: 0,
      outstandingRows: 0,
      outstandingBytes: 0,
      paused: false,
      draining: false,
      lastStatus: 0,
      commits: [],
      commitsHead: 0,
      rowsRead: 0,
      rowsAtHeartbeat: 0,
      heartbeatFailed: false,
      frames: 0,
      framesAtTick: 0,
      heardAt: Date.now(),
      pingedAt: 0,
      walsenderPid: null,
      probing: false,
      received: startLsn,
      verified: startLsn,
      // Compared first with the partitions the copy recorded: one attached while the table was
      // being copied (after the copy's plan, before this stream) is a change the watch must see.
      tables: tables.map((t) => ({
        ...t,
        leaves: recorded.get(displayName(t.name)) ?? t.leaves,
        index: tableConfigNamed(config, displayName(t.name)).index,
        configName: displayName(t.name),
      })),
      watchSql,
      watching: false,
      lastWatchAt: 0,
      watchTimer: undefined,
      stopping: null,
    };
    ctx.scope.own(live, (l) => clearTimeout(l.watchTimer));
    ctx.scope.own(startSlotProbe(source.url, source.slot), (probe) => probe[Symbol.dispose]());
    // The slot is ours from START_REPLICATION on: its active PID is this stream's walsender.
    inspectSlot(watchSql, source.slot).then((info) => live.walsenderPid = info?.activePid ?? null, () => {});
    // A restart starts with nothing in flight: no stale figures from the incarnation before.
    publishInFlight(live);
    publishLag(live);
    ctx.send(deps.checkpointer, { type: "Started", start: startLsn, replyTo: ctx.self });

    const onFrame = (bytes: Uint8Array) => {
      if (ctx.scope.closed) return;
      live.frames++;
      try {
        const payload = xlogPayload(bytes);
        if (payload === null) {
          const frame = parseFrame(bytes);
          if (frame.kind !== "keepalive") return; // Never: parseFrame refuses any other kind.
          if (frame.walEnd > live.received) {
            live.received = frame.walEnd;
            watchSoon(live, ctx);
          }
          // Between transactions everything before the server's sent position has been read, so
          // that position can be flushed once the segment being filled (and all before it) is
          // acked: idle or filtered traffic still moves the slot.
          if (!live.inTransaction && frame.walEnd > live.queued && (live.position === null || frame.walEnd > live.position)) {
            live.position = frame.walEnd;
            if (live.count === 0) cut(live, ctx);
          }
          if (frame.replyRequested) sendStatus(live);
          return;
        }
        let event;
        try {
          event = decoder.decode(payload);
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          const { walStart } = parseFrame(bytes) as XLogData;
          // Nothing at or after this message has been acknowledged: a restart reads it again.
          throw new OesophagusError(
            "wal_malformed",
            `the ${source.plugin} message at ${formatLsn(walStart)} cannot be decoded: ${error.message}`,
            {
              fix: "the slot still holds the message; if restarts do not help, report it with the server and plugin versions",
            },
          );
        }
        if (event === null) return;
        if (event.kind === "begin") event = { ...event, firstLsn: xlogStart(bytes) };
        if (live.count === 0) live.startedAt = Date.now();
        live.events.push(event);
        live.count++;
        live.bytes += payload.length;
        if (event.kind === "row") {
          live.rows++;
          live.rowsRead++;
        } else if (event.kind === "begin") live.inTransaction = true;
        else if (event.kind === "commit") {
          live.inTransaction = false;
          live.position = event.endLsn;
          if (event.endLsn > live.received) {
            live.received = event.endLsn;
            watchSoon(live, ctx);
          }
          live.commits.push({ endLsn: event.endLsn, commitTime: event.commitTime });
          if (live.commitsHead === live.commits.length - 1) publishLag(live);
          if (live.outstandingEvents === 0) cutWhenIdle(live, ctx);
        }
        if (live.rows >= segmentEvents || live.bytes >= segmentBytes) cut(live, ctx);
        else if (live.events.length >= PART_EVENTS) sendPart(live, ctx);
      } catch (error) {
        stream.close();
        ctx.fail(error);
      }
    };
    stream.start({
      frame: onFrame,
      end: (error) =>
        ctx.fail(
          error
            ? new OesophagusError("source_unreachable", `replication stream failed: ${error.message}`, {
              retriable: true,
              cause: error,
            })
            : new OesophagusError("source_unreachable", "replication stream closed by the server", { retriable: true }),
        ),
    });
    const tick = setInterval(() => ctx.send(ctx.self, { type: "Tick" }), Math.max(10, Math.min(segmentTimeoutMs, 100)));
    ctx.scope.own(tick, clearInterval);
    if (source.heartbeatIntervalMs > 0) {
      ctx.scope.own(setInterval(() => void heartbeat(live, ctx), source.heartbeatIntervalMs), clearInterval);
    }
    // SIGTERM: stop reading, let what was read reach the sinks, flush its position, return.
    const unregister = deps.lifecycle.register(async (deadline) => {
      live.stream.pause();
      live.paused = true;
      live.draining = true;
      cut(live, ctx);
      while ((live.outstandingEvents > 0 || live.watching) && Date.now() < deadline && !ctx.scope.closed) {
        await new Promise((r) => setTimeout(r, 20));
      }
      // The last reading of the tables' names, so the slot is confirmed up to everything acked.
      if (!ctx.scope.closed && live.flushed > live.verified) await watchTables(live, ctx);
      if (!ctx.scope.closed) sendStatus(live);
      logger.info("wal reader drained", {
        actor: ctx.path,
        flushed: formatLsn(confirmable(live)),
        unacked: live.outstandingEvents,
      });
    });
    ctx.scope.own(unregister, (f) => f());
    logger.info("streaming from slot", {
      actor: ctx.path,
      slot: source.slot,
      plugin: source.plugin,
      start: formatLsn(startLsn),
      transport,
    });
    if (!pauseHoldsServer && !warnedTlsReadAhead) {
      warnedTlsReadAhead = true;
      logger.warn(
        "this runtime hides the TCP socket under the TLS replication stream: a paused stream keeps reading from the server, and a backlog larger than the sinks take is held in memory",
        {
          actor: ctx.path,
          fix:
            "run the engine on Deno 2.9.6 (scripts/install, the Dockerfile), or, where the network is trusted, sslmode=disable in source.url",
        },
      );
    }
    setPhase("streaming");
    return live;
  }

  return {
    init(ctx) {
      ctx.send(ctx.self, { type: "Start" });
      return { live: null };
    },

    async handle(state, msg, ctx) {
      switch (msg.type) {
        case "Start":
          return { live: await start(ctx) };
        case "Progress": {
          const live = state.live;
          if (!live) return state;
          live.outstandingEvents -= msg.releasedEvents;
          live.outstandingRows -= msg.releasedRows;
          live.outstandingBytes -= msg.releasedBytes;
          throttle(live);
          // The pipeline emptied while committed changes wait for a fuller batch.
          if (live.outstandingEvents === 0 && live.count > 0 && !live.inTransaction) cutWhenIdle(live, ctx);
          if (msg.flushed !== null && msg.flushed > live.flushed) {
            live.flushed = msg.flushed;
            if (live.flushed > live.verified && Date.now() - live.lastWatchAt >= TABLE_WATCH_GAP_MS) void watchTables(live, ctx);
            sendStatus(live);
            while (live.commitsHead < live.commits.length && live.commits[live.commitsHead].endLsn <= live.flushed) {
              live.commitsHead++;
            }
            if (live.commitsHead > 1024 && live.commitsHead * 2 > live.commits.length) {
              live.commits = live.commits.slice(live.commitsHead);
              live.commitsHead = 0;
            }
            publishLag(live);
          }
          publishInFlight(live);
          return state;
        }
        case "Rendered": {
          const live = state.live;
          if (!live) return state;
          live.unrendered -= msg.events;
          throttle(live);
          return state;
        }
        case "Tick": {
          const live = state.live;
          if (!live) return state;
          if (live.count > 0 && Date.now() - live.startedAt >= segmentTimeoutMs) cut(live, ctx);
          if (Date.now() - live.lastStatus >= source.statusIntervalMs) sendStatus(live);
          checkSilence(live, ctx);
          return state;
        }
        default:
          return assertNever(msg);
      }
    },
  };
}
