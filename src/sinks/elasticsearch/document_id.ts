/**
 * The `_id` rule of snapshot_query.ts's idExpression, for keys rendered outside SQL: the key
 * text as is when Elasticsearch can take it (1 to 512 bytes, not starting with `~`), otherwise
 * `~` + the hex SHA-256 of the key text.
 */
const encoder = new TextEncoder();

export async function documentId(keyText: string): Promise<string> {
  const bytes = encoder.encode(keyText);
  if (bytes.length >= 1 && bytes.length <= 512 && !keyText.startsWith("~")) return keyText;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `~${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
