/**
 * From ClusterOS members to SLURM nodes: which members become SLURM nodes (those that run the
 * `slurm-worker` role and are alive), under which name, at which address, with which resources.
 * The controller role renders `slurm.conf` from this list every time membership changes, and
 * compares the node lists (`nodeListChanged`) to decide between a reconfigure and a controlled
 * restart.
 *
 * Names: SLURM node names are the members' ids when those are valid SLURM names (letters,
 * digits, `-`, `_`); other members are skipped and reported, never renamed, because a renamed
 * node would not match the `-N` its own slurmd starts with.
 */

import type { SlurmNodeSpec } from '../conf/model.js';
import { isSlurmName } from '../conf/validate.js';

/** The role whose holders become SLURM nodes. */
export const SLURM_WORKER_ROLE = 'slurm-worker';

/** A ClusterOS member as this mapping needs it (the agent builds it from gossip tags). */
export interface SlurmMember {
  /** Member id (also the SLURM node name). */
  readonly id: string;
  /** Address other members reach it at (its Tailscale IPv4 in production). */
  readonly address: string;
  /** Whether gossip considers it alive. */
  readonly alive: boolean;
  /** The roles enabled on it. */
  readonly roles: readonly string[];
  /** CPU cores. */
  readonly cpuCores: number;
  /** Total memory in bytes. */
  readonly ramBytes: number;
  /** NVIDIA GPUs (device files `/dev/nvidia0` … are assumed, as the driver creates them). */
  readonly gpus: number;
}

/** A member that runs the worker role but cannot be a SLURM node. */
export interface SkippedMember {
  /** Its id. */
  readonly id: string;
  /** Why it cannot be a node. */
  readonly reason: string;
}

/** The nodes for `slurm.conf`, and the members that could not be nodes with why. */
export interface SlurmNodeSelection {
  /** SLURM nodes, sorted by name. */
  readonly nodes: SlurmNodeSpec[];
  /** Members that run the worker role but cannot be SLURM nodes, with the reason. */
  readonly skipped: SkippedMember[];
}

/** Selects and maps the members (see the module comment). */
export function slurmNodesFromMembers(members: readonly SlurmMember[]): SlurmNodeSelection {
  const nodes: SlurmNodeSpec[] = [];
  const skipped: SkippedMember[] = [];
  const seen = new Set<string>();
  for (const member of [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (!member.alive || !member.roles.includes(SLURM_WORKER_ROLE)) continue;
    if (!isSlurmName(member.id)) {
      skipped.push({ id: member.id, reason: 'its id is not a valid SLURM node name' });
      continue;
    }
    if (seen.has(member.id.toLowerCase())) {
      skipped.push({ id: member.id, reason: 'another member has the same name (SLURM names ignore case)' });
      continue;
    }
    if (!Number.isSafeInteger(member.cpuCores) || member.cpuCores < 1 || !(member.ramBytes > 0)) {
      skipped.push({ id: member.id, reason: 'its capabilities (CPU cores, memory) are unknown' });
      continue;
    }
    seen.add(member.id.toLowerCase());
    const gpus = Number.isSafeInteger(member.gpus) && member.gpus > 0 ? member.gpus : 0;
    nodes.push({
      name: member.id,
      address: member.address,
      cpus: member.cpuCores,
      memoryBytes: member.ramBytes,
      ...(gpus === 0
        ? {}
        : { gpus: { count: gpus, files: Array.from({ length: gpus }, (_, i) => `/dev/nvidia${i}`) } }),
    });
  }
  return { nodes, skipped };
}
