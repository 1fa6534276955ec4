import { InvalidPathError } from './errors.js';

/**
 * Longest accepted disk path, in UTF-16 code units: Linux's `PATH_MAX`. Paths come from
 * configuration and peers, so the bound also keeps a hostile path from costing much.
 */
export const MAX_DISK_PATH_LENGTH = 4096;

/** Longest accepted path segment, in UTF-8 bytes: `NAME_MAX` of ext4, XFS, APFS and NTFS. */
export const MAX_DISK_NAME_BYTES = 255;

/**
 * Validates a disk-relative **file** path and returns its one canonical spelling.
 *
 * A valid path is one or more `/`-separated segments, so there is nothing to rewrite: a valid
 * path is returned unchanged, and every other spelling of it is rejected rather than fixed up.
 * That keeps `NodeDisk` and `SimDisk` (whose files are keyed by path) agreeing on which
 * strings name the same file, and makes escaping the root impossible by construction.
 *
 * Throws {@link InvalidPathError} for: a non-string or empty path, `.` (the root is a folder,
 * never a file), a path longer than {@link MAX_DISK_PATH_LENGTH}, a leading `/` (absolute), a
 * trailing `/` or `//` (empty segments), `.` or `..` segments, NUL bytes, backslashes (a
 * separator on Windows, so `a\b` would mean different files on different systems), and
 * segments longer than {@link MAX_DISK_NAME_BYTES} UTF-8 bytes.
 */
export function normalizeDiskPath(path: string): string {
  if (typeof path !== 'string') throw new InvalidPathError(String(path), 'not a string');
  if (path === '' || path === '.') throw new InvalidPathError(path, 'the root folder is not a file');
  checkSegments(path);
  return path;
}

/**
 * Validates a disk-relative **folder** path (for `mkdir`, `syncDir`, `list`). Same rules as
 * {@link normalizeDiskPath}, except that `''` and `'.'` both name the root folder and are
 * returned as `''`, the root's canonical spelling (so `list('')` and `list('.')` agree).
 */
export function normalizeDiskDir(dir: string): string {
  if (typeof dir !== 'string') throw new InvalidPathError(String(dir), 'not a string');
  if (dir === '' || dir === '.') return '';
  checkSegments(dir);
  return dir;
}

/**
 * The folder part of a canonical path: `wal/0001.log` → `wal`, `a/b/c` → `a/b`, and `''` (the
 * root) for a top-level name. Does not validate; pass a path from {@link normalizeDiskPath}.
 */
export function dirnameOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/**
 * The last segment of a canonical path: `wal/0001.log` → `0001.log`. Does not validate; pass a
 * path from {@link normalizeDiskPath}.
 */
export function basenameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Joins a canonical folder (`''` for the root) and a name into a canonical path, the inverse of
 * {@link dirnameOf} and {@link basenameOf}. Does not validate.
 */
export function joinDiskPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function checkSegments(path: string): void {
  if (path.length > MAX_DISK_PATH_LENGTH) {
    throw new InvalidPathError(path, `longer than ${MAX_DISK_PATH_LENGTH} characters`);
  }
  if (path.startsWith('/')) throw new InvalidPathError(path, 'absolute paths are not allowed');
  if (path.includes('\0')) throw new InvalidPathError(path, 'contains a NUL byte');
  if (path.includes('\\')) throw new InvalidPathError(path, 'contains a backslash; use / to separate');
  for (const segment of path.split('/')) {
    if (segment === '') throw new InvalidPathError(path, 'empty segment');
    if (segment === '.' || segment === '..') throw new InvalidPathError(path, `"${segment}" segment`);
    if (utf8Length(segment) > MAX_DISK_NAME_BYTES) {
      throw new InvalidPathError(path, `a segment is longer than ${MAX_DISK_NAME_BYTES} bytes`);
    }
  }
}

/** UTF-8 length without allocating; lone surrogates count as the 3-byte U+FFFD they encode to. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    } else bytes += 3;
  }
  return bytes;
}
