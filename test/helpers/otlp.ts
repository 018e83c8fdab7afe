/**
 * An OTLP trace export request (protobuf) read back, independently of the writer: a generic
 * protobuf wire-format reader and the field numbers of opentelemetry/proto/trace/v1/trace.proto.
 */

type Field = { readonly field: number; readonly value: bigint | Uint8Array };

/** Every field of a message, in order; varints and fixed64 as bigint, length-delimited as bytes. */
export function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let shift = 0n;; shift += 7n) {
      if (at >= bytes.length) throw new Error("truncated varint");
      const byte = bytes[at++];
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = Number(varint());
    const field = key >> 3;
    switch (key & 7) {
      case 0:
        out.push({ field, value: varint() });
        break;
      case 1:
        out.push({ field, value: view.getBigUint64(at, true) });
        at += 8;
        break;
      case 2: {
        const length = Number(varint());
        if (at + length > bytes.length) throw new Error(`field ${field}: ${length} bytes past the end`);
        out.push({ field, value: bytes.subarray(at, at + length) });
        at += length;
        break;
      }
      case 5:
        out.push({ field, value: BigInt(view.getUint32(at, true)) });
        at += 4;
        break;
      default:
        throw new Error(`unexpected wire type ${key & 7} at ${at}`);
    }
  }
  return out;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const bytesOf = (f: Field) => f.value as Uint8Array;
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const all = (message: Uint8Array, field: number) => fields(message).filter((f) => f.field === field);
const one = (message: Uint8Array, field: number) => all(message, field)[0];

/** KeyValue list: string values as strings, int values as bigint. */
function attributes(list: Field[]): Record<string, string | bigint> {
  const out: Record<string, string | bigint> = {};
  for (const kv of list) {
    const key = decoder.decode(bytesOf(one(bytesOf(kv), 1)));
    const any = fields(bytesOf(one(bytesOf(kv), 2)))[0];
    out[key] = any.field === 1 ? decoder.decode(bytesOf(any)) : any.value as bigint;
  }
  return out;
}

export interface DecodedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly attributes: Record<string, string | bigint>;
  readonly links: { traceId: string; spanId: string }[];
  readonly status: { code?: number; message?: string };
}

export interface DecodedRequest {
  readonly resource: Record<string, string | bigint>;
  readonly scope: string;
  readonly spans: DecodedSpan[];
}

/** An ExportTraceServiceRequest: one entry per ResourceSpans × ScopeSpans. */
export function decodeTraceRequest(body: Uint8Array): DecodedRequest[] {
  const out: DecodedRequest[] = [];
  for (const resourceSpans of all(body, 1)) {
    const resource = attributes(all(bytesOf(one(bytesOf(resourceSpans), 1)), 1));
    for (const scopeSpans of all(bytesOf(resourceSpans), 2)) {
      const scope = decoder.decode(bytesOf(one(bytesOf(one(bytesOf(scopeSpans), 1)), 1)));
      const spans = all(bytesOf(scopeSpans), 2).map((s) => decodeSpan(bytesOf(s)));
      out.push({ resource, scope, spans });
    }
  }
  return out;
}

function decodeSpan(span: Uint8Array): DecodedSpan {
  const parent = one(span, 4);
  const status = one(span, 15);
  const statusFields = status ? fields(bytesOf(status)) : [];
  const message = statusFields.find((f) => f.field === 2);
  const code = statusFields.find((f) => f.field === 3);
  return {
    traceId: hex(bytesOf(one(span, 1))),
    spanId: hex(bytesOf(one(span, 2))),
    ...(parent ? { parentSpanId: hex(bytesOf(parent)) } : {}),
    name: decoder.decode(bytesOf(one(span, 5))),
    kind: Number(one(span, 6)?.value ?? 0n),
    startTimeUnixNano: one(span, 7).value as bigint,
    endTimeUnixNano: one(span, 8).value as bigint,
    attributes: attributes(all(span, 9)),
    links: all(span, 13).map((l) => ({ traceId: hex(bytesOf(one(bytesOf(l), 1))), spanId: hex(bytesOf(one(bytesOf(l), 2))) })),
    status: {
      ...(code ? { code: Number(code.value) } : {}),
      ...(message ? { message: decoder.decode(bytesOf(message)) } : {}),
    },
  };
}
