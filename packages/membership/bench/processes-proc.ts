// What a process costs, read from Linux's /proc: CPU time (utime + stime of /proc/PID/stat) and
// resident memory (VmRSS / VmHWM of /proc/PID/status); and how busy the whole machine is
// (/proc/stat), so that the report can say how much other work ran meanwhile.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100; // the Linux default (USER_HZ)
    }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds used so far by `pid`, all its threads; NaN if it cannot be read. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime (field 14) is fields[11], stime (15) fields[12].
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

/** A `kB` field of /proc/PID/status (VmRSS, VmHWM, RssAnon) in MiB; NaN if it cannot be read. */
export function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU seconds of the whole machine, all cores (every state of /proc/stat but idle and iowait). */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((sum, t) => sum + t, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return (total - idle) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

export interface Quiet {
  /** How long we waited, ms. */
  readonly waitedMs: number;
  /** Cores busy in the last 1 s window, with none of our peers running. */
  readonly busyCores: number;
}

/**
 * Waits (at most `limitMs`) until the machine has been below `maxBusyCores` busy cores for one
 * second; returns how busy it was when the wait ended, quiet or not.
 */
export async function waitForQuiet(limitMs: number, maxBusyCores: number): Promise<Quiet> {
  const started = performance.now();
  for (;;) {
    const before = machineBusySeconds();
    const windowStart = performance.now();
    await new Promise((done) => setTimeout(done, 1_000));
    const busyCores = (machineBusySeconds() - before) / ((performance.now() - windowStart) / 1000);
    const waitedMs = performance.now() - started;
    if (!(busyCores > maxBusyCores) || waitedMs >= limitMs) return { waitedMs, busyCores };
  }
}
