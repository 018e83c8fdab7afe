/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it: no channel binding (the plain
 * connection has none to bind), the user name left to the startup packet. The server's final
 * signature is checked: a server that does not know the password is not trusted with the stream.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { Buffer } from "node:buffer";

export const SCRAM_SHA_256 = "SCRAM-SHA-256";

const hmac = (key: Uint8Array, text: string) => createHmac("sha256", key).update(text).digest();

export class ScramClient {
  readonly #password: string;
  readonly #nonce: string;
  #authMessage = "";
  #serverSignature = "";

  constructor(password: string, nonce = randomBytes(18).toString("base64")) {
    this.#password = password;
    this.#nonce = nonce;
  }

  /** client-first-message: GS2 header `n,,` (no binding) and the bare part. */
  first(): string {
    return `n,,${this.#bare()}`;
  }

  #bare(): string {
    return `n=*,r=${this.#nonce}`;
  }

  /** client-final-message for the server's first message. */
  final(serverFirst: string): string {
    const attributes = parseAttributes(serverFirst);
    const nonce = attributes.get("r");
    const salt = attributes.get("s");
    const iterations = Number(attributes.get("i"));
    if (!nonce || !nonce.startsWith(this.#nonce) || !salt || !Number.isInteger(iterations) || iterations < 1) {
      throw new Error("the server's SCRAM challenge is malformed");
    }
    const salted = pbkdf2Sync(this.#password, Buffer.from(salt, "base64"), iterations, 32, "sha256");
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    this.#authMessage = `${this.#bare()},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, this.#authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ signature[i];
    this.#serverSignature = hmac(hmac(salted, "Server Key"), this.#authMessage).toString("base64");
    return `${withoutProof},p=${proof.toString("base64")}`;
  }

  /** Whether the server's final message proves it knows the password. */
  verify(serverFinal: string): boolean {
    return this.#serverSignature !== "" && parseAttributes(serverFinal).get("v") === this.#serverSignature;
  }
}

function parseAttributes(message: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of message.split(",")) {
    if (part.length >= 2 && part[1] === "=") attributes.set(part[0], part.slice(2));
  }
  return attributes;
}
