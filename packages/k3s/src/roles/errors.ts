/** The typed errors of the k3s roles. */

/**
 * Why a k3s server handoff stopped:
 * - `'refused'`: it would not be safe (too few healthy etcd voters, a learner still catching up,
 *   the replacement not in yet); nothing was changed;
 * - `'etcd'`: an etcd step did not complete (leadership did not move, the member was not
 *   removed in time, or is still listed);
 * - `'kube'`: the Kubernetes API refused or could not be reached.
 */
export type K3sHandoffErrorReason = 'refused' | 'etcd' | 'kube';

/** A k3s server handoff stopped; `reason` says how, the message says what to look at. */
export class K3sHandoffError extends Error {
  /** Always `'K3sHandoffError'`. */
  override readonly name = 'K3sHandoffError';
  /** What kind of failure. */
  readonly reason: K3sHandoffErrorReason;

  /** Creates the error; `options.cause` keeps the underlying error. */
  constructor(reason: K3sHandoffErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** True when `error` is a {@link K3sHandoffError} (from any copy of this package). */
export function isK3sHandoffError(error: unknown): error is K3sHandoffError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'K3sHandoffError' &&
    typeof (error as { reason?: unknown }).reason === 'string'
  );
}
