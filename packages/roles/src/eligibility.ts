/**
 * Who may hold a singleton role, and in which order nodes should try.
 */
import type { NodeRef, RoleRequirements } from './role.js';

/** Whether `node` satisfies `requires` (and, if it lists its roles, has `role` enabled). */
export function isEligible(node: NodeRef, role: string, requires: RoleRequirements | undefined): boolean {
  if (node.roles !== undefined && !node.roles.includes(role)) return false;
  if (requires === undefined) return true;
  const caps = node.capabilities;
  const needsCaps =
    requires.minCpuCores !== undefined ||
    requires.minRamBytes !== undefined ||
    requires.minGpus !== undefined ||
    requires.arch !== undefined;
  if (needsCaps && caps === undefined) return false;
  if (caps !== undefined) {
    if (requires.minCpuCores !== undefined && caps.cpuCores < requires.minCpuCores) return false;
    if (requires.minRamBytes !== undefined && caps.ramBytes < requires.minRamBytes) return false;
    if (requires.minGpus !== undefined && caps.gpus < requires.minGpus) return false;
    if (requires.arch !== undefined && !requires.arch.includes(caps.arch)) return false;
  }
  for (const [tag, value] of Object.entries(requires.tags ?? {})) {
    if (node.tags?.[tag] !== value) return false;
  }
  return true;
}

/** Eligible nodes, best first: highest priority, then lowest id (a total, stable order). */
export function rankCandidates(
  nodes: readonly NodeRef[],
  role: string,
  requires: RoleRequirements | undefined,
): NodeRef[] {
  return nodes
    .filter((node) => isEligible(node, role, requires))
    .sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
