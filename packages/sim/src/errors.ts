/**
 * Errors of `@clusteros/sim`. Each class has a literal `name` (also static), so callers can
 * match on `err.name` or the `isX()` guards even when two copies of the package are loaded.
 */

/** A seeded scenario failed; the message names the seed and the command that replays it. */
export class SeedFailedError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'SeedFailedError' as const;
  /** Always `'SeedFailedError'`, even after bundling renames the class. */
  override readonly name = 'SeedFailedError' as const;
  /** The seed whose run failed. */
  readonly seed: number;
  /** A shell command that replays exactly this seed. */
  readonly reproduce: string;
  /** Creates the error for one failing seed. */
  constructor(seed: number, reproduce: string, options?: ErrorOptions) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? '');
    super(`seed=${seed} failed: ${reason}\nreproduce: ${reproduce}`, options);
    this.seed = seed;
    this.reproduce = reproduce;
  }
}

/** `runUntil` reached its time limit before the predicate held. */
export class SimTimeoutError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'SimTimeoutError' as const;
  /** Always `'SimTimeoutError'`, even after bundling renames the class. */
  override readonly name = 'SimTimeoutError' as const;
  /** Simulated milliseconds that passed before giving up. */
  readonly limitMs: number;
  /** Creates the error for a limit of `limitMs` simulated milliseconds. */
  constructor(limitMs: number, what: string) {
    super(`${what} did not happen within ${limitMs} simulated ms`);
    this.limitMs = limitMs;
  }
}

/** An address string could not be parsed as `host:port`. */
export class InvalidAddressError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'InvalidAddressError' as const;
  /** Always `'InvalidAddressError'`, even after bundling renames the class. */
  override readonly name = 'InvalidAddressError' as const;
  /** Creates the error for the rejected input. */
  constructor(input: string, reason: string) {
    super(`invalid address ${JSON.stringify(input.slice(0, 100))}: ${reason}`);
  }
}

/** Why a connection attempt failed. */
export type ConnectFailure = 'refused' | 'timeout' | 'unreachable' | 'aborted';

/** A stream connection could not be established. */
export class ConnectError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'ConnectError' as const;
  /** Always `'ConnectError'`, even after bundling renames the class. */
  override readonly name = 'ConnectError' as const;
  /** The machine-readable reason. */
  readonly reason: ConnectFailure;
  /** The address that was dialled, as `host:port`. */
  readonly address: string;
  /** Creates the error for a failed dial of `address`. */
  constructor(address: string, reason: ConnectFailure, options?: ErrorOptions) {
    super(`connect to ${address} failed: ${reason}`, options);
    this.reason = reason;
    this.address = address;
  }
}

/** A local address could not be bound because something already holds it. */
export class AddressInUseError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'AddressInUseError' as const;
  /** Always `'AddressInUseError'`, even after bundling renames the class. */
  override readonly name = 'AddressInUseError' as const;
  /** Creates the error for `address` (`host:port`). */
  constructor(address: string, options?: ErrorOptions) {
    super(`address in use: ${address}`, options);
  }
}

/** A stream broke: reset by the peer, cut by a partition, or its host crashed. */
export class StreamResetError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'StreamResetError' as const;
  /** Always `'StreamResetError'`, even after bundling renames the class. */
  override readonly name = 'StreamResetError' as const;
  /** Creates the error with a short description of what broke the stream. */
  constructor(detail: string, options?: ErrorOptions) {
    super(`stream reset: ${detail}`, options);
  }
}

/** A file that was read, synced, renamed or truncated does not exist. */
export class FileNotFoundError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'FileNotFoundError' as const;
  /** Always `'FileNotFoundError'`, even after bundling renames the class. */
  override readonly name = 'FileNotFoundError' as const;
  /** The disk-relative path. */
  readonly path: string;
  /** Creates the error for `path`. */
  constructor(path: string, options?: ErrorOptions) {
    super(`no such file: ${path}`, options);
    this.path = path;
  }
}

/** A path given to a {@link Disk} escapes its root or is otherwise malformed. */
export class InvalidPathError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'InvalidPathError' as const;
  /** Always `'InvalidPathError'`, even after bundling renames the class. */
  override readonly name = 'InvalidPathError' as const;
  /** Creates the error for the rejected path. */
  constructor(path: string, reason: string) {
    super(`invalid path ${JSON.stringify(path.slice(0, 200))}: ${reason}`);
  }
}

/** A socket was used after `close()`. */
export class SocketClosedError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'SocketClosedError' as const;
  /** Always `'SocketClosedError'`, even after bundling renames the class. */
  override readonly name = 'SocketClosedError' as const;
  /** Creates the error for the socket bound at `address` (`host:port`). */
  constructor(address: string) {
    super(`socket ${address} is closed`);
  }
}

/** A simulated host was asked to bind or listen while it is crashed. */
export class HostDownError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'HostDownError' as const;
  /** Always `'HostDownError'`, even after bundling renames the class. */
  override readonly name = 'HostDownError' as const;
  /** The simulated host's name. */
  readonly host: string;
  /** Creates the error for `host`. */
  constructor(host: string) {
    super(`host ${host} is down`);
    this.host = host;
  }
}

function hasName(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** True when `error` is a {@link SeedFailedError} (from any copy of this package). */
export const isSeedFailedError = (error: unknown): error is SeedFailedError =>
  hasName(error, SeedFailedError.name);
/** True when `error` is a {@link SimTimeoutError}. */
export const isSimTimeoutError = (error: unknown): error is SimTimeoutError =>
  hasName(error, SimTimeoutError.name);
/** True when `error` is an {@link InvalidAddressError}. */
export const isInvalidAddressError = (error: unknown): error is InvalidAddressError =>
  hasName(error, InvalidAddressError.name);
/** True when `error` is a {@link ConnectError}. */
export const isConnectError = (error: unknown): error is ConnectError => hasName(error, ConnectError.name);
/** True when `error` is an {@link AddressInUseError}. */
export const isAddressInUseError = (error: unknown): error is AddressInUseError =>
  hasName(error, AddressInUseError.name);
/** True when `error` is a {@link StreamResetError}. */
export const isStreamResetError = (error: unknown): error is StreamResetError =>
  hasName(error, StreamResetError.name);
/** True when `error` is a {@link FileNotFoundError}. */
export const isFileNotFoundError = (error: unknown): error is FileNotFoundError =>
  hasName(error, FileNotFoundError.name);
/** True when `error` is an {@link InvalidPathError}. */
export const isInvalidPathError = (error: unknown): error is InvalidPathError =>
  hasName(error, InvalidPathError.name);
/** True when `error` is a {@link SocketClosedError}. */
export const isSocketClosedError = (error: unknown): error is SocketClosedError =>
  hasName(error, SocketClosedError.name);
/** True when `error` is a {@link HostDownError}. */
export const isHostDownError = (error: unknown): error is HostDownError => hasName(error, HostDownError.name);
