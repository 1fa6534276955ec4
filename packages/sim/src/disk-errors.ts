/**
 * Errors of the `Disk` implementations beyond the path errors in `errors.ts`. Same style:
 * a literal `name` (also static) and an `isX()` guard, so callers can match them even when two
 * copies of the package are loaded.
 */

import type { DiskOp } from './sim-disk.js';

/**
 * A disk operation failed at the device: an I/O error, a full or read-only file system. Storage
 * code usually cannot recover and should stop writing (after a failed fsync the kernel may
 * already have dropped the dirty pages, so retrying the sync proves nothing).
 *
 * `NodeDisk` raises it for `EIO`, `ENOSPC`, `EDQUOT` and `EROFS` (the original error is the
 * `cause`); `SimDisk.failNext` raises it on demand so tests can exercise those paths.
 */
export class DiskFaultError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'DiskFaultError' as const;
  /** Always `'DiskFaultError'`: survives bundling and `instanceof` failures across package copies. */
  override readonly name = 'DiskFaultError' as const;
  /** The operation that failed. */
  readonly op: DiskOp;
  /** The disk-relative path it was applied to (for `rename`, the source). */
  readonly path: string;
  /** The errno-style code, such as `EIO` or `ENOSPC`. */
  readonly code: string;
  /** Creates the error for `op` on `path`; `code` defaults to `EIO`. */
  constructor(op: DiskOp, path: string, code = 'EIO', options?: ErrorOptions) {
    super(`disk ${op} of ${JSON.stringify(path.slice(0, 200))} failed: ${code}`, options);
    this.op = op;
    this.path = path;
    this.code = code;
  }
}

/** What a {@link PathKindError} expected to find at its path. */
export type PathKind = 'file' | 'folder';

/**
 * A path names a folder where a file was expected, or a file where a folder was expected
 * (reading a folder, writing over one, `mkdir` through a file). A missing path is never this
 * error: missing files reject with `FileNotFoundError` and missing folders list as empty.
 */
export class PathKindError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'PathKindError' as const;
  /** Always `'PathKindError'`: survives bundling and `instanceof` failures across package copies. */
  override readonly name = 'PathKindError' as const;
  /** The disk-relative path that has the wrong kind. */
  readonly path: string;
  /** What the operation needed at `path`. */
  readonly expected: PathKind;
  /** Creates the error for `path`, which should have been a `expected`. */
  constructor(path: string, expected: PathKind, options?: ErrorOptions) {
    const found = expected === 'file' ? 'a folder' : 'a file';
    super(`${JSON.stringify(path.slice(0, 200))} is ${found}, expected a ${expected}`, options);
    this.path = path;
    this.expected = expected;
  }
}

/** Who holds a folder that {@link DiskLockedError} refused, as far as the disk can tell. */
export interface DiskLockHolder {
  /** The disk-relative file that records the hold (on a `SimDisk`, the folder itself). */
  readonly file: string;
  /** The holder's process id, when the record names one. */
  readonly pid?: number;
  /**
   * The holder's host name, when its record could not be checked by its pid: it is another host
   * sharing the folder, or another container (pid namespace) on this one.
   */
  readonly host?: string;
  /**
   * For such a holder: how long ago it last renewed its record. A holder that stops renewing
   * counts as gone after a while (30 s on a default `NodeDisk`).
   */
  readonly renewedMsAgo?: number;
}

/**
 * `Disk.lock` found the folder held by another process (or by another user in this process):
 * a second copy of a program was started on the same data folder. The first keeps running; stop
 * it before starting another. `NodeDisk` takes a holder it cannot check (another host, a record
 * it cannot read) as running, and says so.
 */
export class DiskLockedError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'DiskLockedError' as const;
  /** Always `'DiskLockedError'`: survives bundling and `instanceof` failures across package copies. */
  override readonly name = 'DiskLockedError' as const;
  /** The disk-relative folder that is held. */
  readonly path: string;
  /** Who holds it. */
  readonly holder: DiskLockHolder;
  /**
   * Creates the error for the folder `path`, held by `holder`. `location` is how the message
   * names the folder (`NodeDisk` gives its absolute path); it defaults to `path`.
   */
  constructor(path: string, holder: DiskLockHolder, location = path) {
    const who =
      holder.pid === undefined
        ? `an unreadable lock record ${JSON.stringify(holder.file)}`
        : holder.host === undefined
          ? `process ${holder.pid} (${holder.file})`
          : `process ${holder.pid} on host ${JSON.stringify(holder.host.slice(0, 255))} (${holder.file}, renewed ${Math.round((holder.renewedMsAgo ?? 0) / 1000)} s ago)`;
    const what = location === '' ? 'the disk root' : `folder ${JSON.stringify(location.slice(0, 500))}`;
    const advice =
      holder.pid === undefined
        ? 'remove that file if no other process uses the folder'
        : 'stop that process first, or remove the file if it is gone';
    super(`${what} is in use by ${who}: ${advice}`);
    this.path = path;
    this.holder = holder;
  }
}

function hasName(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** True when `error` is a {@link DiskFaultError} (from any copy of this package). */
export const isDiskFaultError = (error: unknown): error is DiskFaultError =>
  hasName(error, DiskFaultError.name);
/** True when `error` is a {@link PathKindError} (from any copy of this package). */
export const isPathKindError = (error: unknown): error is PathKindError => hasName(error, PathKindError.name);
/** True when `error` is a {@link DiskLockedError} (from any copy of this package). */
export const isDiskLockedError = (error: unknown): error is DiskLockedError =>
  hasName(error, DiskLockedError.name);
