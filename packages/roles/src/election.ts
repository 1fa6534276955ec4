/**
 * Leader election for one singleton role on one node, on a lease in the Raft KV.
 *
 * - Acquire: grant a KV lease, then create the role's lease key attached to it with a
 *   compare-and-swap (`createRevision = 0`): at most one node wins at any log position. The
 *   winner's fencing token is the key's `modRevision`, the store revision of the winning write.
 * - Renew: keep the KV lease alive every `renewEveryMs`; each success extends the holder's safe
 *   window (see `timing.ts`). The key itself is never rewritten, so the token stays.
 * - Lose: when the safe window runs out before a renewal succeeds, when the store says the lease
 *   is gone, or when the local replica shows the key taken; the holder stops acting at once.
 * - A free role (no key) is contested by eligible nodes, best-ranked first. A dead holder's key
 *   stays until its lease expires in the store: nobody takes a role early.
 */
import { type KvKeyValue, kv } from '@clusteros/raft';
import type { Clock, Random, TimerHandle } from '@clusteros/sim';
import EventEmitter from 'eventemitter3';
import type { Logger } from './logger.js';
import { decodeLease, encodeLease, type LeaseRecord, leaseKey } from './records.js';
import type { RoleStore } from './store.js';
import { type LeaseTiming, safeWindowMs } from './timing.js';

/** Keep-alives of one lease in flight at once, at most. */
const MAX_RENEWALS_IN_FLIGHT = 4;

/** Why a holder stopped holding. */
export type LeaseLossReason =
  /** The safe window ran out before a renewal succeeded. */
  | 'expired'
  /** The store no longer has the lease, or the key names another holder. */
  | 'taken'
  /** This node released it (shutdown, unhealthy role). */
  | 'released'
  /** A handoff moved it to another node. */
  | 'handed-off';

/** What this node holds. */
export interface HeldLease {
  /** The fencing token. */
  readonly token: number;
  /** The KV lease id. */
  readonly leaseId: number;
  /** Local clock time until which this node may act. */
  readonly safeUntil: number;
  /** Local clock time of acquisition. */
  readonly since: number;
}

/** Events of a {@link LeaseElection}. */
export interface LeaseElectionEvents {
  /** This node became the holder with `token`. */
  acquired: [token: number];
  /** This node stopped holding `token`. */
  lost: [token: number, reason: LeaseLossReason];
}

/** What an election needs. */
export interface LeaseElectionOptions {
  /** The role this election is for. */
  readonly role: string;
  /** This node's id. */
  readonly nodeId: string;
  /** This run's session id (see `LeaseRecord.session`). */
  readonly session: string;
  /** The replicated store. */
  readonly store: RoleStore;
  /** Time source. */
  readonly clock: Clock;
  /** Randomness (candidacy jitter). */
  readonly random: Random;
  /** Lease timing. */
  readonly timing: LeaseTiming;
  /** Prefix of the lease key. */
  readonly keyPrefix: string;
  /** Logger. */
  readonly logger: Logger;
  /** Whether this node should contest the role now (enabled, dependencies up, healthy, eligible). */
  readonly canCampaign: () => boolean;
  /** This node's rank among eligible candidates (0 = best). */
  readonly rank: () => number;
}

/** The holder of a role as the local replica shows it. */
export interface LeaseHolderView {
  /** The lease record (holder and session). */
  readonly record: LeaseRecord;
  /** The holder's fencing token (the key's `modRevision`). */
  readonly token: number;
  /** The KV lease the key is attached to. */
  readonly leaseId: number;
}

/** One singleton role's election on one node. */
export class LeaseElection extends EventEmitter<LeaseElectionEvents> {
  readonly #o: LeaseElectionOptions;
  readonly #key: string;
  #held: HeldLease | undefined;
  #running = false;
  #campaigning = false;
  #campaignTimer: TimerHandle | undefined;
  #renewTimer: TimerHandle | undefined;
  #expiryTimer: TimerHandle | undefined;
  #renewedSentAt = 0;
  #renewsInFlight = 0;
  readonly #revoked = new Set<number>();
  #decoded: { readonly revision: number; readonly record: LeaseRecord | undefined } | undefined;

  /** Creates a stopped election; {@link LeaseElection.start} starts it. */
  constructor(options: LeaseElectionOptions) {
    super();
    this.#o = options;
    this.#key = leaseKey(options.keyPrefix, options.role);
  }

  /** The lease this node holds, if any (whether or not still inside its safe window). */
  get held(): HeldLease | undefined {
    return this.#held;
  }

  /** Whether this node holds the lease and is inside its safe window right now. */
  isHolder(): boolean {
    return this.#held !== undefined && this.#o.clock.now() < this.#held.safeUntil;
  }

  /** The holder according to the local replica (possibly behind), or `undefined`. */
  holder(): LeaseHolderView | undefined {
    const entry = this.#o.store.view.get(this.#key);
    if (entry === undefined) return undefined;
    const record = this.#decode(entry);
    return record === undefined ? undefined : { record, token: entry.modRevision, leaseId: entry.lease };
  }

  /** Starts watching and contesting. */
  start(): void {
    this.#running = true;
    this.evaluate();
  }

  /** Stops all timers; a held lease is dropped without a `lost` event (call `release` first to free it). */
  stop(): void {
    this.#running = false;
    this.#clearTimers();
    if (this.#campaignTimer !== undefined) this.#o.clock.clearTimeout(this.#campaignTimer);
    this.#campaignTimer = undefined;
    this.#held = undefined;
  }

  /**
   * Re-reads the local replica and acts: notices a lost key, revokes a lease left by this node's
   * previous session, schedules a campaign for a free role. Called on every applied entry and
   * whenever the node's eligibility may have changed.
   */
  evaluate(): void {
    if (!this.#running) return;
    const entry = this.#o.store.view.get(this.#key);
    const held = this.#held;
    if (held !== undefined) {
      // Revoking is harmless either way: the key is gone (expired) or no longer on our lease (moved).
      if (entry === undefined || entry.modRevision !== held.token || entry.lease !== held.leaseId)
        this.#lose('taken', true);
      return;
    }
    if (entry !== undefined) {
      const record = this.#decode(entry);
      // Our own id with another session: a previous run of this node. It cannot act any more,
      // so free the role now instead of waiting out the TTL.
      if (record?.holder === this.#o.nodeId && record.session !== this.#o.session) this.#revoke(entry.lease);
      return;
    }
    if (this.#campaigning || this.#campaignTimer !== undefined || !this.#o.canCampaign()) return;
    const stagger = this.#o.timing.candidacyStaggerMs;
    const delay =
      Math.min(3, this.#o.rank()) * stagger + this.#o.random.int(0, Math.max(1, Math.floor(stagger / 4)));
    this.#campaignTimer = this.#o.clock.setTimeout(() => {
      this.#campaignTimer = undefined;
      void this.#campaign();
    }, delay);
  }

  /** Releases the lease (revokes it in the store so another node can take the role at once). */
  async release(): Promise<void> {
    const held = this.#held;
    if (held === undefined) return;
    this.#lose('released', false);
    await this.#revokeNow(held.leaseId);
  }

  /**
   * A handoff moved the lease to this node: hold `token` on KV lease `leaseId`, granted by a
   * request sent at local time `sentAt`.
   */
  adopt(token: number, leaseId: number, sentAt: number): void {
    this.#becomeHolder(token, leaseId, sentAt);
  }

  /** A handoff moved the lease away: forget it and revoke the now keyless old KV lease. */
  relinquish(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#lose('handed-off', true);
  }

  async #campaign(): Promise<void> {
    if (!this.#running || this.#held !== undefined || this.#campaigning) return;
    if (this.#o.store.view.get(this.#key) !== undefined || !this.#o.canCampaign()) return;
    this.#campaigning = true;
    const { store, clock, timing } = this.#o;
    let leaseId: number | undefined;
    try {
      const sentAt = clock.now();
      const grant = await store.log.propose(kv.leaseGrant(timing.ttlMs));
      if (grant.type !== 'leaseGrant') return;
      leaseId = grant.id;
      const value = encodeLease({ holder: this.#o.nodeId, session: this.#o.session });
      const txn = await store.log.propose(
        kv.txn({
          compare: [kv.compare(this.#key, 'createRevision', '=', 0)],
          success: [kv.op.put(this.#key, value, { lease: grant.id })],
        }),
      );
      if (txn.type === 'txn' && txn.succeeded && this.#running) {
        leaseId = undefined;
        this.#becomeHolder(txn.revision, grant.id, sentAt);
      }
    } catch (error) {
      this.#o.logger.debug({ role: this.#o.role, err: (error as Error).message }, 'campaign failed');
      this.#retryLater();
    } finally {
      this.#campaigning = false;
      if (leaseId !== undefined) this.#revoke(leaseId);
    }
  }

  #retryLater(): void {
    if (!this.#running || this.#campaignTimer !== undefined) return;
    this.#campaignTimer = this.#o.clock.setTimeout(() => {
      this.#campaignTimer = undefined;
      this.evaluate();
    }, this.#o.timing.retryMs);
  }

  #becomeHolder(token: number, leaseId: number, sentAt: number): void {
    const { clock, timing } = this.#o;
    const safeUntil = sentAt + safeWindowMs(timing);
    if (safeUntil <= clock.now()) {
      // The grant took so long that its safe window is already over: acting would be unsafe.
      this.#revoke(leaseId);
      return;
    }
    this.#clearTimers();
    this.#held = { token, leaseId, safeUntil, since: clock.now() };
    this.#renewedSentAt = sentAt;
    this.#armExpiry();
    this.#startRenewing();
    this.#o.logger.info({ role: this.#o.role, token }, 'lease acquired');
    this.emit('acquired', token);
  }

  #armExpiry(): void {
    const held = this.#held;
    if (held === undefined) return;
    if (this.#expiryTimer !== undefined) this.#o.clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = this.#o.clock.setTimeout(
      () => {
        this.#expiryTimer = undefined;
        const current = this.#held;
        if (current !== undefined && this.#o.clock.now() >= current.safeUntil) this.#lose('expired', true);
        else this.#armExpiry();
      },
      // At least 1 ms: a drifting clock may wake a hair early, and re-arming for a fraction of a
      // millisecond again and again would spin.
      Math.max(1, held.safeUntil - this.#o.clock.now()),
    );
  }

  /**
   * Renewal runs on a `retryMs` tick while holding: once `renewEveryMs` has passed since the last
   * successful renewal was sent, every tick sends a keep-alive until one succeeds. A keep-alive
   * that is slow (lost message, leader change) does not hold up the next one, so one stuck
   * request cannot run out the safe window.
   */
  #startRenewing(): void {
    if (this.#renewTimer !== undefined) this.#o.clock.clearInterval(this.#renewTimer);
    this.#renewTimer = this.#o.clock.setInterval(() => this.#renewTick(), this.#o.timing.retryMs);
  }

  #renewTick(): void {
    const held = this.#held;
    if (held === undefined) return;
    const { clock, timing } = this.#o;
    const now = clock.now();
    if (now - this.#renewedSentAt < timing.renewEveryMs) return;
    if (this.#renewsInFlight >= MAX_RENEWALS_IN_FLIGHT) return;
    void this.#renew(held, now);
  }

  async #renew(held: HeldLease, sentAt: number): Promise<void> {
    this.#renewsInFlight++;
    const { clock, timing, store } = this.#o;
    try {
      const result = await store.log.propose(kv.leaseKeepAlive(held.leaseId));
      const current = this.#held;
      if (current === undefined || current.leaseId !== held.leaseId) return;
      if (result.type === 'error') {
        this.#lose('taken', false);
        return;
      }
      if (sentAt <= this.#renewedSentAt) return;
      this.#renewedSentAt = sentAt;
      const safeUntil = Math.max(current.safeUntil, sentAt + safeWindowMs(timing));
      this.#held = { ...current, safeUntil };
      if (clock.now() >= safeUntil) this.#lose('expired', true);
      else this.#armExpiry();
    } catch (error) {
      this.#o.logger.debug({ role: this.#o.role, err: (error as Error).message }, 'lease renewal failed');
    } finally {
      this.#renewsInFlight--;
    }
  }

  #lose(reason: LeaseLossReason, revoke: boolean): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    this.#clearTimers();
    if (revoke) this.#revoke(held.leaseId);
    this.#o.logger.info({ role: this.#o.role, token: held.token, reason }, 'lease lost');
    this.emit('lost', held.token, reason);
    this.evaluate();
  }

  #clearTimers(): void {
    const { clock } = this.#o;
    if (this.#renewTimer !== undefined) clock.clearInterval(this.#renewTimer);
    if (this.#expiryTimer !== undefined) clock.clearTimeout(this.#expiryTimer);
    this.#renewTimer = undefined;
    this.#expiryTimer = undefined;
  }

  /** Revokes `leaseId` in the background, once; failures are harmless (the lease expires anyway). */
  #revoke(leaseId: number): void {
    if (leaseId === 0 || this.#revoked.has(leaseId)) return;
    void this.#revokeNow(leaseId);
  }

  async #revokeNow(leaseId: number): Promise<void> {
    if (leaseId === 0 || this.#revoked.has(leaseId)) return;
    this.#revoked.add(leaseId);
    if (this.#revoked.size > 1024) this.#revoked.delete(this.#revoked.values().next().value as number);
    try {
      await this.#o.store.log.propose(kv.leaseRevoke(leaseId));
    } catch (error) {
      this.#revoked.delete(leaseId);
      this.#o.logger.debug({ role: this.#o.role, err: (error as Error).message }, 'lease revoke failed');
    }
  }

  /** Decodes the lease record, once per version of the key (this runs on every applied entry). */
  #decode(entry: KvKeyValue): LeaseRecord | undefined {
    if (this.#decoded?.revision === entry.modRevision) return this.#decoded.record;
    let record: LeaseRecord | undefined;
    try {
      record = decodeLease(entry.value, this.#key);
    } catch (error) {
      this.#o.logger.warn(
        { role: this.#o.role, err: (error as Error).message },
        'ignoring undecodable lease record',
      );
    }
    this.#decoded = { revision: entry.modRevision, record };
    return record;
  }
}
