/**
 * The root supervisor, one per process: it owns the pipeline and is where an escalation ends.
 * Reaching it means a pipeline cannot make progress; the process reports why and exits.
 */
import type { Config } from "../src/config/load.ts";
import { type AnyRef, type Behaviour, spawnActor } from "../supervision/actor.ts";
import { ESCALATE } from "../supervision/policy.ts";
import { pipeline, type PipelineDeps, pipelinePolicy } from "./pipeline.ts";

export interface RootDeps extends PipelineDeps {
  readonly config: Config;
  readonly onFatal: (error: unknown, path: string) => void;
}

export function spawnRoot(system: AnyRef, deps: RootDeps): AnyRef {
  const root: Behaviour<null, never> = {
    init(ctx) {
      spawnActor(ctx.self, "pipeline", pipeline(deps), { supervision: pipelinePolicy(deps.config.supervision) });
      return null;
    },
    handle: (state) => state,
  };
  return spawnActor(system, "oesophagus", root, { supervision: ESCALATE, onEscalate: deps.onFatal, displayName: "root" });
}
