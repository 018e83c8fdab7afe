/** Small tools for benchmarks: time a child process and sample its peak RSS from /proc. */

export interface Measured {
  readonly seconds: number;
  readonly peakRssMb: number;
  /** CPU seconds (user + system) as last sampled before the exit: up to 50 ms short. */
  readonly cpuSeconds: number;
  readonly code: number;
  readonly output: string;
}

/** Runs a command to its end; peak RSS is the kernel's high-water mark (VmHWM), sampled every 50 ms. */
export async function measureProcess(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<Measured> {
  const started = performance.now();
  const child = new Deno.Command(command, { args: [...args], env, stdout: "piped", stderr: "piped" }).spawn();
  let peakKb = 0;
  let cpu = 0;
  const sample = async () => {
    try {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const match = status.match(/^VmHWM:\s+(\d+) kB/m);
      if (match) peakKb = Math.max(peakKb, Number(match[1]));
      cpu = Math.max(cpu, cpuSeconds(child.pid));
    } catch {
      // The process has exited.
    }
  };
  const timer = setInterval(sample, 50);
  const output = await child.output();
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1_000;
  const decoder = new TextDecoder();
  return {
    seconds,
    peakRssMb: peakKb / 1024,
    cpuSeconds: cpu,
    code: output.code,
    output: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

export async function timed<T>(what: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await what();
  return { seconds: (performance.now() - started) / 1_000, value };
}

export function rate(rows: number, seconds: number): string {
  return `${Math.round(rows / seconds).toLocaleString("en")} rows/s`;
}

export interface Running {
  readonly child: Deno.ChildProcess;
  /** Rejects with the output if the process ends before it is stopped. */
  readonly failed: Promise<never>;
  /** Peak RSS so far, from VmHWM. */
  peakRssMb(): number;
  /** SIGTERM, then the exit code and output. */
  stop(): Promise<{ code: number; output: string }>;
}

/** Starts a process and samples its peak RSS until it is stopped. */
export function startMeasured(command: string, args: readonly string[]): Running {
  const child = new Deno.Command(command, { args: [...args], stdout: "piped", stderr: "piped" }).spawn();
  let peakKb = 0;
  const timer = setInterval(async () => {
    try {
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const match = status.match(/^VmHWM:\s+(\d+) kB/m);
      if (match) peakKb = Math.max(peakKb, Number(match[1]));
    } catch {
      // Exited.
    }
  }, 50);
  const output = child.output();
  let stopping = false;
  const failed = output.then((result) => {
    if (!stopping) {
      const decoder = new TextDecoder();
      throw new Error(
        `${command} ended on its own (exit ${result.code}):\n${
          (decoder.decode(result.stdout) + decoder.decode(result.stderr)).slice(-4000)
        }`,
      );
    }
    return new Promise<never>(() => {});
  });
  failed.catch(() => {});
  return {
    child,
    failed,
    peakRssMb: () => peakKb / 1024,
    async stop() {
      stopping = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const result = await output;
      clearInterval(timer);
      const decoder = new TextDecoder();
      return { code: result.code, output: decoder.decode(result.stdout) + decoder.decode(result.stderr) };
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** CPU seconds (user + system, all threads) a live process has used; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** The Elasticsearch process of a services instance (scripts/services runs it from services/<instance>/es). */
export function elasticsearchPid(instance = Deno.env.get("OESOPHAGUS_INSTANCE") ?? "default"): number | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes("java") && cmdline.includes(`/services/${instance}/es`)) return Number(entry.name);
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}
