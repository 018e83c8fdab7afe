/**
 * `run`, `check` and `status` with source.url at Elasticsearch's HTTP port or at the Kafka broker:
 * before, `check` and `status` waited out the 15 s connect timeout and guessed at the cause, and
 * `run` retried it for ever; now each stops within seconds naming the server that listens there.
 */
import assert from "node:assert/strict";
import { runEngine, writeConfig } from "../helpers/engine.ts";
import { services, uniqueName } from "../helpers/services.ts";

Deno.test("source.url at Elasticsearch's or Kafka's port: run, check and status stop with what listens there and the fix", async () => {
  const { esUrl, kafkaBrokers } = await services();
  for (const [address, speaks] of [[new URL(esUrl).host, "an HTTP server"], [kafkaBrokers, "a Kafka broker"]]) {
    const config = await writeConfig({
      source: { url: `postgres://postgres@${address}/postgres`, slot: uniqueName("foreign_source") },
      sinks: { search: { type: "elasticsearch", url: esUrl } },
      tables: { items: {} },
    });
    for (const command of ["run", "check", "status"]) {
      // run would have retried an unreachable source until this timeout.
      const stopped = await runEngine([command, "--config", config], {}, 60_000);
      assert.equal(stopped.code, 1, `${command}: ${stopped.output}`);
      assert.ok(
        stopped.output.includes(`source.url names ${address}/postgres, where ${speaks} listens, not PostgreSQL`),
        `${command}: ${stopped.output}`,
      );
      assert.match(stopped.output, /fix: set host and port in source\.url to PostgreSQL's/, `${command}: ${stopped.output}`);
    }
  }
});
