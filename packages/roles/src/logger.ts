/**
 * The logging seam, shaped like pino's so a pino logger can be passed as is. Libraries are
 * silent by default ({@link silentLogger}). Never log secrets or whole payloads.
 */
export interface Logger {
  /** Fine-grained protocol events. */
  debug(fields: Record<string, unknown>, message: string): void;
  /** State changes an operator cares about (leader elected, member added). */
  info(fields: Record<string, unknown>, message: string): void;
  /** Something went wrong but the node carries on. */
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
