/**
 * The source database's encoding, and whether the engine can read its text exactly. Every engine
 * session asks for UTF8 (`client_encoding`), and the server converts what it sends to it: query
 * results, and pgoutput's names and values. wal2json writes the database's own bytes, unconverted:
 * from a LATIN1 database, "Zoë" arrives as Z o 0xEB, which is no UTF-8, and every change with
 * such text would stop the stream. SQL_ASCII converts nothing either way: text is taken as UTF-8,
 * as it most often is, and a value that is not stops the stream at that change.
 */
import { OesophagusError } from "../errors.ts";
import type { Sql } from "./session.ts";

export interface EncodingVerdict {
  readonly encoding: string;
  /** The engine cannot read this database's text with this plugin. */
  readonly error?: OesophagusError;
  /** It can, on a condition the operator should know of. */
  readonly warning?: string;
}

export async function sourceEncoding(sql: Sql): Promise<string> {
  const [{ encoding }] = await sql<{ encoding: string }[]>`
    SELECT pg_encoding_to_char(encoding) AS encoding FROM pg_database WHERE datname = current_database()`;
  return encoding;
}

export function judgeEncoding(encoding: string, plugin: "pgoutput" | "wal2json"): EncodingVerdict {
  if (encoding === "UTF8") return { encoding };
  if (encoding === "SQL_ASCII") {
    return {
      encoding,
      warning:
        "the source database is SQL_ASCII (no encoding): its text is taken as UTF-8, and a value that is not valid UTF-8 stops the stream at its change",
    };
  }
  if (plugin === "pgoutput") return { encoding };
  return {
    encoding,
    error: new OesophagusError(
      "source_misconfigured",
      `the source database is encoded in ${encoding}: wal2json writes its text in that encoding, unconverted, and the engine reads UTF-8`,
      {
        fix:
          `set source.plugin to "pgoutput" (the server converts its text to UTF-8), or replicate from a database encoded in UTF8`,
      },
    ),
  };
}
