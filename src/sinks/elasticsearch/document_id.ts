/**
 * The `_id` rule of snapshot_query.ts's idExpression, for keys rendered outside SQL: the key
 * text as is when Elasticsearch can take it (1 to 512 bytes, not starting with `~`), otherwise
 * `~` + the hex SHA-256 of the key text.
 */
import { createHash } from "node:crypto";

const encoder = new TextEncoder();

export function documentId(keyText: string): string {
  // Fast exit without encoding: a short ASCII-ish key is always taken as is.
  if (keyText.length >= 1 && keyText.length <= 128 && keyText[0] !== "~") return keyText;
  const bytes = encoder.encode(keyText);
  if (bytes.length >= 1 && bytes.length <= 512 && !keyText.startsWith("~")) return keyText;
  return `~${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The `_id` of a row of a keyless (REPLICA IDENTITY FULL) table: the MD5 of its to_jsonb text (or of that text's UTF-8). */
export function rowHashId(doc: string | Uint8Array): string {
  return createHash("md5").update(typeof doc === "string" ? encoder.encode(doc) : doc).digest("hex");
}
