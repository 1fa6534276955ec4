// Exclusive use of a folder by one process, for storage that must have a single writer (two
// processes appending to one write-ahead log interleave their records and lose acknowledged
// writes).
//
// Node has no binding for flock(2), so the lock is a protocol on plain files. A process that
// wants the folder first announces itself: it writes a record naming its pid, its start time,
// the machine's boot id, its pid namespace and its host name to a temp file, fsyncs it and
// renames it into place as `lock-<pid>-<token>`. Only then does it list the folder; if another
// announcement names a process that still runs, it withdraws its own and fails. Two processes
// starting at once cannot both proceed: each announces before it lists, so the one that lists
// second sees the other. At worst both withdraw, and a retry settles it.
//
// Whether the process of a record still runs is exact when it comes from this host, boot and pid
// namespace (its pid and start time). A record from another host sharing the folder, or from
// another container on this kernel, cannot be checked that way, so every holder also renews its
// file's modification time; such a record counts as gone once it has not been renewed for a
// while. Records of processes that are gone (killed, crashed, from before a reboot) are removed
// by whoever takes the lock next.
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiskLock } from './disk.js';
import { DiskLockedError, type DiskLockHolder } from './disk-errors.js';
import { joinDiskPath } from './disk-path.js';
import {
  formatHolderRecord,
  type HolderRecord,
  judgeBy,
  parseHolderRecord,
  pidRuns,
  thisProcess,
} from './lock-holder.js';

const PREFIX = 'lock-';
const TEMP_PREFIX = '.lock-';
/** A record is a few hundred bytes; a larger file is not one of ours. */
const MAX_RECORD_BYTES = 4096;

/** Timing of the renewals that tell other hosts and containers the holder still runs. */
export interface FolderLockTiming {
  /** How often a holder renews its file's modification time. */
  readonly renewMs: number;
  /**
   * A record that cannot be checked by its pid counts as gone once its file has not been renewed
   * for this long. Hosts sharing a folder must keep their clocks within a fraction of it.
   */
  readonly staleMs: number;
}

/** 5 s renewals, gone after 30 s: a host must stall for half a minute to be taken for dead. */
export const DEFAULT_FOLDER_LOCK_TIMING: FolderLockTiming = { renewMs: 5_000, staleMs: 30_000 };

const ignore = (): void => {};

interface FoundRecord {
  readonly holder: HolderRecord | undefined;
  readonly mtimeMs: number;
}

/** The record in `file`, or undefined when it has gone since the listing. */
async function readRecord(file: string): Promise<FoundRecord | undefined> {
  try {
    const handle = await open(file, 'r');
    try {
      const { mtimeMs } = await handle.stat();
      const buffer = Buffer.alloc(MAX_RECORD_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, 0);
      const text = bytesRead > MAX_RECORD_BYTES ? '' : buffer.subarray(0, bytesRead).toString('utf8');
      return { holder: parseHolderRecord(text), mtimeMs };
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // Withdrawn, or removed as stale by another process, since the listing: it holds nothing.
    if (code === 'ENOENT') return undefined;
    // A folder under a lock file's name is nothing this protocol wrote: an unreadable record.
    if (code === 'EISDIR') return { holder: undefined, mtimeMs: 0 };
    throw error;
  }
}

/** Whether the holder of a record may still run; anything in doubt counts as running. */
async function mayRun(found: FoundRecord, self: HolderRecord, timing: FolderLockTiming): Promise<boolean> {
  const holder = found.holder;
  // Records are fsynced before they get their name, so an unreadable one was not written by
  // this protocol: leave the decision (and the file) to a person.
  if (holder === undefined) return true;
  const by = judgeBy(holder, self);
  if (by === 'gone') return false;
  if (by === 'pid') return pidRuns(holder);
  return Date.now() - found.mtimeMs <= timing.staleMs;
}

function describe(file: string, found: FoundRecord, self: HolderRecord): DiskLockHolder {
  const holder = found.holder;
  if (holder === undefined) return { file };
  if (judgeBy(holder, self) === 'pid') return { file, pid: holder.pid };
  const renewedMsAgo = Math.max(0, Math.round(Date.now() - found.mtimeMs));
  return { file, pid: holder.pid, host: holder.host, renewedMsAgo };
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
 * disk's callers name it, for messages. The hold is renewed every `timing.renewMs` (by a timer
 * that does not keep the process alive) until it is released.
 */
export async function lockFolder(
  absDir: string,
  diskDir: string,
  timing: FolderLockTiming = DEFAULT_FOLDER_LOCK_TIMING,
): Promise<DiskLock> {
  const self = await thisProcess();
  const name = `${PREFIX}${self.pid}-${randomBytes(8).toString('hex')}`;
  const file = join(absDir, name);
  const temp = join(absDir, `${TEMP_PREFIX}${name.slice(PREFIX.length)}.tmp`);
  await writeDurably(temp, formatHolderRecord(self));
  await rename(temp, file);
  const withdraw = (): Promise<void> => unlink(file).catch(ignore);

  const stale: string[] = [];
  try {
    for (const other of await readdir(absDir)) {
      if (other === name) continue;
      const isTemp = other.startsWith(TEMP_PREFIX);
      if (!isTemp && !other.startsWith(PREFIX)) continue;
      const found = await readRecord(join(absDir, other));
      if (found === undefined) continue;
      if (isTemp) {
        // A record is renamed into place moments after it is written: an old temp file was left
        // by a process that died while announcing itself.
        if (Date.now() - found.mtimeMs > timing.staleMs) stale.push(other);
        continue;
      }
      if (await mayRun(found, self, timing)) {
        throw new DiskLockedError(diskDir, describe(joinDiskPath(diskDir, other), found, self), absDir);
      }
      stale.push(other);
    }
  } catch (error) {
    await withdraw();
    throw error;
  }
  for (const other of stale) await unlink(join(absDir, other)).catch(ignore);

  let held = true;
  const renewal = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch((error: unknown) => {
      // The file is gone: removed by hand, or by a process that took this one for dead and may
      // hold the folder now. Other failures (a full or read-only disk) leave the hold as it is.
      if ((error as { code?: unknown }).code !== 'ENOENT' || !held) return;
      held = false;
      clearInterval(renewal);
    });
  }, timing.renewMs);
  renewal.unref();
  return {
    get held() {
      return held;
    },
    release: async () => {
      if (!held) return;
      held = false;
      clearInterval(renewal);
      await withdraw();
    },
  };
}
