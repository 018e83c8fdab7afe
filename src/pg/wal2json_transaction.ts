/**
 * wal2json's begin and commit records, read straight from their bytes. Every transaction has
 * both, so with one-row transactions they are two records of every three; read as the row
 * records are (a scan into fields, then regular expressions and BigInt of strings for the LSNs,
 * Date.parse for the time) they cost more per transaction than its row did. A record in any other
 * form (another field order, white space, a time that is not plain UTC) gives null here, and the
 * decoder's other paths read it or refuse it with their specific error. A differential test holds
 * this path to the general one.
 *
 * The form, with the engine's options (`wal2jsonOptions`) and the session's pinned time zone
 * (`"xid":…,` only with `include-xids`, which the engine asks for when a sink publishes events):
 * `{"action":"B","xid":21657386,"timestamp":"2026-12-02 14:48:43.539181+00","lsn":"0/E93C7C88","nextlsn":"0/E93C7CB8"}`
 */
import type { Lsn } from "./lsn.ts";

export interface TransactionRecord {
  readonly action: "B" | "C";
  /** The commit record's LSN ("lsn") and the end of it ("nextlsn"): both records carry both. */
  readonly commitLsn: Lsn;
  readonly endLsn: Lsn;
  /** Milliseconds since the epoch, as Date.parse gives them for the record's time (sub-millisecond digits dropped). */
  readonly commitTime: number;
  /** The same time in microseconds, every digit wal2json printed; null outside the years 1685-2255, where a number would lose digits. */
  readonly commitMicros: number | null;
  /** The transaction id, or null without `include-xids`. */
  readonly xid: number | null;
}

const ACTION = ascii('{"action":"');
const TIMESTAMP = ascii('","timestamp":"');
const XID = ascii('","xid":');
const TIMESTAMP_AFTER_XID = ascii(',"timestamp":"');
const LSN = ascii('","lsn":"');
const NEXT_LSN = ascii('","nextlsn":"');
const END = ascii('"}');
const B = 0x42;
const C = 0x43;
/** Longer than any record of this form: the length check that keeps a row record from being scanned here. */
const MAX_BYTES = 160;

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The begin or commit record in `bytes`, or null when it is not one in the form above. */
export function readTransactionRecord(bytes: Uint8Array): TransactionRecord | null {
  if (bytes.length > MAX_BYTES || !holds(bytes, 0, ACTION)) return null;
  const action = bytes[ACTION.length];
  if (action !== B && action !== C) return null;
  let at = ACTION.length + 1;
  let xid: number | null = null;
  if (holds(bytes, at, XID)) {
    at += XID.length;
    const start = at;
    xid = 0;
    // An xid is 32 bits unsigned and never 0: 1 to 10 digits, no leading zero.
    while (at < bytes.length && bytes[at] >= 0x30 && bytes[at] <= 0x39 && at - start < 10) xid = xid * 10 + bytes[at++] - 0x30;
    if (at === start || bytes[start] === 0x30 || xid > 0xffff_ffff) return null;
    if (!holds(bytes, at, TIMESTAMP_AFTER_XID)) return null;
    at += TIMESTAMP_AFTER_XID.length;
  } else {
    if (!holds(bytes, at, TIMESTAMP)) return null;
    at += TIMESTAMP.length;
  }
  const time = utcTime(bytes, at);
  if (time === null) return null;
  at = time.end;
  if (!holds(bytes, at, LSN)) return null;
  const commitLsn = lsn(bytes, at + LSN.length);
  if (commitLsn === null) return null;
  at = commitLsn.end;
  if (!holds(bytes, at, NEXT_LSN)) return null;
  const endLsn = lsn(bytes, at + NEXT_LSN.length);
  if (endLsn === null || endLsn.end + END.length !== bytes.length || !holds(bytes, endLsn.end, END)) return null;
  return {
    action: action === B ? "B" : "C",
    commitLsn: commitLsn.value,
    endLsn: endLsn.value,
    commitTime: time.value,
    commitMicros: time.micros,
    xid,
  };
}

function holds(bytes: Uint8Array, at: number, literal: Uint8Array): boolean {
  if (at + literal.length > bytes.length) return false;
  for (let i = 0; i < literal.length; i++) if (bytes[at + i] !== literal[i]) return false;
  return true;
}

/**
 * `%X/%X` as PostgreSQL prints an LSN: up to 8 upper-case hex digits a half, so each half fits a
 * JS number exactly and only the joined 64 bits need a bigint.
 */
function lsn(bytes: Uint8Array, at: number): { value: Lsn; end: number } | null {
  const high = hex(bytes, at);
  if (high === null || bytes[high.end] !== 0x2f) return null;
  const low = hex(bytes, high.end + 1);
  if (low === null) return null;
  // Below 2^53 (a high half under 0x200000: 8 PiB of WAL) the joined value is an exact number:
  // one BigInt made instead of three and two operations on them.
  const value = high.value < 0x200000
    ? BigInt(high.value * 0x1_0000_0000 + low.value)
    : (BigInt(high.value) << 32n) | BigInt(low.value);
  return { value: value as Lsn, end: low.end };
}

function hex(bytes: Uint8Array, at: number): { value: number; end: number } | null {
  let value = 0;
  let i = at;
  for (; i < bytes.length && i - at < 9; i++) {
    const b = bytes[i];
    const digit = b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1;
    if (digit < 0) break;
    value = value * 16 + digit;
  }
  const digits = i - at;
  return digits === 0 || digits > 8 ? null : { value, end: i };
}

/**
 * `YYYY-MM-DD HH:MM:SS[.ffffff]+00`, timestamptz under DateStyle ISO and TimeZone UTC. Date.UTC
 * gives what Date.parse gives for it in the ranges accepted here (it moves a day past the month's
 * end into the next month, as Date.parse does); years below 1000, a 60th second and the like are
 * left to the general path.
 */
function utcTime(bytes: Uint8Array, at: number): { value: number; micros: number | null; end: number } | null {
  if (at + 22 > bytes.length) return null;
  const year = digits(bytes, at, 4);
  const month = digits(bytes, at + 5, 2);
  const day = digits(bytes, at + 8, 2);
  const hour = digits(bytes, at + 11, 2);
  const minute = digits(bytes, at + 14, 2);
  const second = digits(bytes, at + 17, 2);
  if (
    bytes[at + 4] !== 0x2d || bytes[at + 7] !== 0x2d || bytes[at + 10] !== 0x20 || bytes[at + 13] !== 0x3a ||
    bytes[at + 16] !== 0x3a || year < 1000 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 ||
    hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59
  ) return null;
  let i = at + 19;
  let micros = 0;
  if (bytes[i] === 0x2e) {
    const start = ++i;
    while (i < bytes.length && bytes[i] >= 0x30 && bytes[i] <= 0x39) i++;
    const count = i - start;
    if (count === 0 || count > 6) return null;
    for (let j = 0; j < 6; j++) micros = micros * 10 + (j < count ? bytes[start + j] - 0x30 : 0);
  }
  if (bytes[i] !== 0x2b || bytes[i + 1] !== 0x30 || bytes[i + 2] !== 0x30) return null;
  const seconds = Date.UTC(year, month - 1, day, hour, minute, second);
  const millis = Math.floor(micros / 1000);
  const exact = seconds * 1000 + micros;
  return { value: seconds + millis, micros: Number.isSafeInteger(exact) ? exact : null, end: i + 3 };
}

/** The decimal number of `count` digits at `at`, or -1. */
function digits(bytes: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const b = bytes[i];
    if (b < 0x30 || b > 0x39) return -1;
    value = value * 10 + b - 0x30;
  }
  return value;
}
