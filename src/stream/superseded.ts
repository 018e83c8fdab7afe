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
 * For each of `count` items, the position of the last item for the same document (`indexOf` and
 * `idOf` name it) if that is a later one, else -1; null when no document appears twice (the
 * usual case, and then nothing is allocated per item).
 */
export function supersededBy(
  count: number,
  indexOf: (item: number) => string,
  idOf: (item: number) => string,
): Int32Array | null {
  let replacedBy: Int32Array | null = null;
  // Usually one index: its map is kept at hand instead of being looked up for every item.
  let lastIndex: string | null = null;
  let lastSeen: Map<string, number> | null = null;
  const seenByIndex = new Map<string, Map<string, number>>();
  for (let item = count - 1; item >= 0; item--) {
    const index = indexOf(item);
    if (index !== lastIndex || lastSeen === null) {
      lastIndex = index;
      lastSeen = seenByIndex.get(index) ?? null;
      if (lastSeen === null) seenByIndex.set(index, lastSeen = new Map());
    }
    const id = idOf(item);
    // Scanning from the end, the first item seen for a document is its last one.
    const last = lastSeen.get(id);
    if (last === undefined) {
      lastSeen.set(id, item);
      continue;
    }
    replacedBy ??= new Int32Array(count).fill(-1);
    replacedBy[item] = last;
  }
  return replacedBy;
}
