/**
 * One pipeline per source: its sinks and its snapshot (later: the WAL reader, the router and the
 * checkpointer). Children depend on each other's in-flight messages (a reader waits for a sink's
 * ack), so a crash anywhere restarts them all from their checkpoints: one_for_all.
 */
import type { Ref } from "nact";
import { assertNever } from "../src/assert_never.ts";
import type { Config } from "../src/config/load.ts";
import type { PipelineCommand } from "../src/protocol/pipeline.ts";
import type { SinkCommand } from "../src/protocol/sink.ts";
import type { SnapshotProgress } from "../src/snapshot/progress.ts";
import { type Behaviour, spawnActor } from "../supervision/actor.ts";
import type { SupervisionPolicy } from "../supervision/policy.ts";
import { elasticsearchSink } from "./elasticsearch_sink.ts";
import { snapshotCoordinator } from "./snapshot.ts";

export const PIPELINE_POLICY: SupervisionPolicy = Object.freeze({
  strategy: "one_for_all",
  maxRestarts: 5,
  withinMs: 60_000,
  backoff: { minMs: 1_000, maxMs: 30_000, jitter: 0.3 },
});

export interface PipelineDeps {
  readonly config: Config;
  readonly progress: SnapshotProgress;
  readonly onSnapshotCompleted: () => void;
}

export function pipeline(deps: PipelineDeps): Behaviour<null, PipelineCommand> {
  return {
    init(ctx) {
      const sinks: Record<string, Ref<SinkCommand>> = {};
      for (const [name, sink] of Object.entries(deps.config.sinks)) {
        switch (sink.type) {
          case "elasticsearch":
            sinks[name] = spawnActor(ctx.self, `sink-${name}`, elasticsearchSink(name, sink), { displayName: `sinks/${name}` });
            break;
          default:
            assertNever(sink.type);
        }
      }
      spawnActor(
        ctx.self,
        "snapshot",
        snapshotCoordinator({ config: deps.config, sinks, parent: ctx.self, progress: deps.progress }),
      );
      return null;
    },

    handle(state, msg) {
      switch (msg.type) {
        case "SnapshotCompleted":
          deps.onSnapshotCompleted();
          return state;
        default:
          return assertNever(msg.type);
      }
    },
  };
}
