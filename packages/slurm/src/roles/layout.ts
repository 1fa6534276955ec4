/**
 * Where the SLURM roles keep their files on a node, and the cluster-wide settings every node's
 * `slurm.conf` must agree on. The defaults are Debian's stock paths, so the packages' own tools
 * (`squeue`, `sinfo`, `scontrol` without `SLURM_CONF`) work on the node as an operator expects.
 */
import type { SlurmAccountingSpec, SlurmPaths, SlurmPorts, SlurmProcessTracking } from '../conf/model.js';

/** The files and settings of the SLURM roles on one node. */
export interface SlurmNodeLayout {
  /** `ClusterName` (the same on every node). @defaultValue `'clusteros'` */
  readonly clusterName: string;
  /** Where `slurm.conf` is written (and what every daemon and client is pointed at). @defaultValue `/etc/slurm/slurm.conf` */
  readonly confFile: string;
  /** The daemons' files (the same on every node; they go into `slurm.conf`). */
  readonly paths: SlurmPaths;
  /** The daemons' ports (the same on every node). @defaultValue 6817/6818 */
  readonly ports?: SlurmPorts;
  /** How job processes are tracked. @defaultValue `'linuxproc'` (works without cgroups) */
  readonly processTracking: SlurmProcessTracking;
  /** The munge key file (written 0400 before munged starts). @defaultValue `/etc/munge/munge.key` */
  readonly mungeKeyFile: string;
  /** munged's pid, log and seed directory. @defaultValue `/var/lib/munge` */
  readonly mungeDir: string;
  /** The hosts file whose managed block carries the controller alias. @defaultValue `/etc/hosts` */
  readonly hostsFile: string;
  /**
   * The stable controller name (`SlurmctldHost=<holder>(<alias>)`), pointed at the current
   * holder on every node. Running jobs reach the controller through it, so it must never change
   * while jobs run. @defaultValue `'slurmctl'`
   */
  readonly controllerAlias: string;
  /**
   * `MaxNodeCount`: room for dynamic nodes (`slurmd -Z`); omitted: only the static nodes of the
   * controller record.
   */
  readonly maxNodeCount?: number;
  /**
   * Job accounting through an existing slurmdbd (`sacct` needs it); omitted: none. ClusterOS
   * never requires it and does not run slurmdbd itself.
   */
  readonly accounting?: SlurmAccountingSpec;
}

/** The layout of a Debian host with the `slurmctld`, `slurmd` and `munge` packages. */
export const DEBIAN_SLURM_LAYOUT: SlurmNodeLayout = Object.freeze({
  clusterName: 'clusteros',
  confFile: '/etc/slurm/slurm.conf',
  paths: Object.freeze({
    stateSaveLocation: '/var/lib/slurm/slurmctld',
    spoolDir: '/var/lib/slurm/slurmd',
    logDir: '/var/log/slurm',
    runDir: '/run',
    mungeSocket: '/run/munge/munge.socket.2',
  }),
  processTracking: 'linuxproc',
  mungeKeyFile: '/etc/munge/munge.key',
  mungeDir: '/var/lib/munge',
  hostsFile: '/etc/hosts',
  controllerAlias: 'slurmctl',
});
