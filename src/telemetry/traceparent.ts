/**
 * W3C Trace Context `traceparent` values: the engine writes one into each traced change event's
 * Kafka headers, and `oesophagus consume` continues the trace it names. A header that does not
 * parse is treated as absent (the W3C rule: start a new trace), never as an error: the events
 * may have passed through stream processors that write their own.
 */

export interface TraceParent {
  /** The trace id (0-15) and the parent's span id (16-23). */
  readonly ids: Uint8Array;
  /** Flag 01: the parent recorded its span, so the trace is kept. */
  readonly sampled: boolean;
}

const HEX = /^[0-9a-f]+$/;

function hexBytes(hex: string, into: Uint8Array, at: number): boolean {
  let nonZero = false;
  for (let i = 0; i < hex.length; i += 2) {
    const byte = parseInt(hex.slice(i, i + 2), 16);
    into[at + i / 2] = byte;
    nonZero ||= byte !== 0;
  }
  return nonZero;
}

/**
 * `version-traceid-parentid-flags`, lowercase hex. Version ff is invalid; version 00 has exactly
 * these four fields; a later version may append fields after a dash, which are ignored.
 */
export function parseTraceparent(text: string | null | undefined): TraceParent | null {
  if (text === null || text === undefined || text.length < 55) return null;
  const version = text.slice(0, 2);
  if (!HEX.test(version) || version === "ff") return null;
  if (version === "00" ? text.length !== 55 : text.length > 55 && text[55] !== "-") return null;
  if (text[2] !== "-" || text[35] !== "-" || text[52] !== "-") return null;
  const traceId = text.slice(3, 35);
  const spanId = text.slice(36, 52);
  const flags = text.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return null;
  const ids = new Uint8Array(24);
  if (!hexBytes(traceId, ids, 0) || !hexBytes(spanId, ids, 16)) return null;
  return { ids, sampled: (parseInt(flags, 16) & 1) === 1 };
}
