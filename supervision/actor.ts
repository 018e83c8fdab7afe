/**
 * Actors on nact with explicit supervision. An actor is a `Behaviour`: `init` builds the state of
 * one incarnation (and spawns its children, so a restart is a real restart), `handle` takes one
 * message at a time. Each incarnation owns a Scope that closes when it ends.
 *
 * What a crash means is decided by the supervisor (the parent), never by the child: a crashed
 * actor always escalates, and its parent's SupervisionPolicy either restarts all its children
 * (by starting a new incarnation of itself after a backoff) or escalates further up.
 * Supervisors are never `reset` or `resume`d by nact on behalf of a child: nact would then run
 * a second handler beside one that may still be awaiting, so restarts are messages instead.
 */
import { dispatch as nactDispatch, type Ref, spawn } from "nact";
import { errorMessage, OesophagusError } from "../src/errors.ts";
import { setPhase } from "../src/telemetry/health.ts";
import { counters } from "../src/telemetry/metrics.ts";
import { logger } from "../src/telemetry/log.ts";
import { shouldCrash } from "./crash_injection.ts";
import { ESCALATE, RestartBudget, type SupervisionPolicy } from "./policy.ts";
import { Scope } from "./scope.ts";

export type { Ref };
// deno-lint-ignore no-explicit-any
export type AnyRef = Ref<any>;

export interface ActorContext<M> {
  readonly self: Ref<M>;
  /** Deterministic name for logs, traces and restart counts: `pipeline/snapshot/public.users`. */
  readonly path: string;
  readonly scope: Scope;
  /** Sends, unless this incarnation has ended: a dead incarnation sends nothing. */
  send<T>(to: Ref<T>, msg: T): void;
  /** Sends to self after a delay, unless this incarnation ends first. */
  sendLater(msg: M, delayMs: number): void;
  /** Crashes this actor from work running outside a handler (a detached request, a stream callback). */
  fail(error: unknown): void;
}

export interface Behaviour<S, M> {
  init(ctx: ActorContext<M>): S;
  handle(state: S, msg: M, ctx: ActorContext<M>): S | Promise<S>;
}

export interface SpawnOptions {
  /** How this actor supervises its children. Default: escalate every child crash. */
  readonly supervision?: SupervisionPolicy;
  /** Only for an actor whose parent is the actor system: where an escalation ends. */
  readonly onEscalate?: (error: unknown, path: string) => void;
  /** Name in logs when the nact name had to be sanitised (table names). */
  readonly displayName?: string;
}

const RESTART = Symbol("restart");
const FAIL = Symbol("fail");
type Internal = { readonly [RESTART]: number } | { readonly [FAIL]: unknown };

interface Cell<S> {
  incarnation: number;
  scope: Scope;
  state: S;
  context: ActorContext<unknown>;
}

const displayPaths = new Map<string, string>();

/** nact names allow few characters; this keeps a name readable and valid. */
export function actorName(text: string): string {
  const safe = text.replace(/[^a-z0-9\-$_.+!*'(),]/gi, "_");
  return safe.length > 0 ? safe : "_";
}

export function spawnActor<S, M>(parent: AnyRef, name: string, behaviour: Behaviour<S, M>, options: SpawnOptions = {}): Ref<M> {
  const parentPath = displayPaths.get(pathKey(parent));
  const path = parentPath ? `${parentPath}/${options.displayName ?? name}` : options.displayName ?? name;
  const budget = new RestartBudget(options.supervision ?? ESCALATE);
  let cell: Cell<S> | undefined;
  let self: Ref<M> | undefined;

  const startIncarnation = (ref: Ref<M>): Cell<S> => {
    const incarnation = (cell?.incarnation ?? 0) + 1;
    const scope = new Scope();
    const context: ActorContext<M> = {
      self: ref,
      path,
      scope,
      send(to, msg) {
        if (!scope.closed) nactDispatch(to, msg);
      },
      sendLater(msg, delayMs) {
        const timer = setTimeout(() => context.send(ref, msg), delayMs);
        scope.own(timer, clearTimeout);
      },
      fail(error) {
        if (!scope.closed) nactDispatch(ref, { [FAIL]: error } as unknown as M);
      },
    };
    const next: Cell<S> = { incarnation, scope, state: undefined as S, context: context as ActorContext<unknown> };
    cell = next;
    next.state = behaviour.init(context);
    return next;
  };

  const ref = spawn(
    parent,
    async (_: unknown, msg: M | Internal, nctx: { self: Ref<M> }) => {
      const current = cell!;
      if (typeof msg === "object" && msg !== null && RESTART in msg) {
        if (msg[RESTART] === current.incarnation) {
          logger.info("actor restarted", { actor: path, incarnation: current.incarnation + 1 });
          startIncarnation(nctx.self);
        }
        return null;
      }
      // Messages for an incarnation that is being replaced are dropped: the restart re-reads
      // everything from checkpoints, so nothing is lost.
      if (current.scope.closed) return null;
      if (typeof msg === "object" && msg !== null && FAIL in msg) throw msg[FAIL];
      if (shouldCrash(path)) throw new Error(`injected crash of ${path} (OESOPHAGUS_INJECT_CRASH)`);
      const next = await behaviour.handle(current.state, msg as M, current.context as ActorContext<M>);
      if (cell === current && !current.scope.closed) current.state = next;
      return null;
    },
    name,
    {
      initialStateFunc: (nctx: { self: Ref<M> }) => {
        self = nctx.self;
        // The root's children are named from the pipeline down: `pipeline/snapshot/public.users`.
        displayPaths.set(pathKey(nctx.self), options.onEscalate ? "" : path);
        startIncarnation(nctx.self);
        return null;
      },
      afterStop: () => {
        void cell?.scope.close(new Error(`${path} stopped`));
        if (self) displayPaths.delete(pathKey(self));
      },
      // deno-lint-ignore no-explicit-any
      onCrash: (_msg: unknown, error: unknown, nctx: any, child: AnyRef | undefined) => {
        if (nctx.parent === undefined) return nctx.stop;
        if (child === undefined) {
          // Our own handler failed. If this incarnation was already being replaced the failure
          // is an echo of that (closed connections); otherwise our supervisor decides.
          if (cell?.scope.closed) return nctx.resume;
          counters.errors.add(1, { code: error instanceof OesophagusError ? error.code : "internal" });
          logger.warn("actor crashed", { actor: path, error: errorMessage(error) });
          if (options.onEscalate) {
            options.onEscalate(error, path);
            return nctx.stop;
          }
          return nctx.escalate;
        }
        const childPath = displayPaths.get(pathKey(child)) ?? `${path}/?`;
        const decision = budget.decide(error);
        if (decision.kind === "escalate") {
          logger.error("supervisor escalates", {
            actor: path,
            child: childPath,
            reason: decision.reason,
            error: errorMessage(error),
          });
          if (options.onEscalate) {
            options.onEscalate(error, childPath);
            return nctx.stopAllChildren;
          }
          return nctx.escalate;
        }
        const ending = cell!;
        counters.restarts.add(1, { actor: childPath });
        setPhase("restarting");
        logger.warn("restarting children", {
          actor: path,
          child: childPath,
          attempt: decision.attempt,
          delayMs: decision.delayMs,
          error: errorMessage(error),
        });
        void ending.scope.close(new Error(`${path} restarting`));
        setTimeout(() => nactDispatch(nctx.self, { [RESTART]: ending.incarnation }), decision.delayMs);
        return nctx.stopAllChildren;
      },
    },
  ) as Ref<M>;
  return ref;
}

function pathKey(ref: AnyRef): string {
  const path = (ref as unknown as { path?: { toString(): string } }).path;
  return path ? path.toString() : "";
}
