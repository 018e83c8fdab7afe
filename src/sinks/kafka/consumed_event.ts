/**
 * A change event read back from a topic, as the `consume` mode applies it to Elasticsearch: its
 * kind, its version and, for a row, the row's JSON as the exact text it was written as (only
 * line breaks between tokens become spaces, which `_bulk` needs). The envelope may have passed
 * through a stream processor: any member order and spacing is read, and the header
 * `oesophagus-version` is not relied on; anything else is refused with its place in the topic.
 */
import { OesophagusError } from "../../errors.ts";
import { type ExactJson, JsonNumber, JsonSyntaxError, parseExactJson } from "../../json/exact_json.ts";
import { objectSpans, ObjectSpansError } from "../../json/object_spans.ts";
import type { Lsn } from "../../pg/lsn.ts";
import type { EnvelopeOp } from "./change_messages.ts";

export interface ConsumedEvent {
  readonly op: EnvelopeOp;
  /** The document's `_id` (the message key); null for `t`. */
  readonly id: string | null;
  readonly version: Lsn;
  /** The row (`r`, `c`, `u`) on one line; null for `d` and `t`. */
  readonly after: string | null;
}

/** Where a message is, for errors: `topic/partition@offset`. */
export type MessagePlace = string;

const OPS: readonly string[] = ["c", "u", "d", "r", "t"];
/** The largest value an LSN can have (two 32-bit halves). */
const MAX_LSN = (1n << 64n) - 1n;

function malformed(place: MessagePlace, why: string): OesophagusError {
  return new OesophagusError("event_malformed", `the change event at ${place} ${why}`, {
    fix:
      "fix what writes to the topic (a stream processor must keep the envelope's op, after and source.version), then restart; to skip the event, move the consumer group's offset past it (kafka-consumer-groups --reset-offsets)",
  });
}

export function readConsumedEvent(key: string | null, value: string | null, place: MessagePlace): ConsumedEvent {
  if (value === null) throw malformed(place, "has no value (a tombstone?)");
  // Only the envelope's structure is read here: `after` goes on as text (Elasticsearch refuses a row that is not JSON,
  // into the dead-letter index), `op` and `source` are parsed in full.
  let spans;
  try {
    spans = objectSpans(value);
  } catch (error) {
    if (error instanceof ObjectSpansError) throw malformed(place, `is not a JSON object: ${error.message}`);
    throw error;
  }
  const member = (name: string): ExactJson | undefined => {
    const span = spans.get(name);
    if (span === undefined) return undefined;
    try {
      return parseExactJson(value.slice(span[0], span[1]));
    } catch (error) {
      if (error instanceof JsonSyntaxError) throw malformed(place, `has a ${name} that is not JSON: ${error.message}`);
      throw error;
    }
  };
  const op = member("op");
  if (typeof op !== "string" || !OPS.includes(op)) throw malformed(place, `has op ${JSON.stringify(op) ?? "missing"}`);
  const source = member("source");
  const version = source !== null && typeof source === "object" && !Array.isArray(source) && !(source instanceof JsonNumber)
    ? source.version
    : undefined;
  if (typeof version !== "string" || !/^\d{1,20}$/.test(version) || BigInt(version) > MAX_LSN) {
    throw malformed(place, "has no source.version that is an LSN in decimal text");
  }
  const span = spans.get("after");
  const after = span === undefined ? "null" : value.slice(span[0], span[1]);
  const row = op === "c" || op === "u" || op === "r";
  if (row && !after.startsWith("{")) throw malformed(place, `is ${op} without a row in after`);
  if (op !== "t" && (key === null || key === "")) throw malformed(place, `is ${op} without a key: it names no document`);
  return {
    op: op as EnvelopeOp,
    id: op === "t" ? null : key,
    version: BigInt(version) as Lsn,
    after: row ? after.replace(/[\r\n]/g, " ") : null,
  };
}
