/**
 * The `docker compose up` front door, checked without a Docker engine (none runs on the build
 * machines): docker-compose validates the file; the stack's settings agree with each other (the
 * PostgreSQL image and the settings it is given, ports on loopback, versions pinned, Prometheus
 * scraping the port the engine listens on); the Dockerfile runs the same CLI as `deno task
 * start`; and every metric the Grafana dashboard queries is one the engine exports.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/load.ts";
import { METRIC_NAMES } from "../../src/telemetry/metrics.ts";
import { REPO } from "../helpers/services.ts";

const decoder = new TextDecoder();

/** `docker-compose config`, the file as Compose resolves it, as JSON (via Python's YAML, which docker-compose brings). */
async function composeConfig(): Promise<Record<string, unknown>> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("docker-compose", { args: ["config"], cwd: REPO, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    throw new Error(`docker-compose is missing (run scripts/install): ${(error as Error).message}`);
  }
  assert.ok(output.success, `docker-compose config failed:\n${decoder.decode(output.stderr)}`);
  const toJson = new Deno.Command("python3", {
    args: ["-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = toJson.stdin.getWriter();
  await writer.write(output.stdout);
  await writer.close();
  const converted = await toJson.output();
  assert.ok(converted.success, decoder.decode(converted.stderr));
  return JSON.parse(decoder.decode(converted.stdout));
}

function dotenv(): Record<string, string> {
  const entries = Deno.readTextFileSync(`${REPO}.env`).split("\n")
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split("=", 2) as [string, string]);
  return Object.fromEntries(entries);
}

type Service = {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  ports?: (string | { host_ip?: string; published?: string | number; target: number })[];
  healthcheck?: unknown;
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
};

Deno.test("deployment: docker-compose validates the stack; ports on loopback, versions pinned, PostgreSQL settings match its version", async () => {
  const compose = await composeConfig();
  const services = compose.services as Record<string, Service>;
  assert.deepEqual(
    Object.keys(services).sort(),
    ["elasticsearch", "grafana", "indexer", "jaeger", "kafka", "oesophagus", "postgres", "prometheus", "publisher"],
  );
  const env = dotenv();
  for (const [name, service] of Object.entries(services)) {
    if (service.image) assert.match(service.image, /:[0-9v][\w.-]*$/, `${name}: image ${service.image} is not pinned`);
    for (const port of service.ports ?? []) {
      const hostIp = typeof port === "string" ? port.split(":")[0] : port.host_ip;
      assert.equal(hostIp, "127.0.0.1", `${name}: port ${JSON.stringify(port)} is not bound to 127.0.0.1`);
    }
  }
  // PostgreSQL 15.19 and later only load listed output plugins; earlier servers refuse the setting.
  const version = env.POSTGRES_VERSION.split(".").map(Number);
  const knowsPluginList = version[0] > 15 || (version[0] === 15 && version[1] >= 19);
  const command = services.postgres.command!.join(" ");
  assert.match(command, /wal_level=logical/);
  if (knowsPluginList) assert.match(command, /output_plugin_libraries=[^ ]*wal2json/);
  else assert.doesNotMatch(command, /output_plugin_libraries/);
  const postgresDockerfile = Deno.readTextFileSync(`${REPO}deploy/postgres/Dockerfile`);
  assert.match(postgresDockerfile, /postgresql-15-wal2json/);
  assert.equal(services.postgres.build!.args!.POSTGRES_VERSION, env.POSTGRES_VERSION);

  // The engine waits for healthy sources, and what it needs is there.
  assert.equal(services.oesophagus.depends_on!.postgres.condition, "service_healthy");
  assert.equal(services.oesophagus.depends_on!.elasticsearch.condition, "service_healthy");
  for (const name of ["postgres", "elasticsearch", "oesophagus", "prometheus"]) assert.ok(services[name].healthcheck, name);

  // The producer.json the container reads is valid with the container's environment, and its
  // metrics port is the one Prometheus scrapes and compose publishes.
  const engineEnv = services.oesophagus.environment!;
  const config = parseConfig(Deno.readTextFileSync(`${REPO}producer.json`), "producer.json", {
    env: (name) => engineEnv[name],
  });
  assert.equal(config.metrics.host, "0.0.0.0");
  const prometheusYml = Deno.readTextFileSync(`${REPO}deploy/prometheus/prometheus.yml`);
  assert.match(prometheusYml, new RegExp(`targets: \\["oesophagus:${config.metrics.port}"\\]`));
  // "127.0.0.1:9464:9464/tcp" (docker-compose 1.x) or { target: 9464 } (2.x): the container side is last.
  const containerPorts = services.oesophagus.ports!.map((p) =>
    typeof p === "string" ? Number(p.replace(/\/\w+$/, "").split(":").pop()) : p.target
  );
  assert.ok(containerPorts.includes(config.metrics.port), JSON.stringify(services.oesophagus.ports));

  // The Kafka profile: publisher and indexer read one config, valid with each one's environment,
  // whose consume section reads the topics the publisher writes.
  for (const name of ["publisher", "indexer"]) {
    const service = services[name];
    assert.deepEqual(service.profiles, ["kafka"], name);
    const path = service.command![service.command!.indexOf("--config") + 1].replace(/^\/app\//, "");
    const busConfig = parseConfig(Deno.readTextFileSync(`${REPO}${path}`), path, { env: (v) => service.environment![v] });
    assert.equal(busConfig.consume?.from, "events");
    assert.ok(busConfig.tables.every((t) => t.sinks.length === 1 && t.sinks[0] === "events"), `${name}: tables go to Kafka only`);
    assert.notEqual(busConfig.source.slot, config.source.slot, "the bus has a slot of its own");
    assert.ok(busConfig.tables.every((t) => !config.tables.some((u) => u.index === t.index)), "and indices of its own");
  }
  assert.deepEqual(services.publisher.command!.slice(0, 1), ["run"]);
  assert.deepEqual(services.indexer.command!.slice(0, 1), ["consume"]);
  assert.equal(services.kafka.image, `apache/kafka:${env.KAFKA_VERSION}`);
  assert.ok(services.kafka.healthcheck);
});

Deno.test("deployment: the image's entrypoint is `deno task start`, the same CLI and flags", () => {
  const dockerfile = Deno.readTextFileSync(`${REPO}Dockerfile`);
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]) as string[];
  const task = (JSON.parse(Deno.readTextFileSync(`${REPO}deno.json`)) as { tasks: { start: string } }).tasks.start;
  assert.deepEqual(entrypoint, task.split(" "));
  assert.match(dockerfile, /^USER deno$/m, "the engine must not run as root");
  assert.match(dockerfile, /RUN deno install --frozen/, "dependencies are fetched at build time");
});

Deno.test("deployment: every metric the Grafana dashboard queries is one the engine exports", () => {
  const dashboard = JSON.parse(Deno.readTextFileSync(`${REPO}deploy/grafana/dashboards/oesophagus.json`)) as {
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { query: { query: string } }[] };
  };
  const exported = new Set<string>(Object.values(METRIC_NAMES));
  const queries = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr }))),
    ...dashboard.templating.list.map((v) => ({ where: "template variable", expr: v.query.query })),
  ];
  const used = new Set<string>();
  for (const { where, expr } of queries) {
    for (const [name] of expr.matchAll(/\boesophagus_[a-z_]+/g)) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      const known = exported.has(name) || (base !== name && exported.has(base));
      assert.ok(known, `panel "${where}" queries ${name}, which the engine does not export`);
      used.add(exported.has(name) ? name : base);
    }
  }
  // And the dashboard shows everything there is.
  assert.deepEqual([...exported].filter((name) => !used.has(name)), []);
});
