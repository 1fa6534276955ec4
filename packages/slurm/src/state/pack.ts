/**
 * Moving slurmctld's StateSaveLocation between hosts: the directory (job_state, node_state,
 * resv_state, trigger_state, the assoc and usage files, the `hash.N/job.M/{script,environment}`
 * trees and every `.old` copy) is packed on the old holder after slurmctld has stopped and saved,
 * and unpacked on the new holder before its slurmctld starts. The archive is self-describing,
 * deterministic (the same tree always packs to the same bytes, so its SHA-256 compares two
 * directories) and treated as untrusted when read: every length is checked against the bytes that
 * remain before it is used, and no path can leave the target directory.
 *
 * ## Archive format, version 1
 *
 * All integers are big-endian. An mtime is a signed `i64` of milliseconds since the epoch and
 * must lie within the range of a JavaScript `Date` (|x| ≤ 8.64 × 10^15).
 *
 * ```text
 * header  (23 bytes)
 *   8  magic        "CLOSTATE" (ASCII)
 *   1  version      1
 *   2  root mode    u16, permission bits of the packed directory itself (≤ 0o7777)
 *   8  root mtime   i64, milliseconds since the epoch
 *   4  entry count  u32
 * entries (count times), in strictly increasing byte order of their UTF-8 paths
 *   1  type         1 = directory, 2 = regular file
 *   2  path length  u16, 1..4096
 *   n  path         UTF-8, relative to the packed directory, `/`-separated
 *   2  mode         u16, permission bits (≤ 0o7777): rwx for user/group/other, setuid/setgid/sticky
 *   8  mtime        i64, milliseconds since the epoch (rounded from the file's mtime)
 *   8  size         u64, bytes of content that follow (0 for a directory)
 *   s  content      the file's bytes
 * trailer (32 bytes)
 *  32  SHA-256 of every byte before the trailer
 * ```
 *
 * A valid archive also satisfies: the path is not absolute, has no empty segment (`a//b`, `a/`),
 * no `.` or `..` segment, no NUL and no backslash; paths are unique and sorted (so a parent always
 * comes before its children); every parent path is a directory entry of the archive; the entries
 * end exactly where the trailer begins.
 *
 * ## What is packed
 *
 * Regular files and directories, with their permission bits and mtimes (not owners: the unpacking
 * process owns what it writes, see {@link unpackState}). Sockets, FIFOs and devices are skipped.
 * Symbolic links are refused (`'unsafe-path'`), whether they point inside the directory or not:
 * slurmctld never creates them, and a chain of links that each look inside can still resolve
 * outside, so a state directory with a link in it is not something to copy silently.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import {
  chmod,
  type FileHandle,
  lstat,
  mkdir,
  open,
  opendir,
  readdir,
  realpath,
  rename,
  rm,
} from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** Why a state archive could not be made, read or unpacked. */
export type StateArchiveErrorReason = 'too-large' | 'too-many-files' | 'corrupt' | 'unsafe-path' | 'io';

/**
 * Packing, verifying or unpacking a state archive failed. `reason` says how:
 * - `'too-large'`: the archive would exceed `maxBytes`;
 * - `'too-many-files'`: the directory holds more than `maxFiles` entries;
 * - `'corrupt'`: wrong magic, version or checksum, a length past the end, or a malformed entry;
 * - `'unsafe-path'`: a path that could escape the directory, or a symlink or unrepresentable name
 *   while packing;
 * - `'io'`: the file system failed (the message names the path and the error code; `cause` keeps it).
 */
export class StateArchiveError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'StateArchiveError' as const;
  /** Always `'StateArchiveError'`, even after bundling renames the class. */
  override readonly name = 'StateArchiveError' as const;
  /** What kind of failure this is. */
  readonly reason: StateArchiveErrorReason;
  /** Creates the error; `options.cause` keeps an underlying error (e.g. from the file system). */
  constructor(reason: StateArchiveErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** True when `error` is a {@link StateArchiveError} (from any copy of this package, CJS or ESM). */
export function isStateArchiveError(error: unknown): error is StateArchiveError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === StateArchiveError.name &&
    typeof (error as { reason?: unknown }).reason === 'string'
  );
}

/** The first 8 bytes of every state archive: `CLOSTATE` in ASCII. */
export const STATE_ARCHIVE_MAGIC = 'CLOSTATE';
/** The archive format version this module writes and reads. */
export const STATE_ARCHIVE_VERSION = 1;
/** Default {@link PackStateOptions.maxBytes}: 256 MiB. */
export const DEFAULT_STATE_MAX_BYTES = 256 * 1024 * 1024;
/** Default {@link PackStateOptions.maxFiles}. */
export const DEFAULT_STATE_MAX_FILES = 100_000;
/** Longest path an archive entry may have, in UTF-8 bytes. */
export const STATE_PATH_MAX_BYTES = 4096;

/** Limits for {@link packState} and {@link stateDigest}. */
export interface PackStateOptions {
  /** Largest archive, in bytes, headers and trailer included (default {@link DEFAULT_STATE_MAX_BYTES}). */
  maxBytes?: number;
  /** Most entries (regular files plus directories, the root not counted; default {@link DEFAULT_STATE_MAX_FILES}). */
  maxFiles?: number;
}

/** What {@link verifyState} found in a valid archive. */
export interface StateArchiveSummary {
  /** Regular files in the archive (directories not counted). */
  files: number;
  /** Total content bytes of those files. */
  bytes: number;
  /** The archive's checksum (its trailer) in lower-case hex; equals {@link stateDigest} of the packed directory. */
  sha256: string;
}

const MAGIC_BYTES = new TextEncoder().encode(STATE_ARCHIVE_MAGIC);
const HEADER_BYTES = 8 + 1 + 2 + 8 + 4;
const ENTRY_FIXED_BYTES = 1 + 2 + 2 + 8 + 8;
const TRAILER_BYTES = 32;
const TYPE_DIR = 1;
const TYPE_FILE = 2;
const MODE_MASK = 0o7777;
const U32_MAX = 0xffff_ffff;
/** The largest |time| a `Date` holds, in ms; `utimes` is given `Date`s (Node turns a negative number into "now"). */
const MAX_MTIME_MS = 8_640_000_000_000_000n;

type EntryType = 'dir' | 'file';

interface ParsedEntry {
  readonly type: EntryType;
  readonly path: string;
  readonly mode: number;
  readonly mtimeMs: number;
  /** Offset of the content in the archive. */
  readonly start: number;
  readonly size: number;
}

interface ParsedArchive {
  readonly rootMode: number;
  readonly rootMtimeMs: number;
  readonly entries: readonly ParsedEntry[];
  readonly files: number;
  readonly bytes: number;
  readonly sha256: string;
}

// ---------------------------------------------------------------------------------------------
// Paths

/** Why `path` is not a safe relative archive path, or `undefined` when it is. */
function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'is empty';
  if (path.includes('\0')) return 'contains NUL';
  if (path.includes('\\')) return 'contains a backslash';
  if (path.startsWith('/')) return 'is absolute';
  for (const segment of path.split('/')) {
    if (segment === '') return 'has an empty segment';
    if (segment === '..') return 'has a ".." segment';
    if (segment === '.') return 'has a "." segment';
  }
  return undefined;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.byteLength - b.byteLength;
}

function parentOf(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? undefined : path.slice(0, slash);
}

// ---------------------------------------------------------------------------------------------
// Reading (untrusted)

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function corrupt(message: string): StateArchiveError {
  return new StateArchiveError('corrupt', `state archive is corrupt: ${message}`);
}

/** Parses and checks an archive completely; throws {@link StateArchiveError} ('corrupt' | 'unsafe-path'). */
function parseArchive(archive: Uint8Array): ParsedArchive {
  if (!(archive instanceof Uint8Array)) throw corrupt('not a byte array');
  const length = archive.byteLength;
  if (length < HEADER_BYTES + TRAILER_BYTES) throw corrupt(`${length} bytes is shorter than any archive`);
  for (let i = 0; i < MAGIC_BYTES.byteLength; i++) {
    if (archive[i] !== MAGIC_BYTES[i]) throw corrupt(`no ${STATE_ARCHIVE_MAGIC} magic`);
  }
  const view = new DataView(archive.buffer, archive.byteOffset, length);
  const version = view.getUint8(8);
  if (version !== STATE_ARCHIVE_VERSION) throw corrupt(`unsupported version ${version}`);
  const end = length - TRAILER_BYTES;
  const computed = createHash('sha256').update(archive.subarray(0, end)).digest();
  const stored = archive.subarray(end);
  if (!timingSafeEqual(computed, stored)) throw corrupt('checksum mismatch');

  const readMode = (at: number, what: string): number => {
    const mode = view.getUint16(at);
    if (mode > MODE_MASK) throw corrupt(`${what}: mode ${mode.toString(8)} has bits beyond 0o7777`);
    return mode;
  };
  const readMtime = (at: number, what: string): number => {
    const value = view.getBigInt64(at);
    if (value > MAX_MTIME_MS || value < -MAX_MTIME_MS) throw corrupt(`${what}: mtime out of range`);
    return Number(value);
  };

  const rootMode = readMode(9, 'root');
  const rootMtimeMs = readMtime(11, 'root');
  const count = view.getUint32(19);
  let at = HEADER_BYTES;
  // Every entry takes at least ENTRY_FIXED_BYTES + 1: a count that cannot fit is corrupt before the loop.
  if (count > Math.floor((end - at) / (ENTRY_FIXED_BYTES + 1)))
    throw corrupt(`entry count ${count} does not fit in ${end - at} bytes`);

  const entries: ParsedEntry[] = [];
  const directories = new Set<string>();
  let previousPath: Uint8Array | undefined;
  let files = 0;
  let bytes = 0;
  for (let index = 0; index < count; index++) {
    const what = `entry ${index}`;
    if (end - at < ENTRY_FIXED_BYTES + 1) throw corrupt(`${what}: truncated`);
    const typeByte = view.getUint8(at);
    if (typeByte !== TYPE_DIR && typeByte !== TYPE_FILE) throw corrupt(`${what}: unknown type ${typeByte}`);
    const type: EntryType = typeByte === TYPE_DIR ? 'dir' : 'file';
    const pathLength = view.getUint16(at + 1);
    at += 3;
    if (pathLength === 0 || pathLength > STATE_PATH_MAX_BYTES)
      throw corrupt(`${what}: path length ${pathLength} outside 1..${STATE_PATH_MAX_BYTES}`);
    if (pathLength > end - at - (ENTRY_FIXED_BYTES - 3)) throw corrupt(`${what}: path runs past the end`);
    const pathBytes = archive.subarray(at, at + pathLength);
    let path: string;
    try {
      path = utf8.decode(pathBytes);
    } catch (error) {
      throw new StateArchiveError('corrupt', `state archive is corrupt: ${what}: path is not UTF-8`, {
        cause: error,
      });
    }
    const unsafe = unsafePathReason(path);
    if (unsafe !== undefined)
      throw new StateArchiveError(
        'unsafe-path',
        `state archive ${what}: path ${JSON.stringify(path)} ${unsafe}`,
      );
    if (previousPath !== undefined && compareBytes(previousPath, pathBytes) >= 0)
      throw corrupt(`${what}: path ${JSON.stringify(path)} is out of order or repeated`);
    const parent = parentOf(path);
    if (parent !== undefined && !directories.has(parent))
      throw corrupt(`${what}: parent of ${JSON.stringify(path)} is not a directory in the archive`);
    at += pathLength;
    const mode = readMode(at, what);
    const mtimeMs = readMtime(at + 2, what);
    const size64 = view.getBigUint64(at + 10);
    at += ENTRY_FIXED_BYTES - 3;
    if (size64 > BigInt(end - at)) throw corrupt(`${what}: size ${size64} runs past the end`);
    const size = Number(size64);
    if (type === 'dir') {
      if (size !== 0) throw corrupt(`${what}: a directory with ${size} content bytes`);
      directories.add(path);
    } else {
      files++;
      bytes += size;
    }
    entries.push({ type, path, mode, mtimeMs, start: at, size });
    at += size;
    previousPath = pathBytes;
  }
  if (at !== end) throw corrupt(`${end - at} stray bytes after the last entry`);
  return { rootMode, rootMtimeMs, entries, files, bytes, sha256: Buffer.from(stored).toString('hex') };
}

/**
 * Checks a state archive without touching the file system: magic, version, checksum, every length
 * against the bytes that remain, every path safe (not absolute, no empty, `.` or `..` segment, no
 * NUL, no backslash), paths sorted and unique, parents present as directories, nothing after the
 * last entry. Returns the number of regular files, their total bytes and the archive's SHA-256.
 *
 * @throws {@link StateArchiveError} with reason `'corrupt'` or `'unsafe-path'`.
 */
export function verifyState(archive: Uint8Array): StateArchiveSummary {
  const parsed = parseArchive(archive);
  return { files: parsed.files, bytes: parsed.bytes, sha256: parsed.sha256 };
}

// ---------------------------------------------------------------------------------------------
// Packing

function ioError(action: string, path: string, error: unknown): StateArchiveError {
  const code = (error as { code?: unknown } | null)?.code;
  const detail = typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
  return new StateArchiveError('io', `cannot ${action} ${path} (${detail})`, { cause: error });
}

function limitOption(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || value > max)
    throw new RangeError(`${name} must be an integer from 0 to ${max}, got ${value}`);
  return value;
}

interface WalkedEntry {
  readonly type: EntryType;
  readonly path: string;
  readonly pathBytes: Uint8Array;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
}

/**
 * Packs the directory `dir` into a state archive (format in this module's documentation). Entries
 * are sorted by path, so the same tree always gives the same bytes. A symlinked `dir` is followed;
 * symlinks inside it are refused; sockets, FIFOs and devices are skipped. Files are opened with
 * `O_NOFOLLOW` and compared with what the directory walk saw: a file replaced or resized while
 * packing (slurmctld still running) fails with `'io'` rather than giving a mixed snapshot.
 *
 * @param dir - the StateSaveLocation; slurmctld should be stopped (SIGTERM saves the state first).
 * @param options - limits; exceeding one fails before the offending file is read.
 * @throws {@link StateArchiveError} `'too-large'`, `'too-many-files'`, `'unsafe-path'` or `'io'`;
 *   `RangeError` for a limit that is not a non-negative integer.
 */
export async function packState(dir: string, options: PackStateOptions = {}): Promise<Uint8Array> {
  const maxBytes = limitOption('maxBytes', options.maxBytes, DEFAULT_STATE_MAX_BYTES, 2 ** 32);
  const maxFiles = limitOption('maxFiles', options.maxFiles, DEFAULT_STATE_MAX_FILES, U32_MAX);

  let root: string;
  try {
    root = await realpath(dir);
  } catch (error) {
    throw ioError('open state directory', dir, error);
  }
  const rootInfo = await lstat(root).catch((error: unknown) => {
    throw ioError('stat', root, error);
  });
  if (!rootInfo.isDirectory()) throw new StateArchiveError('io', `cannot pack ${dir}: not a directory`);

  const tooLarge = (total: number) =>
    new StateArchiveError(
      'too-large',
      `state archive of ${dir} would exceed ${maxBytes} bytes (at least ${total})`,
    );
  let total = HEADER_BYTES + TRAILER_BYTES;
  if (total > maxBytes) throw tooLarge(total);

  const encoder = new TextEncoder();
  const walked: WalkedEntry[] = [];
  const pending: string[] = [''];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const absoluteDir = next === '' ? root : join(root, next);
    let handle: Awaited<ReturnType<typeof opendir>>;
    try {
      handle = await opendir(absoluteDir);
    } catch (error) {
      throw ioError('read directory', absoluteDir, error);
    }
    try {
      for await (const dirent of handle) {
        const name = dirent.name;
        const path = next === '' ? name : `${next}/${name}`;
        const absolute = join(root, path);
        const info = await lstat(absolute).catch((error: unknown) => {
          throw ioError('stat (vanished, or a name that is not UTF-8?)', absolute, error);
        });
        let type: EntryType;
        if (info.isSymbolicLink())
          throw new StateArchiveError('unsafe-path', `cannot pack ${absolute}: symlinks are not packed`);
        if (info.isDirectory()) type = 'dir';
        else if (info.isFile()) type = 'file';
        else continue; // socket, FIFO, device
        const unsafe = unsafePathReason(path);
        if (unsafe !== undefined)
          throw new StateArchiveError('unsafe-path', `cannot pack ${absolute}: its relative path ${unsafe}`);
        const pathBytes = encoder.encode(path);
        if (pathBytes.byteLength > STATE_PATH_MAX_BYTES)
          throw new StateArchiveError(
            'unsafe-path',
            `cannot pack ${absolute}: path longer than ${STATE_PATH_MAX_BYTES} bytes`,
          );
        if (walked.length >= maxFiles)
          throw new StateArchiveError(
            'too-many-files',
            `state directory ${dir} has more than ${maxFiles} files and directories`,
          );
        const size = type === 'file' ? info.size : 0;
        total += ENTRY_FIXED_BYTES + pathBytes.byteLength + size;
        if (total > maxBytes) throw tooLarge(total);
        walked.push({
          type,
          path,
          pathBytes,
          mode: info.mode & MODE_MASK,
          mtimeMs: Math.round(info.mtimeMs),
          size,
          ino: info.ino,
        });
        if (type === 'dir') pending.push(path);
      }
    } catch (error) {
      if (isStateArchiveError(error)) throw error;
      throw ioError('read directory', absoluteDir, error);
    } finally {
      await handle.close().catch(() => {});
    }
  }
  walked.sort((a, b) => compareBytes(a.pathBytes, b.pathBytes));

  const archive = new Uint8Array(total);
  const view = new DataView(archive.buffer);
  archive.set(MAGIC_BYTES, 0);
  view.setUint8(8, STATE_ARCHIVE_VERSION);
  view.setUint16(9, rootInfo.mode & MODE_MASK);
  view.setBigInt64(11, BigInt(Math.round(rootInfo.mtimeMs)));
  view.setUint32(19, walked.length);
  let at = HEADER_BYTES;
  for (const entry of walked) {
    view.setUint8(at, entry.type === 'dir' ? TYPE_DIR : TYPE_FILE);
    view.setUint16(at + 1, entry.pathBytes.byteLength);
    at += 3;
    archive.set(entry.pathBytes, at);
    at += entry.pathBytes.byteLength;
    view.setUint16(at, entry.mode);
    view.setBigInt64(at + 2, BigInt(entry.mtimeMs));
    view.setBigUint64(at + 10, BigInt(entry.size));
    at += ENTRY_FIXED_BYTES - 3;
    if (entry.type === 'file') {
      await readFileInto(join(root, entry.path), entry, archive.subarray(at, at + entry.size));
      at += entry.size;
    }
  }
  archive.set(createHash('sha256').update(archive.subarray(0, at)).digest(), at);
  return archive;
}

/** Reads exactly `target.byteLength` bytes of the file the walk saw; fails if it changed since. */
async function readFileInto(path: string, seen: WalkedEntry, target: Uint8Array): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw ioError('open', path, error);
  }
  try {
    const info = await handle.stat();
    const changed = () =>
      new StateArchiveError('io', `${path} changed while it was being packed (is slurmctld still running?)`);
    if (!info.isFile() || info.ino !== seen.ino || info.size !== seen.size) throw changed();
    let filled = 0;
    while (filled < target.byteLength) {
      const { bytesRead } = await handle.read(target, filled, target.byteLength - filled, filled);
      if (bytesRead === 0) throw changed();
      filled += bytesRead;
    }
    const after = await handle.stat();
    const extra = await handle.read(new Uint8Array(1), 0, 1, filled);
    if (extra.bytesRead !== 0 || after.size !== seen.size || Math.round(after.mtimeMs) !== seen.mtimeMs)
      throw changed();
  } catch (error) {
    if (isStateArchiveError(error)) throw error;
    throw ioError('read', path, error);
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * The SHA-256 (lower-case hex) of `dir`'s deterministic packing: equal for two directories with
 * the same paths, contents, permission bits and (millisecond) mtimes, the directory's own included.
 * It is also the `sha256` that {@link verifyState} reports for the archive of `dir`.
 *
 * @throws {@link StateArchiveError} as {@link packState} does.
 */
export async function stateDigest(dir: string, options: PackStateOptions = {}): Promise<string> {
  const archive = await packState(dir, options);
  return Buffer.from(archive.subarray(archive.byteLength - TRAILER_BYTES)).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Unpacking

/**
 * A step of {@link unpackStateWithHooks}, reported after it completed:
 * - `entry`: one archive entry written into the temporary directory;
 * - `retire-previous`: an existing `<dir>.previous` renamed to a temporary `<dir>.retired-*` name;
 * - `move-aside`: the old `<dir>` renamed to `<dir>.previous`;
 * - `move-in`: the new directory renamed to `<dir>`;
 * - `sync-parent`: the parent directory fsynced.
 */
export type UnpackStep =
  | { readonly kind: 'entry'; readonly path: string }
  | { readonly kind: 'retire-previous' }
  | { readonly kind: 'move-aside' }
  | { readonly kind: 'move-in' }
  | { readonly kind: 'sync-parent' };

/** Observers for {@link unpackStateWithHooks}; a hook that throws makes the unpack fail at that point. */
export interface UnpackHooks {
  /** Called after each step; throwing aborts the unpack and rolls back like any other failure. */
  afterStep?: (step: UnpackStep) => void | Promise<void>;
}

/**
 * Replaces the directory `dir` with the contents of a state archive, atomically:
 *
 * 1. the archive is copied and verified completely ({@link verifyState}); nothing is written
 *    before that succeeds;
 * 2. everything is written into a fresh sibling `<dir>.incoming-<random>`: files with their bytes,
 *    permission bits and mtimes, each fsynced; then directories deepest first (mode, mtime, fsync),
 *    the new root last;
 * 3. the swap: an existing `<dir>.previous` is renamed to `<dir>.retired-<random>`, the old `<dir>`
 *    to `<dir>.previous`, the new directory to `<dir>`, the parent is fsynced, and the retired
 *    copy removed. When `dir` did not exist there is no `.previous` step and an existing
 *    `<dir>.previous` is left alone.
 *
 * On any failure every rename done so far is undone, so `dir` and `<dir>.previous` are as they
 * were, and the temporary directory is removed. A crash of the process itself can leave a
 * `<dir>.incoming-*` (harmless, removable) and, only between the two renames of step 3, no `dir`
 * with the old state in `<dir>.previous`.
 *
 * Notes: files are owned by the calling process's user (run it as SlurmUser or chown afterwards);
 * a symlinked `dir` is resolved and its target replaced; `dir` must not be a mount point (the swap
 * is a rename within its parent); its parent is created if missing. Concurrent unpacks into the
 * same `dir` must be serialised by the caller.
 *
 * @throws {@link StateArchiveError} `'corrupt'` or `'unsafe-path'` (nothing written), or `'io'`.
 */
export async function unpackState(archive: Uint8Array, dir: string): Promise<void> {
  await unpackStateWithHooks(archive, dir, {});
}

/**
 * {@link unpackState} with observers of each step: the test seam that injects failures at every
 * point of the unpack and the swap. Not re-exported from the package entry point.
 */
export async function unpackStateWithHooks(
  archive: Uint8Array,
  dir: string,
  hooks: UnpackHooks,
): Promise<void> {
  // A private copy: the caller cannot change the bytes between verification and writing.
  const bytes = archive instanceof Uint8Array ? new Uint8Array(archive) : archive;
  const parsed = parseArchive(bytes);
  const step = async (s: UnpackStep) => {
    if (hooks.afterStep !== undefined) await hooks.afterStep(s);
  };

  const target = await resolveTarget(dir);
  const parent = dirname(target);
  if (parent === target)
    throw new StateArchiveError('io', `cannot unpack into ${dir}: it is a root directory`);
  await mkdir(parent, { recursive: true }).catch((error: unknown) => {
    throw ioError('create the parent of', target, error);
  });
  const targetExists = await exists(target);
  const suffix = () => randomBytes(6).toString('hex');
  const temp = `${target}.incoming-${suffix()}`;
  const previous = `${target}.previous`;
  const retired = `${target}.retired-${suffix()}`;

  try {
    await mkdir(temp, { mode: 0o700 });
  } catch (error) {
    throw ioError('create', temp, error);
  }

  let retiredDone = false;
  let movedAside = false;
  let movedIn = false;
  try {
    await writeTree(bytes, parsed, temp, step);
    if (targetExists) {
      if (await exists(previous)) {
        await renameOrFail(previous, retired);
        retiredDone = true;
        await step({ kind: 'retire-previous' });
      }
      await renameOrFail(target, previous);
      movedAside = true;
      await step({ kind: 'move-aside' });
    }
    await renameOrFail(temp, target);
    movedIn = true;
    await step({ kind: 'move-in' });
    await syncDirectory(parent);
    await step({ kind: 'sync-parent' });
  } catch (error) {
    const failure = isStateArchiveError(error) ? error : ioError('unpack into', target, error);
    const problems: string[] = [];
    const undo = async (from: string, to: string) => {
      try {
        await rename(from, to);
      } catch (undoError) {
        const code = (undoError as { code?: unknown }).code;
        problems.push(`rename ${from} -> ${to} (${typeof code === 'string' ? code : 'error'})`);
      }
    };
    if (movedIn) await undo(target, temp);
    if (movedAside) await undo(previous, target);
    if (retiredDone) await undo(retired, previous);
    await removeTree(temp).catch((cleanupError: unknown) => {
      problems.push(`remove ${temp} (${String(cleanupError)})`);
    });
    await syncDirectory(parent).catch(() => {});
    if (problems.length > 0)
      throw new StateArchiveError(
        'io',
        `${failure.message}; rolling back also failed: ${problems.join('; ')}`,
        { cause: failure },
      );
    throw failure;
  }
  if (retiredDone) await removeTree(retired).catch(() => {});
}

async function writeTree(
  bytes: Uint8Array,
  parsed: ParsedArchive,
  temp: string,
  step: (s: UnpackStep) => Promise<void>,
): Promise<void> {
  for (const entry of parsed.entries) {
    const path = join(temp, entry.path);
    if (entry.type === 'dir') {
      try {
        await mkdir(path, { mode: 0o700 });
      } catch (error) {
        throw ioError('create directory', path, error);
      }
    } else {
      let handle: FileHandle;
      try {
        handle = await open(path, 'wx', 0o600);
      } catch (error) {
        throw ioError('create', path, error);
      }
      try {
        await handle.writeFile(bytes.subarray(entry.start, entry.start + entry.size));
        await handle.chmod(entry.mode);
        await handle.utimes(new Date(entry.mtimeMs), new Date(entry.mtimeMs));
        await handle.sync();
      } catch (error) {
        throw ioError('write', path, error);
      } finally {
        await handle.close().catch(() => {});
      }
    }
    await step({ kind: 'entry', path: entry.path });
  }
  // Directories last and deepest first: writing into a directory changes its mtime, and a
  // read-only mode must not stop the writes below it.
  const directories = parsed.entries.filter((entry) => entry.type === 'dir');
  for (let i = directories.length - 1; i >= 0; i--) {
    const entry = directories[i];
    if (entry !== undefined) await finishDirectory(join(temp, entry.path), entry.mode, entry.mtimeMs);
  }
  await finishDirectory(temp, parsed.rootMode, parsed.rootMtimeMs);
}

/** Opens directory `path`, runs `work` on it (an I/O failure is reported as `what`), closes it. */
async function onDirectory(
  path: string,
  what: string,
  work: (handle: FileHandle) => Promise<void>,
): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw ioError('open directory', path, error);
  }
  try {
    await work(handle);
  } catch (error) {
    throw ioError(what, path, error);
  } finally {
    await handle.close().catch(() => {});
  }
}

/** Restores a directory's mode and mtime, then fsyncs it. */
function finishDirectory(path: string, mode: number, mtimeMs: number): Promise<void> {
  return onDirectory(path, 'finish directory', async (handle) => {
    await handle.chmod(mode);
    await handle.utimes(new Date(mtimeMs), new Date(mtimeMs));
    await handle.sync();
  });
}

/** Fsyncs a directory (after renames in it). */
function syncDirectory(path: string): Promise<void> {
  return onDirectory(path, 'fsync directory', (handle) => handle.sync());
}

async function renameOrFail(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    throw ioError(`rename ${from} to`, to, error);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return false;
    throw ioError('stat', path, error);
  }
}

/** The absolute path to replace: `dir` itself, or what it links to; refuses a non-directory. */
async function resolveTarget(dir: string): Promise<string> {
  const absolute = resolve(dir);
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(absolute);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return absolute;
    throw ioError('stat', absolute, error);
  }
  let target = absolute;
  if (info.isSymbolicLink()) {
    try {
      target = await realpath(absolute);
      info = await lstat(target);
    } catch (error) {
      throw ioError('resolve the symlink', absolute, error);
    }
  }
  if (!info.isDirectory()) throw new StateArchiveError('io', `cannot unpack into ${dir}: not a directory`);
  return target;
}

/** `rm -rf`, also when modes restored from the archive took away the owner's write permission. */
async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch {
    // fall through: make every directory writable and try again
  }
  await makeWritable(path);
  await rm(path, { recursive: true, force: true });
}

async function makeWritable(path: string): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) return;
  await chmod(path, 0o700).catch(() => {});
  const names = await readdir(path).catch(() => [] as string[]);
  for (const name of names) await makeWritable(join(path, name));
}

/**
 * Finishes what a crash in the middle of {@link unpackState}'s swap left behind: when `dir` is
 * missing but `<dir>.previous` exists, the old state is moved back to `dir`. Call it before
 * starting slurmctld on `dir`. Resolves with whether it moved anything.
 */
export async function recoverStateDir(dir: string): Promise<boolean> {
  const exists = async (path: string): Promise<boolean> =>
    lstat(path).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw ioError('inspect', path, error);
      },
    );
  if (await exists(dir)) return false;
  const previous = `${dir}.previous`;
  if (!(await exists(previous))) return false;
  try {
    await rename(previous, dir);
  } catch (error) {
    throw ioError('restore', previous, error);
  }
  return true;
}
