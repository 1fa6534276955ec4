/**
 * The SLURM roles as this agent runs them: one `SlurmNodeRuntime` per node (munged, the
 * controller alias in /etc/hosts, slurm.conf) shared by `slurm-controller` and `slurm-worker`,
 * over the Raft KV as their store and each member's cluster address (role-store.ts).
 */
import type { ServiceInfo, SlurmJob, SlurmService } from '@clusteros/dashboard';
import type { Role } from '@clusteros/roles';
import {
  DEBIAN_SLURM_LAYOUT,
  detectProcessTracking,
  SLURM_CONTROLLER_ROLE,
  SLURM_WORKER_ROLE,
  SlurmControllerRole,
  type SlurmLogger,
  SlurmNodeRuntime,
  SlurmOverviewReader,
  type SlurmStore,
  SlurmWorkerRole,
} from '@clusteros/slurm';
import type { AgentConfig } from '../config/index.js';
import { parseHostPort } from '../config/schema.js';
import { clusterAddressOf } from './role-store.js';

/** `host` or `host:port` (the config has checked it) as the conf model's accounting spec. */
function accountingOf(value: string): { host: string; port?: number } {
  const split = parseHostPort(value);
  return split === undefined ? { host: value } : { host: split.host, port: split.port };
}

/** Options of {@link slurmRoles}. */
export interface SlurmRolesOptions {
  /** This node's id (its SLURM node name). */
  readonly id: string;
  /** The roles this node runs. */
  readonly managed: readonly string[];
  /** The agent's configuration (`slurm` section). */
  readonly config: Pick<AgentConfig, 'slurm'>;
  /** The store. */
  readonly store: SlurmStore;
  /** Logger. */
  readonly logger: SlurmLogger;
  /** How `auto` process tracking is decided. @defaultValue `detectProcessTracking` */
  readonly detectTracking?: () => Promise<'cgroup' | 'linuxproc'>;
}

/** The SLURM roles of a node and the daemons they run now. */
export interface SlurmParts {
  /** The roles to hand to the role manager (none when the node enables neither). */
  readonly roles: Role[];
  /** `munged`, `slurmctld` and `slurmd` as running now, for the dashboard's services (only those this node runs). */
  services(): Record<string, ServiceInfo>;
  /** The cluster's SLURM as the dashboard's services section shows it; undefined when this node runs no SLURM role. */
  service(): Promise<SlurmService | undefined>;
  /** Every SLURM job SLURM still lists (empty when this node runs no SLURM role or no controller answers). */
  jobs(): Promise<SlurmJob[]>;
}

/** The SLURM roles this node runs (none when it enables neither). */
export async function slurmRoles(options: SlurmRolesOptions): Promise<SlurmParts> {
  const wantsController = options.managed.includes(SLURM_CONTROLLER_ROLE);
  const wantsWorker = options.managed.includes(SLURM_WORKER_ROLE);
  if (!wantsController && !wantsWorker)
    return { roles: [], services: () => ({}), service: async () => undefined, jobs: async () => [] };
  const s = options.config.slurm;
  const processTracking =
    s.process_tracking === 'auto'
      ? await (options.detectTracking ?? detectProcessTracking)()
      : s.process_tracking;
  options.logger.info({ processTracking, setting: s.process_tracking }, 'slurm: process tracking');
  const runtime = new SlurmNodeRuntime({
    nodeId: options.id,
    store: options.store,
    logger: options.logger,
    layout: {
      ...DEBIAN_SLURM_LAYOUT,
      clusterName: s.cluster_name,
      controllerAlias: s.controller_alias,
      processTracking,
      ports: { slurmctld: s.slurmctld_port, slurmd: s.slurmd_port },
      ...(s.accounting === undefined ? {} : { accounting: accountingOf(s.accounting) }),
    },
  });
  const worker = wantsWorker ? new SlurmWorkerRole({ runtime }) : undefined;
  const controller = wantsController
    ? new SlurmControllerRole({ runtime, addressOf: clusterAddressOf })
    : undefined;
  // The dashboard polls; one squeue/sinfo pair every two seconds at most, shared by all readers.
  const overview = new SlurmOverviewReader({ slurmConf: runtime.confFile, maxAgeMs: 2_000 });
  // Before this node follows a controller record it has no slurm.conf: nothing to ask.
  const read = async () => (runtime.record === undefined ? undefined : overview.read());
  const running = (pid: number | undefined): ServiceInfo | undefined =>
    pid === undefined ? undefined : { state: 'running', detail: `pid ${pid}` };
  return {
    roles: [...(worker === undefined ? [] : [worker]), ...(controller === undefined ? [] : [controller])],
    services: () => {
      const out: Record<string, ServiceInfo> = {};
      const entries: [string, ServiceInfo | undefined][] = [
        ['munged', running(runtime.status().mungePid)],
        ['slurmd', running(worker?.slurmdPid)],
        ['slurmctld', running(controller?.slurmctldPid)],
      ];
      for (const [name, info] of entries) if (info !== undefined) out[name] = info;
      return out;
    },
    service: async () => {
      const now = await read();
      return {
        controller: runtime.record?.node ?? null,
        worker: worker?.slurmdPid !== undefined,
        nodes_in_partition: now?.nodes.length ?? runtime.record?.nodes.length ?? 0,
        queued_jobs: now?.jobs.filter((job) => job.state === 'PENDING').length ?? 0,
      };
    },
    jobs: async () =>
      ((await read())?.jobs ?? []).map((job) => ({
        id: job.id,
        name: job.name,
        state: job.state,
        user: job.user,
        runtime_s: job.runtimeSeconds,
      })),
  };
}
