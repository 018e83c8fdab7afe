/**
 * A row image whose values stay in the message they came in until asked for (pgoutput: every
 * value; wal2json: strings without escapes, numbers, true and false; their UTF-8 checked at decode): the renderer
 * writes most documents from those bytes (RawTuple), and strings are made only of the values
 * something reads (a key, a value the byte converters leave to the string ones).
 */
import { spanText } from "../pg/ascii_text.ts";
import type { ColumnValue, RawTuple, RowImage } from "./change.ts";

export class MessageRow implements RowImage, RawTuple {
  /** Values decoded so far: undefined for text in the message not asked for yet. */
  readonly #decoded: (ColumnValue | undefined)[];
  #complete = false;

  /** `decoded[i]` undefined: column i is the text (well-formed UTF-8) at `spans[2i]`..`spans[2i + 1]` of `bytes`. */
  constructor(
    readonly columns: readonly string[],
    readonly types: readonly number[],
    readonly bytes: Uint8Array,
    readonly spans: readonly number[],
    decoded: (ColumnValue | undefined)[],
    readonly keyOnly = false,
  ) {
    this.#decoded = decoded;
  }

  get raw(): RawTuple {
    return this;
  }

  get values(): readonly ColumnValue[] {
    if (!this.#complete) {
      for (let i = 0; i < this.#decoded.length; i++) this.value(i);
      this.#complete = true;
    }
    return this.#decoded as ColumnValue[];
  }

  value(i: number): ColumnValue {
    const known = this.#decoded[i];
    if (known !== undefined) return known;
    const text = spanText(this.bytes, this.spans[2 * i], this.spans[2 * i + 1]);
    this.#decoded[i] = text;
    return text;
  }
}
