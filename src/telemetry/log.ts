/**
 * Structured log lines: one JSON object per line on stderr, every line redacted. The progress
 * display on a terminal is separate (cli/progress.ts); logs stay machine-readable.
 */
import { redact } from "./redact.ts";

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

let threshold: Level = (Deno.env.get("OESOPHAGUS_LOG_LEVEL") as Level | undefined) ?? "info";
let sink: (line: string) => void = (line) => {
  Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
};

export function setLogLevel(level: Level): void {
  threshold = level;
}

/** Redirects log lines (the progress display interleaves them above its bars). */
export function setLogSink(write: (line: string) => void): void {
  sink = write;
}

function serialise(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return value.message;
  return value;
}

export function log(level: Level, msg: string, fields: Fields = {}): void {
  if (ORDER[level] < ORDER[threshold]) return;
  const record = { ts: new Date().toISOString(), level, msg, ...fields };
  sink(redact(JSON.stringify(record, (_key, value) => serialise(value))));
}

export const logger = {
  debug: (msg: string, fields?: Fields) => log("debug", msg, fields),
  info: (msg: string, fields?: Fields) => log("info", msg, fields),
  warn: (msg: string, fields?: Fields) => log("warn", msg, fields),
  error: (msg: string, fields?: Fields) => log("error", msg, fields),
};
