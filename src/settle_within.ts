/**
 * Waits for `work` to settle, for at most `ms`, and never rejects: for flushes at shutdown, which
 * must not hold up an exit. The timer is cleared as soon as the work settles, so it keeps nothing
 * alive after.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([work.catch(() => {}), new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  } finally {
    clearTimeout(timer);
  }
}
