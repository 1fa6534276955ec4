/** Size facts of a file on a {@link Disk}. */
export interface FileInfo {
  /** Length in bytes. */
  readonly size: number;
}

/**
 * The storage seam: a small file system with explicit durability, taken by injection by
 * anything that must survive a crash (Raft's log and snapshots, node identity).
 * {@link NodeDisk} is the real one over a directory; {@link SimDisk} is an in-memory one that
 * loses what was not synced when its node crashes.
 *
 * Paths are `/`-separated and relative to the disk's root (`wal/0001.log`); `..`, absolute
 * paths and empty segments are rejected with `InvalidPathError`.
 *
 * Durability contract (the POSIX one, which is what real disks give):
 * - `writeFile`, `appendFile` and `truncate` change the file's content at once for readers,
 *   but the change survives a crash only after `sync(path)`.
 * - Creating, renaming or removing a name survives a crash only after `syncDir` of its folder.
 * - So an atomic replace is: `writeFile(tmp)`, `sync(tmp)`, `rename(tmp, final)`, `syncDir(folder)`.
 * - A crash may keep any prefix of the bytes appended since the last `sync` (a torn tail).
 *
 * Missing files reject with `FileNotFoundError`.
 */
export interface Disk {
  /** Reads a whole file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Creates or replaces a file with `data`. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Appends `data`, creating the file if missing. */
  appendFile(path: string, data: Uint8Array): Promise<void>;
  /**
   * Optional: appends `data` (creating the file if missing) and makes the file's content durable
   * before resolving: `appendFile` then `sync` as one step. A disk that can do both in one
   * system call (a descriptor opened with `O_DSYNC`) saves a round trip through the I/O thread
   * per durable append, which is what a write-ahead log waits for on every commit. A crash
   * before it resolves may keep any prefix of `data`, as with `appendFile`.
   */
  appendDurable?(path: string, data: Uint8Array): Promise<void>;
  /** Shortens (or zero-extends) a file to `length` bytes. */
  truncate(path: string, length: number): Promise<void>;
  /** Makes the file's current content durable (fsync). */
  sync(path: string): Promise<void>;
  /** Atomically renames a file, replacing `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; removing a missing file is not an error. */
  remove(path: string): Promise<void>;
  /** Creates a folder and its parents; existing folders are fine. */
  mkdir(dir: string): Promise<void>;
  /** Makes the names in a folder (creates, renames, removes) durable (fsync of the directory). */
  syncDir(dir: string): Promise<void>;
  /** Names of the files and folders directly in `dir`, sorted; a missing folder lists as empty. */
  list(dir: string): Promise<string[]>;
  /** Size of a file, or undefined when it does not exist. */
  stat(path: string): Promise<FileInfo | undefined>;
  /**
   * Optional: releases cached resources (open file descriptors). The disk stays usable; owners
   * call it when they are done so that nothing is left for the garbage collector to close.
   */
  close?(): Promise<void>;
  /**
   * Optional: takes the folder `dir` (which must exist) for this disk's user alone, until the
   * returned lock is released or the holder's process ends (on a {@link SimDisk}, until its node
   * crashes). Storage with a single writer, such as a write-ahead log, takes it before it reads
   * or writes anything there, so a second copy of a program started on the same data folder
   * fails instead of interleaving its writes with the first's.
   * @throws {DiskLockedError} while another holder has the folder.
   */
  lock?(dir: string): Promise<DiskLock>;
}

/** A folder taken with {@link Disk.lock}. */
export interface DiskLock {
  /**
   * False once the hold is known to be gone: released, or taken away. `NodeDisk` notices at its
   * next renewal that its file was removed (by hand, or by another process that took this one
   * for dead); on `SimDisk` a crash ends it. A writer that finds it false must stop writing:
   * another may have the folder now.
   */
  readonly held: boolean;
  /** Gives the folder up; idempotent. */
  release(): Promise<void>;
}
