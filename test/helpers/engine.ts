/** The engine as users run it: `deno task start` (deno run src/main.ts), a real process with a real config file. */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { REPO } from "./services.ts";
import { tempFile } from "./temp_files.ts";

/**
 * `deno task start` without the task runner in between (so signals and RSS are the engine's own).
 * Keep in step with deno.json's "start". The young generation is sized for the stream: V8 copies
 * every object alive at each young collection and promotes what survives, and the changes in
 * flight between decoding and rendering (up to ~770) outlived a 2 MB semi-space, the scavenges of
 * about 700 pgoutput changes or 250 of wal2json's. At 8 MB a million-row transaction took 18-20%
 * less engine CPU with the same peak RSS; 16 MB saved little more and added 20 MB.
 */
export const ENGINE_ARGS: readonly string[] = [
  "run",
  "--allow-all",
  "--v8-flags=--max-semi-space-size=8",
  "--quiet",
  `${REPO}src/main.ts`,
];

/**
 * A config file for one test. Unless the test says otherwise, the metrics port is 0 (a free one),
 * so engines of different tests never compete for 9464.
 */
export async function writeConfig(config: unknown): Promise<string> {
  const path = await tempFile(".json");
  const withPort = config !== null && typeof config === "object" && !Array.isArray(config) && !("metrics" in config)
    ? { ...config, metrics: { port: 0 } }
    : config;
  await Deno.writeTextFile(path, typeof withPort === "string" ? withPort : JSON.stringify(withPort, null, 2));
  return path;
}

export interface EngineProcess {
  readonly child: Deno.ChildProcess;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  readonly exited: Promise<{ code: number; signal: Deno.Signal | null; output: string }>;
  /** Sends a signal unless the process has ended already. */
  kill(signal: Deno.Signal): void;
  /** Resolves when a printed line matches, rejects if the process exits first or after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export function startEngine(args: readonly string[], env: Record<string, string> = {}): EngineProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...ENGINE_ARGS, ...args],
    cwd: REPO,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let text = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (const wake of waiters) wake();
    }
  };
  const pumped = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let done = false;
  const exited = (async () => {
    const status = await child.status;
    await pumped;
    done = true;
    for (const wake of waiters) wake();
    return { code: status.code, signal: status.signal, output: text };
  })();
  return {
    child,
    output: () => text,
    exited,
    kill(signal) {
      if (done) return;
      try {
        child.kill(signal);
      } catch {
        // It ended between the check and the signal.
      }
    },
    waitFor(pattern, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms; output:\n${text}`));
        }, timeoutMs);
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(match[0]);
          } else if (done) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`engine exited before printing ${pattern}; output:\n${text}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** The engine's `/metrics` URL, from the line it logs when it listens (tests give port 0). */
export async function metricsUrl(engine: EngineProcess): Promise<URL> {
  const line = await engine.waitFor(/"msg":"metrics listening","url":"[^"]+"/);
  return new URL(line.match(/"url":"([^"]+)"/)![1]);
}

/** SIGTERM, as an operator stops it: the engine must drain and exit 0. Returns what it printed. */
export async function stopEngine(engine: EngineProcess): Promise<string> {
  engine.kill("SIGTERM");
  const { code, output } = await engine.exited;
  if (code !== 0) throw new Error(`the engine exited ${code} on SIGTERM; output:\n${output.slice(-3000)}`);
  return output;
}

/** The engine's exit, which must come on its own with a non-zero code (a fatal error) within a minute. Returns what it printed. */
export async function stopsOnItsOwn(engine: EngineProcess, what = "the change"): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    engine.exited,
    new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error(`the engine went on after ${what}`)), 60_000)),
  ]).finally(() => clearTimeout(timer));
  if (exited.code === 0) throw new Error(`the engine exited 0 after ${what}; output:\n${exited.output.slice(-3000)}`);
  return exited.output;
}

/** Runs the engine to its end and returns exit code and output; one that does not end in time is killed and fails the test. */
export async function runEngine(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 120_000) {
  const engine = startEngine(args, env);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      engine.kill("SIGKILL");
      reject(new Error(`the engine did not exit within ${timeoutMs} ms (${args.join(" ")}); output:\n${engine.output()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([engine.exited, timedOut]);
  } finally {
    clearTimeout(timer);
    await engine.exited;
  }
}

/**
 * Runs `run` on a config the engine must refuse before it makes anything: it exits with 1 and
 * leaves no replication slot named `slot`. Returns its output, for the test's own checks of the
 * message and fix.
 */
export async function refusedAtStart(
  sql: postgres.Sql,
  config: string,
  slot: string,
  options: { readonly args?: readonly string[]; readonly env?: Record<string, string> } = {},
): Promise<string> {
  const result = await runEngine(["run", "--config", config, ...(options.args ?? []), "--progress", "log"], options.env);
  assert.equal(result.code, 1, result.output);
  const slots = await sql`SELECT 1 FROM pg_replication_slots WHERE slot_name = ${slot}`;
  assert.equal(slots.length, 0, `the refused start left replication slot ${slot} behind`);
  return result.output;
}
