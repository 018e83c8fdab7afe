/**
 * The few protobuf encodings an OTLP span needs, written into one growing byte buffer (the wire
 * format of opentelemetry/proto/trace/v1/trace.proto, `ExportTraceServiceRequest`). Hand-written
 * because a traced change is three spans: the SDK's protobufjs serializer costs more than the
 * change itself, and OTLP/JSON costs a kilobyte of string per change that V8 builds as ropes
 * and flattens again when the request is joined.
 */

const encoder = new TextEncoder();

/** Field tags (field number << 3 | wire type) of the messages written here. */
export const TAG = {
  // ExportTraceServiceRequest.resource_spans, ResourceSpans.resource, Resource.attributes
  resourceSpans: 0x0a,
  resource: 0x0a,
  resourceAttribute: 0x0a,
  // ResourceSpans.scope_spans, ScopeSpans.scope, InstrumentationScope.name, ScopeSpans.spans
  scopeSpans: 0x12,
  scope: 0x0a,
  scopeName: 0x0a,
  span: 0x12,
  // Span
  traceId: 0x0a,
  spanId: 0x12,
  parentSpanId: 0x22,
  name: 0x2a,
  kind: 0x30,
  start: 0x39,
  end: 0x41,
  attribute: 0x4a,
  link: 0x6a,
  status: 0x7a,
  // Span.Link
  linkTraceId: 0x0a,
  linkSpanId: 0x12,
  // Status
  statusMessage: 0x12,
  statusCode: 0x18,
  // KeyValue, AnyValue
  key: 0x0a,
  value: 0x12,
  stringValue: 0x0a,
  intValue: 0x18,
} as const;

export const SPAN_KIND_INTERNAL = 1;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_CODE_ERROR = 2;

/** Bytes of a varint. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** UTF-8 bytes of a string (as TextEncoder writes it), counted without encoding it. */
export function utf8Size(text: string): number {
  let size = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) size += 1;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      // A surrogate pair: two UTF-16 units, four bytes.
      size += 2;
      i++;
    } else size += 2; // the rest of the BMP; a lone surrogate is encoded as U+FFFD, three bytes too
  }
  return size;
}

/** A length-delimited field's bytes: tag, length, payload. */
export const fieldSize = (payload: number) => 1 + varintSize(payload) + payload;

/** Bytes of a string `KeyValue` as a field of its message. */
export const stringKeyValueSize = (key: string, value: string) =>
  fieldSize(fieldSize(utf8Size(key)) + fieldSize(fieldSize(utf8Size(value))));

/** A `KeyValue` holding a string, encoded once (for attributes that repeat). */
export function stringAttribute(key: string, value: string): Uint8Array<ArrayBuffer> {
  const out = new ProtoWriter(64);
  out.stringKeyValue(TAG.attribute, key, value);
  return out.bytes();
}

export class ProtoWriter {
  #buffer: Uint8Array<ArrayBuffer>;
  #view: DataView;
  at = 0;

  constructor(capacity = 1 << 20) {
    this.#buffer = new Uint8Array(capacity);
    this.#view = new DataView(this.#buffer.buffer);
  }

  /** Room for `bytes` more. */
  reserve(bytes: number): void {
    if (this.at + bytes <= this.#buffer.length) return;
    let capacity = this.#buffer.length * 2;
    while (capacity < this.at + bytes) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer.subarray(0, this.at));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }

  byte(value: number): void {
    this.#buffer[this.at++] = value;
  }

  varint(value: number): void {
    while (value >= 0x80) {
      this.#buffer[this.at++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.#buffer[this.at++] = value;
  }

  /** A tag and the length of what follows. */
  header(tag: number, length: number): void {
    this.#buffer[this.at++] = tag;
    this.varint(length);
  }

  /** `count` bytes of `source` from `offset`. */
  copy(source: Uint8Array, offset: number, count: number): void {
    const buffer = this.#buffer;
    for (let i = 0; i < count; i++) buffer[this.at + i] = source[offset + i];
    this.at += count;
  }

  raw(bytes: Uint8Array): void {
    this.#buffer.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** UTF-8 of `text`, whose size is `size` (from utf8Size). */
  utf8(text: string, size: number): void {
    if (size === text.length) {
      const buffer = this.#buffer;
      for (let i = 0; i < text.length; i++) buffer[this.at + i] = text.charCodeAt(i);
      this.at += size;
      return;
    }
    this.at += encoder.encodeInto(text, this.#buffer.subarray(this.at, this.at + size)).written;
  }

  /** A string field: tag, length, UTF-8. */
  string(tag: number, text: string): void {
    const size = utf8Size(text);
    this.reserve(size + 6);
    this.header(tag, size);
    this.utf8(text, size);
  }

  /**
   * Nanoseconds since the epoch of a millisecond time, as fixed64 (little-endian), exactly:
   * ms × 10⁶ exceeds 2⁵³, so it is assembled from 32-bit halves rather than multiplied as one number.
   */
  fixed64Millis(tag: number, millis: number): void {
    this.#buffer[this.at++] = tag;
    const ms = Math.round(millis);
    const high21 = Math.floor(ms / 2 ** 21);
    const low21 = ms - high21 * 2 ** 21;
    // ms × 10⁶ = high21 × 10⁶ × 2²¹ + low21 × 10⁶, each product below 2⁵³.
    const a = high21 * 1_000_000;
    const b = low21 * 1_000_000;
    const aLow = (a % 2 ** 11) * 2 ** 21;
    const bLow = b % 2 ** 32;
    const low = aLow + bLow;
    const carry = low >= 2 ** 32 ? 1 : 0;
    this.#view.setUint32(this.at, low - carry * 2 ** 32, true);
    this.#view.setUint32(this.at + 4, Math.floor(a / 2 ** 11) + Math.floor(b / 2 ** 32) + carry, true);
    this.at += 8;
  }

  /** A `KeyValue` with a string value, as field `tag` of its message. */
  stringKeyValue(tag: number, key: string, value: string): void {
    const valueSize = utf8Size(value);
    this.#keyValueHead(tag, key, fieldSize(valueSize));
    this.header(TAG.stringValue, valueSize);
    this.utf8(value, valueSize);
  }

  /** A `KeyValue` with an int64 value (non-negative, below 2⁵³). */
  intKeyValue(tag: number, key: string, value: number): void {
    this.#keyValueHead(tag, key, 1 + varintSize(value));
    this.byte(TAG.intValue);
    this.varint(value);
  }

  /** A KeyValue's tag and length, its key, and the head of an `AnyValue` of `anyValue` bytes, which the caller writes. */
  #keyValueHead(tag: number, key: string, anyValue: number): void {
    const keySize = utf8Size(key);
    const keyValue = fieldSize(keySize) + fieldSize(anyValue);
    this.reserve(fieldSize(keyValue));
    this.header(tag, keyValue);
    this.header(TAG.key, keySize);
    this.utf8(key, keySize);
    this.header(TAG.value, anyValue);
  }

  /** A copy of what was written. */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.#buffer.slice(0, this.at);
  }

  /** What was written, as a view (valid until the next write). */
  view(): Uint8Array<ArrayBuffer> {
    return this.#buffer.subarray(0, this.at);
  }
}
