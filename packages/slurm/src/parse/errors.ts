/**
 * The one error the SLURM output parsers throw. Every parser treats its input as untrusted: bad
 * JSON, a wrong shape, a wrong type, an out-of-range number, an over-long field or an over-large
 * document all end here, never in a `TypeError` or a silently wrong value.
 */

/** Output of a SLURM command could not be parsed; `source` names the command, `detail` says why. */
export class SlurmParseError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'SlurmParseError' as const;
  /** Always `'SlurmParseError'`, even after bundling renames the class. */
  override readonly name = 'SlurmParseError' as const;
  /** The command whose output was rejected, e.g. `'squeue --json'` or `'scontrol ping'`. */
  readonly source: string;
  /** What was wrong, with the path of the offending field where there is one (`jobs[2].job_id: ...`). */
  readonly detail: string;
  /** Creates the error for output of `source`; `options.cause` keeps an underlying error (e.g. from `JSON.parse`). */
  constructor(source: string, detail: string, options?: ErrorOptions) {
    super(`cannot parse ${source} output: ${detail}`, options);
    this.source = source;
    this.detail = detail;
  }
}

/** True when `error` is a {@link SlurmParseError} (from any copy of this package, CJS or ESM). */
export function isSlurmParseError(error: unknown): error is SlurmParseError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === SlurmParseError.name &&
    typeof (error as { source?: unknown }).source === 'string' &&
    typeof (error as { detail?: unknown }).detail === 'string'
  );
}
