// What the SLURM roles need from their surroundings, in memory: a store with the semantics of the
// Raft KV adapter (committed writes, create-only), and role contexts for one node as the role
// manager would make them.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { NodeRef, RoleContext } from '@clusteros/roles';
import type { SlurmProcessTracking } from '../../src/conf/model.js';
import { runSlurmCommand } from '../../src/daemons/command.js';
import type { SlurmNodeLayout } from '../../src/roles/layout.js';
import type { SlurmStore } from '../../src/roles/store.js';
import { freePortPair } from './ports.js';

/** An in-memory {@link SlurmStore}; `writes` counts puts per key. */
export class MemoryStore implements SlurmStore {
  readonly values = new Map<string, Uint8Array>();
  readonly writes = new Map<string, number>();

  get(key: string): Uint8Array | undefined {
    const value = this.values.get(key);
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.values.set(key, new Uint8Array(value));
    this.writes.set(key, (this.writes.get(key) ?? 0) + 1);
  }

  async create(key: string, value: Uint8Array): Promise<boolean> {
    if (this.values.has(key)) return false;
    await this.put(key, value);
    return true;
  }
}

/** One role run's context; `failures` collects what the role reported through `fail`. */
export interface TestContext extends RoleContext {
  readonly failures: Error[];
  readonly controller: AbortController;
}

/** A context for `role` on `node` with `members` alive and, for a holder, `token`. */
export function roleContext(
  role: string,
  node: NodeRef,
  members: () => readonly NodeRef[],
  token?: number,
): TestContext {
  const failures: Error[] = [];
  const controller = new AbortController();
  const logged = (): void => {};
  return {
    role,
    node,
    cluster: { self: () => node, members },
    fencingToken: token,
    leader: () => (token === undefined ? undefined : { nodeId: node.id, fencingToken: token }),
    isLeader: () => token !== undefined && !controller.signal.aborted,
    signal: controller.signal,
    logger: {
      debug: logged,
      info: logged,
      warn: (fields, message) => {
        if (process.env.TEST_VERBOSE) console.warn(message, fields);
      },
      error: (fields, message) => {
        if (process.env.TEST_VERBOSE) console.error(message, fields);
      },
    },
    fail: (error) => failures.push(error),
    failures,
    controller,
  };
}

/** A private lab directory and a layout of the roles' files in it, on free ports. */
export async function makeRoleLab(
  processTracking: SlurmProcessTracking,
): Promise<{ lab: string; layout: SlurmNodeLayout }> {
  const lab = await mkdtemp(join(tmpdir(), 'clusteros-slurm-roles-'));
  // munged refuses a socket whose directories others cannot traverse.
  await chmod(lab, 0o755);
  for (const dir of ['etc', 'log', 'state', 'spool', 'jobs'])
    await mkdir(join(lab, dir), { recursive: true });
  const base = await freePortPair();
  const layout: SlurmNodeLayout = {
    clusterName: 'roles',
    confFile: join(lab, 'etc', 'slurm.conf'),
    paths: {
      stateSaveLocation: join(lab, 'state', 'slurmctld'),
      spoolDir: join(lab, 'spool', '%n'),
      logDir: join(lab, 'log'),
      runDir: join(lab, 'run'),
      mungeSocket: join(lab, 'run', 'munge', 'munge.sock'),
    },
    ports: { slurmctld: base, slurmd: base + 1 },
    processTracking,
    mungeKeyFile: join(lab, 'munge-etc', 'munge.key'),
    mungeDir: join(lab, 'munge-lib'),
    // The alias goes into a lab hosts file; `localhost` resolves through the machine's own.
    hostsFile: join(lab, 'etc', 'hosts'),
    controllerAlias: 'localhost',
  };
  return { lab, layout };
}

/** The one node of a single-host lab. */
export const SELF: NodeRef = {
  id: 'node1',
  name: 'node1',
  address: '127.0.0.1:9090',
  capabilities: { cpuCores: availableParallelism(), ramBytes: totalmem(), gpus: 0, arch: process.arch },
  roles: ['slurm-worker', 'slurm-controller'],
  tags: { ts_ip: '127.0.0.1' },
};

/** Ends a single-host lab: cancels every job, runs `stops` in order (the roles' stop calls), removes the directory. */
export async function endRoleLab(
  lab: string,
  slurmConf: string,
  stops: readonly (() => Promise<void>)[],
): Promise<void> {
  await runSlurmCommand('scancel', ['--full', '--quiet', '--user=root'], {
    slurmConf,
    timeoutMs: 5_000,
  }).catch(() => {});
  for (const stop of stops) await stop();
  await rm(lab, { recursive: true, force: true });
}
