/**
 * OTP words on top of nact. A supervisor's policy says what a crash of one of its children
 * means: restart the children (all of them, from their checkpoints) after a jittered backoff,
 * or, when the restart budget is spent or the failure cannot heal by waiting, escalate.
 */
import { type Backoff, backoffDelay } from "../src/backoff.ts";
import { OesophagusError } from "../src/errors.ts";

export interface SupervisionPolicy {
  /**
   * one_for_all: every child restarts when one crashes (children that depend on each other's
   * in-flight messages, like readers and sinks). escalate: the supervisor does not restart
   * children itself; the crash goes to its own supervisor.
   */
  readonly strategy: "one_for_all" | "escalate";
  readonly maxRestarts: number;
  readonly withinMs: number;
  readonly backoff: Backoff;
}

export const ESCALATE: SupervisionPolicy = Object.freeze({
  strategy: "escalate",
  maxRestarts: 0,
  withinMs: 0,
  backoff: { minMs: 0, maxMs: 0, jitter: 0 },
});

/** Failures that no restart can fix: the operator has to act. */
const FATAL_CODES = new Set([
  "config_invalid",
  "table_missing",
  "table_without_key",
  "table_unindexable",
  "source_auth_failed",
  "source_misconfigured",
  "slot_plugin_mismatch",
  "slot_missing",
  "slot_invalidated",
  "partition_truncated",
  "table_renamed",
  "table_dropped",
  "sink_misconfigured",
  "event_malformed",
]);

export function isFatal(error: unknown): boolean {
  return error instanceof OesophagusError && !error.retriable && FATAL_CODES.has(error.code);
}

export type RestartDecision =
  | { readonly kind: "restart"; readonly delayMs: number; readonly attempt: number }
  | { readonly kind: "escalate"; readonly reason: string };

/** Counts restarts in a sliding window: the restart intensity of OTP. */
export class RestartBudget {
  readonly #policy: SupervisionPolicy;
  #restarts: number[] = [];

  constructor(policy: SupervisionPolicy) {
    this.#policy = policy;
  }

  decide(error: unknown, now = Date.now()): RestartDecision {
    if (this.#policy.strategy === "escalate") return { kind: "escalate", reason: "no restart strategy" };
    if (isFatal(error)) return { kind: "escalate", reason: "the failure cannot heal by restarting" };
    this.#restarts = this.#restarts.filter((t) => now - t < this.#policy.withinMs);
    if (this.#restarts.length >= this.#policy.maxRestarts) {
      return {
        kind: "escalate",
        reason: `restart budget spent: ${this.#restarts.length} restarts within ${this.#policy.withinMs} ms`,
      };
    }
    this.#restarts.push(now);
    const attempt = this.#restarts.length;
    return { kind: "restart", attempt, delayMs: backoffDelay(attempt - 1, this.#policy.backoff) };
  }
}
