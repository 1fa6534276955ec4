// Who holds a folder lock (see folder-lock.ts), and whether that process still runs.
import { readFile, readlink } from 'node:fs/promises';
import { hostname } from 'node:os';

const RECORD_VERSION = 1;
/** Linux's largest pid is 2^22; anything beyond is not a pid this machine can have. */
const MAX_PID = 4_194_304;

/** The record a lock file holds. */
export interface HolderRecord {
  readonly pid: number;
  /** Start time of the process in clock ticks since boot (Linux), to tell a reused pid apart. */
  readonly start: string | undefined;
  /** The kernel's boot id (Linux): after a reboot no process of the record runs any more. */
  readonly boot: string | undefined;
  /**
   * The pid namespace (Linux, `/proc/self/ns/pid`): a pid means something only inside its own
   * namespace, and two containers on one kernel may share a data folder and a host name.
   */
  readonly pidns: string | undefined;
  readonly host: string;
}

const START = /^[0-9]{1,20}$/;
const BOOT = /^[0-9a-f-]{1,64}$/;
const PIDNS = /^[0-9]{1,20}$/;

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
  return start !== undefined && START.test(start) ? start : undefined;
}

/** The record of this process. */
export async function thisProcess(): Promise<HolderRecord> {
  const boot = await readTrimmed('/proc/sys/kernel/random/boot_id');
  // `pid:[4026531836]`: the namespace's inode number.
  const pidns = (await readlink('/proc/self/ns/pid').catch(() => '')).match(/^pid:\[([0-9]{1,20})\]$/)?.[1];
  return {
    pid: process.pid,
    start: await processStart('self'),
    boot: boot !== undefined && BOOT.test(boot) ? boot : undefined,
    pidns,
    host: hostname(),
  };
}

function optionalText(value: unknown, pattern: RegExp): string | undefined | null {
  if (value === undefined) return undefined;
  return typeof value === 'string' && pattern.test(value) ? value : null;
}

/** The record in a lock file, or undefined when the text is not a valid one. */
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
  const start = optionalText(record.start, START);
  const boot = optionalText(record.boot, BOOT);
  const pidns = optionalText(record.pidns, PIDNS);
  if (start === null || boot === null || pidns === null) return undefined;
  return { pid, start, boot, pidns, host };
}

/** The text of a lock file for `holder`. */
export function formatHolderRecord(holder: HolderRecord): string {
  return `${JSON.stringify({ v: RECORD_VERSION, ...holder })}\n`;
}

/** True when `pid` names a process in this pid namespace (one we may not signal counts too). */
function processExists(pid: number): boolean {
  try {
    // Signal 0 checks for existence without sending anything. Callers pass a validated positive
    // pid: 0 or a negative number would address a process group.
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM';
  }
}

/**
 * How to judge a record: by its pid, when it comes from this host, this boot and this pid
 * namespace (or a platform that has neither, where the host decides); as gone, when the same
 * host has rebooted since; by its renewals otherwise (another host sharing the folder, another
 * container on this kernel).
 */
export function judgeBy(holder: HolderRecord, self: HolderRecord): 'pid' | 'gone' | 'renewal' {
  if (holder.host !== self.host) return 'renewal';
  if (holder.boot !== undefined && self.boot !== undefined && holder.boot !== self.boot) return 'gone';
  return holder.boot === self.boot && holder.pidns === self.pidns ? 'pid' : 'renewal';
}

/** Whether the process of a record judged by its pid still runs (and is not a reused pid). */
export async function pidRuns(holder: HolderRecord): Promise<boolean> {
  if (!processExists(holder.pid)) return false;
  if (holder.start === undefined) return true;
  const start = await processStart(holder.pid);
  return start === undefined || start === holder.start;
}
