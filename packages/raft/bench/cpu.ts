// CPU time used by processes, so that each table row can say not only how fast a system was but
// what it cost: on a 2-core machine a server that burns more CPU per request also steals it from
// its peers and from the load generator.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

/** User + system CPU seconds in a /proc `stat` file (0 if it cannot be read: exited, non-Linux). */
function statCpuSeconds(file: string): number {
  try {
    const stat = readFileSync(file, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (15) fields[12].
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return 0;
  }
}

/** User + system CPU seconds used so far by `pid`, all its threads. */
export function processCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds used so far by each thread of `pid`. */
function threadCpuSeconds(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      threads.set(tid, statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
    }
  } catch {
    // exited: no threads
  }
  return threads;
}

/** CPU seconds of this process (the load generator). */
export function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * Busy CPU seconds of the whole machine (all cores, from the first line of /proc/stat: every
 * state but idle and iowait). Minus the servers and the load generator, this is what anything
 * else on the machine used meanwhile: the noise that a shared 2-core machine adds.
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

export interface CpuUse {
  /** CPU seconds of the server processes (all members). */
  readonly servers: number;
  /** CPU seconds of this process, the load generator. */
  readonly client: number;
  /** CPU seconds used by everything else on the machine (kernel threads, other jobs). */
  readonly other: number;
  /** CPU seconds of the process the load was sent to (the leader). */
  readonly leader: number;
  /**
   * CPU seconds of that process's busiest thread. Near the window's length it means one thread
   * is the bottleneck: a Node member does its JavaScript on one thread, etcd spreads over many.
   */
  readonly leaderBusiestThread: number;
}

/** Starts measuring; the returned function tells the CPU used since by whom. */
export function cpuMeter(pids: readonly number[], leaderPid: number): () => CpuUse {
  const serversBefore = pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
  const clientBefore = selfCpuSeconds();
  const machineBefore = machineBusySeconds();
  const leaderBefore = processCpuSeconds(leaderPid);
  const threadsBefore = threadCpuSeconds(leaderPid);
  return () => {
    const servers = pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0) - serversBefore;
    const client = selfCpuSeconds() - clientBefore;
    const machine = machineBusySeconds() - machineBefore;
    let leaderBusiestThread = 0;
    for (const [tid, seconds] of threadCpuSeconds(leaderPid)) {
      leaderBusiestThread = Math.max(leaderBusiestThread, seconds - (threadsBefore.get(tid) ?? 0));
    }
    return {
      servers,
      client,
      other: Math.max(0, machine - servers - client),
      leader: processCpuSeconds(leaderPid) - leaderBefore,
      leaderBusiestThread,
    };
  };
}

export interface Quiet {
  /** How long we waited for the machine to calm down, ms. */
  readonly waitedMs: number;
  /** Cores busy in the last 1 s window before starting (with nothing of ours running). */
  readonly busyCores: number;
}

/**
 * Waits (at most `limitMs`) until the machine, with none of our processes running, has been
 * nearly idle for one second. Other jobs on a 2-core machine (a test suite, a docs build) can
 * take most of a core; starting a system's run in such a burst would charge the noise to it.
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
