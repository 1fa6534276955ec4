/**
 * Errors of `@clusteros/raft`. Each class has a literal `name` (also static) and an `isX()`
 * guard, which work even when the CJS and ESM builds are both loaded.
 */
import type { NodeId } from './core/types.js';

/** True when `error` is an object whose `name` is `name`: error guards that work across copies of the package. */
export function hasName(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** The request needs the leader and this member is not it. `leaderHint` names the leader if known. */
export class NotLeaderError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'NotLeaderError' as const;
  /** Always `'NotLeaderError'`. */
  override readonly name = 'NotLeaderError' as const;
  /** The leader this member knows of, or `null`. */
  readonly leaderHint: NodeId | null;
  /** Creates the error with the known leader, if any. */
  constructor(leaderHint: NodeId | null, options?: ErrorOptions) {
    super(
      leaderHint === null
        ? 'not the leader; no leader is known'
        : `not the leader; the leader is ${leaderHint}`,
      options,
    );
    this.leaderHint = leaderHint;
  }
}

/** A proposal was dropped (no leader, transfer in progress, queue limit, or leadership lost before commit). */
export class ProposalDroppedError extends Error {
  /** The class's name. */
  static override readonly name = 'ProposalDroppedError' as const;
  /** Always `'ProposalDroppedError'`. */
  override readonly name = 'ProposalDroppedError' as const;
  /** Creates the error with the reason. */
  constructor(reason: string, options?: ErrorOptions) {
    super(`proposal dropped: ${reason}`, options);
  }
}

/** A read below the first index kept in the log: the entries were compacted into a snapshot. */
export class LogCompactedError extends Error {
  /** The class's name. */
  static override readonly name = 'LogCompactedError' as const;
  /** Always `'LogCompactedError'`. */
  override readonly name = 'LogCompactedError' as const;
  /** Creates the error for `index` (first kept: `firstIndex`). */
  constructor(index: number, firstIndex: number) {
    super(`log index ${index} is compacted (first index ${firstIndex})`);
  }
}

/** A read above the last index of the log. */
export class LogUnavailableError extends Error {
  /** The class's name. */
  static override readonly name = 'LogUnavailableError' as const;
  /** Always `'LogUnavailableError'`. */
  override readonly name = 'LogUnavailableError' as const;
  /** Creates the error for `index` (last: `lastIndex`). */
  constructor(index: number, lastIndex: number) {
    super(`log index ${index} is unavailable (last index ${lastIndex})`);
  }
}

/** Stored data failed its checksum or structure check somewhere other than a torn tail. */
export class StorageCorruptError extends Error {
  /** The class's name. */
  static override readonly name = 'StorageCorruptError' as const;
  /** Always `'StorageCorruptError'`. */
  override readonly name = 'StorageCorruptError' as const;
  /** The disk-relative file. */
  readonly file: string;
  /** Byte offset of the bad record. */
  readonly offset: number;
  /** Creates the error for `file` at `offset`. */
  constructor(file: string, offset: number, detail: string, options?: ErrorOptions) {
    super(`storage corrupt in ${file} at byte ${offset}: ${detail}; refusing to start`, options);
    this.file = file;
    this.offset = offset;
  }
}

/**
 * `FileStorage` found that the lock on its folder is gone (its lock file was removed, by hand or
 * by another process that took this one for dead), so another process may be writing the same
 * log. It accepts no more writes; restart the member once the folder has one owner again.
 */
export class StorageLockLostError extends Error {
  /** The class's name. */
  static override readonly name = 'StorageLockLostError' as const;
  /** Always `'StorageLockLostError'`. */
  override readonly name = 'StorageLockLostError' as const;
  /** The disk-relative folder whose lock was lost. */
  readonly dir: string;
  /** Creates the error for the folder `dir`. */
  constructor(dir: string) {
    super(
      `storage lost the lock on its folder ${JSON.stringify(dir)}: another process may be writing it; accepting no more writes`,
    );
    this.dir = dir;
  }
}

/** A message or stored record could not be decoded. */
export class DecodeError extends Error {
  /** The class's name. */
  static override readonly name = 'DecodeError' as const;
  /** Always `'DecodeError'`. */
  override readonly name = 'DecodeError' as const;
  /** A short machine-readable reason, used as the drop counter's key. */
  readonly reason: string;
  /** Creates the error with `reason` and a human description. */
  constructor(reason: string, detail: string, options?: ErrorOptions) {
    super(`cannot decode: ${reason}: ${detail}`, options);
    this.reason = reason;
  }
}

/** Raft configuration is invalid (bad timeouts, unknown self in peers, ...). */
export class RaftConfigError extends Error {
  /** The class's name. */
  static override readonly name = 'RaftConfigError' as const;
  /** Always `'RaftConfigError'`. */
  override readonly name = 'RaftConfigError' as const;
  /** Creates the error with what is wrong. */
  constructor(detail: string) {
    super(`invalid raft configuration: ${detail}`);
  }
}

/** An operation did not finish in time. */
export class RaftTimeoutError extends Error {
  /** The class's name. */
  static override readonly name = 'RaftTimeoutError' as const;
  /** Always `'RaftTimeoutError'`. */
  override readonly name = 'RaftTimeoutError' as const;
  /** Creates the error naming what timed out. */
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
  }
}

/** A configuration change was refused (another pending, would remove the last voter, ...). */
export class ConfChangeError extends Error {
  /** The class's name. */
  static override readonly name = 'ConfChangeError' as const;
  /** Always `'ConfChangeError'`. */
  override readonly name = 'ConfChangeError' as const;
  /** Creates the error with the reason. */
  constructor(detail: string) {
    super(`configuration change refused: ${detail}`);
  }
}

/** The node was stopped while the operation was pending. */
export class RaftStoppedError extends Error {
  /** The class's name. */
  static override readonly name = 'RaftStoppedError' as const;
  /** Always `'RaftStoppedError'`. */
  override readonly name = 'RaftStoppedError' as const;
  /** Creates the error. */
  constructor() {
    super('raft node stopped');
  }
}

/** An internal invariant broke: a bug. Simulations treat it as a failing seed. */
export class InvariantError extends Error {
  /** The class's name. */
  static override readonly name = 'InvariantError' as const;
  /** Always `'InvariantError'`. */
  override readonly name = 'InvariantError' as const;
  /** Creates the error with the broken invariant. */
  constructor(detail: string) {
    super(`raft invariant violated: ${detail}`);
  }
}

/** Throws {@link InvariantError} unless `condition` holds. */
export function invariant(condition: unknown, detail: string): asserts condition {
  if (!condition) throw new InvariantError(detail);
}

/** True when `error` is a {@link NotLeaderError}. */
export const isNotLeaderError = (e: unknown): e is NotLeaderError => hasName(e, NotLeaderError.name);
/** True when `error` is a {@link ProposalDroppedError}. */
export const isProposalDroppedError = (e: unknown): e is ProposalDroppedError =>
  hasName(e, ProposalDroppedError.name);
/** True when `error` is a {@link LogCompactedError}. */
export const isLogCompactedError = (e: unknown): e is LogCompactedError => hasName(e, LogCompactedError.name);
/** True when `error` is a {@link LogUnavailableError}. */
export const isLogUnavailableError = (e: unknown): e is LogUnavailableError =>
  hasName(e, LogUnavailableError.name);
/** True when `error` is a {@link StorageCorruptError}. */
export const isStorageCorruptError = (e: unknown): e is StorageCorruptError =>
  hasName(e, StorageCorruptError.name);
/** True when `error` is a {@link StorageLockLostError}. */
export const isStorageLockLostError = (e: unknown): e is StorageLockLostError =>
  hasName(e, StorageLockLostError.name);
/** True when `error` is a {@link DecodeError}. */
export const isDecodeError = (e: unknown): e is DecodeError => hasName(e, DecodeError.name);
/** True when `error` is a {@link RaftConfigError}. */
export const isRaftConfigError = (e: unknown): e is RaftConfigError => hasName(e, RaftConfigError.name);
/** True when `error` is a {@link RaftTimeoutError}. */
export const isRaftTimeoutError = (e: unknown): e is RaftTimeoutError => hasName(e, RaftTimeoutError.name);
/** True when `error` is a {@link ConfChangeError}. */
export const isConfChangeError = (e: unknown): e is ConfChangeError => hasName(e, ConfChangeError.name);
/** True when `error` is a {@link RaftStoppedError}. */
export const isRaftStoppedError = (e: unknown): e is RaftStoppedError => hasName(e, RaftStoppedError.name);
/** True when `error` is an {@link InvariantError}. */
export const isInvariantError = (e: unknown): e is InvariantError => hasName(e, InvariantError.name);
