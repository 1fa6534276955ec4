/**
 * Errors of `@clusteros/dashboard`: a class with a literal `name` and an `isX()` guard.
 */

/** Options that cannot work (a token too short to be a secret). */
export class DashboardConfigError extends Error {
  /** The class's name. */
  static override readonly name = 'DashboardConfigError' as const;
  /** Always `'DashboardConfigError'`. */
  override readonly name = 'DashboardConfigError' as const;
}

/** Whether `error` is a {@link DashboardConfigError}. */
export const isDashboardConfigError = (error: unknown): error is DashboardConfigError =>
  typeof error === 'object' &&
  error !== null &&
  (error as { name?: unknown }).name === DashboardConfigError.name;

/** The shortest bearer token accepted: shorter ones are guessable and too short to redact safely. */
export const MIN_TOKEN_LENGTH = 16;
