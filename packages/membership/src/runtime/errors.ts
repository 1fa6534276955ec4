/**
 * Errors of the `Memberlist` runtime. Like the wire errors, each class has a literal `name`
 * and an `isX()` guard that works across the CJS and ESM copies of the package.
 */

function hasName(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** A configuration value is missing, of the wrong type or out of range. */
export class ConfigError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'ConfigError' as const;
  /** Always `'ConfigError'`. */
  override readonly name = 'ConfigError' as const;
  /** The offending option, e.g. `probeTimeoutMs`. */
  readonly option: string;
  /** Creates the error for `option`. */
  constructor(option: string, detail: string) {
    super(`invalid memberlist option ${option}: ${detail}`);
    this.option = option;
  }
}

/** One seed a join could not use, and why. */
export interface JoinAttempt {
  /** The seed as given to `join`. */
  readonly seed: string;
  /** What went wrong with it. */
  readonly error: Error;
}

/** `join` reached none of its seeds; `attempts` says what happened with each. */
export class JoinError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'JoinError' as const;
  /** Always `'JoinError'`. */
  override readonly name = 'JoinError' as const;
  /** Every seed tried, with its error. */
  readonly attempts: readonly JoinAttempt[];
  /** Creates the error from the failed attempts. */
  constructor(attempts: readonly JoinAttempt[]) {
    const detail = attempts.map((a) => `${a.seed}: ${a.error.message}`).join('; ');
    super(attempts.length === 0 ? 'join needs at least one seed' : `could not join any seed (${detail})`);
    this.attempts = attempts;
  }
}

/** An operation was called on a memberlist that has been shut down. */
export class MemberlistClosedError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'MemberlistClosedError' as const;
  /** Always `'MemberlistClosedError'`. */
  override readonly name = 'MemberlistClosedError' as const;
  /** Creates the error for `operation`. */
  constructor(operation: string) {
    super(`cannot ${operation}: the memberlist has been shut down`);
  }
}

/** A broadcast (leave, meta update) was not fully gossiped before the caller's deadline. */
export class BroadcastTimeoutError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'BroadcastTimeoutError' as const;
  /** Always `'BroadcastTimeoutError'`. */
  override readonly name = 'BroadcastTimeoutError' as const;
  /** Creates the error for `what` after `timeoutMs`. */
  constructor(what: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for the ${what} broadcast to be gossiped`);
  }
}

/**
 * Why a TCP exchange with a peer failed.
 *
 * - `connect`: the connection could not be opened.
 * - `timeout`: the exchange did not finish within `tcpTimeoutMs`.
 * - `closed`: the peer closed or reset the stream before a complete reply.
 * - `remote`: the peer answered with an error message (its text is in the message).
 * - `protocol`: the reply could not be decoded or was of an unexpected type.
 * - `incompatible`: the remote state failed the protocol version check.
 * - `vetoed`: the merge delegate refused the remote node list.
 */
export type StreamFailure =
  | 'connect'
  | 'timeout'
  | 'closed'
  | 'remote'
  | 'protocol'
  | 'incompatible'
  | 'vetoed';

/** A push/pull, TCP ping or reliable user message failed. */
export class StreamExchangeError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'StreamExchangeError' as const;
  /** Always `'StreamExchangeError'`. */
  override readonly name = 'StreamExchangeError' as const;
  /** The machine-readable reason. */
  readonly reason: StreamFailure;
  /** Creates the error with its reason and detail. */
  constructor(reason: StreamFailure, detail: string, options?: ErrorOptions) {
    super(`${reason}: ${detail}`, options);
    this.reason = reason;
  }
}

/** A user message or meta update names a node this memberlist does not know. */
export class UnknownNodeError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'UnknownNodeError' as const;
  /** Always `'UnknownNodeError'`. */
  override readonly name = 'UnknownNodeError' as const;
  /** The name that was asked for. */
  readonly node: string;
  /** Creates the error for `node`. */
  constructor(node: string) {
    super(`no member named ${JSON.stringify(node)}`);
    this.node = node;
  }
}

/** True when `error` is a {@link ConfigError}. */
export const isConfigError = (error: unknown): error is ConfigError => hasName(error, ConfigError.name);
/** True when `error` is a {@link JoinError}. */
export const isJoinError = (error: unknown): error is JoinError => hasName(error, JoinError.name);
/** True when `error` is a {@link MemberlistClosedError}. */
export const isMemberlistClosedError = (error: unknown): error is MemberlistClosedError =>
  hasName(error, MemberlistClosedError.name);
/** True when `error` is a {@link BroadcastTimeoutError}. */
export const isBroadcastTimeoutError = (error: unknown): error is BroadcastTimeoutError =>
  hasName(error, BroadcastTimeoutError.name);
/** True when `error` is a {@link StreamExchangeError}. */
export const isStreamExchangeError = (error: unknown): error is StreamExchangeError =>
  hasName(error, StreamExchangeError.name);
/** True when `error` is an {@link UnknownNodeError}. */
export const isUnknownNodeError = (error: unknown): error is UnknownNodeError =>
  hasName(error, UnknownNodeError.name);
