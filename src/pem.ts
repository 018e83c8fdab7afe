/**
 * PEM files named by settings (CA certificates, client certificates and keys), read once at
 * start: a file that cannot be used stops the engine with the setting's name, the path and why.
 */
import { type ErrorCode, OesophagusError } from "./errors.ts";

export interface PemSetting {
  /** Where the path was given, as a person would look for it: `sinks.search.caFile`. */
  readonly name: string;
  readonly code: ErrorCode;
  /** The file must hold a certificate (not only a key). */
  readonly certificate?: boolean;
  /** What the file should be, for the fix: "the collector's CA". */
  readonly holding?: string;
}

export function readPemFile(path: string, setting: PemSetting): string {
  try {
    const pem = Deno.readTextFileSync(path);
    const marker = setting.certificate ? "-----BEGIN CERTIFICATE-----" : "-----BEGIN ";
    if (!pem.includes(marker)) throw new Error(setting.certificate ? "no PEM certificate in it" : "no PEM block in it");
    return pem;
  } catch (error) {
    throw new OesophagusError(setting.code, `${setting.name} ${path} cannot be read: ${(error as Error).message}`, {
      fix: `point ${setting.name} at a readable PEM file${setting.holding ? ` of ${setting.holding}` : ""}`,
    });
  }
}
