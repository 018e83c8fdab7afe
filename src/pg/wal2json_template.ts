/**
 * The shape of a row record, learnt from one read whole: every byte of it but the values. A
 * table's rows repeat their shape (the same action, schema, table, column names and type OIDs,
 * in the same order), so the next record of that shape is read by comparing those bytes and
 * reading only the values between them, instead of reading every key and name again (the compact
 * scanner spent about as much time on those as on everything else the decoder does).
 */

/** A value of the record: a top-level field's (`field`), or a column's (`list`, `column`). */
export type TemplateToken =
  | { readonly field: string; readonly list?: undefined; readonly column?: undefined }
  | { readonly field?: undefined; readonly list: string; readonly column: number };

export interface RecordTemplate {
  /** The record's bytes without its values: literal i is `text[ends[i - 1] (or 0), ends[i])`. */
  readonly text: Uint8Array;
  readonly ends: readonly number[];
  /** The values, in order: token i stands between literals i and i + 1. */
  readonly tokens: readonly TemplateToken[];
  /** The top-level fields that are part of the literals (action, schema, table); frozen, as every record of the shape shares it. */
  readonly constants: { readonly [key: string]: string };
  /** Whether a literal has a byte beyond ASCII (a name, say). */
  readonly highBytes: boolean;
  /** Each column list's names and type OIDs, in the record's order. */
  readonly lists: readonly { readonly key: string; readonly names: readonly string[]; readonly types: readonly number[] }[];
}

/** A token's bounds in the record it was read from. */
export interface TokenBounds {
  readonly token: TemplateToken;
  readonly start: number;
  readonly end: number;
}

/** The template of `bytes`, given where its values were. One copy of the bytes, made once per shape. */
export function makeTemplate(
  bytes: Uint8Array,
  bounds: readonly TokenBounds[],
  constants: { readonly [key: string]: string },
  lists: RecordTemplate["lists"],
): RecordTemplate {
  const text = new Uint8Array(bytes.length - bounds.reduce((n, b) => n + b.end - b.start, 0));
  const ends: number[] = [];
  let at = 0;
  let length = 0;
  for (const { start, end } of [...bounds, { start: bytes.length, end: bytes.length }]) {
    text.set(bytes.subarray(at, start), length);
    length += start - at;
    ends.push(length);
    at = end;
  }
  return {
    text,
    ends,
    tokens: bounds.map((b) => b.token),
    constants: Object.freeze({ ...constants }),
    highBytes: text.some((b) => b >= 0x80),
    lists,
  };
}

/** Whether `bytes` holds the template's literal `i` at `at`. */
export function holdsLiteral(bytes: Uint8Array, at: number, template: RecordTemplate, i: number): boolean {
  const { text, ends } = template;
  const from = i === 0 ? 0 : ends[i - 1];
  const to = ends[i];
  if (at + to - from > bytes.length) return false;
  for (let j = from; j < to; j++) if (bytes[at++] !== text[j]) return false;
  return true;
}

/** Length of the template's literal `i`. */
export function literalLength(template: RecordTemplate, i: number): number {
  return template.ends[i] - (i === 0 ? 0 : template.ends[i - 1]);
}

/** FNV-1a over `bytes[start, end)`, continuing `hash`: a table's key, for finding its template. */
export function hashBytes(hash: number, bytes: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash;
}

export const HASH_START = 0x811c9dc5;

/**
 * The templates of the tables seen, by a hash of their action, schema and table (a collision
 * only costs a failed match: the template's bytes decide), and the one used last, tried first.
 */
export class RecordTemplates {
  /** Shapes kept at most; past it they are forgotten and learnt again as rows come. */
  static readonly MAX = 4096;
  readonly #byTable = new Map<number, RecordTemplate>();
  last: RecordTemplate | null = null;

  get(key: number): RecordTemplate | undefined {
    return this.#byTable.get(key);
  }

  remember(key: number, template: RecordTemplate): void {
    if (this.#byTable.size >= RecordTemplates.MAX) this.#byTable.clear();
    this.#byTable.set(key, template);
    this.last = template;
  }

  get size(): number {
    return this.#byTable.size;
  }
}
