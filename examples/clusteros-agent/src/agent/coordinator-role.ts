/**
 * `cluster-coordinator`: the agent's own singleton role. One node at a time does the cluster's
 * housekeeping that must happen once, not once per node:
 *
 * - creates the cluster's shared secrets in the Raft KV the first time (`/clusteros/secrets/
 *   munge.key`: 1024 random bytes, as `mungekey` makes them; `/clusteros/secrets/k3s.token`: 32
 *   random bytes, hex) with a create-only transaction, so two holders in a row never overwrite
 *   each other; the SLURM and k3s roles read them from there. The values are never logged.
 * - keeps the node registry `/clusteros/nodes/<id>`: the first time a member is seen alive it
 *   records `{name, joined_at}`, which is what the dashboard shows as `joined_at` on every node.
 *
 * It has no process of its own, so a handoff only has to stop the loop on the old holder and
 * start it on the new one; the work is idempotent, so overlapping for a moment is harmless.
 */
import { randomBytes } from 'node:crypto';
import type { KvCompare, KvResult } from '@clusteros/raft';
import { kv } from '@clusteros/raft';
import type { HandoffState, HealthReport, NodeRef, Role, RoleContext, RoleStatus } from '@clusteros/roles';

/** The role's name. */
export const COORDINATOR_ROLE = 'cluster-coordinator';
/** Where the shared secrets live. */
export const SECRET_KEYS = {
  munge: '/clusteros/secrets/munge.key',
  k3sToken: '/clusteros/secrets/k3s.token',
} as const;
/** Prefix of the node registry. */
export const NODE_REGISTRY_PREFIX = '/clusteros/nodes/';

/** One node's registry record. */
export interface NodeRecordValue {
  /** Its name when first seen. */
  readonly name: string;
  /** When the coordinator first saw it alive (ISO 8601). */
  readonly joined_at: string;
}

/** What the coordinator needs of Raft and the KV: a `RaftNode` and its `KvStateMachine` have it. */
export interface CoordinatorStore {
  /** Proposes a KV command (forwarded to the leader). */
  propose(command: Uint8Array): Promise<KvResult>;
  /** Reads this member's applied KV state. */
  get(key: string): { readonly value: Uint8Array } | undefined;
}

/** Options of {@link CoordinatorRole}. */
export interface CoordinatorRoleOptions {
  /** The store. */
  readonly store: CoordinatorStore;
  /** Wall clock in ms (for `joined_at`). */
  readonly now: () => number;
  /** How often the holder reconciles. @defaultValue 2000 */
  readonly intervalMs?: number;
}

/** Decodes a registry record; undefined when malformed. */
export function parseNodeRecord(bytes: Uint8Array): NodeRecordValue | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<NodeRecordValue>;
    if (typeof value.name === 'string' && typeof value.joined_at === 'string')
      return { name: value.name, joined_at: value.joined_at };
  } catch {
    // malformed: treated as absent
  }
  return undefined;
}

const createOnly = (key: string): KvCompare => kv.compare(key, 'createRevision', '=', 0);

/** The coordinator singleton (see the module comment). */
export class CoordinatorRole implements Role {
  /** {@link COORDINATOR_ROLE}. */
  readonly name = COORDINATOR_ROLE;
  /** One holder at a time. */
  readonly placement = 'singleton' as const;
  readonly #store: CoordinatorStore;
  readonly #now: () => number;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #since: number | null = null;
  #running = false;
  #lastError: string | undefined;
  #rounds = 0;
  #inFlight: Promise<void> | undefined;

  /** Creates the role (it does nothing until the manager starts it). */
  constructor(options: CoordinatorRoleOptions) {
    this.#store = options.store;
    this.#now = options.now;
    this.#intervalMs = options.intervalMs ?? 2_000;
  }

  /** Creates missing secrets, then reconciles the registry every interval. */
  async start(ctx: RoleContext): Promise<void> {
    await this.#round(ctx);
    this.#running = true;
    this.#since = this.#now();
    this.#schedule(ctx);
  }

  #schedule(ctx: RoleContext): void {
    this.#timer = setTimeout(() => {
      if (!this.#running) return;
      if (ctx.signal.aborted) {
        // The run this context belongs to is over (the manager gave up on it): stop saying
        // "coordinating" when nothing coordinates any more.
        this.#running = false;
        this.#since = this.#now();
        return;
      }
      this.#inFlight = this.#round(ctx).catch((error: unknown) => {
        this.#lastError = error instanceof Error ? error.message : String(error);
        ctx.logger.warn({ role: this.name, error: this.#lastError }, 'coordinator round failed');
      });
      void this.#inFlight.finally(() => {
        if (this.#running) this.#schedule(ctx);
      });
    }, this.#intervalMs);
  }

  async #round(ctx: RoleContext): Promise<void> {
    await this.#ensureSecrets();
    for (const member of ctx.cluster.members()) await this.#register(member);
    this.#rounds++;
    this.#lastError = undefined;
  }

  async #ensureSecrets(): Promise<void> {
    const wanted: [string, () => Uint8Array | string][] = [
      [SECRET_KEYS.munge, () => new Uint8Array(randomBytes(1024))],
      [SECRET_KEYS.k3sToken, () => randomBytes(32).toString('hex')],
    ];
    for (const [key, make] of wanted) {
      if (this.#store.get(key) !== undefined) continue;
      await this.#store.propose(kv.txn({ compare: [createOnly(key)], success: [kv.op.put(key, make())] }));
    }
  }

  async #register(member: NodeRef): Promise<void> {
    const key = `${NODE_REGISTRY_PREFIX}${member.id}`;
    if (this.#store.get(key) !== undefined) return;
    const record: NodeRecordValue = { name: member.name, joined_at: new Date(this.#now()).toISOString() };
    await this.#store.propose(
      kv.txn({ compare: [createOnly(key)], success: [kv.op.put(key, JSON.stringify(record))] }),
    );
  }

  async #halt(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    this.#since = this.#now();
  }

  /** Stops the loop and waits for a round in progress. */
  async stop(_ctx: RoleContext): Promise<void> {
    await this.#halt();
  }

  /** Running while the loop runs. */
  status(): RoleStatus {
    return {
      running: this.#running,
      healthy: this.#lastError === undefined,
      leader: this.#running,
      since: this.#since,
      detail: this.#running
        ? `coordinating (${this.#rounds} rounds)${this.#lastError === undefined ? '' : `; last round failed: ${this.#lastError}`}`
        : 'standby',
    };
  }

  /** Healthy unless the last round failed. */
  async health(): Promise<HealthReport> {
    return this.#lastError === undefined
      ? { healthy: true }
      : { healthy: false, detail: `last round failed: ${this.#lastError}` };
  }

  /** Stops the loop; the new holder needs no state (everything is in the KV). */
  async prepareHandoff(_ctx: RoleContext, _to: NodeRef): Promise<HandoffState> {
    await this.#halt();
    return { data: new Uint8Array() };
  }

  /** Nothing left to release. */
  async completeHandoff(_ctx: RoleContext): Promise<void> {}

  /** The handoff failed before the lease moved: resume. */
  async abortHandoff(ctx: RoleContext): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#since = this.#now();
    this.#schedule(ctx);
  }
}
