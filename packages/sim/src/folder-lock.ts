// Exclusive use of a folder by one process, for storage that must have a single writer (two
// processes appending to one write-ahead log interleave their records and lose acknowledged
// writes).
//
// Node has no binding for flock(2), so the lock is a protocol on plain files. A process that
// wants the folder first announces itself: it writes a record naming its pid, its start time,
// the machine's boot id and its host name to a temp file, fsyncs it and renames it into place as
// `lock-<pid>-<token>`. Only then does it list the folder; if another announcement names a
// process that is still running, it withdraws its own and fails. Two processes starting at once
// cannot both proceed: each announces before it lists, so the one that lists second sees the
// other. At worst both withdraw, and a retry settles it. Announcements of processes that are gone
// (crashed, killed, or from before a reboot) are removed by whoever takes the lock next.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DiskLock } from './disk.js';
import { DiskLockedError, type DiskLockHolder } from './disk-errors.js';
import { joinDiskPath } from './disk-path.js';

const PREFIX = 'lock-';
const TEMP_PREFIX = '.lock-';
const RECORD_VERSION = 1;
/** Linux's largest pid is 2^22; anything beyond is not a pid this machine can have. */
const MAX_PID = 4_194_304;
/** A record is a few hundred bytes; a larger file is not one of ours. */
const MAX_RECORD_BYTES = 4096;

/** Who holds an announcement, as written in its file. */
interface HolderRecord {
  readonly pid: number;
  /** Start time of the process in clock ticks since boot (Linux), to tell a reused pid apart. */
  readonly start: string | undefined;
  /** The kernel's boot id (Linux): a record from before a reboot names no running process. */
  readonly boot: string | undefined;
  readonly host: string;
}

const ignore = (): void => {};

async function readTrimmed(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of `/proc/<pid>/stat` (start time), or undefined where there is no procfs. */
async function processStart(pid: number | 'self'): Promise<string | undefined> {
  const stat = await readTrimmed(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses; the fields after its last ')'
  // start at field 3, so field 22 is the 20th of them.
  const start = stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(' ')[19];
  return start !== undefined && /^[0-9]{1,20}$/.test(start) ? start : undefined;
}

async function thisProcess(): Promise<HolderRecord> {
  const boot = await readTrimmed('/proc/sys/kernel/random/boot_id');
  return {
    pid: process.pid,
    start: await processStart('self'),
    boot: boot !== undefined && /^[0-9a-f-]{1,64}$/.test(boot) ? boot : undefined,
    host: hostname(),
  };
}

function optionalText(value: unknown, pattern: RegExp): string | undefined | null {
  if (value === undefined) return undefined;
  return typeof value === 'string' && pattern.test(value) ? value : null;
}

/** The record in an announcement file, or undefined when it is not a valid one. */
export function parseHolderRecord(text: string): HolderRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const { pid, host } = record;
  if (record.v !== RECORD_VERSION) return undefined;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 1 || pid > MAX_PID) return undefined;
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) return undefined;
  const start = optionalText(record.start, /^[0-9]{1,20}$/);
  const boot = optionalText(record.boot, /^[0-9a-f-]{1,64}$/);
  if (start === null || boot === null) return undefined;
  return { pid, start, boot, host };
}

function formatHolderRecord(holder: HolderRecord): string {
  return `${JSON.stringify({ v: RECORD_VERSION, ...holder })}\n`;
}

/** True when `pid` names a process on this machine (one we may not signal counts too). */
function processExists(pid: number): boolean {
  try {
    // Signal 0 checks for existence without sending anything. pid is validated to be positive:
    // 0 or a negative number would address a process group.
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM';
  }
}

/**
 * Whether the process an announcement names may still be running. Anything that cannot be
 * checked (another host, no procfs) counts as running: a wrong "gone" would let two writers in.
 */
async function mayBeRunning(holder: HolderRecord, self: HolderRecord): Promise<boolean> {
  if (holder.host !== self.host) return true;
  if (holder.boot !== undefined && self.boot !== undefined && holder.boot !== self.boot) return false;
  if (!processExists(holder.pid)) return false;
  if (holder.start === undefined) return true;
  const start = await processStart(holder.pid);
  return start === undefined || start === holder.start;
}

function describe(file: string, holder: HolderRecord | undefined, self: HolderRecord): DiskLockHolder {
  if (holder === undefined) return { file };
  return holder.host === self.host ? { file, pid: holder.pid } : { file, pid: holder.pid, host: holder.host };
}

async function writeDurably(path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Takes the folder `absDir` (which must exist) for this process, or rejects with
 * {@link DiskLockedError} naming the process that has it. `diskDir` is the same folder as the
 * disk's callers name it, for messages.
 */
export async function lockFolder(absDir: string, diskDir: string): Promise<DiskLock> {
  const self = await thisProcess();
  const name = `${PREFIX}${self.pid}-${randomBytes(8).toString('hex')}`;
  const temp = join(absDir, `${TEMP_PREFIX}${name.slice(PREFIX.length)}.tmp`);
  await writeDurably(temp, formatHolderRecord(self));
  await rename(temp, join(absDir, name));
  const withdraw = (): Promise<void> => unlink(join(absDir, name)).catch(ignore);

  const stale: string[] = [];
  try {
    for (const other of await readdir(absDir)) {
      if (other === name) continue;
      if (other.startsWith(TEMP_PREFIX)) {
        // A temp file left by a process that died while announcing itself.
        const pid = Number(other.slice(TEMP_PREFIX.length).split('-')[0]);
        if (Number.isSafeInteger(pid) && pid > 0 && pid <= MAX_PID && !processExists(pid)) stale.push(other);
        continue;
      }
      if (!other.startsWith(PREFIX)) continue;
      const file = join(absDir, other);
      let text: string;
      try {
        const handle = await open(file, 'r');
        try {
          const buffer = Buffer.alloc(MAX_RECORD_BYTES + 1);
          const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, 0);
          text = bytesRead > MAX_RECORD_BYTES ? '' : buffer.subarray(0, bytesRead).toString('utf8');
        } finally {
          await handle.close();
        }
      } catch (error) {
        // Withdrawn or removed as stale since the listing: it holds nothing.
        if ((error as { code?: unknown }).code === 'ENOENT') continue;
        throw error;
      }
      const holder = parseHolderRecord(text);
      // Records are fsynced before they get their name, so an unreadable one was not written by
      // this protocol: leave the decision (and the file) to a person.
      if (holder === undefined || (await mayBeRunning(holder, self))) {
        throw new DiskLockedError(diskDir, describe(joinDiskPath(diskDir, other), holder, self), absDir);
      }
      stale.push(other);
    }
  } catch (error) {
    await withdraw();
    throw error;
  }
  for (const other of stale) await unlink(join(absDir, other)).catch(ignore);

  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await withdraw();
    },
  };
}
