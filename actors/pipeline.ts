/**
 * One pipeline per source: its sinks and its snapshot, then, once the snapshot is in every
 * sink, the stream: wal reader, router and checkpointer. Children depend on each other's
 * in-flight messages (a reader waits for a sink's ack), so a crash anywhere restarts them all
 * from their checkpoints (snapshot progress, the slot's confirmed LSN): one_for_all.
 */
import type { Ref } from "nact";
import { setPhase } from "../src/telemetry/health.ts";
import { assertNever } from "../src/assert_never.ts";
import type { Config } from "../src/config/load.ts";
import type { PipelineCommand } from "../src/protocol/pipeline.ts";
import type { SinkCommand } from "../src/protocol/sink.ts";
import type { SnapshotProgress } from "../src/snapshot/progress.ts";
import type { Lifecycle } from "../src/lifecycle.ts";
import { type Behaviour, spawnActor } from "../supervision/actor.ts";
import type { SupervisionPolicy } from "../supervision/policy.ts";
import { checkpointer } from "./checkpointer.ts";
import { elasticsearchSink } from "./elasticsearch_sink.ts";
import type { kafkaSink } from "./kafka_sink.ts";
import { router } from "./router.ts";
import { snapshotCoordinator } from "./snapshot.ts";
import { walReader } from "./wal_reader.ts";

/** one_for_all: readers, router, checkpointer and sinks hold each other's in-flight messages. */
export function pipelinePolicy(supervision: Config["supervision"]): SupervisionPolicy {
  return Object.freeze({
    strategy: "one_for_all",
    maxRestarts: supervision.maxRestarts,
    withinMs: supervision.withinMs,
    backoff: { minMs: supervision.backoffMinMs, maxMs: supervision.backoffMaxMs, jitter: 0.3 },
  });
}

export interface PipelineDeps {
  readonly config: Config;
  readonly progress: SnapshotProgress;
  /** Stop after the snapshot instead of streaming. */
  readonly snapshotOnly: boolean;
  readonly onSnapshotCompleted: () => void;
  readonly lifecycle: Lifecycle;
  /** The Kafka sink's behaviour, when a sink is Kafka's: loaded only then (`loadSinks`), kafkajs costs start-up time. */
  readonly kafkaSink?: typeof kafkaSink;
}

/** What `pipeline` needs besides its own modules for this config's sinks. */
export async function loadSinks(config: Config): Promise<Pick<PipelineDeps, "kafkaSink">> {
  if (!Object.values(config.sinks).some((sink) => sink.type === "kafka")) return {};
  return { kafkaSink: (await import("./kafka_sink.ts")).kafkaSink };
}

interface PipelineState {
  readonly sinks: Readonly<Record<string, Ref<SinkCommand>>>;
  streaming: boolean;
}

export function pipeline(deps: PipelineDeps): Behaviour<PipelineState, PipelineCommand> {
  // Outlives restarts: the walsender of a stream given up on may still hold the slot at the next start.
  const abandonedWalsenders = new Set<number>();
  return {
    init(ctx) {
      const sinks: Record<string, Ref<SinkCommand>> = {};
      for (const [name, sink] of Object.entries(deps.config.sinks)) {
        switch (sink.type) {
          case "elasticsearch":
            sinks[name] = spawnActor(ctx.self, `sink-${name}`, elasticsearchSink(name, sink, { watchIndices: true }), {
              displayName: `sinks/${name}`,
            });
            break;
          case "kafka":
            if (!deps.kafkaSink) throw new Error("a Kafka sink is configured but its module was not loaded (loadSinks)");
            sinks[name] = spawnActor(ctx.self, `sink-${name}`, deps.kafkaSink(name, sink, deps.config.tables), {
              displayName: `sinks/${name}`,
            });
            break;
          default:
            assertNever(sink);
        }
      }
      spawnActor(
        ctx.self,
        "snapshot",
        snapshotCoordinator({ config: deps.config, sinks, parent: ctx.self, progress: deps.progress, abandonedWalsenders }),
      );
      setPhase("snapshot");
      return { sinks, streaming: false };
    },

    handle(state, msg, ctx) {
      switch (msg.type) {
        case "SnapshotCompleted": {
          deps.onSnapshotCompleted();
          if (deps.snapshotOnly || state.streaming) return state;
          const checkpoints = spawnActor(ctx.self, "checkpointer", checkpointer());
          const routes = spawnActor(
            ctx.self,
            "router",
            router({ config: deps.config, sinks: state.sinks, checkpointer: checkpoints }),
          );
          spawnActor(
            ctx.self,
            "wal-reader",
            walReader({
              config: deps.config,
              lifecycle: deps.lifecycle,
              router: routes,
              checkpointer: checkpoints,
              abandonedWalsenders,
            }),
          );
          return { ...state, streaming: true };
        }
        default:
          return assertNever(msg.type);
      }
    },
  };
}
