/**
 * `Secret`: a value that must never reach a log line, an error message or a JSON dump. Its
 * `toString`, `toJSON` and `util.inspect` forms are all `[redacted]`; only `reveal()` returns the
 * value, so every use of the plain secret is explicit and easy to grep for.
 */
import { inspect } from 'node:util';

/** What a {@link Secret} prints as, everywhere. */
export const REDACTED = '[redacted]';

/** A secret value (the cluster auth key, the dashboard token) that prints as `[redacted]`. */
export class Secret<T = string> {
  readonly #value: T;
  /** Wraps `value`. */
  constructor(value: T) {
    this.#value = value;
    Object.freeze(this);
  }
  /** The secret itself. Never log it. */
  reveal(): T {
    return this.#value;
  }
  /** Always `[redacted]`. */
  toString(): string {
    return REDACTED;
  }
  /** Always `[redacted]`, so `JSON.stringify` (and pino) never see the value. */
  toJSON(): string {
    return REDACTED;
  }
  /** Always `[redacted]` in `util.inspect` / `console.log`. */
  [inspect.custom](): string {
    return REDACTED;
  }
  /** Always `[redacted]` in template literals and string concatenation. */
  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}

/** Whether `value` is a {@link Secret}. */
export const isSecret = (value: unknown): value is Secret<unknown> => value instanceof Secret;
