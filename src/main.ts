/**
 * Entry point: parse the command line, load the config, run the command. Exit 2: bad input.
 * Each command's modules are loaded when it runs: evaluating them is most of the start-up
 * (kafkajs alone about 50 ms, which a pipeline without Kafka does not need).
 */
import { parseCommand, USAGE, UsageError } from "./cli/args.ts";
import { printFatal } from "./cli/fatal.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { registerConfigSecrets } from "./config/secrets.ts";
import { guardDriverWriteAfterClose } from "./pg/driver_guard.ts";
import { errorMessage } from "./errors.ts";
import { logger } from "./telemetry/log.ts";
import { redact } from "./telemetry/redact.ts";

const encoder = new TextEncoder();
const err = (text: string) => Deno.stderr.writeSync(encoder.encode(redact(text) + "\n"));

async function main(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommand(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`oesophagus: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  if (command.command === "help") {
    console.log(USAGE);
    return 0;
  }
  let config;
  try {
    config = await loadConfig(command.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      err(error.message);
      return 2;
    }
    throw error;
  }
  registerConfigSecrets(config);
  switch (command.command) {
    case "run":
      return await (await import("./cli/run.ts")).run(config, command);
    case "consume":
      return await (await import("./cli/consume.ts")).consume(config);
    case "check":
      return await (await import("./cli/check.ts")).check(config);
    case "status":
      return await (await import("./cli/status.ts")).status(config, command.json);
    case "recopy":
      return await (await import("./cli/recopy.ts")).recopy(config, command.tables);
  }
}

if (import.meta.main) {
  guardDriverWriteAfterClose((error) =>
    logger.warn(
      "the PostgreSQL driver wrote to a connection that had just closed (its query failed with the connection); going on",
      {
        reason: errorMessage(error),
        see: "https://github.com/porsager/postgres/issues/1208",
      },
    )
  );
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    printFatal(error);
    code = 1;
  }
  Deno.exit(code);
}
