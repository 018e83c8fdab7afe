/**
 * Where each member's value lies in the text of a JSON object, so that a nested value can be
 * passed on as the exact text it was written as (numbers with every digit, keys in their order)
 * without being parsed and written again.
 */

/** `[start, end)` of each top-level member's value in `text`, which must already be known to be valid JSON. */
export function objectSpans(text: string): Map<string, [number, number]> {
  const spans = new Map<string, [number, number]>();
  let pos = skipSpace(text, 0);
  if (text[pos] !== "{") throw new Error("not a JSON object");
  pos = skipSpace(text, pos + 1);
  if (text[pos] === "}") return spans;
  for (;;) {
    const keyEnd = skipValue(text, pos);
    const key = JSON.parse(text.slice(pos, keyEnd)) as string;
    pos = skipSpace(text, keyEnd);
    pos = skipSpace(text, pos + 1); // the colon
    const end = skipValue(text, pos);
    spans.set(key, [pos, end]);
    pos = skipSpace(text, end);
    if (text[pos] === "}") return spans;
    pos = skipSpace(text, pos + 1); // the comma
  }
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length) {
    const c = text.charCodeAt(pos);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    pos++;
  }
  return pos;
}

/** The end of the value starting at `pos`. */
function skipValue(text: string, pos: number): number {
  const first = text[pos];
  if (first === '"') {
    for (let i = pos + 1;; i++) {
      const c = text[i];
      if (c === "\\") i++;
      else if (c === '"') return i + 1;
    }
  }
  if (first === "{" || first === "[") {
    let depth = 0;
    for (let i = pos; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = skipValue(text, i) - 1;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        if (--depth === 0) return i + 1;
      }
    }
    throw new Error("unterminated JSON value");
  }
  let i = pos;
  while (i < text.length && !",}] \n\r\t".includes(text[i])) i++;
  return i;
}
