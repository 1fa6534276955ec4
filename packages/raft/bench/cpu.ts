// CPU time used by processes, so that each table row can say not only how fast a system was but
// what it cost: on a 2-core machine a server that burns more CPU per request also steals it from
// its peers and from the load generator.
import { readdirSync } from 'node:fs';
import { machineBusySeconds, statCpuSeconds as readStatCpuSeconds } from '../../../scripts/bench/proc.js';

export { machineBusySeconds, type Quiet, waitForQuiet } from '../../../scripts/bench/proc.js';

/** User + system CPU seconds in a /proc `stat` file (0 if it cannot be read: exited, non-Linux). */
function statCpuSeconds(file: string): number {
  const seconds = readStatCpuSeconds(file);
  return Number.isNaN(seconds) ? 0 : seconds;
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
