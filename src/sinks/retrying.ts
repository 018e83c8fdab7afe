/** How a sink repeats a request to its target until it succeeds or fails for good. */
import { backoffDelay, DEFAULT_BACKOFF, sleep } from "../backoff.ts";
import type { OesophagusError } from "../errors.ts";
import { logger } from "../telemetry/log.ts";

/**
 * Runs `work` until it succeeds, waiting out failures that waiting can fix (`classify` says which:
 * a retriable error); anything else is thrown as classified. Warns at the first failure and every
 * tenth after it.
 */
export async function retrying<T>(
  classify: (error: unknown) => OesophagusError,
  what: string,
  signal: AbortSignal,
  path: string,
  work: () => Promise<T>,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const classified = classify(error);
      if (!classified.retriable) throw classified;
      const delayMs = backoffDelay(attempt, DEFAULT_BACKOFF);
      if (attempt === 0 || attempt % 10 === 9) {
        logger.warn(`${what} failed, retrying`, { actor: path, error: classified.message, delayMs });
      }
      await sleep(delayMs, signal);
    }
  }
}
