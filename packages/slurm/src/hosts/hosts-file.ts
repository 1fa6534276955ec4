/**
 * The controller alias in the hosts file.
 *
 * Running jobs keep the controller address they were launched with (SLURM-NOTES §4b, §6 gotcha 5):
 * a job's slurmstepd sends "job complete" to the SlurmctldHost of the slurm.conf it started with,
 * re-resolving the name each time. So slurm.conf names the controller by a stable name
 * (`SlurmctldHost=<host>(slurmctl)`), every node keeps a hosts-file entry for that name, and the
 * adapter re-points the entry on every node before the new controller starts.
 *
 * The adapter owns one marked block of the hosts file:
 *
 * ```text
 * # BEGIN clusteros (managed by ClusterOS; do not edit)
 * 10.77.0.11 slurmctl
 * # END clusteros
 * ```
 *
 * and nothing else: every byte outside the block is kept as it was (comments, CRLF lines, a
 * missing final newline, other entries for the same names, even bytes that are not UTF-8, since
 * the file is handled as Latin-1, one character per byte). A new block goes at the top of the
 * file: glibc's `files` backend answers with the first matching line, so the managed entry wins
 * over a stale entry for the same name further down, and removing the block gives back exactly
 * the original bytes even when the file had no final newline.
 *
 * Writes are atomic where the file system allows it (temporary file, fsync, rename, fsync of the
 * directory). Where it does not (a symlinked or bind-mounted hosts file) the file is rewritten in
 * place; see {@link writeManagedHosts}.
 *
 * Concurrency: writers in one process are serialised per path (compared after `path.resolve`, so
 * pass one path, not also a symlink to it), so concurrent updates are never lost. Across processes
 * there is no lock: the ClusterOS agent is the only writer of its block, and an administrator
 * editing the rest of the file at the same moment as a re-point can lose that edit (as with any
 * tool that rewrites /etc/hosts).
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, rename as fsRename, lstat, open, readFile, rm, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';

/** The hosts file of a Linux host: the usual `path` argument outside tests. */
export const DEFAULT_HOSTS_PATH = '/etc/hosts';

/** The line that opens the managed block. */
export const HOSTS_BLOCK_BEGIN = '# BEGIN clusteros (managed by ClusterOS; do not edit)';

/** The line that closes the managed block. */
export const HOSTS_BLOCK_END = '# END clusteros';

/** Longest host name accepted (RFC 1123, in its textual form). */
export const MAX_HOST_NAME_LENGTH = 253;

/** Longest label (the part between dots) of a host name. */
export const MAX_HOST_LABEL_LENGTH = 63;

/** Mode of a hosts file this module creates (one that did not exist): `rw-r--r--`. */
export const NEW_HOSTS_FILE_MODE = 0o644;

/**
 * What is wrong, in {@link HostsFileError.field}:
 * - `name`, `address`: an entry's host name or address is not acceptable;
 * - `entries`: the entries as a whole (not a map or record, or two names that differ only in case);
 * - `block`: the managed block already in the file is malformed (see {@link HostsFileError.line});
 * - `path`: the file cannot be read or written.
 */
export type HostsFileErrorField = 'name' | 'address' | 'entries' | 'block' | 'path';

/** An entry that cannot be written, a malformed managed block, or a hosts file that cannot be read or written. */
export class HostsFileError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'HostsFileError' as const;
  /** Always `'HostsFileError'`. */
  override readonly name = 'HostsFileError' as const;
  /** What is wrong; see {@link HostsFileErrorField}. */
  readonly field: HostsFileErrorField;
  /** For `block` errors, the 1-based line of the file at fault; otherwise `undefined`. */
  readonly line: number | undefined;
  /**
   * Creates the error. `message` is the whole message; `line` is given for `block` errors,
   * `cause` for I/O errors.
   */
  constructor(field: HostsFileErrorField, message: string, line?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.field = field;
    this.line = line;
  }
}

/** Whether `error` is a {@link HostsFileError} (also one from another copy of the package). */
export const isHostsFileError = (error: unknown): error is HostsFileError =>
  typeof error === 'object' &&
  error !== null &&
  (error as { name?: unknown }).name === HostsFileError.name &&
  typeof (error as { field?: unknown }).field === 'string';

/** Options of {@link writeManagedHosts} and {@link pointAlias}. */
export interface HostsWriteOptions {
  /**
   * Renames the temporary file over the hosts file; `fs.promises.rename` by default. A test seam:
   * a function that fails with `EBUSY` or `EXDEV` exercises the in-place fallback.
   */
  readonly rename?: (from: string, to: string) => Promise<void>;
}

/** Entries as accepted by {@link writeManagedHosts}: host name → IPv4 or IPv6 address. */
export type HostsEntries = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/**
 * The entries (host name → address) of the managed block of the hosts file at `path`; empty when
 * there is no block or no file.
 *
 * Throws {@link HostsFileError}: `block` (with the line) when the block is malformed — a BEGIN
 * without an END, a second BEGIN, an END without a BEGIN, or a line in the block that is not
 * `<address> <name>` with a valid address and name, or repeats a name — and `path` when the file
 * cannot be read.
 */
export async function readManagedHosts(path: string): Promise<Map<string, string>> {
  const current = await readHostsText(path);
  return parseHostsText(path, current?.text ?? '').entries;
}

/**
 * Replaces the managed block of the hosts file at `path` with `entries` (one `<address> <name>`
 * line each, sorted by name); an empty `entries` removes the block, markers included. Returns
 * whether the file changed: nothing is written when it already holds exactly this block. A file
 * that does not exist is created (mode {@link NEW_HOSTS_FILE_MODE}) unless `entries` is empty.
 *
 * Every name and address is validated first (see {@link pointAlias}), and the existing file is
 * parsed; on any {@link HostsFileError} the file is left untouched.
 *
 * How the file is replaced: a temporary file in the same directory, with the original's mode
 * (and owner and group when running as root), is written and fsynced, renamed over the original,
 * and the directory is fsynced, so a reader sees either the old or the new file, and a crash
 * leaves one of them. Two cases cannot be handled that way and fall back to rewriting the file in
 * place (open `r+`, write from offset 0, truncate, fsync):
 * - `path` is a symlink: a rename would replace the link by a regular file and cut it off from
 *   its target;
 * - the rename fails with `EBUSY` or `EXDEV`: `path` is a mount point, as /etc/hosts is in
 *   containers and in the namespace test set-up of SLURM-NOTES §3 (a bind mount of a shared
 *   file). The mount refers to the file's inode, so its contents must be replaced, not the file.
 *
 * In place, a reader can briefly see a partly written file; the write is one call of at most a
 * few kilobytes, so in practice it does not.
 */
export async function writeManagedHosts(
  path: string,
  entries: HostsEntries,
  options: HostsWriteOptions = {},
): Promise<boolean> {
  const wanted = validateEntries(entries);
  return withPathLock(path, async () => {
    const current = await readHostsText(path);
    const parsed = parseHostsText(path, current?.text ?? '');
    return replaceBlock(path, current, parsed, wanted, options);
  });
}

/**
 * Points `name` at `address` in the managed block of the hosts file at `path`, keeping the
 * block's other entries (an entry whose name differs from `name` only in case is replaced, since
 * resolvers compare names without case). Returns whether it wrote: nothing is written when the
 * entry is already there. Written as {@link writeManagedHosts} writes.
 *
 * `name` must be an RFC 1123 host name: labels of letters, digits and `-` (not first or last),
 * at most {@link MAX_HOST_LABEL_LENGTH} characters, joined by single dots, at most
 * {@link MAX_HOST_NAME_LENGTH} characters in all, and with a last label that is not all digits
 * (`123` or `10.0.0.1` would be read as an address). `address` must be an IPv4 or IPv6 literal
 * (`node:net` `isIP`) without a zone index (`fe80::1%eth0`: glibc does not read those from the
 * hosts file). Anything else throws {@link HostsFileError}, as does a malformed existing block.
 */
export async function pointAlias(
  path: string,
  name: string,
  address: string,
  options: HostsWriteOptions = {},
): Promise<boolean> {
  const validName = checkName(name);
  const validAddress = checkAddress(address, validName);
  return withPathLock(path, async () => {
    const current = await readHostsText(path);
    const parsed = parseHostsText(path, current?.text ?? '');
    const wanted = new Map<string, string>();
    for (const [n, a] of parsed.entries) if (n.toLowerCase() !== validName.toLowerCase()) wanted.set(n, a);
    wanted.set(validName, validAddress);
    return replaceBlock(path, current, parsed, wanted, options);
  });
}

// ---------------------------------------------------------------------------------------------
// Validation

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const ALL_DIGITS = /^[0-9]+$/;
const ADDRESS_CHARACTERS = /^[0-9A-Fa-f:.]+$/;

function show(value: unknown): string {
  if (typeof value !== 'string') return typeof value;
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Problem with `value` as a host name, or `undefined` when it is one. */
function nameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `a host name is a string, got ${show(value)}`;
  if (value.length === 0) return 'a host name cannot be empty';
  if (value.length > MAX_HOST_NAME_LENGTH)
    return `a host name has at most ${MAX_HOST_NAME_LENGTH} characters, got ${value.length}`;
  const labels = value.split('.');
  for (const label of labels) {
    if (label.length === 0) return `${show(value)} has an empty label (dots only between labels)`;
    if (label.length > MAX_HOST_LABEL_LENGTH)
      return `${show(value)} has a label longer than ${MAX_HOST_LABEL_LENGTH} characters`;
    if (!LABEL.test(label))
      return `${show(value)} is not a host name (letters, digits and '-' not first or last in a label, dots between labels)`;
  }
  if (ALL_DIGITS.test(labels[labels.length - 1] ?? ''))
    return `${show(value)} would be read as an address (its last label is all digits)`;
  return undefined;
}

/** Problem with `value` as an address, or `undefined` when it is one. */
function addressProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `an address is a string, got ${show(value)}`;
  if (value.includes('%') && isIP(value) === 6)
    return `${show(value)} has a zone index, which the hosts file cannot hold`;
  if (!ADDRESS_CHARACTERS.test(value) || isIP(value) === 0)
    return `${show(value)} is not an IPv4 or IPv6 address`;
  return undefined;
}

function checkName(value: unknown): string {
  const problem = nameProblem(value);
  if (problem !== undefined) throw new HostsFileError('name', `invalid host name: ${problem}`);
  return value as string;
}

function checkAddress(value: unknown, name: string): string {
  const problem = addressProblem(value);
  if (problem !== undefined)
    throw new HostsFileError('address', `invalid address for host name ${name}: ${problem}`);
  return value as string;
}

function validateEntries(entries: unknown): Map<string, string> {
  let pairs: Iterable<readonly [unknown, unknown]>;
  if (entries instanceof Map) pairs = entries;
  else if (typeof entries === 'object' && entries !== null && !Array.isArray(entries))
    pairs = Object.entries(entries);
  else
    throw new HostsFileError(
      'entries',
      `entries are a Map or a record of name → address, got ${show(entries)}`,
    );
  const result = new Map<string, string>();
  const lowerCase = new Map<string, string>();
  for (const [name, address] of pairs) {
    const validName = checkName(name);
    const validAddress = checkAddress(address, validName);
    const other = lowerCase.get(validName.toLowerCase());
    if (other !== undefined)
      throw new HostsFileError(
        'entries',
        `host names ${show(other)} and ${show(validName)} differ only in case; resolvers treat them as one`,
      );
    lowerCase.set(validName.toLowerCase(), validName);
    result.set(validName, validAddress);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Parsing and rendering (on Latin-1 text: one character per byte, so bytes survive unchanged)

interface ParsedHosts {
  /** The file's text before the block (none when there is no block). */
  readonly before: string;
  /** The file's text after the block's END line and its line ending (all of it when there is no block). */
  readonly after: string;
  /** The block's entries. */
  readonly entries: Map<string, string>;
}

/** `text` without leading and trailing blanks (space, tab) and the line ending. */
function strip(text: string): string {
  return text.replace(/^[ \t]+|[ \t\r\n]+$/g, '');
}

function markerOf(content: string): 'begin' | 'end' | undefined {
  const trimmed = strip(content);
  // A BEGIN line whose comment someone edited still opens the block.
  if (trimmed === '# BEGIN clusteros' || trimmed.startsWith('# BEGIN clusteros ')) return 'begin';
  if (trimmed === HOSTS_BLOCK_END) return 'end';
  return undefined;
}

function blockError(path: string, line: number, detail: string): HostsFileError {
  return new HostsFileError('block', `${path}:${line}: malformed ClusterOS block: ${detail}`, line);
}

function parseHostsText(path: string, text: string): ParsedHosts {
  // Lines with their endings: 'a\r\nb' → ['a\r\n', 'b'].
  const lines = text.split(/(?<=\n)/);
  let begin: number | undefined;
  let end: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const marker = markerOf(lines[i] ?? '');
    if (marker === 'begin') {
      if (begin !== undefined)
        throw blockError(path, i + 1, `a second '# BEGIN clusteros' (the first is on line ${begin + 1})`);
      begin = i;
    } else if (marker === 'end') {
      if (begin === undefined || end !== undefined)
        throw blockError(path, i + 1, `'${HOSTS_BLOCK_END}' without a '# BEGIN clusteros' before it`);
      end = i;
    }
  }
  // No block: a new one goes at the top (see the module comment), so all the text is "after" it.
  if (begin === undefined) return { before: '', after: text, entries: new Map() };
  if (end === undefined)
    throw blockError(path, begin + 1, `'# BEGIN clusteros' without '${HOSTS_BLOCK_END}'`);

  const entries = new Map<string, string>();
  const lowerCase = new Set<string>();
  for (let i = begin + 1; i < end; i++) {
    const content = strip((lines[i] ?? '').replace(/#.*/s, ''));
    if (content === '') continue;
    const fields = content.split(/[ \t]+/);
    const [address, name] = fields;
    if (fields.length !== 2 || address === undefined || name === undefined)
      throw blockError(path, i + 1, 'expected one "<address> <name>" entry');
    const badAddress = addressProblem(address);
    if (badAddress !== undefined) throw blockError(path, i + 1, badAddress);
    const badName = nameProblem(name);
    if (badName !== undefined) throw blockError(path, i + 1, badName);
    if (lowerCase.has(name.toLowerCase())) throw blockError(path, i + 1, `a second entry for ${show(name)}`);
    lowerCase.add(name.toLowerCase());
    entries.set(name, address);
  }
  return {
    before: lines.slice(0, begin).join(''),
    after: lines.slice(end + 1).join(''),
    entries,
  };
}

function renderBlock(entries: ReadonlyMap<string, string>): string {
  if (entries.size === 0) return '';
  const names = [...entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const lines = names.map((name) => `${entries.get(name) ?? ''} ${name}\n`);
  return `${HOSTS_BLOCK_BEGIN}\n${lines.join('')}${HOSTS_BLOCK_END}\n`;
}

// ---------------------------------------------------------------------------------------------
// File I/O

interface HostsText {
  readonly text: string;
  /** `lstat` of the path (a symlink's own status for a symlink). */
  readonly link: Stats;
  /** `stat` of the path (the target's status for a symlink). */
  readonly info: Stats;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function ioError(path: string, action: string, error: unknown): HostsFileError {
  if (isHostsFileError(error)) return error;
  return new HostsFileError(
    'path',
    `cannot ${action} ${path} (${codeOf(error) ?? String(error)})`,
    undefined,
    error,
  );
}

/** The file's text and status, or `undefined` when it does not exist. */
async function readHostsText(path: string): Promise<HostsText | undefined> {
  let link: Stats;
  try {
    link = await lstat(path);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return undefined;
    throw ioError(path, 'read', error);
  }
  try {
    // A dangling symlink is an error, not a missing file: writing would replace the link.
    const info = link.isSymbolicLink() ? await stat(path) : link;
    if (!info.isFile()) throw new HostsFileError('path', `${path} is not a regular file`);
    const text = (await readFile(path)).toString('latin1');
    return { text, link, info };
  } catch (error) {
    throw ioError(path, 'read', error);
  }
}

async function replaceBlock(
  path: string,
  current: HostsText | undefined,
  parsed: ParsedHosts,
  wanted: ReadonlyMap<string, string>,
  options: HostsWriteOptions,
): Promise<boolean> {
  const next = parsed.before + renderBlock(wanted) + parsed.after;
  if (current === undefined ? next === '' : next === current.text) return false;
  const bytes = Buffer.from(next, 'latin1');
  try {
    if (current?.link.isSymbolicLink() === true) await writeInPlace(path, bytes);
    else await writeAtomically(path, bytes, current?.info, options.rename ?? fsRename);
  } catch (error) {
    throw ioError(path, 'write', error);
  }
  return true;
}

async function writeAtomically(
  path: string,
  bytes: Buffer,
  info: Stats | undefined,
  rename: (from: string, to: string) => Promise<void>,
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.clusteros-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      if (info !== undefined && process.getuid?.() === 0) await handle.chown(info.uid, info.gid);
      // After chown, which clears set-id bits; the open mode was reduced by the umask.
      await handle.chmod(info === undefined ? NEW_HOSTS_FILE_MODE : info.mode & 0o7777);
      await writeAll(handle, bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    const code = codeOf(error);
    if (info !== undefined && (code === 'EBUSY' || code === 'EXDEV')) {
      await writeInPlace(path, bytes);
      return;
    }
    throw error;
  }
  await syncDirectory(dir);
}

/** Rewrites the file's contents, keeping its inode (for symlinks and bind mounts). */
async function writeInPlace(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await writeAll(handle, bytes);
    await handle.truncate(bytes.byteLength);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset, offset);
    offset += bytesWritten;
  }
}

/** Makes a rename durable. Some file systems cannot fsync a directory; that is not an error. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = codeOf(error);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') throw error;
  } finally {
    await handle?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Serialisation per path (within this process)

const pathLocks = new Map<string, Promise<unknown>>();

/** Runs `body` after every earlier call for the same (resolved) path has settled. */
function withPathLock<T>(path: string, body: () => Promise<T>): Promise<T> {
  const key = resolve(path);
  const previous = pathLocks.get(key) ?? Promise.resolve();
  const run = previous.then(body, body);
  const settled = run.then(
    () => {},
    () => {},
  );
  pathLocks.set(key, settled);
  void settled.then(() => {
    if (pathLocks.get(key) === settled) pathLocks.delete(key);
  });
  return run;
}
