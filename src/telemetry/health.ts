/**
 * What `/readyz` answers: ready while the pipeline copies or streams; not while it starts,
 * waits to restart after a crash, or drains to stop. `/healthz` only says the process serves.
 */
export type Phase = "starting" | "snapshot" | "streaming" | "restarting" | "stopping";

let phase: Phase = "starting";

export function setPhase(next: Phase): void {
  phase = next;
}

export function currentPhase(): Phase {
  return phase;
}

export function isReady(): boolean {
  return phase === "snapshot" || phase === "streaming";
}
