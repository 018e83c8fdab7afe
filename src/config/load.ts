/**
 * Reads producer.json: JSON syntax, `${ENV_VAR}` interpolation, the zod schema, then the checks
 * that span several fields (table names, sink references, index collisions). Every problem is
 * reported at once with its path; nothing here opens a connection.
 */
import { z } from "zod";
import { type ExactJson, JsonNumber, JsonSyntaxError, parseExactJson } from "../json/exact_json.ts";
import { displayName, parseQualifiedName, type QualifiedName } from "../pg/identifier.ts";
import { configSchema, KAFKA_TOPIC, type KafkaSinkConfig, type ParsedConfig, type SinkConfig } from "./schema.ts";

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly file: string, readonly problems: readonly ConfigProblem[]) {
    super(`${file} is invalid:\n${problems.map((p) => `  ${p.path || file}${p.path ? ":" : ""} ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export interface TableConfig {
  /** The key as written in producer.json, for messages that point back at the file. */
  readonly key: string;
  readonly name: QualifiedName;
  readonly index: string;
  readonly sinks: readonly string[];
  readonly snapshot: { readonly concurrency: number; readonly chunkRows: number };
}

export interface Config {
  readonly source: ParsedConfig["source"];
  readonly supervision: ParsedConfig["supervision"];
  readonly metrics: ParsedConfig["metrics"];
  readonly tracing: ParsedConfig["tracing"];
  readonly sinks: Readonly<Record<string, SinkConfig>>;
  readonly consume?: ParsedConfig["consume"];
  readonly tables: readonly TableConfig[];
}

/** The configured table named `name` (as `displayName` prints it), which the caller knows to be configured. */
export function tableConfigNamed(config: Config, name: string): TableConfig {
  const table = config.tables.find((t) => displayName(t.name) === name);
  if (!table) throw new Error(`${name} is not a configured table`);
  return table;
}

/** The topic a Kafka sink writes a table's change events to: its prefix and the table's index name. */
export function topicName(sink: KafkaSinkConfig, index: string): string {
  return `${sink.topicPrefix}${index}`;
}

/** The tables a Kafka sink publishes (the sink named `sinkName`), each with its topic. */
export function publishedTables(
  tables: readonly TableConfig[],
  sinkName: string,
  sink: KafkaSinkConfig,
): { readonly table: TableConfig; readonly topic: string }[] {
  return tables.filter((t) => t.sinks.includes(sinkName)).map((table) => ({ table, topic: topicName(sink, table.index) }));
}

/** `tables."public.users".snapshot` — keys that are not plain words are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((segment, i) => {
    const text = String(segment);
    if (typeof segment === "number") return `[${text}]`;
    const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(text) ? text : JSON.stringify(text);
    return i === 0 ? plain : `.${plain}`;
  }).join("").replace(/\.\[/g, "[");
}

function issueMessage(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return "is not a known setting";
    case "invalid_type":
      if (!issue.message.startsWith("Invalid input")) return issue.message;
      return valueAt(input, issue.path) === undefined ? "is required" : `must be ${article(issue.expected)}`;
    case "invalid_value":
      return issue.message.startsWith("Invalid option")
        ? `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`
        : issue.message;
    case "invalid_union":
      if ("discriminator" in issue && issue.discriminator) {
        const options = (issue as { options?: unknown[] }).options ?? [];
        return `is not a known sink type (known: ${options.map((o) => JSON.stringify(o)).join(", ")})`;
      }
      return issue.message;
    case "invalid_key":
      return issue.issues[0]?.message ?? issue.message;
    default:
      return issue.message;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const segment of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

function expandedPath(issue: z.core.$ZodIssue): PropertyKey[][] {
  if (issue.code === "unrecognized_keys") return issue.keys.map((key) => [...issue.path, key]);
  return [[...issue.path]];
}

/** JSON with exact numbers turned into plain values: config numbers are small counts and sizes. */
function toPlain(value: ExactJson): unknown {
  if (value instanceof JsonNumber) return Number(value.text);
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}

/** `scheme://user:password@`, when a string is a URL with credentials. */
const URL_USERINFO = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@]*@/i;
/** `${NAME}` or `${NAME:-default}` (the default when NAME is unset or empty, as in a shell). */
const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{([^}]*)\}?/g;

/** Replaces `${NAME}` in every string; the values (often secrets) never appear in messages. */
function interpolate(
  value: unknown,
  env: (name: string) => string | undefined,
  path: PropertyKey[],
  problems: ConfigProblem[],
): unknown {
  if (typeof value === "string") {
    // In a URL's user:password part a value is percent-encoded, so a password with `@`, `/` or
    // `:` in its environment variable still makes a valid URL (drivers decode it again).
    const userinfoEnd = URL_USERINFO.exec(value)?.[0].length ?? 0;
    return value.replace(ENV_REFERENCE, (
      whole,
      name: string | undefined,
      fallback: string | undefined,
      bad: string | undefined,
      offset: number,
    ) => {
      if (name === undefined) {
        problems.push({ path: formatPath(path), message: `has a malformed reference ${JSON.stringify(whole)}: write \${NAME}` });
        return "";
      }
      const set = env(name);
      const resolved = set === undefined || (set === "" && fallback !== undefined) ? fallback : set;
      if (resolved === undefined) {
        problems.push({
          path: formatPath(path),
          message: `refers to environment variable ${name}, which is not set: set it, or give a default as \${${name}:-value}`,
        });
        return "";
      }
      void bad;
      return offset < userinfoEnd ? encodeURIComponent(resolved) : resolved;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], problems));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k], problems)]),
    );
  }
  return value;
}

function defaultIndex(name: QualifiedName): string {
  const base = name.schema === "public" ? name.name : `${name.schema}.${name.name}`;
  return base.toLowerCase().replace(/[^a-z0-9_.+-]/g, "_");
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  return `line ${line}, column ${position - before.lastIndexOf("\n")}`;
}

export interface LoadOptions {
  readonly env?: (name: string) => string | undefined;
}

/** Validates config text; throws ConfigError listing every problem. */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): Config {
  let raw: unknown;
  try {
    raw = toPlain(parseExactJson(text));
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      throw new ConfigError(file, [{
        path: "",
        message: `is not valid JSON: ${error.message.replace(/ at position \d+$/, "")} at ${lineAndColumn(text, error.position)}`,
      }]);
    }
    throw error;
  }
  const problems: ConfigProblem[] = [];
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const interpolated = interpolate(raw, env, [], problems);
  if (problems.length > 0) throw new ConfigError(file, problems);

  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    for (const issue of result.error.issues) {
      for (const path of expandedPath(issue)) {
        problems.push({ path: formatPath(path), message: issueMessage(issue, interpolated) });
      }
    }
    throw new ConfigError(file, problems);
  }
  return resolve(result.data, file);
}

function resolve(parsed: ParsedConfig, file: string): Config {
  const problems: ConfigProblem[] = [];
  const sinkNames = Object.keys(parsed.sinks);
  const byQualified = new Map<string, string>();
  const byIndex = new Map<string, string>();
  const tables: TableConfig[] = [];

  for (const [key, table] of Object.entries(parsed.tables)) {
    const path = (...rest: PropertyKey[]) => formatPath(["tables", key, ...rest]);
    const name = parseQualifiedName(key);
    if ("error" in name) throw new Error(`table key ${key} passed the schema but does not parse`);
    const qualified = displayName(name);
    const earlier = byQualified.get(qualified);
    if (earlier !== undefined) {
      problems.push({ path: path(), message: `names the same table as ${JSON.stringify(earlier)} (${qualified})` });
      continue;
    }
    byQualified.set(qualified, key);

    const sinks = table.sinks ?? sinkNames;
    table.sinks?.forEach((sink, i) => {
      if (!Object.hasOwn(parsed.sinks, sink)) {
        problems.push({
          path: path("sinks", i),
          message: `names sink ${JSON.stringify(sink)}, which is not defined (defined: ${
            sinkNames.map((s) => JSON.stringify(s)).join(", ") || "none"
          })`,
        });
      }
    });

    const index = table.index ?? defaultIndex(name);
    if (table.index === undefined && !/^[a-z0-9][a-z0-9_.+-]{0,254}$/.test(index)) {
      problems.push({ path: path(), message: `has no valid default index name (${JSON.stringify(index)}): set "index"` });
    }
    const indexOwner = byIndex.get(index);
    if (indexOwner !== undefined) {
      problems.push({
        path: path("index"),
        message: `index ${JSON.stringify(index)} is also used by table ${
          JSON.stringify(indexOwner)
        }: give one of them another "index"`,
      });
    }
    byIndex.set(index, key);
    for (const sink of sinks) {
      const sinkConfig = parsed.sinks[sink];
      if (sinkConfig?.type !== "kafka") continue;
      const topic = topicName(sinkConfig, index);
      if (!KAFKA_TOPIC.test(topic)) {
        problems.push({
          path: table.index === undefined ? path() : path("index"),
          message: `makes topic ${JSON.stringify(topic)} for sink ${
            JSON.stringify(sink)
          }, which Kafka does not allow (letters, digits, ., _ and -, at most 249): give the table another "index"`,
        });
      }
    }
    tables.push(
      Object.freeze({
        key,
        name: Object.freeze(name),
        index,
        sinks: Object.freeze([...sinks]),
        snapshot: Object.freeze({ ...table.snapshot }),
      }),
    );
  }
  if (parsed.consume) problems.push(...consumeProblems(parsed, tables));
  if (problems.length > 0) throw new ConfigError(file, problems);
  return deepFreeze({
    ...(parsed.consume ? { consume: parsed.consume } : {}),
    source: parsed.source,
    supervision: parsed.supervision,
    metrics: parsed.metrics,
    tracing: parsed.tracing,
    sinks: parsed.sinks,
    tables,
  });
}

/** `consume` names a Kafka sink some table goes to, and an Elasticsearch sink. */
function consumeProblems(parsed: ParsedConfig, tables: readonly TableConfig[]): ConfigProblem[] {
  const { from, into } = parsed.consume!;
  const problems: ConfigProblem[] = [];
  const kinds = (type: string) =>
    Object.entries(parsed.sinks).filter(([, s]) => s.type === type).map(([name]) => JSON.stringify(name)).join(", ") || "none";
  if (parsed.sinks[from]?.type !== "kafka") {
    problems.push({
      path: "consume.from",
      message: `names ${JSON.stringify(from)}, which is not a kafka sink (kafka sinks: ${kinds("kafka")})`,
    });
  } else if (!tables.some((t) => t.sinks.includes(from))) {
    problems.push({ path: "consume.from", message: `names sink ${JSON.stringify(from)}, which no table goes to` });
  }
  if (parsed.sinks[into]?.type !== "elasticsearch") {
    problems.push({
      path: "consume.into",
      message: `names ${JSON.stringify(into)}, which is not an elasticsearch sink (elasticsearch sinks: ${
        kinds("elasticsearch")
      })`,
    });
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "does not exist" : `cannot be read (${(error as Error).message})`;
    throw new ConfigError(file, [{ path: "", message: `${reason}: pass --config FILE or create ${file}` }]);
  }
  return parseConfig(text, file, options);
}
