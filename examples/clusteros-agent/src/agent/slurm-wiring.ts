/**
 * The SLURM roles as this agent runs them: one `SlurmNodeRuntime` per node (munged, the
 * controller alias in /etc/hosts, slurm.conf) shared by `slurm-controller` and `slurm-worker`,
 * the Raft KV adapted to the store the roles need, and each member's cluster address (its
 * Tailscale IPv4, else the host its Raft transport advertises: the address peers already reach).
 */
import { type KvResult, type KvStateMachine, kv } from '@clusteros/raft';
import type { NodeRef, Role } from '@clusteros/roles';
import {
  DEBIAN_SLURM_LAYOUT,
  SLURM_CONTROLLER_ROLE,
  SLURM_WORKER_ROLE,
  SlurmControllerRole,
  type SlurmLogger,
  SlurmNodeRuntime,
  type SlurmStore,
  SlurmWorkerRole,
} from '@clusteros/slurm';
import type { AgentConfig } from '../config/index.js';
import { TAG } from '../dashboard-sources.js';
import { AGENT_TAG } from './tags.js';

/** What the store adapter needs of Raft: a `RaftNode` has it. */
export interface SlurmRaft {
  /** Proposes a KV command (forwarded to the leader) and resolves with its result. */
  propose(command: Uint8Array): Promise<KvResult>;
}

/** Raises a KV error result as an error (the roles only see committed writes). */
function committed(result: KvResult, key: string): KvResult {
  if (result.type === 'error')
    throw new Error(`cluster store write of ${key} failed: ${result.error.message}`);
  return result;
}

/** The Raft KV as the SLURM roles' store. */
export function slurmStoreOf(raft: SlurmRaft, machine: Pick<KvStateMachine, 'get'>): SlurmStore {
  return {
    get: (key) => machine.get(key)?.value,
    put: async (key, value) => {
      committed(await raft.propose(kv.put(key, value)), key);
    },
    create: async (key, value) => {
      const result = committed(
        await raft.propose(
          kv.txn({ compare: [kv.compare(key, 'createRevision', '=', 0)], success: [kv.op.put(key, value)] }),
        ),
        key,
      );
      return result.type === 'txn' && result.succeeded;
    },
  };
}

/** A member's cluster address: its Tailscale IPv4, else the host of its Raft address. */
export function clusterAddressOf(node: NodeRef): string | undefined {
  const tailscale = node.tags?.[TAG.tailscaleIp];
  if (tailscale !== undefined && tailscale !== '') return tailscale;
  const raft = node.tags?.[AGENT_TAG.raft];
  if (raft === undefined) return undefined;
  const host = raft.startsWith('[') ? raft.slice(1, raft.indexOf(']')) : raft.slice(0, raft.lastIndexOf(':'));
  return host === '' ? undefined : host;
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
}

/** The SLURM roles this node runs (none when it enables neither). */
export function slurmRoles(options: SlurmRolesOptions): Role[] {
  const wantsController = options.managed.includes(SLURM_CONTROLLER_ROLE);
  const wantsWorker = options.managed.includes(SLURM_WORKER_ROLE);
  if (!wantsController && !wantsWorker) return [];
  const s = options.config.slurm;
  const runtime = new SlurmNodeRuntime({
    nodeId: options.id,
    store: options.store,
    logger: options.logger,
    layout: {
      ...DEBIAN_SLURM_LAYOUT,
      clusterName: s.cluster_name,
      controllerAlias: s.controller_alias,
      processTracking: s.process_tracking,
      ports: { slurmctld: s.slurmctld_port, slurmd: s.slurmd_port },
    },
  });
  const roles: Role[] = [];
  if (wantsWorker) roles.push(new SlurmWorkerRole({ runtime }));
  if (wantsController) roles.push(new SlurmControllerRole({ runtime, addressOf: clusterAddressOf }));
  return roles;
}
