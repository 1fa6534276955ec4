import { createHash, type Hash } from 'node:crypto';

/** Options of {@link Trace}. */
export interface TraceOptions {
  /**
   * How many recent lines to keep for failure reports (the hash covers every line).
   * @defaultValue 200
   */
  readonly keep?: number;
}

/**
 * The event log of a simulation: every timer-driven delivery, drop, crash and partition is a
 * line. The SHA-256 over all lines is the run's fingerprint: the same seed must give the same
 * hash, and a test compares the hashes of two runs to prove it.
 */
export class Trace {
  readonly #hash: Hash = createHash('sha256');
  readonly #recent: string[] = [];
  readonly #keep: number;
  #count = 0;

  /** Creates an empty trace. */
  constructor(options: TraceOptions = {}) {
    this.#keep = Math.max(0, options.keep ?? 200);
  }

  /** Number of lines recorded. */
  get length(): number {
    return this.#count;
  }

  /** Appends a line: the simulated time and a description made only of deterministic values. */
  record(at: number, line: string): void {
    const text = `${at.toFixed(3)} ${line}`;
    this.#hash.update(text);
    this.#hash.update('\n');
    this.#count++;
    if (this.#keep === 0) return;
    this.#recent.push(text);
    if (this.#recent.length > this.#keep) this.#recent.shift();
  }

  /** Hex SHA-256 of every line so far. */
  digest(): string {
    return this.#hash.copy().digest('hex');
  }

  /** The most recent lines, oldest first (at most `keep`). */
  tail(lines = this.#keep): string[] {
    return this.#recent.slice(Math.max(0, this.#recent.length - lines));
  }
}
