// What a peer process costs and how busy the machine is: the /proc readers shared by every
// package's benchmarks (scripts/bench/proc.ts), with this benchmark's names.
import { spawn } from 'node:child_process';
import { statCpuSeconds, statusMiB } from '../../../scripts/bench/proc.js';

export { machineBusySeconds, type Quiet, statusMiB, waitForQuiet } from '../../../scripts/bench/proc.js';

/** User + system CPU seconds used so far by `pid`, all its threads; NaN if it cannot be read. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * VmRSS of an idle bare Node.js process (`node -e "setInterval(() => {}, 1000)"`) after 3 s: the
 * runtime's own share of any Node.js process's resident memory. The process is stopped by PID.
 */
export async function bareNodeRssMiB(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    child.once('error', () => done());
  });
  try {
    await new Promise((done) => setTimeout(done, 3_000));
    return child.pid === undefined ? Number.NaN : statusMiB(child.pid, 'VmRSS');
  } finally {
    child.kill('SIGKILL');
    await Promise.race([exited, new Promise((done) => setTimeout(done, 5_000))]);
  }
}
