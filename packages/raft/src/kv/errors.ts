/**
 * Errors of the KV state machine. Like the package's other errors, each class has a literal
 * `name` (also static) and an `isX()` guard that works across copies of the package.
 *
 * The machine never throws these from `apply` or `query`: a committed entry must have the same
 * outcome on every replica, and its result may be cached in a client session and written into a
 * snapshot, so results carry a plain {@link KvErrorData} record instead. {@link kvErrorFromData}
 * turns that record back into one of these classes at the edge (the client, the roles package).
 */

import { hasName } from '../errors.js';

/** Command, query or result bytes (untrusted) did not decode into the expected shape. */
export class KvDecodeError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'KvDecodeError' as const;
  /** Always `'KvDecodeError'`. */
  override readonly name = 'KvDecodeError' as const;
  /** A short machine-readable reason (`msgpack`, `too-large`, `shape`, `key`, ...). */
  readonly reason: string;
  /** What exactly was wrong, with the path of the offending field. */
  readonly detail: string;
  /** Creates the error with `reason` and a human description. */
  constructor(reason: string, detail: string, options?: ErrorOptions) {
    super(`cannot decode kv data: ${reason}: ${detail}`, options);
    this.reason = reason;
    this.detail = detail;
  }
}

/** A snapshot handed to `restore()` is malformed or inconsistent; the previous state is kept. */
export class KvSnapshotError extends Error {
  /** The class's name. */
  static override readonly name = 'KvSnapshotError' as const;
  /** Always `'KvSnapshotError'`. */
  override readonly name = 'KvSnapshotError' as const;
  /** A short machine-readable reason (`msgpack`, `shape`, `order`, `reference`, ...). */
  readonly reason: string;
  /** Creates the error with `reason` and a human description. */
  constructor(reason: string, detail: string, options?: ErrorOptions) {
    super(`cannot restore kv snapshot: ${reason}: ${detail}`, options);
    this.reason = reason;
  }
}

/** The command or query names a lease that does not exist (never granted, revoked or expired). */
export class KvLeaseNotFoundError extends Error {
  /** The class's name. */
  static override readonly name = 'KvLeaseNotFoundError' as const;
  /** Always `'KvLeaseNotFoundError'`. */
  override readonly name = 'KvLeaseNotFoundError' as const;
  /** The missing lease. */
  readonly leaseId: number;
  /** Creates the error for `leaseId`. */
  constructor(leaseId: number) {
    super(`lease ${leaseId} not found`);
    this.leaseId = leaseId;
  }
}

/** A lease grant asked for an explicit id that is already in use. */
export class KvLeaseExistsError extends Error {
  /** The class's name. */
  static override readonly name = 'KvLeaseExistsError' as const;
  /** Always `'KvLeaseExistsError'`. */
  override readonly name = 'KvLeaseExistsError' as const;
  /** The id already taken. */
  readonly leaseId: number;
  /** Creates the error for `leaseId`. */
  constructor(leaseId: number) {
    super(`lease ${leaseId} already exists`);
    this.leaseId = leaseId;
  }
}

/**
 * A read asked for a revision older than the current one. The store keeps no history, so every
 * older revision counts as compacted (etcd's `ErrCompacted`).
 */
export class KvCompactedError extends Error {
  /** The class's name. */
  static override readonly name = 'KvCompactedError' as const;
  /** Always `'KvCompactedError'`. */
  override readonly name = 'KvCompactedError' as const;
  /** The revision asked for. */
  readonly revision: number;
  /** The oldest revision still readable: the current one. */
  readonly compactRevision: number;
  /** Creates the error for `revision` (oldest readable: `compactRevision`). */
  constructor(revision: number, compactRevision: number) {
    super(`revision ${revision} is compacted (current revision ${compactRevision})`);
    this.revision = revision;
    this.compactRevision = compactRevision;
  }
}

/** A read asked for a revision the store has not reached yet. */
export class KvFutureRevisionError extends Error {
  /** The class's name. */
  static override readonly name = 'KvFutureRevisionError' as const;
  /** Always `'KvFutureRevisionError'`. */
  override readonly name = 'KvFutureRevisionError' as const;
  /** The revision asked for. */
  readonly revision: number;
  /** The store's current revision. */
  readonly currentRevision: number;
  /** Creates the error for `revision` (current: `currentRevision`). */
  constructor(revision: number, currentRevision: number) {
    super(`revision ${revision} is in the future (current revision ${currentRevision})`);
    this.revision = revision;
    this.currentRevision = currentRevision;
  }
}

/**
 * A session command arrived with a sequence number below the last one applied for its client:
 * an old retry overtaken by a newer request, whose result is no longer kept. It was not applied.
 */
export class KvStaleRequestError extends Error {
  /** The class's name. */
  static override readonly name = 'KvStaleRequestError' as const;
  /** Always `'KvStaleRequestError'`. */
  override readonly name = 'KvStaleRequestError' as const;
  /** The client session. */
  readonly client: string;
  /** The sequence number the command carried. */
  readonly seq: number;
  /** The highest sequence number already applied for the client. */
  readonly lastSeq: number;
  /** Creates the error for `client`'s `seq` (already applied up to `lastSeq`). */
  constructor(client: string, seq: number, lastSeq: number) {
    super(`stale request from client ${JSON.stringify(client)}: seq ${seq} <= last applied seq ${lastSeq}`);
    this.client = client;
    this.seq = seq;
    this.lastSeq = lastSeq;
  }
}

/** Any error a KV result can carry. */
export type KvError =
  | KvDecodeError
  | KvLeaseNotFoundError
  | KvLeaseExistsError
  | KvCompactedError
  | KvFutureRevisionError
  | KvStaleRequestError;

/**
 * The plain-data form of a {@link KvError}, as it appears in results (and so in sessions cached
 * in snapshots). `message` is the human text; the other fields rebuild the class.
 */
export type KvErrorData =
  | {
      /** The error class name. */
      readonly name: 'KvDecodeError';
      /** The human-readable message. */
      readonly message: string;
      /** Machine-readable reason. */
      readonly reason: string;
      /** What exactly was wrong. */
      readonly detail: string;
    }
  | {
      /** The error class name. */
      readonly name: 'KvLeaseNotFoundError';
      /** The human-readable message. */
      readonly message: string;
      /** The lease concerned. */
      readonly leaseId: number;
    }
  | {
      /** The error class name. */
      readonly name: 'KvLeaseExistsError';
      /** The human-readable message. */
      readonly message: string;
      /** The lease concerned. */
      readonly leaseId: number;
    }
  | {
      /** The error class name. */
      readonly name: 'KvCompactedError';
      /** The human-readable message. */
      readonly message: string;
      /** The revision that was asked for. */
      readonly revision: number;
      /** The oldest revision still available. */
      readonly compactRevision: number;
    }
  | {
      /** The error class name. */
      readonly name: 'KvFutureRevisionError';
      /** The human-readable message. */
      readonly message: string;
      /** The revision that was asked for. */
      readonly revision: number;
      /** The store's current revision. */
      readonly currentRevision: number;
    }
  | {
      /** The error class name. */
      readonly name: 'KvStaleRequestError';
      /** The human-readable message. */
      readonly message: string;
      /** The client session. */
      readonly client: string;
      /** The request number received. */
      readonly seq: number;
      /** The highest request number already applied. */
      readonly lastSeq: number;
    };

/** Converts a {@link KvError} into its plain-data form. */
export function kvErrorToData(error: KvError): KvErrorData {
  switch (error.name) {
    case 'KvDecodeError':
      return { name: error.name, message: error.message, reason: error.reason, detail: error.detail };
    case 'KvLeaseNotFoundError':
    case 'KvLeaseExistsError':
      return { name: error.name, message: error.message, leaseId: error.leaseId };
    case 'KvCompactedError':
      return {
        name: error.name,
        message: error.message,
        revision: error.revision,
        compactRevision: error.compactRevision,
      };
    case 'KvFutureRevisionError':
      return {
        name: error.name,
        message: error.message,
        revision: error.revision,
        currentRevision: error.currentRevision,
      };
    case 'KvStaleRequestError':
      return {
        name: error.name,
        message: error.message,
        client: error.client,
        seq: error.seq,
        lastSeq: error.lastSeq,
      };
  }
}

/** Rebuilds the error class from its plain-data form (the message is recomputed from the fields). */
export function kvErrorFromData(data: KvErrorData): KvError {
  switch (data.name) {
    case 'KvDecodeError':
      return new KvDecodeError(data.reason, data.detail);
    case 'KvLeaseNotFoundError':
      return new KvLeaseNotFoundError(data.leaseId);
    case 'KvLeaseExistsError':
      return new KvLeaseExistsError(data.leaseId);
    case 'KvCompactedError':
      return new KvCompactedError(data.revision, data.compactRevision);
    case 'KvFutureRevisionError':
      return new KvFutureRevisionError(data.revision, data.currentRevision);
    case 'KvStaleRequestError':
      return new KvStaleRequestError(data.client, data.seq, data.lastSeq);
  }
}

/** True when `error` is a {@link KvDecodeError}. */
export const isKvDecodeError = (e: unknown): e is KvDecodeError => hasName(e, KvDecodeError.name);
/** True when `error` is a {@link KvSnapshotError}. */
export const isKvSnapshotError = (e: unknown): e is KvSnapshotError => hasName(e, KvSnapshotError.name);
/** True when `error` is a {@link KvLeaseNotFoundError}. */
export const isKvLeaseNotFoundError = (e: unknown): e is KvLeaseNotFoundError =>
  hasName(e, KvLeaseNotFoundError.name);
/** True when `error` is a {@link KvLeaseExistsError}. */
export const isKvLeaseExistsError = (e: unknown): e is KvLeaseExistsError =>
  hasName(e, KvLeaseExistsError.name);
/** True when `error` is a {@link KvCompactedError}. */
export const isKvCompactedError = (e: unknown): e is KvCompactedError => hasName(e, KvCompactedError.name);
/** True when `error` is a {@link KvFutureRevisionError}. */
export const isKvFutureRevisionError = (e: unknown): e is KvFutureRevisionError =>
  hasName(e, KvFutureRevisionError.name);
/** True when `error` is a {@link KvStaleRequestError}. */
export const isKvStaleRequestError = (e: unknown): e is KvStaleRequestError =>
  hasName(e, KvStaleRequestError.name);
