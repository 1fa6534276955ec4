/**
 * Which process tracking a host supports, for the `auto` setting: `cgroup` where SLURM 22.05's
 * cgroup plugins can work, `linuxproc` everywhere else.
 *
 * - cgroup v1 (what `CgroupPlugin=autodetect` picks when the v1 controllers are mounted): the
 *   `freezer` (proctrack), `memory` and `cpuset` (task confinement) and `devices` (GPU
 *   confinement) hierarchies mounted under the cgroup root. Measured on these machines: the roles
 *   run jobs in cgroup mode, and a job's memory limit appears in its cgroup.
 * - cgroup v2 (unified hierarchy): `cpuset` and `memory` enabled in `cgroup.controllers`, and
 *   systemd running (slurmd 22.05 asks systemd over D-Bus for its scope on v2).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SlurmProcessTracking } from './model.js';

const V1_CONTROLLERS = ['freezer', 'memory', 'cpuset', 'devices'] as const;

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Where a host keeps what the detection reads (test seam; the defaults are the real paths). */
export interface TrackingProbePaths {
  /** The cgroup mount root. @defaultValue `/sys/fs/cgroup` */
  readonly cgroupRoot?: string;
  /** Exists when systemd is the init system. @defaultValue `/run/systemd/system` */
  readonly systemdMarker?: string;
}

/** The process tracking this host supports (see the module comment). Never throws. */
export async function detectProcessTracking(paths: TrackingProbePaths = {}): Promise<SlurmProcessTracking> {
  const root = paths.cgroupRoot ?? '/sys/fs/cgroup';
  const v2 = await readFile(join(root, 'cgroup.controllers'), 'utf8').catch(() => undefined);
  if (v2 !== undefined) {
    const enabled = new Set(v2.trim().split(/\s+/));
    const systemd = await isDirectory(paths.systemdMarker ?? '/run/systemd/system');
    return enabled.has('cpuset') && enabled.has('memory') && systemd ? 'cgroup' : 'linuxproc';
  }
  for (const controller of V1_CONTROLLERS) if (!(await hasTasks(join(root, controller)))) return 'linuxproc';
  return 'cgroup';
}

/** A mounted v1 hierarchy has a `tasks` file at its root. */
async function hasTasks(dir: string): Promise<boolean> {
  return stat(join(dir, 'tasks')).then(
    (s) => s.isFile(),
    () => false,
  );
}
