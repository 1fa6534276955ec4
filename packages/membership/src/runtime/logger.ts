/**
 * The logging seam, shaped like pino's so that a pino logger can be passed as is. The library
 * is silent by default. Secrets and payloads are never logged: only names, addresses, sizes
 * and reasons.
 */
export interface Logger {
  /** Fine-grained protocol events (probes, drops). */
  debug(fields: Record<string, unknown>, message: string): void;
  /** Membership changes an operator cares about. */
  info(fields: Record<string, unknown>, message: string): void;
  /** Something went wrong but the node carries on (a refuted suspicion, a failed push/pull). */
  warn(fields: Record<string, unknown>, message: string): void;
  /** Something went wrong and needs attention. */
  error(fields: Record<string, unknown>, message: string): void;
}

const ignore = (): void => {};

/** A logger that drops everything: the default. */
export const silentLogger: Logger = Object.freeze({
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
});
