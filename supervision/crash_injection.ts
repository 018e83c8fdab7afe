/**
 * Crashes on purpose, so tests can prove that supervision restarts what fails and that the
 * result is still exact. `OESOPHAGUS_INJECT_CRASH` lists `path@n` (the actor's n-th message,
 * counted over the life of the process, throws once) or `path@n*` (every n-th message throws:
 * a crash loop that spends the restart budget), comma-separated, e.g.
 * `pipeline/router@300,pipeline/sinks/search@5*`. Unset, it costs one lookup per spawn.
 */
export interface CrashPlan {
  readonly every: boolean;
  readonly at: number;
}

export function parseCrashPlans(text: string | undefined): Map<string, CrashPlan> {
  const plans = new Map<string, CrashPlan>();
  for (const entry of (text ?? "").split(",").map((e) => e.trim()).filter((e) => e.length > 0)) {
    const match = /^(.+)@([1-9][0-9]*)(\*?)$/.exec(entry);
    if (!match) throw new Error(`OESOPHAGUS_INJECT_CRASH: ${JSON.stringify(entry)} is not path@n or path@n*`);
    plans.set(match[1], { at: Number(match[2]), every: match[3] === "*" });
  }
  return plans;
}

let plans: Map<string, CrashPlan> | undefined;
const counts = new Map<string, number>();

/** Whether the actor at `path` should crash on the message it is about to handle. */
export function shouldCrash(path: string): boolean {
  plans ??= parseCrashPlans(Deno.env.get("OESOPHAGUS_INJECT_CRASH"));
  const plan = plans.get(path);
  if (plan === undefined) return false;
  const count = (counts.get(path) ?? 0) + 1;
  counts.set(path, count);
  return plan.every ? count % plan.at === 0 : count === plan.at;
}
