/**
 * The root supervisor, one per process: it owns the tree of the command (the pipeline of `run`,
 * the consumer of `consume`) and is where an escalation ends. Reaching it means the tree cannot
 * make progress; the process reports why and exits.
 */
import { type AnyRef, type Behaviour, spawnActor } from "../supervision/actor.ts";
import { ESCALATE, type SupervisionPolicy } from "../supervision/policy.ts";

export interface RootDeps {
  /** The child's name: `pipeline`, `consumer`. */
  readonly name: string;
  readonly behaviour: Behaviour<unknown, never>;
  readonly supervision: SupervisionPolicy;
  readonly onFatal: (error: unknown, path: string) => void;
}

export function spawnRoot(system: AnyRef, deps: RootDeps): AnyRef {
  const root: Behaviour<null, never> = {
    init(ctx) {
      spawnActor(ctx.self, deps.name, deps.behaviour, { supervision: deps.supervision });
      return null;
    },
    handle: (state) => state,
  };
  return spawnActor(system, "oesophagus", root, { supervision: ESCALATE, onEscalate: deps.onFatal, displayName: "root" });
}
