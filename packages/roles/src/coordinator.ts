/**
 * Starts planned handoffs and waits for their outcome. Any node can coordinate: the coordinator
 * only writes the intent and, on its timeout, the abort; the participants do the steps (see
 * `handoff.ts`), so the handoff finishes or aborts even if the coordinator disappears.
 */
import { kv } from '@clusteros/raft';
import type { Clock, Random } from '@clusteros/sim';
import { isEligible } from './eligibility.js';
import { HandoffAbortedError, HandoffRefusedError, RoleTimeoutError } from './errors.js';
import { casHandoff, type HandoffCache, readHandoff } from './handoff.js';
import type { Logger } from './logger.js';
import { RAFT_ROLE, raftTransferCommand } from './raft-transfer.js';
import { randomId } from './random-id.js';
import {
  decodeHandoff,
  decodeLease,
  encodeHandoff,
  type HandoffRecord,
  handoffKey,
  isAbortablePhase,
  isActivePhase,
  type LeaseRecord,
  leaseKey,
} from './records.js';
import type { ClusterView, RoleRequirements } from './role.js';
import type { RoleStore } from './store.js';
import type { LeaseTiming } from './timing.js';

/** Options of {@link HandoffCoordinator.transfer}. */
export interface TransferOptions {
  /**
   * How long the steps before the commit point may take; after it the handoff aborts and the old
   * holder resumes. @defaultValue the manager's `handoffTimeoutMs` (10000)
   */
  readonly timeoutMs?: number;
}

/** How a transfer ended. */
export interface TransferResult {
  /** The handoff id (`raft` transfers: `raft`). */
  readonly id: string;
  /** The role. */
  readonly role: string;
  /** The old holder. */
  readonly from: string;
  /** The new holder. */
  readonly to: string;
  /** The new holder's fencing token (Raft: the term is not a token; `0`). */
  readonly fencingToken: number;
}

/** What a coordinator needs. */
export interface HandoffCoordinatorOptions {
  /** The replicated store. */
  readonly store: RoleStore;
  /** Time source. */
  readonly clock: Clock;
  /** Randomness (handoff ids). */
  readonly random: Random;
  /** The cluster view (targets must be alive members). */
  readonly cluster: ClusterView;
  /** Prefix of the keys. */
  readonly keyPrefix: string;
  /** Lease timing (the wait after the commit point is bounded by it). */
  readonly timing: LeaseTiming;
  /** Logger. */
  readonly logger: Logger;
  /** Timeout when `transfer` is given none. */
  readonly defaultTimeoutMs: number;
  /** Requirements of roles this node knows (others are checked only for membership of the target). */
  readonly requirements: (role: string) => RoleRequirements | undefined;
}

/** Moves singleton roles (and Raft leadership) between nodes on request. */
export class HandoffCoordinator {
  readonly #o: HandoffCoordinatorOptions;

  /** Created by the {@link RoleManager}; reach it as `manager.coordinator`. */
  constructor(options: HandoffCoordinatorOptions) {
    this.#o = options;
  }

  /**
   * Moves `role` from its holder to `to`:
   * 1. record the intent (a compare-and-swap against the current holder's token);
   * 2. the holder runs `prepareHandoff`; 3. the target `acceptHandoff` and reports healthy;
   * 4. the target moves the lease to itself with a new fencing token (the commit point);
   * 5. the old holder runs `completeHandoff`; 6. the completion is recorded.
   *
   * Resolves when the handoff is recorded complete. Rejects with {@link HandoffRefusedError}
   * if it could not begin, {@link HandoffAbortedError} if it was aborted before step 4 (the old
   * holder then keeps the role). `role` `'raft'` transfers Raft leadership instead.
   */
  async transfer(role: string, to: string, options: TransferOptions = {}): Promise<TransferResult> {
    const timeoutMs = options.timeoutMs ?? this.#o.defaultTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new HandoffRefusedError(role, `timeoutMs must be positive, got ${timeoutMs}`);
    if (role === RAFT_ROLE) return this.#transferRaft(to, timeoutMs);
    const { store, keyPrefix, cluster, clock, logger } = this.#o;
    const target = cluster.members().find((node) => node.id === to);
    if (target === undefined) throw new HandoffRefusedError(role, `${to} is not an alive member`);
    if (!isEligible(target, role, this.#o.requirements(role)))
      throw new HandoffRefusedError(role, `${to} is not eligible for ${role}`);
    // A linearizable read, so that a coordinator on a lagging member sees the current holder.
    const lkey = leaseKey(keyPrefix, role);
    const hkey = handoffKey(keyPrefix, role);
    const read = await store.log.read(kv.range(lkey));
    const handoffRead = await store.log.read(kv.range(hkey));
    if (read.type !== 'range' || handoffRead.type !== 'range')
      throw new HandoffRefusedError(role, 'the store did not answer the read');
    const entry = read.kvs[0];
    if (entry === undefined) throw new HandoffRefusedError(role, 'nobody holds it');
    let lease: LeaseRecord;
    try {
      lease = decodeLease(entry.value, lkey);
    } catch (error) {
      throw new HandoffRefusedError(role, 'its lease record does not decode', { cause: error });
    }
    const holder = lease.holder;
    if (holder === to) return { id: '', role, from: to, to, fencingToken: entry.modRevision };
    const handoffEntry = handoffRead.kvs[0];
    if (handoffEntry !== undefined) {
      let phase: string;
      try {
        const current = decodeHandoff(handoffEntry.value, hkey);
        if (isActivePhase(current.phase))
          throw new HandoffRefusedError(role, `handoff ${current.id} is under way`);
        phase = current.phase;
      } catch (error) {
        if (error instanceof HandoffRefusedError) throw error;
        phase = 'undecodable';
      }
      logger.debug({ role, previous: phase }, 'replacing the previous handoff record');
    }
    const expect = handoffEntry?.modRevision ?? 0;
    const record: HandoffRecord = {
      id: randomId(this.#o.random),
      role,
      from: holder,
      fromSession: lease.session,
      fromToken: entry.modRevision,
      to,
      phase: 'intent',
      deadline: Math.ceil(Math.max(clock.now(), store.view.now) + timeoutMs),
    };
    const written = await store.log.propose(
      kv.txn({
        compare: [
          kv.compare(hkey, 'modRevision', '=', expect),
          kv.compare(lkey, 'modRevision', '=', entry.modRevision),
        ],
        success: [kv.op.put(hkey, encodeHandoff(record))],
      }),
    );
    if (written.type !== 'txn' || !written.succeeded)
      throw new HandoffRefusedError(role, 'the holder or the handoff record changed meanwhile; retry');
    logger.info({ role, id: record.id, from: holder, to }, 'handoff started');
    return this.#await(record, timeoutMs);
  }

  /** Waits for the record to end; aborts it at `timeoutMs` if it has not reached the commit point. */
  #await(record: HandoffRecord, timeoutMs: number): Promise<TransferResult> {
    const { store, keyPrefix, clock, logger, timing } = this.#o;
    const cache: HandoffCache = new Map();
    return new Promise<TransferResult>((resolve, reject) => {
      let abortTimer = clock.setTimeout(() => abortIfUnmoved('timeout'), timeoutMs);
      // After the commit point the old holder still has to confirm; give it one TTL more, then
      // settle on what the store says (the lease has moved: the transfer worked).
      const giveUpTimer = clock.setTimeout(() => finish(true), timeoutMs + 2 * timing.ttlMs);
      const abortIfUnmoved = (reason: string): void => {
        const current = readHandoff(store, keyPrefix, record.role, logger, cache);
        if (current === undefined || current.record.id !== record.id) return;
        if (!isAbortablePhase(current.record.phase)) return;
        const { state: _dropped, ...rest } = current.record;
        casHandoff(store, keyPrefix, current.revision, { ...rest, phase: 'aborted', reason }).then(
          check,
          () => {
            abortTimer = clock.setTimeout(() => abortIfUnmoved(reason), timing.retryMs);
          },
        );
      };
      const finish = (forced: boolean): void => {
        const current = readHandoff(store, keyPrefix, record.role, logger, cache);
        const phase = current?.record.id === record.id ? current.record.phase : undefined;
        if (!forced && phase !== undefined && isActivePhase(phase)) return;
        cleanup();
        if (phase === 'completed' || phase === 'moved') {
          const token = store.view.get(leaseKey(keyPrefix, record.role))?.modRevision ?? 0;
          resolve({
            id: record.id,
            role: record.role,
            from: record.from,
            to: record.to,
            fencingToken: token,
          });
        } else if (phase === 'aborted') {
          reject(new HandoffAbortedError(record.role, record.id, current?.record.reason ?? 'aborted'));
        } else if (phase === undefined && !forced) {
          reject(new HandoffAbortedError(record.role, record.id, 'the record was replaced'));
        } else {
          reject(new RoleTimeoutError(record.role, `handoff ${record.id}`, timeoutMs + 2 * timing.ttlMs));
        }
      };
      const check = (): void => finish(false);
      const cleanup = (): void => {
        clock.clearTimeout(abortTimer);
        clock.clearTimeout(giveUpTimer);
        store.log.off('apply', check);
      };
      store.log.on('apply', check);
      check();
    });
  }

  /**
   * Raft leadership: the leader transfers directly; any other member records a request that the
   * leader carries out (see `raft-transfer.ts`). Resolves once `to` leads.
   */
  async #transferRaft(to: string, timeoutMs: number): Promise<TransferResult> {
    const { store, clock, random, keyPrefix } = this.#o;
    const raft = store.raft;
    if (raft === undefined)
      throw new HandoffRefusedError(RAFT_ROLE, 'this manager was not given Raft leadership');
    const from = raft.leader;
    if (from === null) throw new HandoffRefusedError(RAFT_ROLE, 'no Raft leader is known');
    const result: TransferResult = { id: RAFT_ROLE, role: RAFT_ROLE, from, to, fencingToken: 0 };
    if (from === to) return result;
    if (!this.#o.cluster.members().some((node) => node.id === to))
      throw new HandoffRefusedError(RAFT_ROLE, `${to} is not an alive member`);
    const leads = new Promise<void>((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        store.log.off('apply', check);
        reject(
          new HandoffAbortedError(RAFT_ROLE, RAFT_ROLE, `${to} did not become leader within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      const check = (): void => {
        if (raft.leader !== to) return;
        clock.clearTimeout(timer);
        store.log.off('apply', check);
        resolve();
      };
      store.log.on('apply', check);
    });
    if (raft.leader === this.#o.cluster.self().id) {
      raft.transferLeadership(to).catch(() => {});
    } else {
      const request = {
        id: randomId(random),
        to,
        deadline: Math.ceil(Math.max(clock.now(), store.view.now) + timeoutMs),
      };
      await store.log.propose(raftTransferCommand(keyPrefix, request));
    }
    await leads;
    return result;
  }
}
