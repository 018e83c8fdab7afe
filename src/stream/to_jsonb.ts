/**
 * PostgreSQL's text output of a value -> the text `to_jsonb` renders for it, in TypeScript, for
 * the built-in types whose rendering is fully known. Byte for byte: same number formats (floats
 * go through numeric, as to_jsonb does), same ISO timestamps, same string escaping, same key
 * order and separators as jsonb's text output. Types not covered here (json, composites,
 * extension types with their own JSON casts) return no converter, and their tables are rendered
 * by PostgreSQL itself (render.ts). DESIGN 4b, option 1, with option 2 as the fallback.
 */
import type { PgType } from "../pg/catalog.ts";
import { DecodeError } from "./change.ts";

/** Text output -> JSON text. Throws DecodeError on text the type's output function cannot produce. */
export type Converter = (text: string) => string;

const NUMERIC = /^-?\d+(\.\d+)?$/;
const FLOAT = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;
const SPECIAL = new Set(["NaN", "Infinity", "-Infinity"]);

const str: Converter = (text) => JSON.stringify(text);

const numeric: Converter = (text) => {
  if (NUMERIC.test(text)) return text;
  if (SPECIAL.has(text)) return `"${text}"`;
  throw new DecodeError("render", `not a number: ${JSON.stringify(text.slice(0, 40))}`);
};

/** float4/float8 text (shortest round-trip form, maybe with an exponent) as numeric_out prints it. */
export const float: Converter = (text) => {
  if (SPECIAL.has(text)) return `"${text}"`;
  const match = FLOAT.exec(text);
  if (!match) throw new DecodeError("render", `not a float: ${JSON.stringify(text.slice(0, 40))}`);
  const [, sign, whole, fraction = "", exponentText] = match;
  const exponent = exponentText === undefined ? 0 : Number(exponentText);
  const digits = whole + fraction;
  // The decimal point sits after `whole.length + exponent` digits; numeric keeps
  // max(0, fraction digits - exponent) digits after it.
  const point = whole.length + exponent;
  const scale = Math.max(0, fraction.length - exponent);
  let integer: string;
  let decimals: string;
  if (point <= 0) {
    integer = "0";
    decimals = "0".repeat(-point) + digits;
  } else if (point >= digits.length) {
    integer = digits + "0".repeat(point - digits.length);
    decimals = "";
  } else {
    integer = digits.slice(0, point);
    decimals = digits.slice(point);
  }
  decimals = decimals.padEnd(scale, "0").slice(0, scale);
  integer = integer.replace(/^0+(?=\d)/, "");
  const negative = sign === "-" && /[1-9]/.test(integer + decimals);
  return `${negative ? "-" : ""}${integer}${scale > 0 ? `.${decimals}` : ""}`;
};

const bool: Converter = (text) => {
  if (text === "t" || text === "true") return "true";
  if (text === "f" || text === "false") return "false";
  throw new DecodeError("render", `not a boolean: ${JSON.stringify(text.slice(0, 40))}`);
};

/** "2024-02-29 05:11:12.5" -> "2024-02-29T05:11:12.5" (a trailing " BC" stays). */
const timestamp: Converter = (text) => {
  if (text === "infinity" || text === "-infinity") return `"${text}"`;
  const space = text.indexOf(" ");
  if (space === -1) throw new DecodeError("render", `not a timestamp: ${JSON.stringify(text.slice(0, 40))}`);
  return JSON.stringify(`${text.slice(0, space)}T${text.slice(space + 1)}`);
};

const OFFSET = /([+-]\d\d)(:\d\d)?(:\d\d)?( BC)?$/;

/** As timestamp, and an hour-only offset gains its minutes: "+00" -> "+00:00". */
const timestamptz: Converter = (text) => {
  if (text === "infinity" || text === "-infinity") return `"${text}"`;
  const space = text.indexOf(" ");
  const offset = OFFSET.exec(text);
  if (space === -1 || !offset) {
    throw new DecodeError("render", `not a timestamp with time zone: ${JSON.stringify(text.slice(0, 40))}`);
  }
  const head = text.slice(0, offset.index);
  const zone = `${offset[1]}${offset[2] ?? ":00"}${offset[3] ?? ""}${offset[4] ?? ""}`;
  return JSON.stringify(`${head.slice(0, space)}T${head.slice(space + 1)}${zone}`);
};

const jsonb: Converter = (text) => text;

/** How a built-in scalar type's text becomes to_jsonb's: one of these, for both kinds of converter. */
export type Rendering = "bool" | "numeric" | "float" | "str" | "timestamp" | "timestamptz" | "jsonb";

/** Built-in scalar types by name. Anything else is left to PostgreSQL. */
const SCALARS = new Map<string, Rendering>([
  ["bool", "bool"],
  ...(["int2", "int4", "int8", "oid", "numeric"] as const).map((name) => [name, "numeric"] as const),
  ["float4", "float"],
  ["float8", "float"],
  ["timestamp", "timestamp"],
  ["timestamptz", "timestamptz"],
  ["jsonb", "jsonb"],
  ...([
    "text",
    "varchar",
    "bpchar",
    "name",
    "char",
    "uuid",
    "date",
    "time",
    "timetz",
    "interval",
    "money",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "bit",
    "varbit",
    "bytea",
    "xml",
    "tsvector",
    "tsquery",
    "pg_lsn",
    "point",
    "line",
    "lseg",
    "path",
    "polygon",
    "circle",
  ] as const).map((name) => [name, "str"] as const),
]);

/**
 * The converter of `type` from `scalars` (one per Rendering; enums and ranges render as text),
 * arrays by `array` of their element's; null for what is left to PostgreSQL.
 */
export function converterOf<C>(type: PgType, scalars: Readonly<Record<Rendering, C>>, array: (element: C) => C): C | null {
  switch (type.kind) {
    case "scalar": {
      const rendering = SCALARS.get(type.name);
      return rendering === undefined ? null : scalars[rendering];
    }
    case "enum":
    case "range":
      return scalars.str;
    case "array": {
      // box arrays use ';' between elements; json elements would need normalising.
      if (type.element.kind === "scalar" && type.element.name === "box") return null;
      const element = converterOf(type.element, scalars, array);
      return element === null ? null : array(element);
    }
    case "composite":
      return null;
  }
}

const CONVERTERS: Record<Rendering, Converter> = { bool, numeric, float, str, timestamp, timestamptz, jsonb };

export function converterFor(type: PgType): Converter | null {
  return converterOf(type, CONVERTERS, (element) => (text) => arrayToJson(text, element));
}

/** An array literal (`{{1,NULL},{3,4}}`, `[0:1]={a,b}`) as a JSON array of converted elements. */
export function arrayToJson(text: string, element: Converter): string {
  return flatArrayToJson(text, element) ?? nestedArrayToJson(text, element);
}

/**
 * The common shape, read with one split: one dimension, default bounds, no element quoted
 * (array_out quotes any element holding braces, quotes, backslashes, the delimiter, white space,
 * or spelling NULL), so no brace but the outer two and no quote or backslash at all. Null for
 * any other shape, and for anything malformed, which the full reader reports.
 */
function flatArrayToJson(text: string, element: Converter): string | null {
  const last = text.length - 1;
  if (
    text[0] !== "{" || text.indexOf("}") !== last || text.indexOf("{", 1) !== -1 || text.indexOf('"') !== -1 ||
    text.indexOf("\\") !== -1
  ) return null;
  if (last === 1) return "[]";
  const parts = text.slice(1, last).split(",");
  for (let i = 0; i < parts.length; i++) {
    const raw = parts[i];
    if (raw.length === 0) return null;
    parts[i] = raw === "NULL" ? "null" : element(raw);
  }
  return `[${parts.join(", ")}]`;
}

function nestedArrayToJson(text: string, element: Converter): string {
  let pos = 0;
  if (text[0] === "[") {
    const equals = text.indexOf("=");
    if (equals === -1) throw new DecodeError("render", "array bounds without '='");
    pos = equals + 1;
  }
  const fail = (why: string): never => {
    throw new DecodeError("render", `malformed array literal (${why}) at ${pos}: ${JSON.stringify(text.slice(0, 60))}`);
  };
  const parse = (): string => {
    if (text[pos] !== "{") fail("expected '{'");
    pos++;
    const items: string[] = [];
    if (text[pos] === "}") {
      pos++;
      return "[]";
    }
    for (;;) {
      if (text[pos] === "{") items.push(parse());
      else if (text[pos] === '"') {
        pos++;
        let value = "";
        for (;;) {
          const c = text[pos++];
          if (c === undefined) fail("unterminated quoted element");
          if (c === "\\") value += text[pos++] ?? fail("dangling backslash");
          else if (c === '"') break;
          else value += c;
        }
        items.push(element(value));
      } else {
        let end = pos;
        while (end < text.length && text[end] !== "," && text[end] !== "}") end++;
        const raw = text.slice(pos, end);
        if (raw.length === 0) fail("empty element");
        pos = end;
        items.push(raw === "NULL" ? "null" : element(raw));
      }
      if (text[pos] === ",") pos++;
      else if (text[pos] === "}") {
        pos++;
        return `[${items.join(", ")}]`;
      } else fail("expected ',' or '}'");
    }
  };
  const json = parse();
  if (pos !== text.length) fail("trailing characters");
  return json;
}

/** jsonb's key order: shorter keys first, then byte order of the UTF-8 text. */
export function jsonbKeyOrder(a: string, b: string): number {
  const encoder = new TextEncoder();
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
