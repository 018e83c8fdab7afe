/** Stopping and restarting the real services under a running engine, with the project's own script. */
import { REPO } from "./services.ts";

export async function serviceControl(
  command: "start" | "stop" | "restart",
  what: "pg" | "es" | "kafka",
  env: Record<string, string> = {},
) {
  const result = await new Deno.Command(`${REPO}scripts/services`, {
    args: [command, what],
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!result.success) {
    throw new Error(`scripts/services ${command} ${what} failed: ${new TextDecoder().decode(result.stderr)}`);
  }
}
