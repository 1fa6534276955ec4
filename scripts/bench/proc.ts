// What processes and the machine cost, read from Linux's /proc, for the benchmarks of every
// package: CPU time of a process or thread (utime + stime of a `stat` file), resident memory
// (/proc/PID/status), how busy the whole machine is (/proc/stat), and a wait for a quiet
// machine before a measured run. On a shared 2-core machine the noise must be visible in the
// report, not charged silently to the system under test.
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

/** User + system CPU seconds in a /proc `stat` file (of a process or a thread); NaN if unreadable. */
export function statCpuSeconds(file: string): number {
  try {
    const stat = readFileSync(file, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (15) fields[12].
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

/**
 * Busy CPU seconds of the whole machine (all cores, from the first line of /proc/stat: every
 * state but idle and iowait); NaN if it cannot be read.
 */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const total = ticks.slice(0, 8).reduce((sum, t) => sum + t, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return (total - idle) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

/** How a wait for a quiet machine ended. */
export interface Quiet {
  /** How long we waited for the machine to calm down, ms. */
  readonly waitedMs: number;
  /** Cores busy in the last 1 s window before starting (with nothing of ours running). */
  readonly busyCores: number;
}

/**
 * Waits (at most `limitMs`) until the machine, with none of our processes running, has been
 * below `maxBusyCores` busy cores for one second; returns how busy it was when the wait ended,
 * quiet or not. Other jobs on a 2-core machine (a test suite, a docs build) can take most of a
 * core; starting a run in such a burst would charge the noise to it.
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
