/**
 * Renders `slurm.conf`, `gres.conf` and `cgroup.conf` from a {@link SlurmClusterModel}.
 *
 * The output is a pure function of the model: nodes are sorted by name, nothing depends on the
 * time, the machine or the order of the input nodes, so every host renders byte-identical files
 * (slurmd warns "appears to have a different slurm.conf than the slurmctld" otherwise). Every
 * value is validated first (see `validate.ts`), so no model can add a line or a key.
 *
 * The fixed settings follow what was measured with SLURM 22.05.8 from Debian on hosts without
 * systemd; each non-obvious one is explained where it is written.
 */
import { realMemoryMiB } from './memory.js';
import type { SlurmClusterModel, SlurmNodeSpec, SlurmPaths } from './model.js';
import {
  compareNames,
  type ResolvedGpus,
  type ResolvedSlurmModel,
  resolveNodeResources,
  resolveSlurmClusterModel,
  resolveSlurmNodeName,
  resolveSlurmPaths,
} from './validate.js';

/** The files one node's slurmd and the controller's slurmctld use, with `%n` replaced. */
export interface SlurmDaemonFiles {
  /** `SlurmctldPidFile`: `<runDir>/slurmctld.pid`. */
  readonly slurmctldPidFile: string;
  /** `SlurmctldLogFile`: `<logDir>/slurmctld.log`. */
  readonly slurmctldLogFile: string;
  /** `SlurmdPidFile` for this node: `<runDir>/slurmd-<node>.pid`. */
  readonly slurmdPidFile: string;
  /** `SlurmdLogFile` for this node: `<logDir>/slurmd-<node>.log`. */
  readonly slurmdLogFile: string;
  /** `SlurmdSpoolDir` for this node (create it before slurmd starts). */
  readonly slurmdSpoolDir: string;
}

/** One `Key=Value` setting. */
type Pair = readonly [key: string, value: string | number];

/** The node resources a dynamic node (`slurmd -Z`) announces. */
export type SlurmDynamicNodeSpec = Pick<SlurmNodeSpec, 'cpus' | 'memoryBytes'>;

/** `slurm.conf` for `model`; throws a `SlurmConfigError` naming the first invalid field. */
export function renderSlurmConf(model: SlurmClusterModel): string {
  const m = resolveSlurmClusterModel(model);
  const cgroup = m.processTracking === 'cgroup';
  const anyGpus = m.nodes.some((n) => n.gpus !== undefined);
  const settings: Pair[] = [
    ['ClusterName', m.clusterName],
    // name(address): the name is what slurmctld matches against `hostname -s`; the address is
    // what everyone connects to, so no daemon or client has to resolve the name (a name that does
    // not resolve breaks every client even with the controller up).
    ['SlurmctldHost', `${m.controller.host}(${m.controller.address})`],
    ['SlurmctldPort', m.ports.slurmctld],
    ['SlurmdPort', m.ports.slurmd],
    ['SlurmUser', m.users.slurmUser],
    ['SlurmdUser', m.users.slurmdUser],
    ['AuthType', 'auth/munge'],
    ['CredType', 'cred/munge'],
    // The munged socket for both auth/munge and cred/munge (munged may run with a private socket).
    ['AuthInfo', `socket=${m.paths.mungeSocket}`],
    ['StateSaveLocation', m.paths.stateSaveLocation],
    ['SlurmdSpoolDir', m.paths.spoolDir],
    ['SlurmctldPidFile', slurmctldPidFile(m.paths)],
    // %n: several slurmds on one machine (tests) keep separate pid and log files.
    ['SlurmdPidFile', slurmdPidFileTemplate(m.paths)],
    ['SlurmctldLogFile', slurmctldLogFile(m.paths)],
    ['SlurmdLogFile', slurmdLogFileTemplate(m.paths)],
    ['SlurmctldDebug', m.debug.slurmctld],
    ['SlurmdDebug', m.debug.slurmd],
    // Only read by a backup controller (how long it waits before taking over); 10 s as measured.
    ['SlurmctldTimeout', m.timeouts.slurmctldSeconds],
    ['SlurmdTimeout', m.timeouts.slurmdSeconds],
    // A DOWN node returns to service by itself once it registers with a valid configuration (after
    // a reboot, a slurmd restart or a controller move) instead of waiting for an administrator.
    ['ReturnToService', 2],
    // No mail is sent; without a valid MailProg every daemon logs "Configured MailProg is invalid".
    ['MailProg', '/bin/true'],
    // cgroup: jobs are tracked and confined by cgroups (cgroup.conf). linuxproc + task/none: no
    // cgroups needed at all, the measured setup for hosts without usable cgroups (CI).
    ['ProctrackType', cgroup ? 'proctrack/cgroup' : 'proctrack/linuxproc'],
    // task/affinity before task/cgroup, the stacking the 22.05 manual recommends.
    ['TaskPlugin', cgroup ? 'task/affinity,task/cgroup' : 'task/none'],
    // Per-job resource usage is only worth gathering when slurmdbd stores it.
    ['JobAcctGatherType', m.accounting === undefined ? 'jobacct_gather/none' : 'jobacct_gather/linux'],
    [
      'AccountingStorageType',
      m.accounting === undefined ? 'accounting_storage/none' : 'accounting_storage/slurmdbd',
    ],
    ...(m.accounting === undefined
      ? []
      : pairs(['AccountingStorageHost', m.accounting.host], ['AccountingStoragePort', m.accounting.port])),
    ['JobCompType', 'jobcomp/none'],
    // No PMI plugin by default (PMIx is not installed; `srun --mpi=` still chooses one per job).
    ['MpiDefault', 'none'],
    ['SchedulerType', 'sched/backfill'],
    // The default batch_sched_delay=3 holds every new batch job ~3 s before it is scheduled.
    ['SchedulerParameters', 'batch_sched_delay=0'],
    // Cores and memory are consumable: several jobs share a node, each within its cores and memory.
    ['SelectType', 'select/cons_tres'],
    ['SelectTypeParameters', 'CR_Core_Memory'],
    // With memory consumable, a job that does not ask for memory would otherwise get all of the
    // node's memory (DefMemPerCPU=0 means unlimited) and run alone on the node.
    ['DefMemPerCPU', m.defaultMemoryPerCpuMiB],
    ...(m.configless ? pairs(['SlurmctldParameters', 'enable_configless']) : []),
    // Room for dynamic nodes (slurmd -Z); without it they never appear. Changing it needs a
    // slurmctld restart, like a node list change.
    ...(m.maxNodeCount === undefined ? [] : pairs(['MaxNodeCount', m.maxNodeCount])),
    ...(anyGpus ? pairs(['GresTypes', 'gpu']) : []),
  ];

  const nodeLines = m.nodes.map((node) =>
    line([
      ['NodeName', node.name],
      // Always an address: a NodeName that does not resolve stalls slurmctld's start ~10 s and the
      // node is silently dropped.
      ['NodeAddr', node.address],
      ['CPUs', node.cpus],
      ['RealMemory', node.realMemoryMiB],
      ...(node.gpus === undefined ? [] : pairs(['Gres', gresOf(node.gpus)])),
      // The node's state comes from its slurmd registering, not from this file.
      ['State', 'UNKNOWN'],
    ]),
  );
  const partitionLines = m.partitions.map((p) =>
    line([
      ['PartitionName', p.name],
      // Sorted like the NodeName lines: the file does not depend on the order of the membership.
      ['Nodes', p.nodes === 'ALL' ? 'ALL' : [...p.nodes].sort(compareNames).join(',')],
      ['Default', p.isDefault ? 'YES' : 'NO'],
      ['MaxTime', p.maxTimeMinutes === undefined ? 'INFINITE' : p.maxTimeMinutes],
      ['State', 'UP'],
    ]),
  );

  return lines([
    ...header('slurm.conf', m),
    '',
    ...settings.map(([key, value]) => `${key}=${value}`),
    '',
    ...nodeLines,
    '',
    ...partitionLines,
  ]);
}

/**
 * `gres.conf` for `model`: one line per GPU node, `NodeName=<n> Name=gpu [Type=<t>] File=<devices>`
 * (consecutive device numbers as a range, e.g. `/dev/nvidia[0-3]`; the count is the number of
 * files). Only the header when no node has GPUs.
 */
export function renderGresConf(model: SlurmClusterModel): string {
  const m = resolveSlurmClusterModel(model);
  const body: string[] = [];
  for (const node of m.nodes) {
    const gpus = node.gpus;
    if (gpus === undefined) continue;
    body.push(
      line([
        ['NodeName', node.name],
        ['Name', 'gpu'],
        ...(gpus.type === undefined ? [] : pairs(['Type', gpus.type])),
        ['File', deviceFileList(gpus.files)],
      ]),
    );
  }
  return lines([...header('gres.conf', m), ...(body.length === 0 ? [] : ['', ...body])]);
}

/**
 * `cgroup.conf` for `model`, read by every daemon when
 * {@link SlurmClusterModel.processTracking} is `'cgroup'` (not needed with `'linuxproc'`). It
 * confines each job to its cores and memory, and to its GPUs when the cluster has any.
 */
export function renderCgroupConf(model: SlurmClusterModel): string {
  const m = resolveSlurmClusterModel(model);
  const anyGpus = m.nodes.some((n) => n.gpus !== undefined);
  const settings: Pair[] = [
    // cgroup v1 or v2, whichever the host has: the hosts of one cluster may differ.
    ['CgroupPlugin', 'autodetect'],
    // v1: mount a missing controller hierarchy (no systemd does it for us).
    ['CgroupAutomount', 'yes'],
    // v2: slurmd asks systemd (dbus) for its scope; on hosts without systemd that fails, and with
    // this set slurmd builds the cgroup tree itself instead of refusing to start jobs.
    ['IgnoreSystemdOnFailure', 'yes'],
    ['ConstrainCores', 'yes'],
    // The job's memory (--mem, or DefMemPerCPU per CPU) becomes its cgroup's limit.
    ['ConstrainRAMSpace', 'yes'],
    // Device confinement is only needed for GPUs; left out without them (one less thing that
    // depends on the kernel's cgroup device support).
    ...(anyGpus ? pairs(['ConstrainDevices', 'yes']) : []),
  ];
  return lines([...header('cgroup.conf', m), '', ...settings.map(([key, value]) => `${key}=${value}`)]);
}

/**
 * Whether the static node list differs between two configurations: the set of `NodeName=` lines
 * (names, addresses, CPUs, memory, GPUs) or `MaxNodeCount`. Each argument is a model or the text
 * of a `slurm.conf` (comments and spacing ignored).
 *
 * `scontrol reconfigure` with a changed node list makes slurmctld exit ("node count has changed
 * before reconfiguration … You have to restart slurmctld", "MaxNodeCount has changed … must be
 * restarted"). When this returns `true`, push the new file to every host, restart slurmctld
 * (SIGTERM, start again; it keeps running jobs), and only then run `scontrol reconfigure`. Any
 * change to a node's line counts, as a restart is cheap (under 0.2 s) and a wrong reconfigure
 * loses the controller.
 */
export function nodeListChanged(
  before: SlurmClusterModel | string,
  after: SlurmClusterModel | string,
): boolean {
  const a = nodeListOf(before);
  const b = nodeListOf(after);
  return a.length !== b.length || a.some((entry, i) => entry !== b[i]);
}

/**
 * The files of slurmctld and of `nodeName`'s slurmd under `paths`, with `%n` replaced by the node
 * name as slurmd does (the adapter reads pid files, tails logs and creates the spool directory).
 */
export function slurmDaemonFiles(paths: SlurmPaths, nodeName: string): SlurmDaemonFiles {
  const p = resolveSlurmPaths(paths);
  const name = resolveSlurmNodeName('nodeName', nodeName);
  // slurmd replaces the first "%n" only (the model allows one).
  const expand = (template: string): string => template.replace('%n', name);
  return {
    slurmctldPidFile: slurmctldPidFile(p),
    slurmctldLogFile: slurmctldLogFile(p),
    slurmdPidFile: expand(slurmdPidFileTemplate(p)),
    slurmdLogFile: expand(slurmdLogFileTemplate(p)),
    slurmdSpoolDir: expand(p.spoolDir),
  };
}

/**
 * The `--conf` argument for a dynamic node, `slurmd -Z --conf "<this>"`: `CPUs=<n> RealMemory=<MiB>`
 * with the same memory headroom as static nodes (see `realMemoryMiB`). The slurm.conf must allow
 * dynamic nodes ({@link SlurmClusterModel.maxNodeCount}).
 */
export function renderDynamicNodeConf(node: SlurmDynamicNodeSpec): string {
  const r = resolveNodeResources('node', node);
  return line([
    ['CPUs', r.cpus],
    ['RealMemory', realMemoryMiB(r.memoryBytes)],
  ]);
}

function header(file: string, m: ResolvedSlurmModel): string[] {
  return [
    `# ${file} of the SLURM cluster "${m.clusterName}", generated by ClusterOS from the cluster model.`,
    '# Do not edit: ClusterOS rewrites this file whenever the cluster changes, and edits are lost.',
  ];
}

/** Its arguments as a list (typed, for optional settings spread into a list). */
function pairs(...list: Pair[]): Pair[] {
  return list;
}

function line(list: readonly Pair[]): string {
  return list.map(([key, value]) => `${key}=${value}`).join(' ');
}

function lines(all: readonly string[]): string {
  return `${all.join('\n')}\n`;
}

function slurmctldPidFile(p: SlurmPaths): string {
  return `${p.runDir}/slurmctld.pid`;
}

function slurmdPidFileTemplate(p: SlurmPaths): string {
  return `${p.runDir}/slurmd-%n.pid`;
}

function slurmctldLogFile(p: SlurmPaths): string {
  return `${p.logDir}/slurmctld.log`;
}

function slurmdLogFileTemplate(p: SlurmPaths): string {
  return `${p.logDir}/slurmd-%n.log`;
}

function gresOf(gpus: ResolvedGpus): string {
  return gpus.type === undefined ? `gpu:${gpus.count}` : `gpu:${gpus.type}:${gpus.count}`;
}

/**
 * The device files as a SLURM hostlist: `/dev/nvidia[0-3]` when they share a prefix and their
 * numbers ascend (runs become ranges, e.g. `/dev/nvidia[0-1,3]`), otherwise a comma-separated
 * list in the given order (the order is the GPUs' index order).
 */
function deviceFileList(files: readonly string[]): string {
  if (files.length < 2) return files.join(',');
  const parts = files.map((f) => /^(.*?)(0|[1-9][0-9]*)$/.exec(f));
  const prefix = parts[0]?.[1];
  const numbers: number[] = [];
  for (const part of parts) {
    if (part === null || part[1] !== prefix || part[2] === undefined) return files.join(',');
    const n = Number(part[2]);
    const previous = numbers[numbers.length - 1];
    if (!Number.isSafeInteger(n) || (previous !== undefined && n <= previous)) return files.join(',');
    numbers.push(n);
  }
  const ranges: string[] = [];
  let start = numbers[0] ?? 0;
  let end = start;
  for (const n of numbers.slice(1)) {
    if (n === end + 1) end = n;
    else {
      ranges.push(start === end ? `${start}` : `${start}-${end}`);
      start = n;
      end = n;
    }
  }
  ranges.push(start === end ? `${start}` : `${start}-${end}`);
  return `${prefix}[${ranges.join(',')}]`;
}

/** The sorted, de-duplicated NodeName and MaxNodeCount lines, with spacing normalised. */
function nodeListOf(config: SlurmClusterModel | string): string[] {
  const text = typeof config === 'string' ? config : renderSlurmConf(config);
  const entries = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    const hash = raw.indexOf('#');
    const content = (hash === -1 ? raw : raw.slice(0, hash)).trim().split(/\s+/).join(' ');
    if (/^(nodename|maxnodecount)\s*=/i.test(content)) entries.add(content);
  }
  return [...entries].sort();
}
