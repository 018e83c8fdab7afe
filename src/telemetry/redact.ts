/**
 * Secrets never leave the process in clear: every line the engine prints passes through
 * `redact`, which masks each registered secret and any password inside a URL.
 */
const secrets = new Set<string>();

/** Registers a value that must never be printed (passwords, API keys). Short values are masked too. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length > 0) secrets.add(value);
}

/**
 * Registers the password of a connection URL. Read as text: a URL with several hosts
 * (postgres://u:p@db1:5432,db2:5432/app) is not one the URL parser takes.
 */
export function registerUrlSecrets(url: string): void {
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url)?.[1];
  const colon = userinfo?.indexOf(":") ?? -1;
  if (userinfo === undefined || colon === -1 || colon === userinfo.length - 1) return;
  const password = userinfo.slice(colon + 1);
  registerSecret(password);
  try {
    registerSecret(decodeURIComponent(password));
  } catch {
    // Not percent-encoded as a URL would be: registered as written.
  }
}

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)([^@/\s]*)@/gi;

export function redact(text: string): string {
  // A `${VAR}` reference is the advice to keep a password out of the config, not a password.
  let out = text.replace(
    URL_PASSWORD,
    (match, user: string, password: string) => /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(password) ? match : `${user}***@`,
  );
  // Longest first, so a secret containing another is masked whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.replaceAll(secret, "***");
  }
  return out;
}
