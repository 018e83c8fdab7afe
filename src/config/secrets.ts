/** Every secret a config carries, registered for redaction before anything can print it. */
import { registerSecret, registerUrlSecrets } from "../telemetry/redact.ts";
import type { Config } from "./load.ts";

export function registerConfigSecrets(config: Config): void {
  registerUrlSecrets(config.source.url);
  for (const sink of Object.values(config.sinks)) {
    if (sink.type === "kafka") {
      registerSecret(sink.sasl?.password);
      continue;
    }
    registerUrlSecrets(sink.url);
    registerSecret(sink.password);
    registerSecret(sink.apiKey);
  }
}
