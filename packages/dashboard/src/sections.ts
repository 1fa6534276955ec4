/**
 * Reads one section from its provider: the value, `unavailable` when there is no provider, or
 * `error` with the provider's message when it throws or does not answer within the timeout.
 * Messages pass through {@link redact} so a provider's error can never leak a secret.
 */
import { redact } from './redact.js';

import type { Section, UnavailableSection } from './schemas.js';

/** The `unavailable` marker. */
export const UNAVAILABLE: UnavailableSection = Object.freeze({ state: 'unavailable' as const });

/** Thrown inside {@link readSection} when a provider is too slow. */
class ProviderTimeout extends Error {
  constructor(ms: number) {
    super(`provider did not answer within ${ms} ms`);
  }
}

/**
 * Calls `read` (if the provider exists) and bounds it by `timeoutMs`. Never throws.
 * `secrets` are redacted from error messages.
 */
export async function readSection<T>(
  read: (() => T | Promise<T>) | undefined,
  timeoutMs: number,
  secrets: readonly string[],
): Promise<Section<T>> {
  if (read === undefined) return UNAVAILABLE;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProviderTimeout(timeoutMs)), timeoutMs);
    });
    return await Promise.race([Promise.resolve().then(read), timeout]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { state: 'error', message: redact(message, secrets) };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
