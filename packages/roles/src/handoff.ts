/**
 * This node's part in handoffs, driven entirely by the handoff record in the store.
 *
 * Every node watches the record of each singleton role it runs and does the step that is its
 * own: the old holder quiesces (`prepareHandoff`) and records `prepared` with the state; the
 * target warms up (`acceptHandoff`), waits until healthy, and moves the lease to itself together
 * with the record's `moved` in one transaction (the commit point); the old holder then releases
 * (`completeHandoff`) and records `completed`. Before the commit point anyone may abort: the
 * coordinator on its timeout, a participant whose step failed, any node once the record's
 * deadline has passed in store time. Every change is a compare-and-swap on the record's
 * revision, so "moved" and "aborted" can never both happen, and a node that restarts, or a
 * coordinator that vanished, leaves a record that the others finish or abort by themselves.
 */
import { type KvTxnResult, kv } from '@clusteros/raft';
import type { Clock } from '@clusteros/sim';
import type { LeaseElection } from './election.js';
import type { HandoffEventInfo, RoleManagerEvents } from './events.js';
import type { Logger } from './logger.js';
import {
  decodeHandoff,
  encodeHandoff,
  encodeLease,
  type HandoffRecord,
  handoffKey,
  isAbortablePhase,
  leaseKey,
} from './records.js';
import { type ClusterView, MAX_HANDOFF_STATE_BYTES, type NodeRef } from './role.js';
import type { RoleRunner } from './runner.js';
import type { RoleStore } from './store.js';
import type { LeaseTiming } from './timing.js';

/** A singleton role as the handoff logic sees it. */
export interface HandoffSubject {
  readonly runner: RoleRunner;
  readonly election: LeaseElection;
}

/** What the participant needs from its manager. */
export interface HandoffParticipantOptions {
  readonly nodeId: string;
  readonly session: string;
  readonly store: RoleStore;
  readonly clock: Clock;
  readonly timing: LeaseTiming;
  readonly keyPrefix: string;
  readonly cluster: ClusterView;
  readonly logger: Logger;
  /** How often the target polls `health()` while warming. */
  readonly healthPollMs: number;
  readonly emit: <
    E extends
      | 'handoff-started'
      | 'handoff-prepared'
      | 'handoff-accepted'
      | 'handoff-completed'
      | 'handoff-aborted',
  >(
    event: E,
    ...args: RoleManagerEvents[E]
  ) => void;
  /** Ask the manager to reconcile (a role may need starting or stopping). */
  readonly reconcile: () => void;
}

interface LocalPart {
  readonly id: string;
  readonly side: 'from' | 'to';
  step:
    | 'warming'
    | 'ready'
    | 'preparing'
    | 'prepared'
    | 'accepting'
    | 'moving'
    | 'started'
    | 'completing'
    | 'aborting';
}

/** A record together with the revision to compare against. */
export interface StoredHandoff {
  readonly record: HandoffRecord;
  readonly revision: number;
}

/** Decoded records by key, so that evaluating on every applied entry decodes each version once. */
export type HandoffCache = Map<
  string,
  { readonly revision: number; readonly stored: StoredHandoff | undefined }
>;

/** Reads a role's handoff record from the local replica; undecodable records read as absent. */
export function readHandoff(
  store: RoleStore,
  keyPrefix: string,
  role: string,
  logger: Logger,
  cache?: HandoffCache,
): StoredHandoff | undefined {
  const key = handoffKey(keyPrefix, role);
  const entry = store.view.get(key);
  if (entry === undefined) return undefined;
  const cached = cache?.get(key);
  if (cached !== undefined && cached.revision === entry.modRevision) return cached.stored;
  let stored: StoredHandoff | undefined;
  try {
    stored = { record: decodeHandoff(entry.value, key), revision: entry.modRevision };
  } catch (error) {
    logger.warn({ role, err: (error as Error).message }, 'ignoring undecodable handoff record');
  }
  cache?.set(key, { revision: entry.modRevision, stored });
  return stored;
}

/** Compare-and-swap of a handoff record (plus extra guarded writes); resolves the txn result. */
export async function casHandoff(
  store: RoleStore,
  keyPrefix: string,
  expectRevision: number,
  next: HandoffRecord,
  extra: {
    compare?: Parameters<typeof kv.txn>[0]['compare'];
    success?: Parameters<typeof kv.txn>[0]['success'];
  } = {},
): Promise<KvTxnResult | undefined> {
  const key = handoffKey(keyPrefix, next.role);
  const result = await store.log.propose(
    kv.txn({
      compare: [kv.compare(key, 'modRevision', '=', expectRevision), ...(extra.compare ?? [])],
      success: [kv.op.put(key, encodeHandoff(next)), ...(extra.success ?? [])],
    }),
  );
  return result.type === 'txn' ? result : undefined;
}

/** This node's side of every handoff of its singleton roles. */
export class HandoffParticipant {
  readonly #o: HandoffParticipantOptions;
  readonly #local = new Map<string, LocalPart>();
  /** `role@revision` of transitions already proposed, so repeated evaluations do not repeat them. */
  readonly #proposed = new Set<string>();
  readonly #cache: HandoffCache = new Map();

  /** Creates the participant. */
  constructor(options: HandoffParticipantOptions) {
    this.#o = options;
  }

  /** Whether a handoff of `role` involves this node right now (the manager leaves the role alone). */
  busy(role: string): boolean {
    return this.#local.has(role);
  }

  /** Looks at `role`'s record and does this node's step, if any. */
  evaluate(role: string, subject: HandoffSubject): void {
    const stored = readHandoff(this.#o.store, this.#o.keyPrefix, role, this.#o.logger, this.#cache);
    const local = this.#local.get(role);
    if (stored === undefined) return;
    const { record } = stored;
    if (local !== undefined && local.id !== record.id) this.#local.delete(role);
    this.#enforceDeadline(stored);
    if (record.from === this.#o.nodeId) this.#asSource(stored, subject);
    if (record.to === this.#o.nodeId) this.#asTarget(stored, subject);
  }

  #info(record: HandoffRecord, reason?: string): HandoffEventInfo {
    return {
      role: record.role,
      id: record.id,
      from: record.from,
      to: record.to,
      ...(reason !== undefined ? { reason } : {}),
    };
  }

  /** Proposes `record → next` once per record revision; errors are logged (the next evaluation retries). */
  #transition(stored: StoredHandoff, next: HandoffRecord): void {
    const tag = `${next.role}@${stored.revision}`;
    if (this.#proposed.has(tag)) return;
    this.#proposed.add(tag);
    if (this.#proposed.size > 4096) this.#proposed.delete(this.#proposed.values().next().value as string);
    casHandoff(this.#o.store, this.#o.keyPrefix, stored.revision, next).then(
      () => this.#o.reconcile(),
      (error: unknown) => {
        this.#proposed.delete(tag);
        this.#o.logger.debug({ role: next.role, err: (error as Error).message }, 'handoff transition failed');
      },
    );
  }

  #abort(stored: StoredHandoff, reason: string): void {
    const { record } = stored;
    if (!isAbortablePhase(record.phase)) return;
    const { state: _dropped, ...rest } = record;
    this.#transition(stored, { ...rest, phase: 'aborted', reason });
  }

  #enforceDeadline(stored: StoredHandoff): void {
    const { record } = stored;
    const now = this.#o.store.view.now;
    if (isAbortablePhase(record.phase) && now > record.deadline) this.#abort(stored, 'timeout');
    // The lease has moved but the old holder never confirmed (it crashed): the new holder is
    // serving, so the handoff is complete whoever records it.
    if (record.phase === 'moved' && now > record.deadline + this.#o.timing.ttlMs)
      this.#transition(stored, { ...record, phase: 'completed', reason: 'the old holder did not confirm' });
  }

  #asSource(stored: StoredHandoff, subject: HandoffSubject): void {
    const { record } = stored;
    const { runner, election } = subject;
    if (record.fromSession !== this.#o.session) {
      // A previous run of this node began it; that run's role is gone.
      if (isAbortablePhase(record.phase)) this.#abort(stored, 'the old holder restarted');
      return;
    }
    const local = this.#local.get(record.role);
    switch (record.phase) {
      case 'intent':
      case 'ready': {
        if (local !== undefined) return;
        const held = election.held;
        if (
          held === undefined ||
          held.token !== record.fromToken ||
          !election.isHolder() ||
          runner.phase !== 'running'
        ) {
          this.#abort(stored, 'the holder is not running the role');
          return;
        }
        // Keep serving until the target has warmed up; quiesce only once it is ready.
        if (record.phase === 'intent') return;
        this.#local.set(record.role, { id: record.id, side: 'from', step: 'preparing' });
        this.#o.emit('handoff-started', this.#info(record));
        void this.#prepare(stored, subject);
        return;
      }
      case 'moved': {
        if (local === undefined || local.step === 'completing') {
          if (local === undefined) this.#transition(stored, { ...record, phase: 'completed' });
          return;
        }
        local.step = 'completing';
        void this.#complete(stored, subject);
        return;
      }
      case 'aborted': {
        if (local === undefined || local.side !== 'from' || local.step === 'aborting') return;
        local.step = 'aborting';
        void runner.abortHandoff().finally(() => {
          this.#local.delete(record.role);
          this.#o.emit('handoff-aborted', this.#info(record, record.reason));
          this.#o.reconcile();
        });
        return;
      }
      case 'completed':
        if (local?.side === 'from' && local.step !== 'completing') this.#local.delete(record.role);
        return;
      default:
        return;
    }
  }

  async #prepare(stored: StoredHandoff, subject: HandoffSubject): Promise<void> {
    const { record } = stored;
    const to = this.#nodeRef(record.to);
    let data: Uint8Array;
    try {
      const state = await subject.runner.prepare(to);
      data = state.data;
      if (!(data instanceof Uint8Array) || data.byteLength > MAX_HANDOFF_STATE_BYTES)
        throw new Error(`prepareHandoff returned state over ${MAX_HANDOFF_STATE_BYTES} bytes or not bytes`);
    } catch (error) {
      this.#abort(stored, `prepare failed: ${(error as Error).message}`);
      return;
    }
    const local = this.#local.get(record.role);
    if (local?.id !== record.id) return;
    local.step = 'prepared';
    const result = await this.#advance(stored, { ...record, phase: 'prepared', state: data });
    if (result?.succeeded === true) this.#o.emit('handoff-prepared', this.#info(record));
    this.#o.reconcile();
  }

  /**
   * Records this node's own step (`ready`, `prepared`) against the revision it acted on. A lost or
   * timed-out proposal is retried (a retry after a write that did land fails its compare
   * harmlessly); if the step cannot be recorded, the handoff is aborted now rather than left to
   * its deadline. Resolves the transaction result, or `undefined` if it gave up.
   */
  async #advance(stored: StoredHandoff, next: HandoffRecord): Promise<KvTxnResult | undefined> {
    const { record } = stored;
    for (let attempt = 1; ; attempt++) {
      try {
        return await casHandoff(this.#o.store, this.#o.keyPrefix, stored.revision, next);
      } catch (error) {
        const message = (error as Error).message;
        this.#o.logger.debug({ role: record.role, err: message, attempt }, `recording ${next.phase} failed`);
        const current = readHandoff(
          this.#o.store,
          this.#o.keyPrefix,
          record.role,
          this.#o.logger,
          this.#cache,
        );
        if (current?.record.id !== record.id || current.record.phase !== record.phase) return undefined;
        if (attempt >= 3 || this.#o.clock.now() > record.deadline) {
          this.#abort(current, `recording ${next.phase} failed: ${message}`);
          return undefined;
        }
      }
    }
  }

  async #complete(stored: StoredHandoff, subject: HandoffSubject): Promise<void> {
    const { record } = stored;
    subject.election.relinquish();
    await subject.runner.complete();
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const result = await casHandoff(this.#o.store, this.#o.keyPrefix, stored.revision, {
          ...record,
          phase: 'completed',
        });
        if (result !== undefined) break;
      } catch (error) {
        this.#o.logger.debug(
          { role: record.role, err: (error as Error).message },
          'recording completion failed',
        );
      }
    }
    this.#local.delete(record.role);
    this.#o.emit('handoff-completed', this.#info(record));
    this.#o.reconcile();
  }

  #asTarget(stored: StoredHandoff, subject: HandoffSubject): void {
    const { record } = stored;
    const local = this.#local.get(record.role);
    switch (record.phase) {
      case 'intent': {
        if (local !== undefined) return;
        if (subject.runner.phase !== 'stopped') {
          this.#abort(stored, `the target's role is ${subject.runner.phase}`);
          return;
        }
        this.#local.set(record.role, { id: record.id, side: 'to', step: 'warming' });
        void this.#warm(stored, subject);
        return;
      }
      case 'prepared': {
        // `ready` is what this node warmed for; nothing local means this run of the node did not
        // warm (it restarted): accepting from cold is still correct, only slower.
        if (local !== undefined && local.step !== 'ready') return;
        if (local === undefined && subject.runner.phase !== 'stopped') {
          this.#abort(stored, `the target's role is ${subject.runner.phase}`);
          return;
        }
        this.#local.set(record.role, { id: record.id, side: 'to', step: 'accepting' });
        void this.#accept(stored, subject);
        return;
      }
      case 'aborted': {
        if (local === undefined || local.side !== 'to' || local.step === 'aborting') return;
        local.step = 'aborting';
        void subject.runner.stop('handoff-aborted').finally(() => {
          this.#local.delete(record.role);
          this.#o.emit('handoff-aborted', this.#info(record, record.reason));
          this.#o.reconcile();
        });
        return;
      }
      case 'moved':
      case 'completed':
        if (local?.side === 'to' && local.step === 'started') this.#local.delete(record.role);
        return;
      default:
        return;
    }
  }

  /** Target, on `intent`: warm up while the holder still serves, then record `ready`. */
  async #warm(stored: StoredHandoff, subject: HandoffSubject): Promise<void> {
    const { record } = stored;
    try {
      await subject.runner.warm();
    } catch (error) {
      this.#abort(stored, `the target could not warm up: ${(error as Error).message}`);
      return;
    }
    const local = this.#local.get(record.role);
    if (local?.id !== record.id || local.step !== 'warming') return;
    local.step = 'ready';
    await this.#advance(stored, { ...record, phase: 'ready' });
    this.#o.reconcile();
  }

  async #accept(stored: StoredHandoff, subject: HandoffSubject): Promise<void> {
    const { record } = stored;
    const { store, clock, timing, keyPrefix } = this.#o;
    // The lease grant goes out now, alongside the state transfer, so the move needs one commit
    // less inside the unavailability window. Its safe window counts from this send time.
    const sentAt = clock.now();
    const granting = store.log.propose(kv.leaseGrant(timing.ttlMs)).then(
      (result) => (result.type === 'leaseGrant' ? result.id : undefined),
      () => undefined,
    );
    let leaseId: number | undefined;
    let used = false;
    try {
      await subject.runner.accept({ data: record.state ?? new Uint8Array() });
      await this.#waitHealthy(stored, subject);
      const local = this.#local.get(record.role);
      if (local?.id !== record.id) return;
      local.step = 'moving';
      leaseId = await granting;
      if (leaseId === undefined) throw new Error('the store did not grant a lease');
      const lease = encodeLease({ holder: this.#o.nodeId, session: this.#o.session, handoffId: record.id });
      const { state: _dropped, ...rest } = record;
      const result = await casHandoff(
        store,
        keyPrefix,
        stored.revision,
        { ...rest, phase: 'moved', toSession: this.#o.session },
        {
          compare: [kv.compare(leaseKey(keyPrefix, record.role), 'modRevision', '=', record.fromToken)],
          success: [kv.op.put(leaseKey(keyPrefix, record.role), lease, { lease: leaseId })],
        },
      );
      if (result?.succeeded === true) {
        const granted = leaseId;
        used = true;
        local.step = 'started';
        subject.election.adopt(result.revision, granted, sentAt);
        this.#o.emit('handoff-accepted', this.#info(record));
        // The manager starts the role with the new token (the runner is `warming`).
        this.#o.reconcile();
        return;
      }
    } catch (error) {
      this.#o.logger.debug(
        { role: record.role, err: (error as Error).message },
        'accepting the handoff failed',
      );
      this.#abort(stored, `the target is not ready: ${(error as Error).message}`);
    } finally {
      // A grant that was not used (failure, lost compare) is given back.
      if (!used) {
        const unused = leaseId ?? (await granting);
        if (unused !== undefined) void store.log.propose(kv.leaseRevoke(unused)).catch(() => {});
      }
    }
    // The move lost its compare: the record or the lease changed (most likely aborted). The
    // evaluation of the new record stands the target down.
    this.#o.reconcile();
  }

  async #waitHealthy(stored: StoredHandoff, subject: HandoffSubject): Promise<void> {
    const { clock, healthPollMs } = this.#o;
    const { record } = stored;
    for (;;) {
      if (await subject.runner.checkHealth()) return;
      const current = readHandoff(this.#o.store, this.#o.keyPrefix, record.role, this.#o.logger, this.#cache);
      if (current?.record.id !== record.id || current.record.phase !== 'prepared')
        throw new Error('the handoff ended');
      if (clock.now() > record.deadline) throw new Error('not healthy before the deadline');
      await new Promise<void>((resolve) => clock.setTimeout(resolve, healthPollMs));
    }
  }

  #nodeRef(id: string): NodeRef {
    return this.#o.cluster.members().find((node) => node.id === id) ?? { id, name: id };
  }
}
