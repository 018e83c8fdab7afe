/**
 * Where each member's value lies in the text of a JSON object, so that a nested value can be
 * passed on as the exact text it was written as (numbers with every digit, keys in their order)
 * without being parsed and written again. It checks the object's structure (strings, brackets,
 * colons and commas), not the syntax of the scalars inside: whoever takes a value on validates it.
 */

export class ObjectSpansError extends Error {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
    this.name = "ObjectSpansError";
  }
}

/** `[start, end)` of each top-level member's value in `text`; a later member of the same key wins, as in JSON.parse. */
export function objectSpans(text: string): Map<string, [number, number]> {
  const spans = new Map<string, [number, number]>();
  let pos = skipSpace(text, 0);
  if (text[pos] !== "{") throw new ObjectSpansError("not a JSON object", pos);
  pos = skipSpace(text, pos + 1);
  if (text[pos] === "}") return end(text, pos, spans);
  for (;;) {
    if (text[pos] !== '"') throw new ObjectSpansError("expected a member's key", pos);
    const keyEnd = skipValue(text, pos);
    const key = JSON.parse(text.slice(pos, keyEnd)) as string;
    pos = skipSpace(text, keyEnd);
    if (text[pos] !== ":") throw new ObjectSpansError("expected a colon", pos);
    pos = skipSpace(text, pos + 1);
    const valueEnd = skipValue(text, pos);
    spans.set(key, [pos, valueEnd]);
    pos = skipSpace(text, valueEnd);
    if (text[pos] === "}") return end(text, pos, spans);
    if (text[pos] !== ",") throw new ObjectSpansError("expected a comma or the object's end", pos);
    pos = skipSpace(text, pos + 1);
  }
}

function end(text: string, pos: number, spans: Map<string, [number, number]>): Map<string, [number, number]> {
  const after = skipSpace(text, pos + 1);
  if (after !== text.length) throw new ObjectSpansError("trailing characters", after);
  return spans;
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length) {
    const c = text.charCodeAt(pos);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    pos++;
  }
  return pos;
}

function stringEnd(text: string, pos: number): number {
  for (let i = pos + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  throw new ObjectSpansError("unterminated string", pos);
}

/** The end of the value starting at `pos`. */
function skipValue(text: string, pos: number): number {
  const first = text[pos];
  if (first === '"') return stringEnd(text, pos);
  if (first === "{" || first === "[") {
    const closers: string[] = [];
    for (let i = pos; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = stringEnd(text, i) - 1;
      else if (c === "{") closers.push("}");
      else if (c === "[") closers.push("]");
      else if (c === "}" || c === "]") {
        if (closers.pop() !== c) throw new ObjectSpansError(`unexpected ${c}`, i);
        if (closers.length === 0) return i + 1;
      }
    }
    throw new ObjectSpansError("unterminated value", pos);
  }
  let i = pos;
  while (i < text.length && !",}] \n\r\t".includes(text[i])) i++;
  if (i === pos) throw new ObjectSpansError("expected a value", pos);
  return i;
}
