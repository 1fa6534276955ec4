/**
 * The typed errors of the k3s process area. Messages name fields, flags and paths, never values
 * that could be secret: a k3s token must not reach a log through an error message.
 */

/** Why a {@link K3sConfigError} was thrown. */
export type K3sConfigErrorReason =
  /** A required field is absent or empty. */
  | 'missing-field'
  /** A field is present but malformed (bad node name, bad URL, relative path, …). */
  | 'invalid-value'
  /** An IPv6 address where these roles take the Tailscale IPv4. */
  | 'ipv6-unsupported'
  /** Two fields that cannot go together (`bootstrap` and `joinUrl`, `bootstrap` on an agent). */
  | 'conflict'
  /** `network.kind: 'cni'` without naming the CNI the operator installs. */
  | 'cni-required'
  /** An extra argument sets a flag the adapter owns. */
  | 'flag-not-allowed'
  /** An extra argument would put a secret (token, VPN auth key) on the command line. */
  | 'token-on-command-line';

/** Input the adapter refuses to turn into a k3s command line (or a data-dir operation it refuses). */
export class K3sConfigError extends Error {
  /** Always `'K3sConfigError'`. */
  override readonly name = 'K3sConfigError';
  /** What is wrong. */
  readonly reason: K3sConfigErrorReason;
  /** The input field at fault, e.g. `nodeIp`, `network.cni`, `extraArgs[2]`. */
  readonly field: string;

  /** Creates the error; `message` must not contain secret values. */
  constructor(reason: K3sConfigErrorReason, field: string, message: string) {
    super(`${field}: ${message}`);
    this.reason = reason;
    this.field = field;
  }
}

/** Whether `error` is a {@link K3sConfigError}. */
export function isK3sConfigError(error: unknown): error is K3sConfigError {
  return error instanceof K3sConfigError;
}

/** Why a {@link K3sProcessError} was thrown. */
export type K3sProcessErrorReason =
  /** The binary does not exist (ENOENT): k3s is not installed, or the path is wrong. */
  | 'not-installed'
  /** The binary exists but could not be started (EACCES, ENOEXEC, …). */
  | 'spawn-failed'
  /** The process exited (used by callers that wait for something the process never did). */
  | 'exited'
  /** The process did not exit even after SIGKILL, within the bound. */
  | 'stop-timeout';

/** The k3s process could not be started, or did not stop. */
export class K3sProcessError extends Error {
  /** Always `'K3sProcessError'`. */
  override readonly name = 'K3sProcessError';
  /** What happened. */
  readonly reason: K3sProcessErrorReason;
  /** The system error code when there is one (`ENOENT`, `EACCES`). */
  readonly code: string | undefined;

  /** Creates the error; `message` must not contain secret values. */
  constructor(reason: K3sProcessErrorReason, message: string, code?: string) {
    super(message);
    this.reason = reason;
    this.code = code;
  }
}

/** Whether `error` is a {@link K3sProcessError}. */
export function isK3sProcessError(error: unknown): error is K3sProcessError {
  return error instanceof K3sProcessError;
}

/** Why a {@link K3sFileError} was thrown. */
export type K3sFileErrorReason =
  /** A file (token file, config file) could not be written. */
  | 'write-failed'
  /** A directory (`server/db`) could not be removed. */
  | 'remove-failed';

/** A file the adapter owns could not be written or removed. Names the path, never the content. */
export class K3sFileError extends Error {
  /** Always `'K3sFileError'`. */
  override readonly name = 'K3sFileError';
  /** What failed. */
  readonly reason: K3sFileErrorReason;
  /** The path concerned. */
  readonly path: string;
  /** The system error code when there is one (`EACCES`, `ENOSPC`). */
  readonly code: string | undefined;

  /** Creates the error. */
  constructor(reason: K3sFileErrorReason, path: string, code?: string) {
    super(`cannot ${reason === 'write-failed' ? 'write' : 'remove'} ${path} (${code ?? 'error'})`);
    this.reason = reason;
    this.path = path;
    this.code = code;
  }
}

/** Whether `error` is a {@link K3sFileError}. */
export function isK3sFileError(error: unknown): error is K3sFileError {
  return error instanceof K3sFileError;
}

/** The `code` of a Node system error, when it has one. */
export function systemErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
