/** `oesophagus run`: start the actor tree and wait until it finishes, fails, or is told to stop. */
import { start, stop } from "nact";
import { spawnRoot } from "../../actors/root.ts";
import { loadSinks, pipeline, pipelinePolicy } from "../../actors/pipeline.ts";
import type { AnyRef } from "../../supervision/actor.ts";
import type { Config } from "../config/load.ts";
import { logger } from "../telemetry/log.ts";
import { printFatal } from "./fatal.ts";
import { Lifecycle } from "../lifecycle.ts";
import { setPhase } from "../telemetry/health.ts";
import { startTracing, tracingSettings } from "../telemetry/tracing.ts";
import { type MetricsServer, startMetricsServer } from "../telemetry/metrics_server.ts";
import { logProgress, terminalProgress, withSnapshotGauges } from "./progress.ts";

/** SIGTERM must end the process within 10 s (container runtimes then kill it): 8 s to drain. */
const DRAIN_TIMEOUT_MS = 8_000;

export interface RunOptions {
  readonly snapshotOnly: boolean;
  readonly progress: "auto" | "tty" | "log";
}

export async function run(config: Config, options: RunOptions): Promise<number> {
  const useTerminal = options.progress === "tty" || (options.progress === "auto" && Deno.stderr.isTerminal());
  const progress = withSnapshotGauges(useTerminal ? terminalProgress() : logProgress());
  const sinks = await loadSinks(config);
  try {
    return await hostActors(
      config,
      "draining what was read from the slot",
      ({ system, lifecycle, finish, fatal }) =>
        spawnRoot(system, {
          name: "pipeline",
          behaviour: pipeline({
            config,
            progress,
            snapshotOnly: options.snapshotOnly,
            lifecycle,
            ...sinks,
            onSnapshotCompleted: () => {
              progress.stop();
              if (options.snapshotOnly) finish(0);
            },
          }),
          supervision: pipelinePolicy(config.supervision),
          onFatal: fatal,
        }),
    );
  } finally {
    progress.stop();
  }
}

export interface Host {
  readonly system: AnyRef;
  readonly lifecycle: Lifecycle;
  /** Ends the process with this status. */
  finish(code: number): void;
  /** An escalation reached the root: the process reports it and ends with status 1. */
  fatal(error: unknown, path: string): void;
}

/**
 * Runs an actor tree with what every command that streams needs around it: tracing, the metrics
 * server, and SIGTERM/SIGINT draining within 10 s. Resolves to the process's exit status.
 */
export async function hostActors(config: Config, draining: string, spawnTree: (host: Host) => void): Promise<number> {
  const finished = Promise.withResolvers<number>();
  let tracing: AsyncDisposable;
  try {
    tracing = await startTracing(tracingSettings(config.tracing, (name) => Deno.env.get(name)));
  } catch (error) {
    printFatal(error);
    return 2;
  }
  await using _tracing = tracing;
  let metricsServer: MetricsServer | null = null;
  if (config.metrics.enabled) {
    try {
      metricsServer = startMetricsServer(config.metrics);
    } catch (error) {
      printFatal(error);
      return 1;
    }
  }

  const lifecycle = new Lifecycle();
  let stopping = false;
  const system = start();
  spawnTree({
    system,
    lifecycle,
    finish: (code) => finished.resolve(code),
    fatal: (error, path) => {
      printFatal(error, path);
      finished.resolve(1);
    },
  });

  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    logger.info(`stopping: ${draining}`);
    setPhase("stopping");
    lifecycle.drain(DRAIN_TIMEOUT_MS).then(() => finished.resolve(0));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    return await finished.promise;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    stop(system);
    // afterStop closers (connections) run on the next turns of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await metricsServer?.[Symbol.asyncDispose]();
  }
}
