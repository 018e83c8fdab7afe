/**
 * PostgreSQL identifiers as written in producer.json: `users`, `public.users`,
 * `"Sales"."Order Items"`. Unquoted names fold to lower case, exactly as in SQL, so a table key
 * means in the config what it would mean in psql.
 */
export interface QualifiedName {
  readonly schema: string;
  readonly name: string;
}

const UNQUOTED = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** Parses `[schema.]name`; returns an error sentence instead of throwing. */
export function parseQualifiedName(text: string): QualifiedName | { error: string } {
  const parts: string[] = [];
  let pos = 0;
  while (pos <= text.length) {
    if (text[pos] === '"') {
      let value = "";
      pos++;
      for (;;) {
        if (pos >= text.length) return { error: "has an unterminated quoted identifier" };
        if (text[pos] === '"') {
          if (text[pos + 1] === '"') {
            value += '"';
            pos += 2;
            continue;
          }
          pos++;
          break;
        }
        value += text[pos++];
      }
      if (value.length === 0) return { error: "has an empty quoted identifier" };
      parts.push(value);
    } else {
      const end = text.indexOf(".", pos);
      const raw = end === -1 ? text.slice(pos) : text.slice(pos, end);
      if (!UNQUOTED.test(raw)) {
        return {
          error: raw.length === 0
            ? "has an empty name part"
            : `has ${JSON.stringify(raw)}, which is not a plain identifier: quote it as in SQL, e.g. "\\"${
              raw.replaceAll('"', '""')
            }\\""`,
        };
      }
      parts.push(raw.toLowerCase());
      pos += raw.length;
    }
    if (pos === text.length) break;
    if (text[pos] !== ".") return { error: `has unexpected ${JSON.stringify(text[pos])} after an identifier` };
    pos++;
    if (pos === text.length) return { error: "ends with a dot" };
  }
  if (parts.length === 1) return { schema: "public", name: parts[0] };
  if (parts.length === 2) return { schema: parts[0], name: parts[1] };
  return { error: "has more than two parts: write schema.table" };
}

/** Always quotes, so no identifier is ever read as SQL. */
export function quoteIdent(identifier: string): string {
  if (identifier.includes("\0")) throw new Error("identifier contains a NUL byte");
  return `"${identifier.replaceAll('"', '""')}"`;
}

export function quoteQualified(name: QualifiedName): string {
  return `${quoteIdent(name.schema)}.${quoteIdent(name.name)}`;
}

/** The name as a person reads it: quoted only where SQL would need quotes. */
export function displayName(name: QualifiedName): string {
  const part = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : quoteIdent(s));
  return `${part(name.schema)}.${part(name.name)}`;
}
