/**
 * The roles this agent knows and the software each one needs, and a probe for that software.
 *
 * `cluster-coordinator` is the agent's own (no software). The SLURM roles run real daemons through
 * `@clusteros/slurm`, the k3s roles run `k3s` through `@clusteros/k3s`. When a role has no
 * implementation here, or its software is missing, the agent never pretends to
 * run it: the role is reported `not-installed` (software missing) or `not-managed` (software
 * found, no implementation in this agent) and the node does not compete for it.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { ServiceInfo } from '@clusteros/dashboard';
import { COORDINATOR_ROLE } from './coordinator-role.js';

/** A role the agent knows. */
export interface CatalogEntry {
  /** Role name as in `roles.enabled`. */
  readonly role: string;
  /** One holder in the cluster, or one per node. */
  readonly placement: 'singleton' | 'every-node';
  /** The executables it runs (empty for the agent's own roles). */
  readonly binaries: readonly string[];
  /** Whether this agent version runs the role itself. */
  readonly implemented: boolean;
}

/** Every role the agent knows, by name. */
export const ROLE_CATALOG: Readonly<Record<string, CatalogEntry>> = {
  [COORDINATOR_ROLE]: { role: COORDINATOR_ROLE, placement: 'singleton', binaries: [], implemented: true },
  'slurm-controller': {
    role: 'slurm-controller',
    placement: 'singleton',
    binaries: ['slurmctld', 'munged'],
    implemented: true,
  },
  'slurm-worker': {
    role: 'slurm-worker',
    placement: 'every-node',
    binaries: ['slurmd', 'munged'],
    implemented: true,
  },
  'k3s-server': { role: 'k3s-server', placement: 'singleton', binaries: ['k3s'], implemented: true },
  'k3s-agent': { role: 'k3s-agent', placement: 'every-node', binaries: ['k3s'], implemented: true },
};

/** The services the dashboard lists for this node, and the binary that provides each. */
export const SERVICE_BINARIES: Readonly<Record<string, string>> = {
  slurmctld: 'slurmctld',
  slurmd: 'slurmd',
  munged: 'munged',
  k3s: 'k3s',
};

/** Where a role stands on this node before the role manager sees it. */
export type RoleAvailability =
  | { readonly kind: 'managed' }
  | { readonly kind: 'not-installed'; readonly missing: readonly string[] }
  | { readonly kind: 'not-managed'; readonly found: readonly string[] };

/** Extra directories searched besides PATH (daemons often live in sbin, off a user's PATH). */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The absolute path of executable `name` on PATH (plus the sbin directories), or null. */
export async function findExecutable(name: string, path = process.env.PATH ?? ''): Promise<string | null> {
  const dirs = [...path.split(delimiter).filter((d) => d.length > 0), ...SBIN_DIRS];
  for (const dir of new Set(dirs)) {
    const candidate = join(dir, name);
    try {
      // A directory has execute permission too.
      if (!(await stat(candidate)).isFile()) continue;
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * {@link findExecutable} with the configured k3s binary in place of `k3s` (`k3s.binary`: a path,
 * or a name looked up on PATH), so that availability and services follow the configuration.
 */
export function configuredFinder(
  k3sBinary: string,
  find: (name: string) => Promise<string | null> = findExecutable,
): (name: string) => Promise<string | null> {
  return async (name) => {
    if (name !== 'k3s') return find(name);
    if (!k3sBinary.includes('/')) return find(k3sBinary);
    try {
      if (!(await stat(k3sBinary)).isFile()) return null;
      await access(k3sBinary, constants.X_OK);
      return k3sBinary;
    } catch {
      return null;
    }
  };
}

/** Probes the software of `entry`. */
export async function roleAvailability(
  entry: CatalogEntry,
  find: (name: string) => Promise<string | null> = findExecutable,
): Promise<RoleAvailability> {
  const found: string[] = [];
  const missing: string[] = [];
  for (const binary of entry.binaries) ((await find(binary)) === null ? missing : found).push(binary);
  if (missing.length > 0) return { kind: 'not-installed', missing };
  if (!entry.implemented) return { kind: 'not-managed', found };
  return { kind: 'managed' };
}

/** The one-line role detail for an unavailable role. */
export function availabilityDetail(availability: RoleAvailability): string {
  switch (availability.kind) {
    case 'managed':
      return 'managed';
    case 'not-installed':
      return `not-installed: ${availability.missing.join(', ')} not found`;
    case 'not-managed':
      return `not-managed: ${availability.found.join(', ')} installed, but this agent version does not run the role yet`;
  }
}

/**
 * This node's services for the dashboard, probed once (at start): `not-installed` when the
 * binary is missing, `stopped` when it is there; the roles that run a service report it as running.
 */
export async function probeServices(
  find: (name: string) => Promise<string | null> = findExecutable,
): Promise<Record<string, ServiceInfo>> {
  const out: Record<string, ServiceInfo> = {};
  for (const [service, binary] of Object.entries(SERVICE_BINARIES)) {
    const path = await find(binary);
    out[service] =
      path === null
        ? { state: 'not-installed', detail: `${binary} not found` }
        : { state: 'stopped', detail: `${path} installed; not running on this node` };
  }
  return out;
}
