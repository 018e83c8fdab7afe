/**
 * A WAL position. PostgreSQL prints it as two hex halves ("16/3002D50"); it is a 64-bit
 * unsigned integer, so it lives in a bigint and is never a JS number.
 */
export type Lsn = bigint & { readonly __brand: "Lsn" };

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function parseLsn(text: string): Lsn {
  const match = LSN_TEXT.exec(text);
  if (!match) throw new Error(`not an LSN: ${JSON.stringify(text)} (expected e.g. "16/3002D50")`);
  return ((BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)) as Lsn;
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function lsnFromBigInt(value: bigint): Lsn {
  if (value < 0n || value > 0xffffffffffffffffn) throw new Error(`LSN out of range: ${value}`);
  return value as Lsn;
}
