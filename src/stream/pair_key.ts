/**
 * `a + "\0" + b`, built once per pair. The router keys maps by such pairs for every change (route,
 * counts per table and operation, the batch of a sink's lane); a new concatenation is an
 * allocation, and hashing it for the lookup first copies it flat. The decoders hand out the same
 * schema and table strings for every change of a table, whose hashes V8 keeps, so two lookups of
 * strings already hashed replace the concatenation.
 */

/** Pairs kept at most, all first strings together: past it the memo starts over (a bound, not a working size). */
const LIMIT = 16_384;

const memo = new Map<string, Map<string, string>>();
let pairs = 0;

export function pairKey(a: string, b: string): string {
  let second = memo.get(a);
  if (second === undefined) memo.set(a, second = new Map());
  let key = second.get(b);
  if (key === undefined) {
    if (pairs >= LIMIT) {
      memo.clear();
      memo.set(a, second = new Map());
      pairs = 0;
    }
    second.set(b, key = `${a}\u0000${b}`);
    pairs++;
  }
  return key;
}
