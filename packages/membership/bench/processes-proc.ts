// What a peer process costs and how busy the machine is: the /proc readers shared by every
// package's benchmarks (scripts/bench/proc.ts), with this benchmark's names.
import { statCpuSeconds } from '../../../scripts/bench/proc.js';

export { machineBusySeconds, type Quiet, statusMiB, waitForQuiet } from '../../../scripts/bench/proc.js';

/** User + system CPU seconds used so far by `pid`, all its threads; NaN if it cannot be read. */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}
