/** The command line: `oesophagus <run|consume|check|status|recopy> [--config FILE] [...]`. */
import { parseArgs } from "node:util";

export type Command =
  | {
    readonly command: "run";
    readonly config: string;
    readonly snapshotOnly: boolean;
    readonly progress: "auto" | "tty" | "log";
  }
  | { readonly command: "consume"; readonly config: string }
  | { readonly command: "check"; readonly config: string }
  | { readonly command: "status"; readonly config: string; readonly json: boolean }
  | { readonly command: "recopy"; readonly config: string; readonly tables: readonly string[] }
  | { readonly command: "help" };

export const USAGE = `usage: oesophagus <command> [options]

commands:
  run      copy every configured table, then keep Elasticsearch in sync
  consume  index a Kafka sink's change events into Elasticsearch (config: consume)
  check    check config, source and sinks; list every problem with its fix
  status   show the slot, its lag and snapshot progress
  recopy   TABLE...: the next start copies these tables again over their documents
           (after an ALTER TABLE, say); the engine must be stopped

options:
  --config FILE     producer.json to use (default: ./producer.json)
  --snapshot-only   run: exit once the snapshot is copied
  --progress MODE   run: tty (live bars), log (JSON lines) or auto (default)
  --json            status: print JSON
  -h, --help        this text`;

export class UsageError extends Error {}

export function parseCommand(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: "string", default: "producer.json" },
        "snapshot-only": { type: "boolean", default: false },
        progress: { type: "string", default: "auto" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) return { command: "help" };
  const config = values.config!;
  if (positionals[0] === "recopy") {
    if (positionals.length === 1) throw new UsageError("recopy: name the tables to copy again, as in producer.json");
    return { command: "recopy", config, tables: positionals.slice(1) };
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  switch (positionals[0]) {
    case "run": {
      const progress = values.progress;
      if (progress !== "auto" && progress !== "tty" && progress !== "log") {
        throw new UsageError(`--progress must be tty, log or auto, not ${JSON.stringify(progress)}`);
      }
      return { command: "run", config, snapshotOnly: values["snapshot-only"]!, progress };
    }
    case "consume":
      return { command: "consume", config };
    case "check":
      return { command: "check", config };
    case "status":
      return { command: "status", config, json: values.json! };
    default:
      throw new UsageError(`unknown command ${JSON.stringify(positionals[0])}`);
  }
}
