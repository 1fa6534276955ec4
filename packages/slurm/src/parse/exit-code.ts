/**
 * A job's exit code in the `code:signal` form that sacct and scontrol print, and the decoding of
 * the raw wait status that squeue's JSON gives instead.
 */
import { SlurmParseError } from './errors.js';

/**
 * How a job (or step) ended: the exit code its program returned and the signal that killed it.
 * This is SLURM's own `code:signal` pair, e.g. `3:0` for `exit 3` and `0:9` for a SIGKILL.
 */
export interface SlurmExitCode {
  /** The program's exit status, 0–255 (0 when it was killed by a signal). */
  readonly code: number;
  /** The number of the signal that ended it, 0 when none. */
  readonly signal: number;
}

/**
 * Decodes a raw wait status (what `waitpid` returns, and what `squeue --json` reports as
 * `exit_code`) into SLURM's `code:signal` pair: `code = status >> 8 & 0xff`,
 * `signal = status & 0x7f` (the core-dump bit 0x80 is dropped). For example `768` is exit 3
 * (`{ code: 3, signal: 0 }`), `9` is a SIGKILL and `139` a SIGSEGV with a core dump.
 *
 * @throws RangeError when `status` is not an integer in 0..65535.
 */
export function decodeWaitStatus(status: number): SlurmExitCode {
  if (!Number.isInteger(status) || status < 0 || status > 0xffff) {
    throw new RangeError(`a wait status is an integer in 0..65535, got ${status}`);
  }
  return { code: (status >> 8) & 0xff, signal: status & 0x7f };
}

const EXIT_CODE = /^(\d{1,3}):(\d{1,3})$/;

/**
 * Parses SLURM's `code:signal` text (`ExitCode`/`DerivedExitCode` of `sacct -P` and
 * `scontrol show job`): `'3:0'` → `{ code: 3, signal: 0 }`. Both parts must be 0–255.
 *
 * @throws SlurmParseError for anything else (source `'ExitCode'`).
 */
export function parseExitCode(text: string): SlurmExitCode {
  const match = typeof text === 'string' ? EXIT_CODE.exec(text) : null;
  const code = Number(match?.[1]);
  const signal = Number(match?.[2]);
  if (match === null || code > 255 || signal > 255) {
    const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, 40)) : `a ${typeof text}`;
    throw new SlurmParseError('ExitCode', `expected "code:signal" with both parts in 0..255, got ${shown}`);
  }
  return { code, signal };
}
