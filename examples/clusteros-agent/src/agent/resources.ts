/**
 * This machine's resources for the dashboard: CPU use since the previous reading (from the
 * kernel's per-core tick counters), load averages, memory, and the disk holding the data dir.
 */
import { statfs } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { ResourcesInfo, ResourcesSource } from '@clusteros/dashboard';

interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const { times } of cpus()) {
    const all = times.user + times.nice + times.sys + times.idle + times.irq;
    total += all;
    busy += all - times.idle;
  }
  return { busy, total };
}

/** Resources of this machine; `dataDir` names the disk to report. */
export function resourcesSource(dataDir: string): ResourcesSource {
  let previous = cpuTimes();
  return {
    async resources(): Promise<ResourcesInfo> {
      const now = cpuTimes();
      const total = now.total - previous.total;
      const cpuPercent =
        total > 0 ? Math.min(100, Math.max(0, ((now.busy - previous.busy) / total) * 100)) : 0;
      previous = now;
      const disk = await statfs(dataDir);
      const [one = 0, five = 0, fifteen = 0] = loadavg();
      return {
        cpu_percent: Math.round(cpuPercent * 10) / 10,
        load: [one, five, fifteen],
        memory_used: totalmem() - freemem(),
        memory_total: totalmem(),
        disk_used: (disk.blocks - disk.bfree) * disk.bsize,
        disk_total: disk.blocks * disk.bsize,
      };
    },
  };
}
