/**
 * Whether a change's composite values read right under the attributes their types have now.
 * The plugins print a composite value by position, `(1,2,3)`, under the attributes its type had
 * where the change was logged, and PostgreSQL, rendering it, reads it under the attributes the
 * type has when it renders. An ALTER TYPE between the two (attributes added, dropped, renamed;
 * or an ALTER TABLE of a table whose row type a column has) made such a value fail to read, or,
 * with as many attributes as before, read into the wrong ones without a word. No message of
 * either plugin tells of such a change; the catalog does, by the state of those attributes, and
 * the LSN where a transaction began tells what it was logged under:
 *
 * - a stamp of every attribute of every composite type a table's columns reach (through
 *   domains, arrays and nested composites) is read with the WAL insert position, in the same
 *   statement that renders: every change of a transaction that began at or after that position
 *   was logged under the stamp's attributes, which its rendering reads it under;
 * - a change of a transaction that began before the first position where the stamp read as it
 *   does now may have been logged under other attributes: it is rendered as its row is now.
 *
 * So after an ALTER TYPE, the changes that began before it was seen are rendered as their rows
 * are now; the rows converge on the table, later changes writing over them. The stamp and its
 * position are recorded with the table's copy (first as the copy's snapshot sees it, from the
 * snapshot's position), so that a start that finds the stamp as it was goes on from there: otherwise every change read after a start that began before it would be
 * rendered as its row is now (a stamp holds each attribute's number and whether it was dropped,
 * so attributes dropped and added back read as another stamp).
 */
import { hasComposite, type TableDescription } from "../pg/catalog.ts";
import { type Lsn, parseLsn } from "../pg/lsn.ts";

/**
 * Whether a table's composite types are watched: it has composite values, and a key to read its
 * rows again by (a keyless table's composites are read under the attributes their types have).
 */
export function typesWatched(table: TableDescription): boolean {
  return table.key.columns !== null && table.columns.some((c) => hasComposite(c.type));
}

/** One row: `stamp` (text) and `at` (the WAL insert position, pg_lsn as text), read in one snapshot. */
export function typeStampQuery(tableOid: number): string {
  // A true array has typelem and typlen -1 (point and name have a typelem and a fixed length).
  return `WITH RECURSIVE types(oid) AS (
      SELECT a.atttypid FROM pg_catalog.pg_attribute a WHERE a.attrelid = ${tableOid} AND a.attnum > 0 AND NOT a.attisdropped
      UNION
      SELECT s.oid FROM types t JOIN pg_catalog.pg_type ty ON ty.oid = t.oid
      CROSS JOIN LATERAL (
        SELECT ty.typbasetype WHERE ty.typtype = 'd'
        UNION ALL SELECT ty.typelem WHERE ty.typelem <> 0 AND ty.typlen = -1
        UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a
          WHERE ty.typtype = 'c' AND a.attrelid = ty.typrelid AND a.attnum > 0 AND NOT a.attisdropped
      ) s(oid)
    )
    SELECT COALESCE(md5(string_agg(concat_ws(':', a.attrelid, a.attnum, a.attname, a.atttypid, a.attisdropped), ','
        ORDER BY a.attrelid, a.attnum)), '') AS stamp,
      pg_catalog.pg_current_wal_insert_lsn()::text AS at
    FROM types t JOIN pg_catalog.pg_type ty ON ty.oid = t.oid AND ty.typtype = 'c'
    JOIN pg_catalog.pg_attribute a ON a.attrelid = ty.typrelid AND a.attnum > 0`;
}

/** A stamp of a table's composite types' attributes, and the position from which it held. */
export interface TypeStamp {
  readonly stamp: string;
  readonly since: Lsn;
}

/** What a table's renderer knows of its composite types' attributes: the stamp seen last, and since where. */
export class TypeWatch {
  #stamp: string | null = null;
  #since: Lsn = 0n as Lsn;

  /** Starts from a stamp seen before (by an earlier start): `saw` of the same stamp keeps its position. */
  restore(seen: TypeStamp): void {
    this.#stamp = seen.stamp;
    this.#since = seen.since;
  }

  /** The stamp seen last and its position; null before any. */
  get last(): TypeStamp | null {
    return this.#stamp === null ? null : { stamp: this.#stamp, since: this.#since };
  }

  /** Whether a stamp has been seen yet (the first rendering reads one before anything else). */
  get seen(): boolean {
    return this.#stamp !== null;
  }

  /**
   * Whether a change of a transaction that began at `begunAt` was logged under the attributes of
   * the stamp seen last. Without a stamp, or where the transaction began, it may not have been.
   */
  current(begunAt: Lsn | undefined): boolean {
    return this.#stamp !== null && begunAt !== undefined && begunAt >= this.#since;
  }

  /**
   * A stamp read with the insert position `at`, in the statement that rendered or on its own:
   * true if it differs from the one seen before (or is the first), and then a rendering in the
   * same statement must not be trusted (its changes began before `at`: the attributes may have
   * changed under them).
   */
  saw(stamp: string, at: string): boolean {
    if (stamp === this.#stamp) return false;
    this.#stamp = stamp;
    this.#since = parseLsn(at);
    return true;
  }
}
