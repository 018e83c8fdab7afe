/**
 * Items a later item for the same document makes moot. Every bulk item writes its document whole
 * (index) or removes it (delete), and versions never go down along the stream, so of several
 * items for one document within what is written together only the last one has a lasting
 * effect: the earlier ones would be overwritten in the same request or the next. A row updated
 * many times in a row (a counter, a status that moves through its states) then costs
 * Elasticsearch one write instead of one per change. What the engine acknowledges does not
 * change: the last item carries the highest version, and the segment is acked only once it is in.
 */

/**
 * Positions of items (plus one; 0 is empty) by their document's hash, open addressing, reused
 * from call to call. The router asks this of every segment: a Map per call with a new entry per
 * item cost 0.4-0.8 us an item (fresh `_id` strings, growing tables), a tenth of a one-row
 * transaction's CPU in the engine's profile.
 */
let slots = new Int32Array(1024);

/**
 * For each of `count` items, the position of the last item for the same document (`indexOf` and
 * `idOf` name it) if that is a later one, else -1; null when no document appears twice (the
 * usual case, and then nothing is allocated per item).
 */
export function supersededBy(
  count: number,
  indexOf: (item: number) => string,
  idOf: (item: number) => string,
): Int32Array | null {
  if (count < 2) return null;
  let size = 1024;
  while (size < 2 * count) size *= 2;
  if (slots.length < size) slots = new Int32Array(size);
  else slots.fill(0, 0, size);
  const mask = size - 1;
  let replacedBy: Int32Array | null = null;
  // Usually one index: its hash is kept at hand instead of being computed for every item.
  let lastIndex: string | null = null;
  let indexHash = 0;
  for (let item = count - 1; item >= 0; item--) {
    const index = indexOf(item);
    if (index !== lastIndex) {
      lastIndex = index;
      indexHash = fnv(0x811c9dc5, index);
    }
    const id = idOf(item);
    let slot = fnv(indexHash, id) & mask;
    // Scanning from the end, the first item seen for a document is its last one.
    let last = -1;
    for (let entry = slots[slot]; entry !== 0; entry = slots[slot = (slot + 1) & mask]) {
      if (idOf(entry - 1) === id && indexOf(entry - 1) === index) {
        last = entry - 1;
        break;
      }
    }
    if (last === -1) {
      slots[slot] = item + 1;
      continue;
    }
    replacedBy ??= new Int32Array(count).fill(-1);
    replacedBy[item] = last;
  }
  return replacedBy;
}

/** FNV-1a over the string's UTF-16 code units, from `hash`, mixed at the end so that low bits vary. */
function fnv(hash: number, text: string): number {
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b3c6d);
  return hash ^ (hash >>> 12);
}
