/**
 * JSON parsing that never turns a number into a JS `number`: PostgreSQL renders bigint and
 * numeric values with every digit, and a comparison through `JSON.parse` would hide exactly the
 * bugs the contract forbids. Numbers stay as their literal text.
 */
export type ExactJson =
  | null
  | boolean
  | string
  | JsonNumber
  | ExactJson[]
  | { [key: string]: ExactJson };

/** A JSON number kept as the text it was written with. */
export class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export class JsonSyntaxError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
    this.name = "JsonSyntaxError";
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

export function parseExactJson(text: string): ExactJson {
  let pos = 0;

  const skipWhitespace = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };

  const parseString = (): string => {
    // JSON.parse of the string literal alone is exact and handles every escape.
    const start = pos;
    pos++;
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x5c) pos += 2;
      else if (c === 0x22) {
        pos++;
        return JSON.parse(text.slice(start, pos));
      } else pos++;
    }
    throw new JsonSyntaxError("unterminated string", start);
  };

  const parseValue = (): ExactJson => {
    skipWhitespace();
    const c = text[pos];
    if (c === "{") {
      pos++;
      const object: { [key: string]: ExactJson } = {};
      skipWhitespace();
      if (text[pos] === "}") {
        pos++;
        return object;
      }
      for (;;) {
        skipWhitespace();
        if (text[pos] !== '"') throw new JsonSyntaxError("expected a key", pos);
        const keyStart = pos;
        const key = parseString();
        skipWhitespace();
        if (text[pos] !== ":") throw new JsonSyntaxError("expected ':'", pos);
        pos++;
        if (Object.hasOwn(object, key)) throw new JsonSyntaxError(`duplicate key ${JSON.stringify(key)}`, keyStart);
        object[key] = parseValue();
        skipWhitespace();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "}") {
          pos++;
          return object;
        } else throw new JsonSyntaxError("expected ',' or '}'", pos);
      }
    }
    if (c === "[") {
      pos++;
      const array: ExactJson[] = [];
      skipWhitespace();
      if (text[pos] === "]") {
        pos++;
        return array;
      }
      for (;;) {
        array.push(parseValue());
        skipWhitespace();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "]") {
          pos++;
          return array;
        } else throw new JsonSyntaxError("expected ',' or ']'", pos);
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith("true", pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith("false", pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith("null", pos)) {
      pos += 4;
      return null;
    }
    NUMBER.lastIndex = pos;
    const match = NUMBER.exec(text);
    if (match) {
      pos += match[0].length;
      return new JsonNumber(match[0]);
    }
    throw new JsonSyntaxError("unexpected character", pos);
  };

  const value = parseValue();
  skipWhitespace();
  if (pos !== text.length) throw new JsonSyntaxError("trailing characters", pos);
  return value;
}

/**
 * Canonical text of a value: keys sorted, no white space, numbers as written. Two documents are
 * equal for the contract exactly when their canonical texts are equal.
 */
export function canonicalJson(value: ExactJson): string {
  if (value === null || typeof value === "boolean") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
}
