/**
 * Real services for tests: the project's own scripts start PostgreSQL, Elasticsearch and Kafka once
 * (idempotently) and tests get their own database, slot and indices on top. A service that
 * cannot start fails the test run loudly; nothing is skipped.
 */
import { fileURLToPath } from "node:url";
import { guardDriverWriteAfterClose } from "../../src/pg/driver_guard.ts";

// The tests' own postgres.js connections meet servers restarted under them too: the driver's
// uncatchable throw (src/pg/driver_guard.ts) would end the whole test module, not fail a query.
guardDriverWriteAfterClose((error) => console.warn(`test process: ${error.message} (postgres.js, stopped)`));

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export interface Services {
  /** Superuser URL of the `postgres` database. */
  readonly pgUrl: string;
  readonly esUrl: string;
  /** The CA that signed the PostgreSQL server's certificate (for sslmode=verify-full). */
  readonly pgCaFile: string;
  /** `host:port` of the Kafka broker. */
  readonly kafkaBrokers: string;
  /** `host:port` of the same broker's SASL (PLAIN, SCRAM-SHA-256/512) listener: user `oesophagus_sasl_test`, `KAFKA_SASL_TEST_PASSWORD`. */
  readonly kafkaSaslBrokers: string;
  /** `host:port` of the same broker's TLS listener, its certificate signed by `pgCaFile`'s CA. */
  readonly kafkaTlsBrokers: string;
  /** `host:port` of the same broker's SASL-over-TLS (SASL_SSL) listener: the SASL listener's user, the TLS listener's certificate. */
  readonly kafkaSaslTlsBrokers: string;
  /** `host:port` of a listener of the same broker that advertises an address where nothing listens (port 1). */
  readonly kafkaElsewhereBrokers: string;
}

/** The password scripts/services gives the SASL listener's one user (a test broker on loopback). */
export const KAFKA_SASL_TEST_PASSWORD = "oesophagus-sasl-test-password";

let cached: Promise<Services> | undefined;

/** Each of `Services`'s fields, and the variable `scripts/services env` prints it as (and the tests take from the environment). */
const VARIABLES: Readonly<Record<keyof Services, string>> = {
  pgUrl: "PG_URL",
  esUrl: "ES_URL",
  pgCaFile: "PG_CA_FILE",
  kafkaBrokers: "KAFKA_BROKERS",
  kafkaSaslBrokers: "KAFKA_SASL_BROKERS",
  kafkaTlsBrokers: "KAFKA_TLS_BROKERS",
  kafkaSaslTlsBrokers: "KAFKA_SASL_TLS_BROKERS",
  kafkaElsewhereBrokers: "KAFKA_ELSEWHERE_BROKERS",
};

/** The services as `get` names them, or the variables it has no value for. */
function servicesFrom(get: (name: string) => string | undefined): Services | string[] {
  const entries = Object.entries(VARIABLES).map(([field, name]) => [field, name, get(name)] as const);
  const missing = entries.filter(([, , value]) => !value).map(([, name]) => name);
  return missing.length > 0
    ? missing
    : Object.fromEntries(entries.map(([field, , value]) => [field, value])) as unknown as Services;
}

async function startServices(): Promise<Services> {
  const fromEnv = servicesFrom((name) => Deno.env.get(name));
  if (!Array.isArray(fromEnv)) return fromEnv;
  const script = `${REPO}scripts/services`;
  const started = await new Deno.Command(script, { args: ["start"], stdout: "inherit", stderr: "inherit" }).output();
  if (!started.success) {
    throw new Error(`${script} start failed (exit ${started.code}): the tests need real PostgreSQL, Elasticsearch and Kafka`);
  }
  const env = await new Deno.Command(script, { args: ["env"], stdout: "piped", stderr: "inherit" }).output();
  if (!env.success) throw new Error(`${script} env failed (exit ${env.code})`);
  const vars: Record<string, string> = Object.fromEntries(
    new TextDecoder().decode(env.stdout).trim().split("\n").map((line) => line.split("=", 2) as [string, string]),
  );
  const printed = servicesFrom((name) => vars[name]);
  if (Array.isArray(printed)) throw new Error(`${script} env printed no ${printed.join(", ")}`);
  return printed;
}

export function services(): Promise<Services> {
  cached ??= startServices();
  return cached;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
}
