/**
 * The pgoutput decoder against messages built byte for byte as PostgreSQL writes them, and
 * against those messages broken in every way fast-check can think of: a malformed message is a
 * DecodeError, never another error and never a row with other values.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type ChangeEvent, type ColumnValue, DecodeError, type RowImage, UNCHANGED, valueAt } from "../stream/change.ts";
import { PgoutputDecoder } from "./pgoutput.ts";

const encoder = new TextEncoder();

class Writer {
  readonly #parts: number[] = [];
  byte(v: number) {
    this.#parts.push(v & 0xff);
    return this;
  }
  char(c: string) {
    return this.byte(c.charCodeAt(0));
  }
  int16(v: number) {
    return this.byte(v >> 8).byte(v);
  }
  int32(v: number) {
    return this.byte(v >>> 24).byte(v >>> 16).byte(v >>> 8).byte(v);
  }
  uint64(v: bigint) {
    return this.int32(Number(v >> 32n)).int32(Number(v & 0xffff_ffffn));
  }
  string(s: string) {
    for (const b of encoder.encode(s)) this.byte(b);
    return this.byte(0);
  }
  tuple(values: readonly ColumnValue[]) {
    this.int16(values.length);
    for (const value of values) {
      if (value === null) this.char("n");
      else if (value === UNCHANGED) this.char("u");
      else {
        const bytes = encoder.encode(value);
        this.char("t").int32(bytes.length);
        for (const b of bytes) this.byte(b);
      }
    }
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

interface Relation {
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly string[];
}

/** A type OID per column position: text, int4, numeric, jsonb, and an OID past 2^31 (OIDs are unsigned). */
const typeOf = (i: number) => [25, 23, 1700, 3802, 4_000_000_000][i % 5];
const relationMessage = (r: Relation) => {
  const w = new Writer().char("R").int32(r.oid).string(r.schema).string(r.table).char("d").int16(r.columns.length);
  r.columns.forEach((column, i) => w.byte(1).string(column).int32(typeOf(i) | 0).int32(-1));
  return w.done();
};
/** A begin committed at 2026-11-24 10:00:00.123456 UTC: 848,829,600.123456 s after PostgreSQL's epoch. */
const begin = (lsn: bigint, xid: number) => new Writer().char("B").uint64(lsn).uint64(848_829_600_123_456n).int32(xid).done();
const commit = (lsn: bigint, end: bigint, micros = 0n) =>
  new Writer().char("C").byte(0).uint64(lsn).uint64(end).uint64(micros).done();
const insert = (oid: number, values: readonly ColumnValue[]) => new Writer().char("I").int32(oid).char("N").tuple(values).done();
const update = (oid: number, old: readonly ColumnValue[] | null, values: readonly ColumnValue[], marker = "O") => {
  const w = new Writer().char("U").int32(oid);
  if (old) w.char(marker).tuple(old);
  return w.char("N").tuple(values).done();
};
const del = (oid: number, old: readonly ColumnValue[], marker = "K") =>
  new Writer().char("D").int32(oid).char(marker).tuple(old).done();
const truncate = (oids: readonly number[]) => {
  const w = new Writer().char("T").int32(oids.length).byte(0);
  for (const oid of oids) w.int32(oid);
  return w.done();
};

/** A row image as a plain object (the decoder's keep ASCII values in the message until asked). */
const plain = (image: RowImage | null) => image && { columns: image.columns, types: image.types, values: [...image.values] };

/** Text, half of it starting with U+FEFF: a byte order mark in a value is a character like any other. */
const text = (maxLength: number, minLength = 0) =>
  fc.tuple(fc.boolean(), fc.string({ unit: "grapheme", minLength, maxLength }))
    .map(([bom, s]) => bom ? `\uFEFF${s}` : s);
/** Names PostgreSQL allows: any text without NUL. */
const name = text(20, 1).filter((s) => !s.includes("\0"));
const value: fc.Arbitrary<ColumnValue> = fc.oneof(
  text(40),
  fc.constant(null),
  fc.constant(UNCHANGED),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
);
const relation: fc.Arbitrary<Relation> = fc.record({
  oid: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  schema: name,
  table: name,
  columns: fc.uniqueArray(name, { minLength: 1, maxLength: 8 }),
});
const relationWithRow = relation.chain((r) =>
  fc.tuple(fc.constant(r), fc.array(value, { minLength: r.columns.length, maxLength: r.columns.length }))
);

function decoderFor(r: Relation): PgoutputDecoder {
  const decoder = new PgoutputDecoder();
  assert.equal(decoder.decode(relationMessage(r)), null);
  return decoder;
}

/** Decodes, and lets only a DecodeError through. */
function decodeOrDecodeError(decoder: PgoutputDecoder, payload: Uint8Array): ChangeEvent | null | DecodeError {
  try {
    return decoder.decode(payload);
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw new Error(`not a DecodeError for ${JSON.stringify([...payload])}: ${error}`);
  }
}

Deno.test("pgoutput: rows decode to exactly the values sent, with their relation's names", () => {
  fc.assert(fc.property(relationWithRow, fc.bigInt({ min: 0n, max: 2n ** 64n - 2n }), ([r, values], lsn) => {
    const decoder = decoderFor(r);
    assert.deepEqual(decoder.decode(begin(lsn, 7)), {
      kind: "begin",
      commitLsn: lsn,
      xid: 7,
      commitMicros: Date.UTC(2026, 10, 24, 10) * 1000 + 123_456,
    });
    const inserted = decoder.decode(insert(r.oid, values));
    assert.deepEqual(inserted?.kind === "row" && { ...inserted, new: plain(inserted.new) }, {
      kind: "row",
      op: "insert",
      schema: r.schema,
      table: r.table,
      relid: r.oid,
      new: { columns: r.columns, types: r.columns.map((_, i) => typeOf(i)), values },
      old: null,
    });
    // Values taken one by one (as the renderer takes keys) are the same, asked before or after all of them.
    const image = decoder.decode(insert(r.oid, values));
    assert.deepEqual(image?.kind === "row" && values.map((_, i) => valueAt(image.new!, i)), values);
    // The old row ('O', REPLICA IDENTITY FULL) and the old key ('K'), which says it is only that.
    const updated = decoder.decode(update(r.oid, values, values));
    assert.deepEqual(updated?.kind === "row" && [updated.old?.values, updated.new?.values], [values, values]);
    assert.deepEqual(updated?.kind === "row" && [updated.old?.keyOnly, updated.new?.keyOnly], [false, false]);
    const keyed = decoder.decode(update(r.oid, values, values, "K"));
    assert.deepEqual(keyed?.kind === "row" && [keyed.old?.values, keyed.old?.keyOnly], [values, true]);
    const deleted = decoder.decode(del(r.oid, values));
    assert.deepEqual(deleted?.kind === "row" && [deleted.op, deleted.old?.values, deleted.new], ["delete", values, null]);
    assert.equal(deleted?.kind === "row" && deleted.old?.keyOnly, true);
    const whole = decoder.decode(del(r.oid, values, "O"));
    assert.equal(whole?.kind === "row" && whole.old?.keyOnly, false);
    assert.deepEqual(decoder.decode(truncate([r.oid])), {
      kind: "truncate",
      tables: [{ schema: r.schema, table: r.table, relid: r.oid }],
    });
    // 2026-11-24T10:00:00.123456Z as microseconds since 2000-01-01.
    const micros = BigInt(Date.UTC(2026, 10, 24, 10) - Date.UTC(2000, 0, 1)) * 1000n + 123_456n;
    assert.deepEqual(decoder.decode(commit(lsn, lsn + 1n, micros)), {
      kind: "commit",
      commitLsn: lsn,
      endLsn: lsn + 1n,
      commitTime: Date.UTC(2026, 10, 24, 10, 0, 0, 123),
    });
  }));
});

Deno.test("pgoutput: every message cut short, or with bytes after its end, is a DecodeError", () => {
  fc.assert(fc.property(relationWithRow, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), ([r, values], at, extra) => {
    const messages = [
      relationMessage(r),
      begin(1n, 1),
      insert(r.oid, values),
      update(r.oid, values, values),
      del(r.oid, values),
      commit(1n, 2n),
    ];
    for (const message of messages) {
      const decoder = decoderFor(r);
      const cut = message.subarray(0, at % message.length);
      assert.ok(
        decodeOrDecodeError(decoder, cut) instanceof DecodeError,
        `a prefix of ${cut.length} of ${message.length} bytes was taken`,
      );
      const longer = new Uint8Array([...message, ...extra]);
      assert.ok(decodeOrDecodeError(decoder, longer) instanceof DecodeError, "trailing bytes were taken");
    }
  }));
});

Deno.test("pgoutput: messages that share one buffer, as a socket read gives them, decode as each alone", () => {
  fc.assert(fc.property(relationWithRow, fc.uint8Array({ maxLength: 9 }), fc.nat(), ([r, values], gap, at) => {
    const messages = [begin(3n, 1), insert(r.oid, values), update(r.oid, values, values), del(r.oid, values), commit(3n, 4n)];
    // Each message behind the last in one buffer, bytes of no message between them (a frame's header stands there).
    const shared = new Uint8Array(messages.reduce((n, m) => n + gap.length + m.length, 0));
    const views: Uint8Array[] = [];
    let offset = 0;
    for (const message of messages) {
      shared.set(gap, offset);
      offset += gap.length;
      shared.set(message, offset);
      views.push(shared.subarray(offset, offset + message.length));
      offset += message.length;
    }
    const alone = decoderFor(r);
    const together = decoderFor(r);
    const events = views.map((view, i) => [together.decode(view), alone.decode(messages[i])] as const);
    for (const [got, expected] of events) {
      assert.deepEqual(
        got?.kind === "row" ? { ...got, new: plain(got.new), old: plain(got.old) } : got,
        expected?.kind === "row" ? { ...expected, new: plain(expected.new), old: plain(expected.old) } : expected,
      );
    }
    // A message cut short is one, though the buffer goes on with the next message's bytes.
    const cut = views[1 + (at % 3)];
    assert.ok(decodeOrDecodeError(decoderFor(r), cut.subarray(0, at % cut.length)) instanceof DecodeError);
  }));
});

Deno.test("pgoutput: a changed byte gives a DecodeError or a row of the relation's shape, never another failure", () => {
  fc.assert(fc.property(relationWithRow, fc.nat(), fc.integer({ min: 1, max: 255 }), ([r, values], at, xor) => {
    for (const message of [insert(r.oid, values), update(r.oid, values, values), del(r.oid, values), relationMessage(r)]) {
      const decoder = decoderFor(r);
      const mutated = message.slice();
      mutated[at % mutated.length] ^= xor;
      const event = decodeOrDecodeError(decoder, mutated);
      if (event instanceof DecodeError || event === null || event.kind !== "row") continue;
      for (const image of [event.new, event.old]) {
        if (!image) continue;
        assert.deepEqual(image.columns, r.columns);
        for (const v of image.values) assert.ok(v === null || v === UNCHANGED || typeof v === "string");
      }
    }
  }));
});

Deno.test("pgoutput: random bytes are a DecodeError or a message, never another failure", () => {
  fc.assert(
    fc.property(relation, fc.uint8Array({ maxLength: 64 }), (r, bytes) => {
      decodeOrDecodeError(decoderFor(r), bytes);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("pgoutput: a row before its relation, and invalid UTF-8, are named in the error", () => {
  assert.throws(() => new PgoutputDecoder().decode(insert(5, ["1"])), /relation 5 before its Relation message/);
  const r = { oid: 5, schema: "public", table: "t", columns: ["a"] };
  const broken = insert(5, ["é"]);
  broken[broken.length - 1] = 0xff;
  assert.throws(() => decoderFor(r).decode(broken), (e) => e instanceof DecodeError && /invalid UTF-8/.test(e.message));
});
