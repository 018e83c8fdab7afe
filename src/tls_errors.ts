/** A TLS failure that waiting cannot fix: the peer's certificate does not verify against the CA we were given. */
const TLS_TRUST_FAILURE =
  /CERT_|_CERT|SELF[_ -]SIGNED|UNABLE[_ ]TO[_ ](VERIFY|GET_ISSUER)|UnknownIssuer|NotValidForName|BadSignature|certificate (verify|has expired|is not valid)|altnames/i;

export function isTlsTrustFailure(error: unknown): boolean {
  let current: unknown = error;
  // The reason may sit a few causes deep (transport error -> socket error).
  for (let depth = 0; depth < 4 && current; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (TLS_TRUST_FAILURE.test(`${code ?? ""} ${message ?? ""}`)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
