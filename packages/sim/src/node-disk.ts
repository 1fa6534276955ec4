import { constants, type Stats } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Disk, DiskLock, FileInfo } from './disk.js';
import { DiskFaultError, isDiskLockedError, PathKindError } from './disk-errors.js';
import { normalizeDiskDir, normalizeDiskPath } from './disk-path.js';
import { FileNotFoundError } from './errors.js';
import { DEFAULT_FOLDER_LOCK_TIMING, type FolderLockTiming, lockFolder } from './folder-lock.js';
import type { DiskOp } from './sim-disk.js';

/** Append handles kept open at once (a WAL needs one or two). */
const MAX_OPEN_HANDLES = 16;

/** Errno codes that mean the device, not the caller, failed; they become {@link DiskFaultError}. */
const DEVICE_FAULTS = new Set(['EIO', 'ENOSPC', 'EDQUOT', 'EROFS']);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** ENOENT, or ENOTDIR: a path through a file names nothing, just as a missing folder would. */
function isMissing(code: string | undefined): boolean {
  return code === 'ENOENT' || code === 'ENOTDIR';
}

const ignore = (): void => {};

/** `O_DSYNC`, where the platform has it (not on Windows). */
const DSYNC: number | undefined = process.platform === 'win32' ? undefined : constants.O_DSYNC;

/** What `open(path, 'a')` uses: write only, create if missing, every write at the end. */
const APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;

/** A cached append descriptor and whether it was opened with `O_DSYNC`. */
interface OpenHandle {
  readonly handle: FileHandle;
  readonly durable: boolean;
}

/** Writes all of `data` at the handle's position (appends on an `O_APPEND` handle). */
async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.byteLength) {
    const { bytesWritten } = await handle.write(data, written, data.byteLength - written);
    written += bytesWritten;
  }
}

/** Options of {@link NodeDisk}. */
export interface NodeDiskOptions {
  /**
   * How `lock` holders renew their record, and after how long without a renewal a record that
   * cannot be checked by its pid (another host, another container) counts as gone.
   * @defaultValue {@link DEFAULT_FOLDER_LOCK_TIMING} (5 s, 30 s)
   */
  readonly lockTiming?: FolderLockTiming;
}

/**
 * The real {@link Disk}: files under one root folder, through `node:fs/promises`.
 *
 * - `sync` is `fdatasync` of the file, which flushes the data and the size but skips the
 *   timestamps nobody here reads; `syncDir` opens the folder read-only and fsyncs it.
 * - Files are created only in existing folders: `writeFile`, `appendFile` and `rename` into a
 *   folder that does not exist reject with `FileNotFoundError` (as POSIX `open` and `rename`
 *   do); call `mkdir` first. Only `mkdir` creates folders, with their parents, and a folder
 *   exists durably once `mkdir` has resolved.
 * - Operations on the same path complete in the order they were called, even when the caller
 *   does not await each one, because Node runs file I/O on a thread pool that could otherwise
 *   reorder two appends.
 * - A path that names a folder where a file is needed (or the reverse) rejects with
 *   `PathKindError`; `EIO`, `ENOSPC`, `EDQUOT` and `EROFS` reject with `DiskFaultError`, other
 *   system errors pass through unchanged.
 *
 * The root folder must exist before files are written to it (`mkdir('')` creates it).
 * On Windows, where folders cannot be opened, `syncDir` only checks that the folder exists.
 */
export class NodeDisk implements Disk {
  /** The absolute root folder every disk path is relative to. */
  readonly root: string;
  /** The last operation queued on each path, so the next one on that path waits for it. */
  readonly #tails = new Map<string, Promise<void>>();
  /**
   * Open append handles by path, most recently used last. A write-ahead log appends and syncs
   * the same file over and over; opening and closing it each time costs four extra trips
   * through libuv's thread pool per durable write. fsync flushes the file, not just the
   * descriptor, so syncing through this handle also covers writes made through others.
   * `durable` handles are opened with `O_DSYNC` (for `appendDurable`).
   */
  readonly #handles = new Map<string, OpenHandle>();

  readonly #lockTiming: FolderLockTiming;

  /**
   * Creates a disk over `rootDir` (resolved against the working directory); does no I/O.
   * @throws {RangeError} for lock timings that are not positive, or renewals not shorter than
   * the time after which a record counts as gone.
   */
  constructor(rootDir: string, options: NodeDiskOptions = {}) {
    this.root = resolve(rootDir);
    const timing = options.lockTiming ?? DEFAULT_FOLDER_LOCK_TIMING;
    const { renewMs, staleMs } = timing;
    if (
      !Number.isSafeInteger(renewMs) ||
      renewMs < 1 ||
      !Number.isSafeInteger(staleMs) ||
      staleMs <= renewMs
    ) {
      throw new RangeError(
        `lockTiming needs whole milliseconds with 0 < renewMs < staleMs, got renewMs ${renewMs}, staleMs ${staleMs}`,
      );
    }
    this.#lockTiming = timing;
  }

  async readFile(path: string): Promise<Uint8Array> {
    const p = normalizeDiskPath(path);
    return this.#serial([p], async () => {
      try {
        const buffer = await readFile(this.#abs(p));
        // A plain Uint8Array view, so callers comparing with Uint8Array see the same type on both disks.
        return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      } catch (error) {
        throw this.#fileError('read', p, error);
      }
    });
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    const p = normalizeDiskPath(path);
    // Copy now: the write starts later, and the caller may reuse its buffer as soon as we return.
    const copy = new Uint8Array(data);
    return this.#serial([p], async () => {
      try {
        await writeFile(this.#abs(p), copy);
      } catch (error) {
        throw this.#fileError('write', p, error);
      }
    });
  }

  async appendFile(path: string, data: Uint8Array): Promise<void> {
    return this.#append(path, data, false);
  }

  /**
   * Appends through a descriptor opened with `O_DSYNC`, so each write returns only once its data
   * (and the new size) is on the device: one thread-pool round trip instead of two (write, then
   * fdatasync). Where the platform has no `O_DSYNC` (Windows) it appends and then syncs.
   */
  async appendDurable(path: string, data: Uint8Array): Promise<void> {
    return this.#append(path, data, true);
  }

  async #append(path: string, data: Uint8Array, durable: boolean): Promise<void> {
    const p = normalizeDiskPath(path);
    const copy = new Uint8Array(data);
    return this.#serial([p], async () => {
      try {
        const handle = await this.#handle(p, durable && DSYNC !== undefined);
        await writeAll(handle, copy);
        if (durable && DSYNC === undefined) await handle.datasync();
      } catch (error) {
        await this.#forget(p);
        throw this.#fileError('append', p, error);
      }
    });
  }

  async truncate(path: string, length: number): Promise<void> {
    const p = normalizeDiskPath(path);
    checkLength(length);
    return this.#serial([p], async () => {
      try {
        await truncate(this.#abs(p), length);
      } catch (error) {
        throw this.#fileError('truncate', p, error);
      }
    });
  }

  async sync(path: string): Promise<void> {
    const p = normalizeDiskPath(path);
    return this.#serial([p], async () => {
      try {
        const cached = this.#handles.get(p);
        if (cached !== undefined) {
          await cached.handle.datasync();
          return;
        }
        // r+ rather than r: Windows flushes only handles opened for writing.
        const handle = await open(this.#abs(p), 'r+');
        try {
          await handle.datasync();
        } finally {
          await handle.close();
        }
      } catch (error) {
        await this.#forget(p);
        throw this.#fileError('sync', p, error);
      }
    });
  }

  async rename(from: string, to: string): Promise<void> {
    const source = normalizeDiskPath(from);
    const target = normalizeDiskPath(to);
    return this.#serial(source === target ? [source] : [source, target], async () => {
      // fs.rename would move folders too; the Disk contract renames files only.
      let info: Stats;
      try {
        info = await lstat(this.#abs(source));
      } catch (error) {
        throw this.#fileError('rename', source, error);
      }
      if (info.isDirectory()) throw new PathKindError(source, 'file');
      if (source === target) return;
      await this.#forget(source);
      await this.#forget(target);
      try {
        await rename(this.#abs(source), this.#abs(target));
      } catch (error) {
        // The source existed a moment ago, so a missing path now is the target's folder.
        throw this.#fileError('rename', target, error);
      }
    });
  }

  async remove(path: string): Promise<void> {
    const p = normalizeDiskPath(path);
    return this.#serial([p], async () => {
      await this.#forget(p);
      try {
        await unlink(this.#abs(p));
      } catch (error) {
        const code = errorCode(error);
        if (isMissing(code)) return;
        // Linux says EISDIR for unlink of a folder, macOS says EPERM.
        if ((code === 'EISDIR' || code === 'EPERM') && (await this.#isFolder(p))) {
          throw new PathKindError(p, 'file', { cause: error });
        }
        throw deviceError('remove', p, error);
      }
    });
  }

  async mkdir(dir: string): Promise<void> {
    const d = normalizeDiskDir(dir);
    return this.#serial([d], async () => {
      const target = this.#abs(d);
      let first: string | undefined;
      try {
        first = await mkdir(target, { recursive: true });
      } catch (error) {
        const code = errorCode(error);
        if (code === 'EEXIST' || code === 'ENOTDIR') throw new PathKindError(d, 'folder', { cause: error });
        throw deviceError('mkdir', d, error);
      }
      if (first === undefined || process.platform === 'win32') return;
      // Make the new names durable at once, as SimDisk does: fsync the parent of every folder
      // created, from the parent of the first one down to the parent of the target.
      for (let current = target; ; current = dirname(current)) {
        const parent = dirname(current);
        try {
          await fsyncFolder(parent);
        } catch (error) {
          throw deviceError('mkdir', d, error);
        }
        if (current === first || parent === current) break;
      }
    });
  }

  async syncDir(dir: string): Promise<void> {
    const d = normalizeDiskDir(dir);
    return this.#serial([d], async () => {
      const target = this.#abs(d);
      try {
        if (process.platform !== 'win32') {
          await fsyncFolder(target);
          return;
        }
        const info = await stat(target);
        if (!info.isDirectory()) throw new PathKindError(d, 'folder');
      } catch (error) {
        if (error instanceof PathKindError) throw error;
        throw await this.#folderError('syncDir', d, error);
      }
    });
  }

  async list(dir: string): Promise<string[]> {
    const d = normalizeDiskDir(dir);
    return this.#serial([d], async () => {
      try {
        const names = await readdir(this.#abs(d));
        return names.sort();
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT') return [];
        if (code === 'ENOTDIR') {
          // Either `d` is a file (a caller bug worth reporting) or a folder above it is (missing).
          if (await this.#isFile(d)) throw new PathKindError(d, 'folder', { cause: error });
          return [];
        }
        throw deviceError('list', d, error);
      }
    });
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const p = normalizeDiskPath(path);
    return this.#serial([p], async () => {
      let info: Stats;
      try {
        info = await stat(this.#abs(p));
      } catch (error) {
        if (isMissing(errorCode(error))) return undefined;
        throw deviceError('stat', p, error);
      }
      if (info.isDirectory()) throw new PathKindError(p, 'file');
      return { size: info.size };
    });
  }

  #abs(path: string): string {
    return path === '' ? this.root : join(this.root, path);
  }

  /**
   * The cached append handle of `p` (opened with `O_DSYNC` when `durable`), opening it, or
   * reopening it in the other mode, and closing the least recently used beyond 16.
   */
  async #handle(p: string, durable: boolean): Promise<FileHandle> {
    const cached = this.#handles.get(p);
    if (cached !== undefined && cached.durable === durable) {
      this.#handles.delete(p);
      this.#handles.set(p, cached);
      return cached.handle;
    }
    if (cached !== undefined) await this.#forget(p);
    const flags = durable && DSYNC !== undefined ? APPEND_FLAGS | DSYNC : 'a';
    const handle = await open(this.#abs(p), flags, 0o666);
    this.#handles.set(p, { handle, durable });
    if (this.#handles.size > MAX_OPEN_HANDLES) {
      const [oldest] = this.#handles.keys();
      if (oldest !== undefined && oldest !== p) {
        // Only a path with no operation in flight may lose its handle: wait for its queue.
        void this.#serial([oldest], () => this.#forget(oldest));
      }
    }
    return handle;
  }

  /** Closes and drops the cached handle of `p`, if any. */
  async #forget(p: string): Promise<void> {
    const cached = this.#handles.get(p);
    if (cached === undefined) return;
    this.#handles.delete(p);
    await cached.handle.close().catch(ignore);
  }

  /**
   * Takes the folder `dir` (which must exist) for this process: see `Disk.lock`. The hold is a
   * file `lock-<pid>-<token>` in the folder, naming this process; it ends when released or when
   * the process ends (a later `lock` removes the files of processes that are gone: killed,
   * crashed, or from before a reboot). A holder on another host sharing the folder, or in another
   * container on this one, cannot be checked by its pid: it counts as running while it renews
   * its file (see {@link NodeDiskOptions.lockTiming}). A file this code did not write counts as
   * a running holder; the error names it, to be removed by hand.
   * @throws {DiskLockedError} while another process, or another lock in this one, holds it.
   * @throws {FileNotFoundError} when the folder does not exist.
   */
  async lock(dir: string): Promise<DiskLock> {
    const d = normalizeDiskDir(dir);
    try {
      return await lockFolder(this.#abs(d), d, this.#lockTiming);
    } catch (error) {
      if (isDiskLockedError(error)) throw error;
      const code = errorCode(error);
      if (code === 'ENOTDIR' && (await this.#isFile(d)))
        throw new PathKindError(d, 'folder', { cause: error });
      if (isMissing(code)) throw new FileNotFoundError(d, { cause: error });
      throw deviceError('write', d, error);
    }
  }

  /**
   * Closes every cached file handle. The disk stays usable (handles reopen on demand); call it
   * when the owner is done with the disk, so no descriptor outlives it.
   */
  async close(): Promise<void> {
    const paths = [...this.#handles.keys()];
    await Promise.all(paths.map((p) => this.#serial([p], () => this.#forget(p))));
  }

  /**
   * Runs `run` once every earlier operation on any of `keys` has settled, so operations on one
   * path complete in call order. Failures of earlier operations do not block later ones.
   */
  #serial<T>(keys: readonly string[], run: () => Promise<T>): Promise<T> {
    const earlier: Promise<void>[] = [];
    for (const key of keys) {
      const tail = this.#tails.get(key);
      if (tail !== undefined) earlier.push(tail);
    }
    const result = earlier.length === 0 ? run() : Promise.all(earlier).then(run);
    const tail = result.then(ignore, ignore);
    for (const key of keys) this.#tails.set(key, tail);
    void tail.then(() => {
      for (const key of keys) if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Maps the error of an operation that needs a file at `path`. */
  #fileError(op: DiskOp, path: string, error: unknown): unknown {
    const code = errorCode(error);
    if (isMissing(code)) return new FileNotFoundError(path, { cause: error });
    if (code === 'EISDIR') return new PathKindError(path, 'file', { cause: error });
    return deviceError(op, path, error);
  }

  /** Maps the error of an operation that needs an existing folder at `dir`. */
  async #folderError(op: DiskOp, dir: string, error: unknown): Promise<unknown> {
    const code = errorCode(error);
    if (code === 'ENOENT') return new FileNotFoundError(dir, { cause: error });
    if (code === 'ENOTDIR') {
      return (await this.#isFile(dir))
        ? new PathKindError(dir, 'folder', { cause: error })
        : new FileNotFoundError(dir, { cause: error });
    }
    return deviceError(op, dir, error);
  }

  async #isFolder(path: string): Promise<boolean> {
    const info = await lstat(this.#abs(path)).catch(() => undefined);
    return info?.isDirectory() ?? false;
  }

  async #isFile(path: string): Promise<boolean> {
    const info = await lstat(this.#abs(path)).catch(() => undefined);
    return info !== undefined && !info.isDirectory();
  }
}

/** Wraps device failures in {@link DiskFaultError}; returns anything else unchanged. */
function deviceError(op: DiskOp, path: string, error: unknown): unknown {
  const code = errorCode(error);
  if (code === undefined || !DEVICE_FAULTS.has(code)) return error;
  return new DiskFaultError(op, path, code, { cause: error });
}

/** fsync of a folder: O_DIRECTORY makes opening a file fail with ENOTDIR instead of syncing it. */
async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Validates a truncate length up front, so a bad one rejects the same way on every disk. */
function checkLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`truncate length must be a non-negative safe integer, got ${length}`);
  }
}
