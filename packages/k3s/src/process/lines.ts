/**
 * Output handling for the supervised process: chunks from a pipe become whole lines, and the last
 * lines are kept in a bounded ring for error messages (what k3s said just before it exited).
 */
import type { Readable } from 'node:stream';

/** Longest line kept; longer ones are cut (k3s can log very long lines, e.g. whole objects). */
export const MAX_LINE_LENGTH = 4096;

/**
 * Calls `onLine` for each line read from `stream` (without the line break; `\r\n` handled), and
 * once more for a last line without a break when the stream ends.
 */
export function splitLines(stream: Readable, onLine: (line: string) => void): void {
  stream.setEncoding('utf8');
  let pending = '';
  const emit = (line: string): void => {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    onLine(text.length > MAX_LINE_LENGTH ? `${text.slice(0, MAX_LINE_LENGTH)}…` : text);
  };
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let at = pending.indexOf('\n');
    while (at !== -1) {
      emit(pending.slice(0, at));
      pending = pending.slice(at + 1);
      at = pending.indexOf('\n');
    }
    // A producer that never ends its line must not grow this without bound.
    if (pending.length > MAX_LINE_LENGTH * 4) {
      emit(pending);
      pending = '';
    }
  });
  stream.on('end', () => {
    if (pending !== '') emit(pending);
    pending = '';
  });
}

/** The last `capacity` lines. */
export class LineRing {
  readonly #capacity: number;
  readonly #lines: string[] = [];

  /** A ring keeping at most `capacity` (≥ 1) lines. */
  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity));
  }

  /** Adds a line, dropping the oldest when full. */
  push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.shift();
  }

  /** The kept lines, oldest first (a copy). */
  lines(): string[] {
    return [...this.#lines];
  }
}
