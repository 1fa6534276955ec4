/**
 * The typed model a ClusterOS cluster's `slurm.conf`, `gres.conf` and `cgroup.conf` are rendered
 * from. It holds only what differs between clusters; everything else is fixed by the renderer
 * (see `render.ts`), following what was measured to work with SLURM 22.05.8 from Debian on hosts
 * without systemd.
 */

/**
 * Where slurmctld runs, written as `SlurmctldHost=<host>(<address>)`.
 *
 * SLURM uses the two parts differently:
 * - `host` is compared by slurmctld with `hostname -s` of the machine it starts on (a host that
 *   is not named refuses to be a controller: "This host (…) not a valid controller");
 * - `address` is what slurmd, the clients and every running job's slurmstepd connect to.
 *   Running jobs keep the address of the slurm.conf they were launched with and re-resolve it on
 *   each retry, so it must be stable across controller handoffs: a name the adapter keeps pointed
 *   at the current holder (a hosts-file or DNS entry such as `slurmctl`) or a virtual IP.
 */
export interface SlurmControllerSpec {
  /**
   * The controller name in `SlurmctldHost=`: the short host name the current holder's slurmctld
   * sees (`hostname -s`), e.g. `ctl1`, or a fixed name such as `slurmctl` when the adapter runs
   * slurmctld under that host name. A SLURM name (letters, digits, `-`, `_`, at most 63
   * characters); it may equal a node name (the holder usually runs slurmd too).
   */
  readonly host: string;
  /**
   * The stable address of the controller: an IPv4 literal or a host name (e.g. `slurmctl`, kept
   * pointed at the current holder by a hosts entry). Writing it spares every daemon and client a
   * lookup of `host` (a name that does not resolve stalls slurmctld and breaks every client).
   */
  readonly address: string;
}

/** The GPUs of one node, written as `Gres=gpu[:type]:count` and a `gres.conf` line. */
export interface SlurmGpuSpec {
  /** The GPU model as users request it (`--gres=gpu:<type>:1`), e.g. `a100`; omitted: untyped. */
  readonly type?: string;
  /** How many GPUs the node has (a positive integer). */
  readonly count: number;
  /**
   * The device files, exactly `count` of them, one per GPU in device order, e.g.
   * `['/dev/nvidia0', '/dev/nvidia1']`. Required: slurmd 22.05 drops a GPU without a device
   * file ("Removing file-less GPU"), registers fewer GPUs than configured and the node is drained
   * as `inval` ("gres/gpu count reported lower than configured (0 < 1)", measured). They also
   * let `task/cgroup` confine a job to its GPUs.
   */
  readonly files: readonly string[];
}

/** One static node: a `NodeName=` line. */
export interface SlurmNodeSpec {
  /**
   * The SLURM node name (letters, digits, `-`, `_`; at most 63 characters; not `ALL` or
   * `DEFAULT`). slurmd is started with `-N <name>`, so it need not be the host name.
   */
  readonly name: string;
  /** Where slurmctld reaches the node's slurmd: an IPv4 literal or a host name, unique in the cluster. */
  readonly address: string;
  /** Logical CPUs (`nproc`); more than slurmd detects drains the node as `inval`. */
  readonly cpus: number;
  /** Total memory in bytes (`os.totalmem()`); `RealMemory` keeps headroom below it (see `realMemoryMiB`). */
  readonly memoryBytes: number;
  /** The node's GPUs; omitted: none. */
  readonly gpus?: SlurmGpuSpec;
}

/** One partition: a `PartitionName=` line. */
export interface SlurmPartitionSpec {
  /** The partition name (letters, digits, `-`, `_`; at most 63 characters; not `DEFAULT`). */
  readonly name: string;
  /** `'ALL'` (every node, including dynamic nodes that register later) or names of static nodes. */
  readonly nodes: 'ALL' | readonly string[];
  /** Whether jobs that name no partition go here. At most one partition is the default; if none is, the first one is. */
  readonly default?: boolean;
  /** The longest time limit a job may have, in minutes; omitted: `INFINITE`. */
  readonly maxTimeMinutes?: number;
}

/** The TCP ports of the daemons (one slurmctld port for the whole cluster). */
export interface SlurmPorts {
  /** `SlurmctldPort`; default 6817. */
  readonly slurmctld: number;
  /** `SlurmdPort`; default 6818. */
  readonly slurmd: number;
}

/**
 * Where the daemons keep their files. Every path is absolute and normalised (no `//`, `.` or `..`
 * segments, no trailing `/`), and uses only letters, digits and `. _ + @ - /`.
 */
export interface SlurmPaths {
  /** `StateSaveLocation`: slurmctld's state (jobs, nodes); copied to the new holder on a controller handoff. */
  readonly stateSaveLocation: string;
  /**
   * `SlurmdSpoolDir`: slurmd's spool. May contain one `%n` (replaced by the node name), which
   * keeps several slurmds on one machine apart. Create it before slurmd starts (see
   * `slurmDaemonFiles`): slurmd creates it itself, but logs an error first.
   */
  readonly spoolDir: string;
  /** Directory of `slurmctld.log` and `slurmd-<node>.log`. */
  readonly logDir: string;
  /** Directory of `slurmctld.pid` and `slurmd-<node>.pid`. */
  readonly runDir: string;
  /** The munged socket (`AuthInfo=socket=`), at most 107 bytes (the limit of a Unix socket path). */
  readonly mungeSocket: string;
}

/**
 * How jobs' processes are tracked and confined:
 * - `'cgroup'`: `proctrack/cgroup` + `task/affinity,task/cgroup`, with a `cgroup.conf`
 *   (see `renderCgroupConf`) confining cores, memory and GPUs;
 * - `'linuxproc'`: `proctrack/linuxproc` + `task/none`, no `cgroup.conf` needed: the fallback for
 *   hosts without usable cgroups (what CI uses).
 */
export type SlurmProcessTracking = 'cgroup' | 'linuxproc';

/** The users the daemons run as. */
export interface SlurmUsers {
  /** `SlurmUser` (slurmctld); default `root`. Any other user must own the state directory. */
  readonly slurmUser: string;
  /** `SlurmdUser` (slurmd); default `root`. */
  readonly slurmdUser: string;
}

/** Log levels of the daemons, from least to most verbose. */
export const SLURM_DEBUG_LEVELS = [
  'quiet',
  'fatal',
  'error',
  'info',
  'verbose',
  'debug',
  'debug2',
  'debug3',
  'debug4',
  'debug5',
] as const;

/** A daemon log level (`SlurmctldDebug=`, `SlurmdDebug=`). */
export type SlurmDebugLevel = (typeof SLURM_DEBUG_LEVELS)[number];

/** Log levels per daemon; each defaults to `info`. */
export interface SlurmDebugLevels {
  /** `SlurmctldDebug`. */
  readonly slurmctld?: SlurmDebugLevel;
  /** `SlurmdDebug`. */
  readonly slurmd?: SlurmDebugLevel;
}

/** Failure detection times. */
export interface SlurmTimeouts {
  /** `SlurmdTimeout`: seconds without an answer before slurmctld sets a node DOWN; default 30. */
  readonly slurmdSeconds?: number;
  /** `SlurmctldTimeout`: seconds a backup controller waits before taking over; default 10. */
  readonly slurmctldSeconds?: number;
}

/** Job accounting through slurmdbd (`sacct` needs it). */
export interface SlurmAccountingSpec {
  /** `AccountingStorageHost`: the slurmdbd host, an IPv4 literal or a host name. */
  readonly host: string;
  /** `AccountingStoragePort`; default 6819. */
  readonly port?: number;
}

/** Everything a ClusterOS cluster's SLURM configuration files are rendered from. */
export interface SlurmClusterModel {
  /**
   * `ClusterName`: lower-case letters, digits, `-`, `_`, at most 63 characters. (SLURM maps
   * upper case to lower case silently, and slurmctld refuses to start on a state directory saved
   * under another cluster name.)
   */
  readonly clusterName: string;
  /** The controller (`SlurmctldHost=`). */
  readonly controller: SlurmControllerSpec;
  /**
   * The static nodes, at least one (slurmctld 22.05 refuses to start with none). Rendered sorted
   * by name, so their order here does not matter. Dynamic nodes (`slurmd -Z`) are not listed:
   * allow them with {@link SlurmClusterModel.maxNodeCount}.
   */
  readonly nodes: readonly SlurmNodeSpec[];
  /** The partitions; default: one partition `main` with all nodes, the default, no time limit. */
  readonly partitions?: readonly SlurmPartitionSpec[];
  /** The daemons' ports; default 6817/6818. */
  readonly ports?: SlurmPorts;
  /** The daemons' files. */
  readonly paths: SlurmPaths;
  /** How job processes are tracked and confined. */
  readonly processTracking: SlurmProcessTracking;
  /** The daemons' users; default root/root (no special ownership of any file needed). */
  readonly users?: SlurmUsers;
  /**
   * `MaxNodeCount`: how many nodes may exist in total, static plus dynamic (`slurmd -Z`). Without
   * it a dynamic node never appears. At least the number of static nodes. Changing it needs a
   * slurmctld restart (see `nodeListChanged`).
   */
  readonly maxNodeCount?: number;
  /**
   * `SlurmctldParameters=enable_configless`: slurmd may fetch its configuration from slurmctld
   * (`slurmd --conf-server`). Default off.
   */
  readonly configless?: boolean;
  /**
   * `DefMemPerCPU`: MiB a job gets per allocated CPU when it does not ask for memory. Default: the
   * smallest `RealMemory / CPUs` of the static nodes, so jobs without `--mem` share a node
   * instead of each taking all of its memory.
   */
  readonly defaultMemoryPerCpuMiB?: number;
  /** Daemon log levels; default `info`. */
  readonly debug?: SlurmDebugLevels;
  /** Failure detection times. */
  readonly timeouts?: SlurmTimeouts;
  /** slurmdbd accounting; omitted: `accounting_storage/none`. */
  readonly accounting?: SlurmAccountingSpec;
}

/** The ports used when {@link SlurmClusterModel.ports} is omitted. */
export const DEFAULT_SLURM_PORTS: SlurmPorts = Object.freeze({ slurmctld: 6817, slurmd: 6818 });

/** The slurmdbd port used when {@link SlurmAccountingSpec.port} is omitted. */
export const DEFAULT_SLURMDBD_PORT = 6819;

/** The users used when {@link SlurmClusterModel.users} is omitted. */
export const DEFAULT_SLURM_USERS: SlurmUsers = Object.freeze({ slurmUser: 'root', slurmdUser: 'root' });

/** The name of the partition used when {@link SlurmClusterModel.partitions} is omitted. */
export const DEFAULT_PARTITION_NAME = 'main';

/** `SlurmdTimeout` when {@link SlurmTimeouts.slurmdSeconds} is omitted. */
export const DEFAULT_SLURMD_TIMEOUT_SECONDS = 30;

/** `SlurmctldTimeout` when {@link SlurmTimeouts.slurmctldSeconds} is omitted. */
export const DEFAULT_SLURMCTLD_TIMEOUT_SECONDS = 10;

/** The log level used when {@link SlurmDebugLevels} leaves a daemon out. */
export const DEFAULT_SLURM_DEBUG_LEVEL: SlurmDebugLevel = 'info';
