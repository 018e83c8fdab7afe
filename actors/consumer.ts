/**
 * The tree of `oesophagus consume`: the Elasticsearch sink the events go into, and the topic
 * reader that feeds it. They hold each other's in-flight batches, so a crash restarts both
 * (one_for_all), and the reader resumes from the group's committed offsets.
 */
import type { Config } from "../src/config/load.ts";
import type { ElasticsearchSinkConfig } from "../src/config/schema.ts";
import type { Lifecycle } from "../src/lifecycle.ts";
import { type Behaviour, spawnActor } from "../supervision/actor.ts";
import { elasticsearchSink } from "./elasticsearch_sink.ts";
import { topicReader } from "./topic_reader.ts";

export interface ConsumerDeps {
  readonly config: Config;
  readonly lifecycle: Lifecycle;
}

export function consumer(deps: ConsumerDeps): Behaviour<null, never> {
  return {
    init(ctx) {
      const name = deps.config.consume!.into;
      const config = deps.config.sinks[name] as ElasticsearchSinkConfig;
      const sink = spawnActor(ctx.self, `sink-${name}`, elasticsearchSink(name, config, { watchIndices: false }), {
        displayName: `sinks/${name}`,
      });
      spawnActor(ctx.self, "topic-reader", topicReader({ config: deps.config, sink, lifecycle: deps.lifecycle }));
      return null;
    },
    handle: (state) => state,
  };
}
