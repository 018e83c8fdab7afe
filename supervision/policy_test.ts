import assert from "node:assert/strict";
import { OesophagusError } from "../src/errors.ts";
import { ESCALATE, RestartBudget } from "./policy.ts";

const policy = {
  strategy: "one_for_all" as const,
  maxRestarts: 3,
  withinMs: 1_000,
  backoff: { minMs: 10, maxMs: 40, jitter: 0 },
};

Deno.test("RestartBudget restarts with growing delays until the budget is spent, then escalates", () => {
  const budget = new RestartBudget(policy);
  const decisions = [0, 10, 20, 30].map((t) => budget.decide(new Error("boom"), t));
  assert.deepEqual(decisions.slice(0, 3), [
    { kind: "restart", attempt: 1, delayMs: 10 },
    { kind: "restart", attempt: 2, delayMs: 20 },
    { kind: "restart", attempt: 3, delayMs: 40 },
  ]);
  assert.equal(decisions[3].kind, "escalate");
});

Deno.test("RestartBudget forgets restarts older than withinMs", () => {
  const budget = new RestartBudget(policy);
  for (const t of [0, 1, 2]) budget.decide(new Error("boom"), t);
  assert.equal(budget.decide(new Error("boom"), 1_500).kind, "restart");
});

Deno.test("RestartBudget escalates a failure no restart can fix at once", () => {
  const budget = new RestartBudget(policy);
  const decision = budget.decide(new OesophagusError("table_missing", "table public.x does not exist"));
  assert.equal(decision.kind, "escalate");
  assert.equal(new RestartBudget(ESCALATE).decide(new Error("x")).kind, "escalate");
});
