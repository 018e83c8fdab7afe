import assert from "node:assert/strict";
import { dispatch, type Ref, start, stop } from "nact";
import { type ActorContext, spawnActor } from "./actor.ts";

type WorkerMsg = { type: "Work"; n: number } | { type: "Crash" };

interface Probe {
  inits: number;
  closedScopes: number;
  handled: number[];
  escalated: unknown[];
  worker?: Ref<WorkerMsg>;
}

function spawnTree(probe: Probe, maxRestarts: number) {
  const system = start();
  spawnActor<null, never>(system, "sup", {
    init(ctx: ActorContext<never>) {
      probe.inits++;
      ctx.scope.own(null, () => probe.closedScopes++);
      probe.worker = spawnActor<null, WorkerMsg>(ctx.self, "worker", {
        init: () => null,
        handle(state, msg) {
          if (msg.type === "Crash") throw new Error("worker crashed on purpose");
          probe.handled.push(msg.n);
          return state;
        },
      });
      return null;
    },
    handle: (state) => state,
  }, {
    supervision: { strategy: "one_for_all", maxRestarts, withinMs: 60_000, backoff: { minMs: 5, maxMs: 5, jitter: 0 } },
    onEscalate: (error) => probe.escalated.push(error),
  });
  return system;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), "condition not reached in 3 s");
}

Deno.test("a crashed child restarts with a new incarnation of its supervisor, whose old scope is closed", async () => {
  const probe: Probe = { inits: 0, closedScopes: 0, handled: [], escalated: [] };
  const system = spawnTree(probe, 3);
  try {
    dispatch(probe.worker!, { type: "Work", n: 1 });
    await until(() => probe.handled.length === 1);
    dispatch(probe.worker!, { type: "Crash" });
    await until(() => probe.inits === 2);
    assert.equal(probe.closedScopes, 1);
    dispatch(probe.worker!, { type: "Work", n: 2 });
    await until(() => probe.handled.length === 2);
    assert.deepEqual(probe.handled, [1, 2]);
    assert.deepEqual(probe.escalated, []);
  } finally {
    stop(system);
  }
});

Deno.test("a spent restart budget escalates to the top with the original error", async () => {
  const probe: Probe = { inits: 0, closedScopes: 0, handled: [], escalated: [] };
  const system = spawnTree(probe, 2);
  try {
    for (let crash = 0; crash < 3; crash++) {
      const before = probe.inits;
      dispatch(probe.worker!, { type: "Crash" });
      if (crash < 2) await until(() => probe.inits === before + 1);
    }
    await until(() => probe.escalated.length === 1);
    assert.match((probe.escalated[0] as Error).message, /crashed on purpose/);
    assert.equal(probe.inits, 3);
  } finally {
    stop(system);
  }
});
