/** The typed error of the SLURM roles. */

/**
 * Why a SLURM role could not do its work:
 * - `'no-munge-key'`: the cluster store has no munge key yet (or holds one munged refuses);
 * - `'no-controller'`: no controller record, or this node is not in it yet;
 * - `'daemon-exited'`: a supervised daemon exited by itself;
 * - `'state'`: the controller state could not be packed, shipped or unpacked;
 * - `'not-leader'`: the holder lost its lease while acting;
 * - `'config'`: `slurm.conf` could not be rendered from the cluster (the message says which field).
 */
export type SlurmRoleErrorReason =
  | 'no-munge-key'
  | 'no-controller'
  | 'daemon-exited'
  | 'state'
  | 'not-leader'
  | 'config';

/** A SLURM role failed; `reason` says how, the message says what to look at. */
export class SlurmRoleError extends Error {
  /** Always `'SlurmRoleError'`. */
  override readonly name = 'SlurmRoleError';
  /** What kind of failure. */
  readonly reason: SlurmRoleErrorReason;

  /** Creates the error; `options.cause` keeps the underlying error. */
  constructor(reason: SlurmRoleErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** True when `error` is a {@link SlurmRoleError} (from any copy of this package). */
export function isSlurmRoleError(error: unknown): error is SlurmRoleError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'SlurmRoleError' &&
    typeof (error as { reason?: unknown }).reason === 'string'
  );
}
