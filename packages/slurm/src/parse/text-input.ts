/**
 * The first checks on any command output, and line splitting that does not build an array of
 * every line (64 MiB of newlines would otherwise become 64 million strings). Internal to the
 * parse folder.
 */
import { SlurmParseError } from './errors.js';
import { SLURM_OUTPUT_MAX_CHARS } from './limits.js';

/** Throws unless `text` is a string of at most {@link SLURM_OUTPUT_MAX_CHARS} characters. */
export function checkOutputText(source: string, text: unknown): asserts text is string {
  if (typeof text !== 'string') {
    const kind = text === null ? 'null' : Array.isArray(text) ? 'an array' : `a ${typeof text}`;
    throw new SlurmParseError(source, `expected the output as a string, got ${kind}`);
  }
  if (text.length > SLURM_OUTPUT_MAX_CHARS) {
    throw new SlurmParseError(
      source,
      `output is ${text.length} characters, more than the limit of ${SLURM_OUTPUT_MAX_CHARS}`,
    );
  }
}

/** One line of output: its 1-based number and its text without the `\n` (or `\r\n`) ending. */
export interface OutputLine {
  /** The line number, counting from 1. */
  readonly number: number;
  /** The line's text, without its line ending. */
  readonly text: string;
}

/** The lines of `text`, split at `\n` with a trailing `\r` removed; a final newline ends the last line. */
export function* outputLines(text: string): Generator<OutputLine> {
  let start = 0;
  let number = 1;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    const last = stop > start && text.charCodeAt(stop - 1) === 13 ? stop - 1 : stop;
    yield { number, text: text.slice(start, last) };
    if (end === -1) return;
    start = end + 1;
    number++;
  }
}
