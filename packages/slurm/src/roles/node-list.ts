/**
 * The static node list of the controller record: which members are SLURM nodes now, and when a
 * node that left membership may leave slurm.conf. Removing a node from slurm.conf while SLURM
 * still runs a job on it loses the job, so a node goes only once SLURM runs no job on it, and
 * only when its worker announced it is leaving (drained on shutdown) or it has been missing for
 * a grace period (a crash, a partition that may heal).
 */
import type { NodeRef, RoleContext } from '@clusteros/roles';
import { type SlurmMember, slurmNodesFromMembers } from '../cluster/nodes.js';
import { runSlurmCommand } from '../daemons/command.js';
import type { SlurmNodeRuntime } from './node-runtime.js';
import { SLURM_STORE_KEYS, type SlurmControllerRecord } from './store.js';

/** Options of {@link SlurmNodeList}. */
export interface SlurmNodeListOptions {
  /** The node's runtime (store, slurm.conf). */
  readonly runtime: SlurmNodeRuntime;
  /** A member's cluster address. */
  readonly addressOf: (node: NodeRef) => string | undefined;
  /** How long a node may be missing before it may be removed. */
  readonly graceMs: number;
  /** Wall clock in ms. */
  readonly now: () => number;
}

/** Computes the next static node list (see the module comment). */
export class SlurmNodeList {
  readonly #runtime: SlurmNodeRuntime;
  readonly #addressOf: (node: NodeRef) => string | undefined;
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #missingSince = new Map<string, number>();

  /** Creates the tracker. */
  constructor(options: SlurmNodeListOptions) {
    this.#runtime = options.runtime;
    this.#addressOf = options.addressOf;
    this.#graceMs = options.graceMs;
    this.#now = options.now;
  }

  /** SLURM nodes of the alive members that run the worker role and are not leaving. */
  memberNodes(ctx: RoleContext): SlurmControllerRecord['nodes'] {
    const members: SlurmMember[] = ctx.cluster.members().flatMap((ref) => {
      const address = this.#addressOf(ref);
      const caps = ref.capabilities;
      if (address === undefined || caps === undefined || this.isLeaving(ref.id)) return [];
      return [
        {
          id: ref.id,
          address,
          alive: true,
          roles: ref.roles ?? [],
          cpuCores: caps.cpuCores,
          ramBytes: caps.ramBytes,
          gpus: caps.gpus,
        },
      ];
    });
    return slurmNodesFromMembers(members).nodes;
  }

  /** Whether `node`'s worker marked it leaving (drained for a shutdown). */
  isLeaving(node: string): boolean {
    const mark = this.#runtime.store.get(`${SLURM_STORE_KEYS.leavingPrefix}${node}`);
    return mark !== undefined && mark.byteLength > 0;
  }

  /** Jobs SLURM runs on `node` now; unknown (no answer) counts as busy. */
  async #activeJobsOn(node: string): Promise<number> {
    const out = await runSlurmCommand('squeue', ['-h', '-w', node, '-o', '%i'], {
      slurmConf: this.#runtime.confFile,
      timeoutMs: 10_000,
    }).catch(() => undefined);
    return out === undefined
      ? Number.POSITIVE_INFINITY
      : out.stdout.split('\n').filter((l) => l.trim() !== '').length;
  }

  /**
   * The next static node list: the members' nodes, plus every node of `previous` that is gone or
   * leaving but may not be removed yet. A node is removed only once SLURM runs no job on it (a
   * node removed under a running job would lose the job), and only when it announced it is
   * leaving (its worker drained it on shutdown) or has been missing for the grace period.
   * `serving`: whether slurmctld answers (only then can SLURM be asked which jobs run where).
   */
  async next(
    ctx: RoleContext,
    previous: SlurmControllerRecord | undefined,
    serving: boolean,
  ): Promise<SlurmControllerRecord['nodes']> {
    const nodes = [...this.memberNodes(ctx)];
    const now = this.#now();
    const present = new Set(nodes.map((n) => n.name));
    for (const node of previous?.nodes ?? []) {
      if (present.has(node.name)) {
        this.#missingSince.delete(node.name);
        continue;
      }
      const since = this.#missingSince.get(node.name) ?? now;
      this.#missingSince.set(node.name, since);
      const mayGo = this.isLeaving(node.name) || now - since >= this.#graceMs;
      // Only a serving controller can say which jobs run where (before it serves, squeue would
      // wait ~10 s for one): until then the node stays.
      if (mayGo && serving && (await this.#activeJobsOn(node.name)) === 0) {
        this.#missingSince.delete(node.name);
        continue;
      }
      nodes.push(node);
    }
    return nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
