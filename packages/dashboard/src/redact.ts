/**
 * Secrets never leave the dashboard: every message that came from outside (a provider's error)
 * has each configured secret, and anything that looks like a bearer token or key assignment,
 * replaced before it is served or logged.
 */

// `[\w-]*` so that compound names (authkey=, api_key=, client-secret:, auth_token=) count too.
const KEY_VALUE =
  /\b([\w-]*(?:token|secret|password|passwd|key|authorization)\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi;
const BEARER = /\bBearer\s+[A-Za-z0-9._~+/=-]+/g;
/** Tailscale auth and API keys (`tskey-auth-…`, `tskey-api-…`), however they are passed. */
const TAILSCALE_KEY = /\btskey-[A-Za-z0-9-]+/g;

/** Replaces every occurrence of each secret (at least 4 characters) and obvious credentials. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out
    .replace(TAILSCALE_KEY, '[redacted]')
    .replace(BEARER, 'Bearer [redacted]')
    .replace(KEY_VALUE, '$1[redacted]');
}
