/**
 * The PostgreSQL frontend/backend protocol (version 3.0), as much as a walsender session needs:
 * startup, authentication, a simple query and CopyBoth. Encoders build frontend messages; the
 * `BackendMessages` buffer cuts what the socket delivers into whole backend messages without
 * copying their bodies.
 */

const encoder = new TextEncoder();

/** SSLRequest: asks whether the server speaks TLS on this connection ('S') or not ('N'). */
export const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export function startupMessage(parameters: Readonly<Record<string, string>>): Uint8Array {
  let text = "";
  for (const [key, value] of Object.entries(parameters)) text += `${key}\0${value}\0`;
  const body = encoder.encode(`${text}\0`);
  const message = new Uint8Array(8 + body.length);
  const view = new DataView(message.buffer);
  view.setInt32(0, message.length);
  view.setInt32(4, 196_608); // protocol 3.0
  message.set(body, 8);
  return message;
}

/** A frontend message: type byte, length, body. */
export function frontendMessage(type: string, body: Uint8Array): Uint8Array {
  const message = new Uint8Array(5 + body.length);
  message[0] = type.charCodeAt(0);
  new DataView(message.buffer).setInt32(1, 4 + body.length);
  message.set(body, 5);
  return message;
}

export const passwordMessage = (password: string) => frontendMessage("p", encoder.encode(`${password}\0`));
export const queryMessage = (sql: string) => frontendMessage("Q", encoder.encode(`${sql}\0`));
export const copyData = (payload: Uint8Array) => frontendMessage("d", payload);
export const TERMINATE = frontendMessage("X", new Uint8Array(0));

export function saslInitialResponse(mechanism: string, data: string): Uint8Array {
  const name = encoder.encode(`${mechanism}\0`);
  const bytes = encoder.encode(data);
  const body = new Uint8Array(name.length + 4 + bytes.length);
  body.set(name);
  new DataView(body.buffer).setInt32(name.length, bytes.length);
  body.set(bytes, name.length + 4);
  return frontendMessage("p", body);
}

export const saslResponse = (data: string) => frontendMessage("p", encoder.encode(data));

export interface BackendMessage {
  /** The type byte as a character: 'R', 'E', 'd', ... */
  readonly type: string;
  /** A view into the buffer the message arrived in; never written to afterwards. */
  readonly body: Uint8Array;
}

/** Backend messages larger than this are a protocol error, not a reason to allocate. */
const MAX_MESSAGE_BYTES = 1 << 30;

/**
 * Bytes from the socket in, whole messages out. Each chunk is kept as it came (bodies are views
 * into it, so a decoder may hold on to them); only a message cut across chunks is copied.
 */
export class BackendMessages {
  #rest: Uint8Array = new Uint8Array(0);

  /** The messages completed by `chunk`, in order. */
  push(chunk: Uint8Array): BackendMessage[] {
    const bytes = this.#rest.length === 0 ? chunk : concat(this.#rest, chunk);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const messages: BackendMessage[] = [];
    let at = 0;
    while (bytes.length - at >= 5) {
      const length = view.getInt32(at + 1);
      if (length < 4 || length > MAX_MESSAGE_BYTES) {
        throw new ProtocolError(`a backend message of type 0x${bytes[at].toString(16)} claims ${length} bytes`);
      }
      if (bytes.length - at < 1 + length) break;
      messages.push({ type: String.fromCharCode(bytes[at]), body: bytes.subarray(at + 5, at + 1 + length) });
      at += 1 + length;
    }
    this.#rest = at === bytes.length ? new Uint8Array(0) : bytes.slice(at);
    return messages;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** The server broke the protocol: a bug or something that is not PostgreSQL on the port. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

/**
 * An ErrorResponse as an Error whose `code` is the SQLSTATE, shaped like postgres.js's
 * PostgresError so the same explanations apply to both.
 */
export class ServerError extends Error {
  override readonly name = "PostgresError";
  readonly code: string;
  readonly severity: string;
  readonly detail?: string;
  readonly hint?: string;

  constructor(fields: ReadonlyMap<string, string>) {
    super(fields.get("M") ?? "unknown server error");
    this.code = fields.get("C") ?? "XX000";
    this.severity = fields.get("V") ?? fields.get("S") ?? "ERROR";
    this.detail = fields.get("D");
    this.hint = fields.get("H");
  }
}

const decoder = new TextDecoder();

/** ErrorResponse / NoticeResponse fields: a type byte, a C string, ... a zero byte. */
export function errorFields(body: Uint8Array): Map<string, string> {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    if (end === -1) break;
    fields.set(String.fromCharCode(body[at]), decoder.decode(body.subarray(at + 1, end)));
    at = end + 1;
  }
  return fields;
}

export function int32(body: Uint8Array, at = 0): number {
  if (body.length < at + 4) throw new ProtocolError(`a ${body.length}-byte message has no int32 at ${at}`);
  return new DataView(body.buffer, body.byteOffset, body.byteLength).getInt32(at);
}

export function text(body: Uint8Array): string {
  return decoder.decode(body);
}
