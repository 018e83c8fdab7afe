/** `oesophagus consume`: index a Kafka sink's change events into Elasticsearch, as one member of a consumer group. */
import { spawnRoot } from "../../actors/root.ts";
import { consumer } from "../../actors/consumer.ts";
import type { Config } from "../config/load.ts";
import { pipelinePolicy } from "../../actors/pipeline.ts";
import { printFatal } from "./fatal.ts";
import { hostActors } from "./run.ts";
import { OesophagusError } from "../errors.ts";

export async function consume(config: Config): Promise<number> {
  if (!config.consume) {
    printFatal(
      new OesophagusError("config_invalid", "the config has no `consume` section: nothing says which topics to index where", {
        fix: 'add "consume": { "from": "<kafka sink>", "into": "<elasticsearch sink>" }',
      }),
    );
    return 2;
  }
  return await hostActors(config, "finishing the batches being indexed", ({ system, lifecycle, fatal }) =>
    spawnRoot(system, {
      name: "consumer",
      behaviour: consumer({ config, lifecycle }),
      supervision: pipelinePolicy(config.supervision),
      onFatal: fatal,
    }));
}
