/** Exponential backoff with jitter, shared by in-actor retries and supervisor restarts. */
export interface Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  /** 0..1: the share of each delay that is random, so restarted peers do not retry in step. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: Backoff = Object.freeze({ minMs: 100, maxMs: 30_000, jitter: 0.5 });

export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const exponential = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.max(0, attempt));
  return Math.round(exponential * (1 - backoff.jitter * random()));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
