/**
 * Bearer-token check for actions. The comparison is constant-time over SHA-256 digests (so the
 * token's length is not revealed either); with no token configured, actions are disabled.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The outcome of checking an `Authorization` header. */
export type AuthResult = 'ok' | 'disabled' | 'missing' | 'wrong';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Checks `header` against `token`. */
export function checkBearer(header: string | undefined | null, token: string | undefined): AuthResult {
  if (token === undefined || token.length === 0) return 'disabled';
  if (header === undefined || header === null) return 'missing';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null) return 'missing';
  return timingSafeEqual(digest(match[1] ?? ''), digest(token)) ? 'ok' : 'wrong';
}
