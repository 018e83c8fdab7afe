/** How a process of the engine reports what stops it: a log line, and the message with its fix on stderr, redacted. */
import { OesophagusError } from "../errors.ts";
import { logger } from "../telemetry/log.ts";
import { redact } from "../telemetry/redact.ts";

export function printFatal(error: unknown, path?: string): void {
  const message = error instanceof Error ? error.message : String(error);
  const fix = error instanceof OesophagusError ? error.fix : undefined;
  const code = error instanceof OesophagusError ? error.code : "internal";
  logger.error("pipeline cannot make progress", { actor: path, code, error: message, fix });
  const text = `oesophagus: ${message}${fix ? `\n  fix: ${fix.replaceAll("\n", "\n       ")}` : ""}\n`;
  Deno.stderr.writeSync(new TextEncoder().encode(redact(text)));
}
