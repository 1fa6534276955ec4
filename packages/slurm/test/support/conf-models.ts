// The cluster models the conf tests share: the three golden configurations and a base model that
// sets every optional field (for the validation and injection tests).
import type { SlurmClusterModel } from '../../src/conf/model.js';

const GiB = 1024 * 1024 * 1024;

/** (a) CI: one host, no cgroups, everything in one lab directory (SLURM-NOTES §2.2). */
export const ciSingleHost: SlurmClusterModel = {
  clusterName: 'ci',
  controller: { host: 'ci-host', address: '127.0.0.1' },
  nodes: [{ name: 'node1', address: '127.0.0.1', cpus: 2, memoryBytes: 24 * GiB }],
  paths: {
    stateSaveLocation: '/tmp/clusteros-slurm-lab/state',
    spoolDir: '/tmp/clusteros-slurm-lab/spool/%n',
    logDir: '/tmp/clusteros-slurm-lab/log',
    runDir: '/tmp/clusteros-slurm-lab/run',
    mungeSocket: '/tmp/clusteros-slurm-lab/run/munge.sock',
  },
  processTracking: 'linuxproc',
};

/**
 * (b) Three hosts on a tailnet with cgroups: the controller's stable address is the name
 * `slurmctl` (a hosts entry kept pointed at the holder), one node has two GPUs, two partitions,
 * accounting through slurmdbd, the stock Debian paths. Nodes are listed out of order on purpose.
 */
export const tailnetGpu: SlurmClusterModel = {
  clusterName: 'tailnet',
  controller: { host: 'ctl1', address: 'slurmctl' },
  nodes: [
    {
      name: 'gpu1',
      address: '100.64.0.13',
      cpus: 16,
      memoryBytes: 64 * GiB,
      gpus: { type: 'a100', count: 2, files: ['/dev/nvidia0', '/dev/nvidia1'] },
    },
    { name: 'cpu2', address: '100.64.0.12', cpus: 8, memoryBytes: 32 * GiB },
    { name: 'cpu1', address: '100.64.0.11', cpus: 4, memoryBytes: 8 * GiB },
  ],
  partitions: [
    { name: 'batch', nodes: ['cpu1', 'cpu2'], default: true },
    { name: 'gpu', nodes: ['gpu1'], maxTimeMinutes: 1440 },
    { name: 'all', nodes: 'ALL', maxTimeMinutes: 60 },
  ],
  paths: {
    stateSaveLocation: '/var/lib/slurm/slurmctld',
    spoolDir: '/var/lib/slurm/slurmd',
    logDir: '/var/log/slurm',
    runDir: '/run',
    mungeSocket: '/run/munge/munge.socket.2',
  },
  processTracking: 'cgroup',
  accounting: { host: '100.64.0.11' },
  debug: { slurmd: 'verbose' },
};

/** (c) Dynamic nodes: one static node, room for 32, configless slurmds, non-default ports. */
export const dynamicNodes: SlurmClusterModel = {
  clusterName: 'elastic',
  controller: { host: 'ctl', address: '10.77.0.10' },
  nodes: [{ name: 'n1', address: '10.77.0.12', cpus: 2, memoryBytes: 4 * GiB }],
  ports: { slurmctld: 16817, slurmd: 16818 },
  paths: {
    stateSaveLocation: '/var/lib/slurm/slurmctld',
    spoolDir: '/var/lib/slurm/slurmd',
    logDir: '/var/log/slurm',
    runDir: '/run',
    mungeSocket: '/run/munge/munge.socket.2',
  },
  processTracking: 'linuxproc',
  maxNodeCount: 32,
  configless: true,
  timeouts: { slurmdSeconds: 10, slurmctldSeconds: 10 },
};

/** Every optional field set, with typed and untyped GPUs. */
export const fullModel: SlurmClusterModel = {
  clusterName: 'full',
  controller: { host: 'ctl1', address: 'slurmctl.example.net' },
  nodes: [
    {
      name: 'g1',
      address: '10.0.0.3',
      cpus: 8,
      memoryBytes: 16 * GiB,
      gpus: { type: 'v100', count: 2, files: ['/dev/nvidia0', '/dev/nvidia1'] },
    },
    {
      name: 'g2',
      address: 'g2.example.net',
      cpus: 8,
      memoryBytes: 16 * GiB,
      gpus: { count: 1, files: ['/dev/nvidia0'] },
    },
    { name: 'n1', address: '10.0.0.1', cpus: 2, memoryBytes: 4 * GiB },
  ],
  partitions: [
    { name: 'cpu', nodes: ['n1'], default: true, maxTimeMinutes: 30 },
    { name: 'gpu', nodes: ['g1', 'g2'] },
  ],
  ports: { slurmctld: 7817, slurmd: 7818 },
  paths: {
    stateSaveLocation: '/var/lib/slurm/slurmctld',
    spoolDir: '/var/lib/slurm/spool/%n',
    logDir: '/var/log/slurm',
    runDir: '/run/slurm',
    mungeSocket: '/run/munge/munge.socket.2',
  },
  processTracking: 'cgroup',
  users: { slurmUser: 'slurm', slurmdUser: 'root' },
  maxNodeCount: 16,
  configless: true,
  defaultMemoryPerCpuMiB: 1024,
  debug: { slurmctld: 'debug', slurmd: 'error' },
  timeouts: { slurmdSeconds: 20, slurmctldSeconds: 15 },
  accounting: { host: 'db.example.net', port: 7819 },
};
