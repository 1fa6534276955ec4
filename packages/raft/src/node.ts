import { type Clock, type Random, SystemClock, systemRandom, type TimerHandle } from '@clusteros/sim';
import { EventEmitter } from 'eventemitter3';
import { CommitNoticeCoalescer } from './commit-notices.js';
import { decodeConfChange, encodeConfChange } from './conf-change-codec.js';
import { RaftCore } from './core/raft-core.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  NodeId,
  ProposeRequest,
  RaftRole,
  Ready,
  Snapshot,
  SoftState,
  VoteRequest,
} from './core/types.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import {
  InvariantError,
  isNotLeaderError,
  isProposalDroppedError,
  ProposalDroppedError,
  RaftStoppedError,
  RaftTimeoutError,
} from './errors.js';
import type { RaftNodeEvents } from './events.js';
import { type Logger, silentLogger } from './logger.js';
import { type RaftNodeOptions, type ResolvedNodeOptions, resolveNodeOptions } from './node-options.js';
import type { StateMachine } from './state-machine.js';
import type { RaftStorage } from './storage/storage.js';
import type { RaftTransport } from './transport/transport.js';

/** A member as {@link RaftNode.status} reports it. */
export interface RaftMemberStatus {
  /** Member id. */
  readonly id: NodeId;
  /** Voter (true) or learner. */
  readonly voter: boolean;
  /** Highest index known replicated there (leader only; 0 elsewhere). */
  readonly match: number;
  /** Next index the leader will send (leader only; 0 elsewhere). */
  readonly next: number;
  /** Peer address, when known. */
  readonly address: string | undefined;
}

/** What {@link RaftNode.status} returns: a plain snapshot, safe to serialise. */
export interface RaftNodeStatus {
  /** This member. */
  readonly id: NodeId;
  /** Current role. */
  readonly role: RaftRole;
  /** Current term. */
  readonly term: number;
  /** Known leader, or null. */
  readonly leader: NodeId | null;
  /** Highest committed index known here. */
  readonly commitIndex: number;
  /** Highest index applied to the state machine. */
  readonly appliedIndex: number;
  /** Last index in the log. */
  readonly lastIndex: number;
  /** Index of the latest snapshot. */
  readonly snapshotIndex: number;
  /** Members of the current configuration. */
  readonly members: readonly RaftMemberStatus[];
  /** True while a joint configuration is in force. */
  readonly joint: boolean;
  /** Requests waiting for their result. */
  readonly pendingRequests: number;
}

interface Pending<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
  readonly timer: TimerHandle;
}

/** A proposal handed to a leader, kept so that it can be sent again if that leader is replaced. */
interface ForwardedProposal {
  readonly send: (requestId: string) => void;
  readonly leader: NodeId | null;
  readonly term: number;
  /** When it was forwarded, on this member's clock. */
  readonly sentAt: number;
}

interface ReadRound {
  readonly batch: readonly string[];
  /** When the round was last asked of the core (this member's clock); -∞ before that. */
  askedAt: number;
}

interface PendingRead<QR> extends Pending<QR> {
  readonly query: unknown;
  /** The read index once the leader confirmed it; -1 before. */
  index: number;
}

const NO_SNAPSHOT_INDEX = 0;

/**
 * A Raft member: the driver around the deterministic {@link RaftCore}. It owns the clock ticks,
 * the transport and the storage, and keeps Raft's ordering rules for every batch of work:
 *
 * 1. persist (snapshot, then entries and hard state, fsynced) — so no vote or acknowledgement
 *    is ever sent for state that a crash could lose; committed entries that were on disk before
 *    the batch are applied while it is written;
 * 2. send the batch's messages;
 * 3. apply the snapshot and the rest of the committed entries to the state machine, resolve
 *    proposals and reads;
 * 4. advance the core; maybe take a local snapshot.
 *
 * Proposals resolve with the state machine's result once applied on this member, wherever they
 * were proposed: a follower forwards them to the leader, and recognises its own entries by the
 * request id in each entry's envelope.
 */
export class RaftNode<
  Result = unknown,
  Query = unknown,
  QueryResult = unknown,
> extends EventEmitter<RaftNodeEvents> {
  /** This member's id. */
  readonly id: NodeId;
  readonly #options: ResolvedNodeOptions;
  readonly #core: RaftCore;
  readonly #storage: RaftStorage;
  readonly #transport: RaftTransport;
  readonly #machine: StateMachine<Result, Query, QueryResult>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #requestPrefix: string;
  readonly #stamp: ((command: Uint8Array, now: number) => Uint8Array) | undefined;
  readonly #timeCommand: RaftNodeOptions['timeCommand'];
  #lastTimeCommand = Number.NEGATIVE_INFINITY;
  readonly #addresses = new Map<NodeId, string>();
  readonly #proposals = new Map<string, Pending<Result>>();
  readonly #configChanges = new Map<string, Pending<ConfState>>();
  readonly #proposedAt = new Map<number, string>();
  readonly #reads = new Map<string, PendingRead<QueryResult>>();
  /**
   * Linearizable reads are confirmed in batches, as etcd's read loop does: one ReadIndex round
   * (a heartbeat to a quorum) serves every read that arrived before the round started. Reads
   * that arrive while a round is out wait for the next one (a round's index may be older than
   * their invocation, so they cannot share it).
   */
  readonly #readQueue: string[] = [];
  /** Read rounds in flight: round context → the reads it serves and when it was last asked. */
  readonly #rounds = new Map<string, ReadRound>();
  readonly #transfers = new Set<{ readonly to: NodeId; readonly done: () => void }>();
  /**
   * Requests that could not be proposed because no leader is known or a leadership transfer is
   * under way: they wait (until their timeout) and are retried when the leader changes or on the
   * next tick, so a planned transfer or an election costs clients latency, not errors.
   */
  readonly #parked = new Map<string, () => void>();
  /**
   * With `retryForwardedProposals`: proposals this member forwarded and is still waiting for,
   * with the leader and term they went to and how to send them again.
   */
  readonly #forwarded = new Map<string, ForwardedProposal>();
  /**
   * The transfer target this member voted for in its campaign (after sending it a plain
   * `timeoutNow`, or on its vote request), with the term it campaigns in: from then on the
   * proposals this member holds go to the target, which appends them with its first entries,
   * instead of waiting here until the new leader is known.
   */
  #handOverTarget: { readonly to: NodeId; readonly campaignTerm: number } | null = null;
  /** Proposals forwarded to this leader during its leadership transfer, passed on afterwards. */
  #held: { readonly message: ProposeRequest; readonly until: number }[] = [];
  /** Commit notices on their way out, held for `commitNoticeDelayMs` (see commit-notices.ts). */
  readonly #notices: CommitNoticeCoalescer;
  #ticker: TimerHandle | undefined;
  /** The delay before the first tick, until it ends. */
  #tickStart: TimerHandle | undefined;
  /** Delay of the first tick, drawn once in [0, heartbeatMs): see `#start`. */
  readonly #tickPhaseMs: number;
  #counter = 0;
  #applied = 0;
  #snapshotIndex = NO_SNAPSHOT_INDEX;
  #leader: NodeId | null = null;
  #role: RaftRole = 'follower';
  /** The term of the last soft state handled: the term `#leader` leads in. */
  #term = 0;
  #pumping = false;
  #again = false;
  #pumpDone: Promise<void> = Promise.resolve();
  #stopped = false;
  #deferredHardState: Ready['hardState'];
  #persistedTerm = 0;
  #persistedVote: NodeId | null = null;

  private constructor(
    options: RaftNodeOptions<Result, Query, QueryResult>,
    resolved: ResolvedNodeOptions,
    core: RaftCore,
    clock: Clock,
    random: Random,
  ) {
    super();
    this.id = options.id;
    this.#options = resolved;
    this.#core = core;
    this.#storage = options.storage;
    this.#transport = options.transport;
    this.#machine = options.stateMachine;
    this.#clock = clock;
    this.#notices = new CommitNoticeCoalescer(clock, resolved.commitNoticeDelayMs, (message) =>
      this.#transport.send(message),
    );
    this.#logger = options.logger ?? silentLogger;
    this.#stamp = options.stampCommand;
    this.#timeCommand = options.timeCommand;
    // A fresh random prefix per process keeps request ids from colliding with a previous
    // incarnation's entries that are still in the log.
    this.#requestPrefix = `${options.id}.${random.nextUint32().toString(36)}${random.nextUint32().toString(36)}`;
    this.#tickPhaseMs = random.int(0, resolved.heartbeatMs);
  }

  /**
   * Opens the storage (bootstrapping the initial configuration on first boot), restores the
   * state machine from the latest snapshot, and starts ticking. Throws `RaftConfigError` for
   * invalid options and whatever the storage's `open()` throws (e.g. `StorageCorruptError`, or
   * `DiskLockedError` when another process uses the same `FileStorage` folder). When it throws
   * after the storage opened, it closes the storage first.
   */
  static async create<R = unknown, Q = unknown, QR = unknown>(
    options: RaftNodeOptions<R, Q, QR>,
  ): Promise<RaftNode<R, Q, QR>> {
    const resolved = resolveNodeOptions(options as RaftNodeOptions<unknown, unknown, unknown>);
    const clock = options.clock ?? new SystemClock();
    const random = options.random ?? systemRandom();
    const storage = options.storage;
    await storage.open();
    try {
      return await RaftNode.#startOn(options, resolved, clock, random);
    } catch (error) {
      // Closed, so that it gives up its folder (FileStorage holds a lock on it) for a retry.
      await storage.close().catch(() => {});
      throw error;
    }
  }

  /** The rest of {@link RaftNode.create}, once the storage is open. */
  static async #startOn<R, Q, QR>(
    options: RaftNodeOptions<R, Q, QR>,
    resolved: ResolvedNodeOptions,
    clock: Clock,
    random: Random,
  ): Promise<RaftNode<R, Q, QR>> {
    const storage = options.storage;
    const fresh = isFresh(storage);
    if (fresh && resolved.start === 'bootstrap')
      await bootstrap(storage, options.peers, options.stateMachine);
    const snapshot = storage.snapshot();
    if (snapshot.meta.index > 0) options.stateMachine.restore(snapshot.data);
    const core = new RaftCore({
      id: options.id,
      storage,
      random: random.fork('raft-core'),
      electionTicks: resolved.electionTicks,
      heartbeatTicks: 1,
      preVote: options.preVote ?? true,
      initialElectionTickAdvance: options.initialElectionTickAdvance ?? false,
      checkQuorum: options.checkQuorum ?? true,
      readMode: options.readMode ?? 'safe',
      forwardProposals: options.forwardProposals ?? true,
      applied: snapshot.meta.index,
      decodeConfChange: decodeConfigEntry,
      ...(options.maxSizePerMsg === undefined ? {} : { maxSizePerMsg: options.maxSizePerMsg }),
      ...(options.maxInflightMsgs === undefined ? {} : { maxInflightMsgs: options.maxInflightMsgs }),
      ...(options.maxUncommittedBytes === undefined
        ? {}
        : { maxUncommittedBytes: options.maxUncommittedBytes }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    const node = new RaftNode(options, resolved, core, clock, random);
    node.#start(snapshot);
    if (fresh && resolved.start === 'join') {
      // Only the transport learns these: the configuration (with every member's address) comes
      // from the leader's snapshot, and a hint must not outlive it as a member.
      for (const [id, address] of Object.entries(options.peers)) {
        if (id !== options.id) options.transport.setPeer(id, address);
      }
      node.#logger.info({ id: options.id }, 'raft: empty storage, waiting for a leader to add this member');
    }
    return node;
  }

  #start(snapshot: Snapshot): void {
    this.#applied = snapshot.meta.index;
    this.#snapshotIndex = snapshot.meta.index;
    for (const [id, address] of Object.entries(snapshot.meta.addresses)) this.#setAddress(id, address);
    const status = this.#core.status();
    this.#term = status.term;
    this.#persistedTerm = status.term;
    this.#persistedVote = status.vote;
    this.#transport.onMessage((message) => {
      if (this.#stopped) return;
      // A proposal forwarded to a leader that is handing over, or to a member that is no longer
      // the leader (the forwarder's view was stale), is held and passed on to the leader there
      // is next, instead of being dropped while its proposer waits for nothing.
      if (message.type === 'propose' && (this.#core.role !== 'leader' || this.#core.transferee !== null)) {
        const target = this.#handingOverTo();
        if (target !== null) {
          this.#relay(message, target);
          return;
        }
        this.#hold(message);
        this.#releaseParked();
        return;
      }
      const leaderBefore = this.#core.leader;
      try {
        this.#core.step(message.type === 'propose' ? this.#stampForwarded(message) : message);
        // A leader became known (this member won, or a new leader's first append arrived):
        // waiting requests go to it now, not after this batch is persisted. On a new leader
        // they then leave with its first append; forwarding needs nothing durable.
        if (this.#core.leader !== leaderBefore && this.#core.leader !== null) {
          this.#releaseParked();
          this.#resendForwarded();
        }
        if (message.type === 'vote' && message.transfer && !message.preVote) this.#votedInTransfer(message);
      } catch (error) {
        this.#fail(error);
        return;
      }
      this.#schedule();
    });
    this.#transport.onUnreachable?.((peer) => this.#report(() => this.#core.reportUnreachable(peer)));
    this.#transport.onSnapshotStatus?.((peer, ok) => this.#report(() => this.#core.reportSnapshot(peer, ok)));
    const tick = (): void => {
      if (this.#stopped) return;
      try {
        this.#core.tick();
        this.#maybeProposeTime();
        this.#releaseParked();
        this.#resendForwarded(this.#clock.now() - this.#options.electionTimeoutMs);
        // A round whose heartbeats were lost must not hold the queue for longer than a tick.
        if (this.#readQueue.length > 0) this.#startReadRound();
        this.#reaskSilentRounds();
      } catch (error) {
        this.#fail(error);
        return;
      }
      this.#schedule();
    };
    // Ticks start at a random point of the first heartbeat interval. Members started at the
    // same moment (by one orchestrator, or in a simulation) would otherwise tick in lockstep,
    // and since election timeouts are whole ticks (only electionTimeoutMs / heartbeatMs
    // distinct values), two members drawing the same count would campaign in the same instant
    // and split the vote, again and again (seen in simulation: seven split rounds in a row
    // after a leader's crash, 2.7 s without a leader at a 300 ms election timeout).
    this.#tickStart = this.#clock.setTimeout(() => {
      this.#tickStart = undefined;
      this.#ticker = this.#clock.setInterval(tick, this.#options.heartbeatMs);
    }, this.#tickPhaseMs);
    this.#schedule();
  }

  #report(tell: () => void): void {
    if (this.#stopped) return;
    try {
      tell();
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#schedule();
  }

  /** The known leader, or null. */
  get leader(): NodeId | null {
    return this.#leader;
  }

  /**
   * This member's current term: what `status().term` says, without building the rest of the
   * status (a server that puts the term in every response header asks this per request).
   */
  get term(): number {
    return this.#core.term;
  }

  /** This member's role. */
  get role(): RaftRole {
    return this.#role;
  }

  /** True once {@link RaftNode.stop} was called (or a fatal error stopped the node). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Replicates `command` and resolves with the state machine's result once it is applied here.
   * While no leader is known (an election) or the leader is handing over (a transfer), the
   * proposal waits and is retried when a leader is there, within `requestTimeoutMs`. Rejects
   * with `NotLeaderError` (carrying the leader hint) when this member will not forward it
   * (`forwardProposals: false`), `ProposalDroppedError` under overload or when a new leader
   * overwrote the entry, `RaftTimeoutError` when it was not applied in time (it may still be
   * applied later: make commands idempotent or use client sessions), and `RaftStoppedError`
   * when the node stops.
   */
  propose(command: Uint8Array): Promise<Result> {
    const send = (requestId: string): void => {
      const leading = this.#isLeader();
      this.#core.propose(encodeEnvelope(requestId, leading ? this.#stamped(command) : command));
      if (leading) this.#recordLocalIndex(requestId);
      else if (this.#options.retryForwardedProposals) {
        this.#forwarded.set(requestId, {
          send,
          leader: this.#core.leader,
          term: this.#core.term,
          sentAt: this.#clock.now(),
        });
      }
    };
    return this.#submit(this.#proposals, send);
  }

  /**
   * A linearizable read: confirms with a quorum that this member's leader is still the leader
   * (ReadIndex), waits until the state machine has applied that far, then runs `query`.
   * Followers ask the leader for the index and answer locally.
   */
  read(query: Query): Promise<QueryResult> {
    if (this.#stopped) return Promise.reject(new RaftStoppedError());
    const requestId = this.#nextRequestId();
    return new Promise<QueryResult>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#reads.delete(requestId);
        reject(new RaftTimeoutError('read', this.#options.requestTimeoutMs));
      }, this.#options.requestTimeoutMs);
      this.#reads.set(requestId, { resolve, reject, timer, query, index: -1 });
      this.#readQueue.push(requestId);
      if (this.#rounds.size === 0) this.#startReadRound();
      this.#schedule();
    });
  }

  /**
   * Hands leadership to `to` (a voter): the leader catches it up, tells it to campaign at once,
   * steps down and grants it its vote unasked (in a three-member cluster, a quorum with the
   * target's own). Resolves when `to` is the leader; rejects with `NotLeaderError` on a
   * non-leader and `RaftTimeoutError` if the transfer does not finish within two election
   * timeouts (if `to` never caught up this member stays leader; if `to` failed after the hand-over,
   * an ordinary election follows).
   */
  transferLeadership(to: NodeId): Promise<void> {
    if (this.#stopped) return Promise.reject(new RaftStoppedError());
    if (this.#leader === to) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const limit = 2 * this.#options.electionTimeoutMs;
      const entry = {
        to,
        done: () => {
          this.#clock.clearTimeout(timer);
          this.#transfers.delete(entry);
          resolve();
        },
      };
      const timer = this.#clock.setTimeout(() => {
        this.#transfers.delete(entry);
        reject(new RaftTimeoutError(`leadership transfer to ${to}`, limit));
      }, limit);
      this.#handOverTarget = null;
      try {
        this.#core.transferLeadership(to);
      } catch (error) {
        this.#clock.clearTimeout(timer);
        reject(asError(error));
        return;
      }
      this.#transfers.add(entry);
      this.#schedule();
    });
  }

  /** Adds `id` at `address` as a learner: it receives the log but does not vote until promoted. */
  addLearner(id: NodeId, address: string): Promise<ConfState> {
    return this.changeMembership({ mode: 'simple', steps: [{ type: 'addLearner', id, address }] });
  }

  /** Makes learner `id` a voter. Promote only once it has caught up (see `status().members`). */
  promote(id: NodeId): Promise<ConfState> {
    const address = this.#addresses.get(id);
    return this.changeMembership({
      mode: 'simple',
      steps: [{ type: 'addVoter', id, ...(address === undefined ? {} : { address }) }],
    });
  }

  /** Removes `id` (voter or learner) from the cluster. */
  removeServer(id: NodeId): Promise<ConfState> {
    return this.changeMembership({ mode: 'simple', steps: [{ type: 'remove', id }] });
  }

  /**
   * Proposes any configuration change (a `joint` change may replace several voters at once)
   * and resolves with the configuration once the change is applied here. Rejects with
   * `ConfChangeError` when another change is still pending or the change is invalid.
   */
  changeMembership(change: ConfChange): Promise<ConfState> {
    return this.#submit(this.#configChanges, (requestId) => {
      this.#core.proposeConfChange(change, encodeEnvelope(requestId, encodeConfChange(change)));
      this.#recordLocalIndex(requestId);
    });
  }

  /** A plain snapshot of this member's Raft state. */
  status(): RaftNodeStatus {
    const core = this.#core.status();
    const progress = new Map(core.progress.map((p) => [p.id, p]));
    const member = (id: NodeId, voter: boolean): RaftMemberStatus => ({
      id,
      voter,
      match: progress.get(id)?.match ?? (id === this.id && core.role === 'leader' ? core.lastIndex : 0),
      next: progress.get(id)?.next ?? 0,
      address: this.#addresses.get(id),
    });
    const voters = [...new Set([...core.conf.voters, ...core.conf.votersOutgoing])];
    return {
      id: this.id,
      role: core.role,
      term: core.term,
      leader: core.leader,
      commitIndex: core.commitIndex,
      appliedIndex: this.#applied,
      lastIndex: core.lastIndex,
      snapshotIndex: this.#snapshotIndex,
      members: [
        ...voters.map((id) => member(id, true)),
        ...core.conf.learners.map((id) => member(id, false)),
      ],
      joint: core.conf.votersOutgoing.length > 0,
      pendingRequests: this.#proposals.size + this.#configChanges.size + this.#reads.size,
    };
  }

  /**
   * Stops ticking, fails every pending request with `RaftStoppedError`, waits for the batch in
   * progress to be persisted, and closes the transport and the storage. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#halt(new RaftStoppedError());
    await this.#pumpDone;
    await this.#transport.close();
    await this.#storage.close();
  }

  #halt(reason: Error): void {
    this.#stopped = true;
    if (this.#tickStart !== undefined) this.#clock.clearTimeout(this.#tickStart);
    if (this.#ticker !== undefined) this.#clock.clearInterval(this.#ticker);
    for (const table of [this.#proposals, this.#configChanges, this.#reads] as Map<
      string,
      Pending<never>
    >[]) {
      for (const pending of table.values()) {
        this.#clock.clearTimeout(pending.timer);
        pending.reject(reason);
      }
      table.clear();
    }
    this.#proposedAt.clear();
    this.#parked.clear();
    this.#forwarded.clear();
    this.#held = [];
    this.#notices.clear();
    this.#readQueue.length = 0;
    this.#rounds.clear();
  }

  #fail(error: unknown): void {
    const failure = asError(error);
    this.#logger.error({ id: this.id, error: failure.message }, 'raft node stopped by an internal error');
    this.#halt(failure);
    this.emit('error', failure);
  }

  #submit<T>(table: Map<string, Pending<T>>, propose: (requestId: string) => void): Promise<T> {
    if (this.#stopped) return Promise.reject(new RaftStoppedError());
    if (this.#proposals.size + this.#configChanges.size >= this.#options.maxPendingRequests) {
      return Promise.reject(new ProposalDroppedError('too many requests pending'));
    }
    const requestId = this.#nextRequestId();
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        table.delete(requestId);
        this.#parked.delete(requestId);
        this.#forwarded.delete(requestId);
        reject(new RaftTimeoutError('proposal', this.#options.requestTimeoutMs));
      }, this.#options.requestTimeoutMs);
      table.set(requestId, { resolve, reject, timer });
      try {
        propose(requestId);
      } catch (error) {
        if (this.#retryable(error)) {
          this.#parked.set(requestId, () => propose(requestId));
          return;
        }
        this.#clock.clearTimeout(timer);
        table.delete(requestId);
        reject(asError(error));
        return;
      }
      this.#schedule();
    });
  }

  /** Starts a ReadIndex round for every queued read that is still waiting. */
  #startReadRound(): void {
    const batch = this.#readQueue.splice(0).filter((requestId) => this.#reads.has(requestId));
    if (batch.length === 0) return;
    const round = this.#nextRequestId();
    this.#rounds.set(round, { batch, askedAt: Number.NEGATIVE_INFINITY });
    this.#tryAskRound(round, batch);
  }

  /**
   * Asks for read round `round` (again); while no leader can be asked it is parked until one
   * can, and any other refusal rejects the round's reads.
   */
  #tryAskRound(round: string, batch: readonly string[]): void {
    try {
      this.#askRound(round);
    } catch (error) {
      if (this.#retryable(error)) {
        this.#parked.set(round, () => this.#askRound(round));
        return;
      }
      this.#rounds.delete(round);
      for (const requestId of batch) this.#rejectRequest(requestId, asError(error));
    }
  }

  /** Asks the core for read round `round` (again): the leader confirms it, a follower forwards it. */
  #askRound(round: string): void {
    this.#core.readIndex(round);
    const pending = this.#rounds.get(round);
    if (pending !== undefined) pending.askedAt = this.#clock.now();
  }

  /**
   * A follower asks its leader again for every read round that has gone unanswered for an
   * election timeout: the request or the answer may have been lost on the way (a dropped
   * connection), and reads are safe to repeat (the leader ignores a round it is still
   * confirming; the first answer serves the round, a later one finds it gone).
   */
  #reaskSilentRounds(): void {
    if (this.#rounds.size === 0 || this.#core.role === 'leader' || this.#core.leader === null) return;
    const silentSince = this.#clock.now() - this.#options.electionTimeoutMs;
    for (const [round, pending] of this.#rounds) {
      if (pending.askedAt >= silentSince || this.#parked.has(round)) continue;
      this.#tryAskRound(round, pending.batch);
    }
  }

  /** Errors that mean "not now": no leader is known yet, or this leader is handing over. */
  #retryable(error: unknown): boolean {
    if (isNotLeaderError(error)) return error.leaderHint === null;
    if (isProposalDroppedError(error)) return this.#core.transferee !== null;
    return false;
  }

  /**
   * The target this member is handing its leadership over to, once the target campaigns with
   * this member's vote and until a leader is known; else null. A leader that handed over is by
   * then a follower of the target's campaign term that voted for it (the core steps down before
   * the driver sends a plain `timeoutNow`; after a conditional one it does when the target's
   * vote request arrives).
   */
  #handingOverTo(): NodeId | null {
    const target = this.#handOverTarget;
    if (target === null) return null;
    if (this.#votesFor(target.to, target.campaignTerm)) return target.to;
    this.#handOverTarget = null;
    return null;
  }

  /** This member follows nobody yet in `term`, in which it voted for `candidate`. */
  #votesFor(candidate: NodeId, term: number): boolean {
    const core = this.#core;
    return core.role === 'follower' && core.leader === null && core.vote === candidate && core.term === term;
  }

  /** Sends `message`; after a `timeoutNow`, what this member holds follows it to the target. */
  #send(message: Message): void {
    if (this.#notices.intercept(message)) return;
    this.#transport.send(message);
    // A conditional timeoutNow may yet be ignored by the target: what this member holds stays
    // here until the target's vote request shows that it campaigns (see #votedInTransfer).
    if (message.type === 'timeoutNow' && message.index === undefined)
      this.#handOver(message.to, message.term + 1);
  }

  /**
   * This member may have granted its vote to a transfer target's campaign (a leader that sent a
   * conditional timeoutNow steps down this way): if it did, the proposals it holds go to the
   * candidate now, to be appended with its first entries, rather than once it is known to lead.
   */
  #votedInTransfer(request: VoteRequest): void {
    if (this.#votesFor(request.from, request.term)) this.#handOver(request.from, request.term);
  }

  /**
   * This member voted for transfer target `to` in its campaign term (it sent `to` a plain
   * `timeoutNow`, or granted its vote request): what it holds goes to `to` now, after the
   * `timeoutNow` on the same connection where there was one.
   */
  #handOver(to: NodeId, campaignTerm: number): void {
    this.#handOverTarget = { to, campaignTerm };
    if (this.#handingOverTo() !== to) return;
    const now = this.#clock.now();
    const held = this.#held;
    this.#held = [];
    for (const { message, until } of held) if (until >= now) this.#relay(message, to);
  }

  /**
   * Passes a forwarded proposal on under this member's name (transports only accept messages
   * from the member that sent them); the proposer still waits for its entry.
   */
  #relay(message: ProposeRequest, to: NodeId): void {
    this.#transport.send({ ...message, from: this.id, to, term: 0 });
  }

  #hold(message: ProposeRequest): void {
    if (this.#held.length >= this.#options.maxPendingRequests) return; // the proposer times out
    this.#held.push({ message, until: this.#clock.now() + this.#options.requestTimeoutMs });
  }

  /**
   * With `retryForwardedProposals`: sends again every waiting proposal that went to another
   * leader or term than the current one, whose leader may have died with it, and (when
   * `silentSince` is given) every one forwarded to the current leader before `silentSince`
   * and not applied yet: the message or the entry may have been lost on the way. A copy that
   * did get through may commit as well; the option's contract makes that harmless.
   */
  #resendForwarded(silentSince = Number.NEGATIVE_INFINITY): void {
    if (this.#forwarded.size === 0) return;
    const leader = this.#core.leader;
    const term = this.#core.term;
    if (leader === null) return;
    let resent = false;
    // A proposal sent again is re-added at the end with the current leader and time, so this
    // loop passes over it once more and leaves it.
    for (const [requestId, forwarded] of this.#forwarded) {
      const current = forwarded.leader === leader && forwarded.term === term;
      if (current && forwarded.sentAt >= silentSince) continue;
      resent = true;
      this.#forwarded.delete(requestId);
      try {
        forwarded.send(requestId);
      } catch (error) {
        if (this.#retryable(error)) this.#parked.set(requestId, () => forwarded.send(requestId));
        else this.#rejectRequest(requestId, asError(error));
      }
    }
    if (resent) this.#schedule();
  }

  /** Retries parked requests and passes on held forwarded proposals, once circumstances allow. */
  #releaseParked(): void {
    for (const [requestId, retry] of this.#parked) {
      try {
        retry();
        this.#parked.delete(requestId);
      } catch (error) {
        if (this.#retryable(error)) continue;
        this.#parked.delete(requestId);
        const batch = this.#rounds.get(requestId)?.batch;
        this.#rounds.delete(requestId);
        for (const id of batch ?? [requestId]) this.#rejectRequest(id, asError(error));
      }
    }
    if (this.#held.length === 0) return;
    const now = this.#clock.now();
    const role = this.#core.role;
    const leader = this.#core.leader;
    if (role === 'leader' && this.#core.transferee !== null) return;
    if (role !== 'leader' && (leader === null || leader === this.id)) return;
    const held = this.#held;
    this.#held = [];
    for (const { message, until } of held) {
      if (until < now) continue;
      if (role === 'leader') this.#core.step(this.#stampForwarded(message));
      else this.#relay(message, leader as NodeId);
    }
    this.#schedule();
  }

  #rejectRequest(requestId: string, error: Error): void {
    this.#forwarded.delete(requestId);
    for (const table of [this.#proposals, this.#configChanges, this.#reads] as Map<
      string,
      Pending<never>
    >[]) {
      const pending = table.get(requestId);
      if (pending === undefined) continue;
      table.delete(requestId);
      this.#clock.clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  #isLeader(): boolean {
    return this.#core.role === 'leader';
  }

  #stamped(command: Uint8Array): Uint8Array {
    if (this.#stamp === undefined) return command;
    try {
      return this.#stamp(command, Math.floor(this.#clock.now()));
    } catch {
      return command;
    }
  }

  /** Forwarded proposals get the leader's time here, where the leader appends them. */
  #stampForwarded(message: ProposeRequest): ProposeRequest {
    if (this.#stamp === undefined || !this.#isLeader()) return message;
    const entries = message.entries.map((entry) => {
      if (entry.kind !== 'normal' || entry.data.byteLength === 0) return entry;
      try {
        const envelope = decodeEnvelope(entry.data);
        return { ...entry, data: encodeEnvelope(envelope.requestId, this.#stamped(envelope.payload)) };
      } catch {
        return entry;
      }
    });
    return { ...message, entries };
  }

  #maybeProposeTime(): void {
    const every = this.#timeCommand;
    if (every === undefined || !this.#isLeader()) return;
    const now = Math.floor(this.#clock.now());
    if (now - this.#lastTimeCommand < every.intervalMs) return;
    this.#lastTimeCommand = now;
    try {
      this.#core.propose(encodeEnvelope(this.#nextRequestId(), every.make(now)));
    } catch (error) {
      // Dropped during a transfer or under overload: the next interval tries again.
      this.#logger.debug({ id: this.id, error: asError(error).message }, 'time command not proposed');
    }
  }

  /** On the leader the entry's index is known at once: remember it to detect an overwrite. */
  #recordLocalIndex(requestId: string): void {
    if (!this.#isLeader()) return;
    this.#proposedAt.set(this.#core.lastIndex, requestId);
  }

  #nextRequestId(): string {
    this.#counter++;
    return `${this.#requestPrefix}.${this.#counter.toString(36)}`;
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#pumping) {
      // A batch is being persisted (or about to be): what need not wait for it (a transfer's
      // timeoutNow, vote requests) leaves now; the rest waits for the next batch.
      for (const message of this.#core.takeUrgentMessages()) this.#send(message);
      this.#again = true;
      return;
    }
    this.#pumping = true;
    // The pump starts from a microtask, once the current task is done: every frame of one
    // network read (a leader's last appends and the conditional timeoutNow behind them, or a
    // burst of appends) is stepped first, and one Ready persists them all with one fsync.
    this.#pumpDone = Promise.resolve().then(() => this.#pump());
  }

  async #pump(): Promise<void> {
    try {
      do {
        this.#again = false;
        while (!this.#stopped && this.#core.hasReady()) await this.#handle(this.#core.ready());
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Raft lets a leader write its own log in parallel with replicating it (Ongaro's thesis,
   * §10.2.1): its appends and heartbeats may leave before its own fsync, because the leader
   * only learns of a commit from acknowledgements processed after this batch is durable (one
   * batch at a time), so nothing is acknowledged to a client before the leader's copy is on
   * disk. `timeoutNow` promises nothing either (it asks the target to campaign now; the vote the
   * old leader grants with it is a voteResponse). Nor does a vote request: a candidate may ask
   * while its new term and its vote for itself are still being written (etcd's raft does the
   * same with asynchronous storage writes), because it acts on the answers only as a leader,
   * and a leader's first messages wait for this batch; if it crashes first, the campaign dies
   * with it, and voters that granted it their vote in that term keep to it. The candidate's
   * fsync and its voters' then overlap instead of following each other. Granted votes,
   * acknowledgements and a leader's messages in a batch that changes term or vote still wait
   * for the fsync.
   */
  #earlyMessages(ready: Ready): readonly Message[] {
    if (ready.messages.length === 0) return [];
    const hard = ready.hardState;
    const replicating =
      this.#core.role === 'leader' &&
      (hard === undefined || (hard.term === this.#persistedTerm && hard.vote === this.#persistedVote));
    return ready.messages.filter(
      (m) =>
        m.type === 'timeoutNow' ||
        m.type === 'vote' ||
        (replicating && (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot')),
    );
  }

  async #handle(ready: Ready): Promise<void> {
    const early = new Set(this.#earlyMessages(ready));
    for (const message of early) this.#send(message);
    // Committed entries that were on this member's disk before this batch are applied now,
    // while the batch's own writes go to disk (etcd's raft node applies in parallel with its
    // WAL write too): a quorum holds them durably, this member included, so no answer depends
    // on the write in progress, and the leader answers its clients one fsync sooner. Entries of
    // this batch (a single voter commits its own at once) and anything after a snapshot wait.
    const installing = ready.snapshot !== undefined && ready.snapshot.meta.index > 0;
    const firstNew = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    let applyNow = 0;
    if (!installing) {
      while (applyNow < ready.committed.length && (ready.committed[applyNow] as Entry).index < firstNew)
        applyNow++;
      this.#applyCommitted(ready.committed, 0, applyNow);
      this.#serveReads();
    }
    // 1. Persist. A snapshot first (it resets the log), then entries and hard state. A hard
    // state whose only change is the commit index need not be synced on its own: it rides
    // along with the next durable write (commit is recomputed from a quorum after a crash).
    if (ready.snapshot !== undefined && ready.snapshot.meta.index > 0) {
      await this.#storage.installSnapshot(ready.snapshot);
    }
    const hardState = ready.hardState ?? this.#deferredHardState;
    if (ready.entries.length > 0 || (ready.mustSync && hardState !== undefined)) {
      await this.#storage.save({ entries: ready.entries, ...(hardState === undefined ? {} : { hardState }) });
      this.#deferredHardState = undefined;
      if (hardState !== undefined) {
        this.#persistedTerm = hardState.term;
        this.#persistedVote = hardState.vote;
      }
    } else if (ready.hardState !== undefined) {
      this.#deferredHardState = ready.hardState;
    }
    if (this.#stopped) return;

    // 2. Send only what is now durable (the leader's replication went out already).
    for (const message of ready.messages) if (!early.has(message)) this.#send(message);

    // 3. Apply.
    if (installing) this.#applySnapshot(ready.snapshot as Snapshot);
    this.#applyCommitted(ready.committed, applyNow, ready.committed.length);
    for (const state of ready.readStates) {
      const batch = this.#rounds.get(state.context)?.batch;
      if (batch === undefined) continue;
      this.#rounds.delete(state.context);
      for (const requestId of batch) {
        const read = this.#reads.get(requestId);
        if (read !== undefined) read.index = state.index;
      }
    }
    if (this.#rounds.size === 0) this.#startReadRound();
    this.#serveReads();
    if (ready.softState !== undefined) this.#onSoftState(ready.softState);

    // 4. Advance, then maybe compact.
    this.#core.advance(ready);
    if (this.#applied - this.#snapshotIndex >= this.#options.snapshotEvery) await this.#takeSnapshot();
  }

  /** Applies `committed[from..to)` and reports the new applied index. */
  #applyCommitted(committed: readonly Entry[], from: number, to: number): void {
    if (from >= to) return;
    for (let i = from; i < to; i++) this.#applyEntry(committed[i] as Entry);
    this.emit('apply', this.#applied);
  }

  #applySnapshot(snapshot: Snapshot): void {
    this.#machine.restore(snapshot.data);
    this.#applied = snapshot.meta.index;
    this.#snapshotIndex = snapshot.meta.index;
    for (const id of [...this.#addresses.keys()]) {
      if (!(id in snapshot.meta.addresses)) this.#removeAddress(id);
    }
    for (const [id, address] of Object.entries(snapshot.meta.addresses)) this.#setAddress(id, address);
    this.emit('snapshot', { index: snapshot.meta.index, term: snapshot.meta.term, source: 'leader' });
  }

  #applyEntry(entry: Entry): void {
    if (entry.index <= this.#applied) return;
    this.#applied = entry.index;
    const localRequest = this.#proposedAt.get(entry.index);
    this.#proposedAt.delete(entry.index);
    if (entry.data.byteLength === 0) {
      // A new leader's no-op, or the empty config entry that leaves a joint configuration.
      this.#dropOverwritten(localRequest, undefined);
      if (entry.kind === 'config') this.#core.applyConfChange(LEAVE_JOINT);
      return;
    }
    const envelope = decodeEnvelope(entry.data);
    this.#dropOverwritten(localRequest, envelope.requestId);
    if (entry.kind === 'config') {
      const change = decodeConfChange(envelope.payload);
      const conf = this.#core.applyConfChange(change);
      for (const step of change.steps) {
        if (step.type === 'remove') this.#removeAddress(step.id);
        else if (step.address !== undefined) this.#setAddress(step.id, step.address);
      }
      this.#settle(this.#configChanges, envelope.requestId, conf);
      return;
    }
    let result: Result;
    try {
      result = this.#machine.apply(envelope.payload, entry.index);
    } catch (error) {
      // A state machine must not throw; if it does, it does so on every replica alike, so the
      // log stays consistent. Report it to the proposer rather than stopping the cluster.
      this.#logger.error({ id: this.id, index: entry.index }, 'state machine apply threw');
      this.#rejectRequest(envelope.requestId, asError(error));
      return;
    }
    this.#settle(this.#proposals, envelope.requestId, result);
  }

  /** A new leader overwrote the entry this member proposed at that index: the proposal is lost. */
  #dropOverwritten(localRequest: string | undefined, appliedRequest: string | undefined): void {
    if (localRequest === undefined || localRequest === appliedRequest) return;
    this.#rejectRequest(
      localRequest,
      new ProposalDroppedError('leadership changed before the entry committed'),
    );
  }

  #settle<T>(table: Map<string, Pending<T>>, requestId: string, value: T): void {
    const pending = table.get(requestId);
    if (pending === undefined) return;
    table.delete(requestId);
    this.#forwarded.delete(requestId);
    this.#clock.clearTimeout(pending.timer);
    pending.resolve(value);
  }

  #serveReads(): void {
    for (const [requestId, read] of this.#reads) {
      if (read.index < 0 || read.index > this.#applied) continue;
      this.#reads.delete(requestId);
      this.#clock.clearTimeout(read.timer);
      try {
        read.resolve(this.#machine.query(read.query as Query));
      } catch (error) {
        read.reject(asError(error));
      }
    }
  }

  /**
   * `soft` is the core's view when this batch was taken, not now: the core may have moved to a
   * newer term while the batch was persisted, and the event must name the term of this leader.
   */
  #onSoftState({ leader, role, term }: SoftState): void {
    // The same member elected again in a newer term is a new leadership too.
    const leaderChanged = leader !== this.#leader || (leader !== null && term !== this.#term);
    const roleChanged = role !== this.#role;
    this.#leader = leader;
    this.#term = term;
    this.#role = role;
    if (leaderChanged) {
      // Read rounds not yet confirmed were asked of the old leader and will never be answered
      // there: ask again (the new leader, or once there is one).
      for (const round of this.#rounds.keys()) {
        if (!this.#parked.has(round)) this.#parked.set(round, () => this.#askRound(round));
      }
      for (const transfer of this.#transfers) if (transfer.to === leader) transfer.done();
      this.#releaseParked();
      this.#resendForwarded();
    }
    if (roleChanged) this.emit('role', role);
    if (leaderChanged) this.emit('leader', leader, term);
  }

  async #takeSnapshot(): Promise<void> {
    const index = this.#applied;
    const conf = this.#core.status().conf;
    const snapshot: Snapshot = {
      meta: { index, term: this.#storage.term(index), conf, addresses: Object.fromEntries(this.#addresses) },
      data: this.#machine.snapshot(),
    };
    await this.#storage.createSnapshot(snapshot, this.#options.snapshotRetain);
    this.#snapshotIndex = index;
    this.emit('snapshot', { index, term: snapshot.meta.term, source: 'local' });
  }

  #setAddress(id: NodeId, address: string): void {
    this.#addresses.set(id, address);
    if (id !== this.id) this.#transport.setPeer(id, address);
  }

  #removeAddress(id: NodeId): void {
    this.#addresses.delete(id);
    if (id !== this.id) this.#transport.removePeer(id);
  }
}

const LEAVE_JOINT: ConfChange = { mode: 'leaveJoint', steps: [] };

/** How the core reads this driver's config entries: an envelope around an encoded change. */
function decodeConfigEntry(data: Uint8Array): ConfChange {
  return data.byteLength === 0 ? LEAVE_JOINT : decodeConfChange(decodeEnvelope(data).payload);
}

function isFresh(storage: RaftStorage): boolean {
  const { hardState } = storage.initialState();
  return storage.lastIndex() === 0 && storage.snapshot().meta.index === 0 && hardState.term === 0;
}

/**
 * First boot: every initial member writes the same snapshot at index 1 (term 1) holding the
 * initial voters and their addresses, so they agree on the configuration without any entry
 * having to be replicated. Term 1 is recorded so the first election is for term 2.
 */
async function bootstrap(
  storage: RaftStorage,
  peers: Readonly<Record<NodeId, string>>,
  machine: { snapshot(): Uint8Array },
): Promise<void> {
  const voters = Object.keys(peers).sort();
  await storage.installSnapshot({
    meta: {
      index: 1,
      term: 1,
      conf: { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      addresses: { ...peers },
    },
    data: machine.snapshot(),
  });
  await storage.save({ hardState: { term: 1, vote: null, commit: 1 }, entries: [] });
}

function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  return new InvariantError(`non-error thrown: ${String(error)}`);
}
