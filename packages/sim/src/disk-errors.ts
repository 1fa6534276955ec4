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

function hasName(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** True when `error` is a {@link DiskFaultError} (from any copy of this package). */
export const isDiskFaultError = (error: unknown): error is DiskFaultError =>
  hasName(error, DiskFaultError.name);
/** True when `error` is a {@link PathKindError} (from any copy of this package). */
export const isPathKindError = (error: unknown): error is PathKindError => hasName(error, PathKindError.name);
