import { encodeConfChange } from '../conf-change-codec.js';
import {
  ConfChangeError,
  invariant,
  isConfChangeError,
  isLogCompactedError,
  NotLeaderError,
  ProposalDroppedError,
  RaftConfigError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import { isJoint, isVoterIn, LEAVE_JOINT, applyConfChange as nextConf } from './confchange.js';
import {
  LEASE_GUARD_TICKS,
  type RaftCoreConfig,
  type ResolvedRaftCoreConfig,
  resolveRaftCoreConfig,
} from './config.js';
import type { Progress } from './progress.js';
import { payloadSize, RaftLog } from './raft-log.js';
import { type PendingRead, ReadOnly } from './read-only.js';
import { createStats, type RaftCoreStats } from './stats.js';
import { ProgressTracker } from './tracker.js';
import type {
  AppendRequest,
  AppendResponse,
  ConfChange,
  ConfState,
  Entry,
  EntryKind,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  NodeId,
  ProgressStatus,
  RaftRole,
  RaftStatus,
  ReadState,
  Ready,
  SnapshotRequest,
  SoftState,
  VoteRequest,
  VoteResponse,
} from './types.js';

import { malformedReason } from './validate.js';

export type { RaftCoreConfig } from './config.js';
export type { RaftCoreStats } from './stats.js';

/** A snapshot not acknowledged within this many election timeouts is offered again. */
const SNAPSHOT_RETRY_ELECTIONS = 2;

interface WaitingRead {
  readonly context: string;
  readonly from: NodeId;
}

type CampaignKind = 'pre' | 'elect' | 'transfer';

/** Why a message was dropped: the key of its `stats().dropped` counter. */
type DropReason = string;

/** A message as built here: the sender is filled in by `#send`. */
type Outgoing = Message extends infer T ? (T extends Message ? Omit<T, 'from'> : never) : never;

const EMPTY_DATA = new Uint8Array(0);

/**
 * The deterministic Raft state machine: no I/O, no timers, no ambient randomness. The driver
 * feeds it time (`tick`), peer messages (`step`) and client requests, and drains the work it
 * produces through `ready` / `advance` (see {@link Ready} for the ordering rules).
 *
 * Implemented: randomized election timeouts, PreVote, CheckQuorum with leader stickiness,
 * leader no-op on election, commitment by counting only current-term entries, log replication
 * with probe / replicate / snapshot progress, pipelining bounded by an inflight window,
 * batching by bytes, fast backtracking, snapshots for lagging followers, learners, single-step
 * and joint membership changes (with auto-leave), leadership transfer, ReadIndex reads (safe
 * and lease), proposal forwarding, and an uncommitted-bytes limit.
 *
 * Configuration changes take effect when applied (the driver calls {@link RaftCore.applyConfChange}
 * for each committed `config` entry). A `config` entry with empty data means "leave the joint
 * configuration"; the leader appends such an entry by itself for auto-leave.
 *
 * Lease reads (`readMode: 'lease'`) assume every member's tick runs at the same nominal rate
 * with drift below one tick per election timeout, and that messages are delivered (or lost)
 * within an election timeout. Under that assumption a follower that heard from the leader
 * ignores votes for `electionTicks` ticks, so the leader may answer reads for
 * `electionTicks - LEASE_GUARD_TICKS` ticks after sending a heartbeat round that a quorum
 * answered. A member restarted in lease mode waits out one election timeout before it votes.
 */
export class RaftCore {
  /** This member's id. */
  readonly id: NodeId;
  readonly #cfg: ResolvedRaftCoreConfig;
  readonly #logger: Logger;
  readonly #log: RaftLog;
  readonly #tracker: ProgressTracker;

  #term = 0;
  #vote: NodeId | null = null;
  #lead: NodeId | null = null;
  #role: RaftRole = 'follower';

  /** Ticks since this member started (the leader's clock for leases and snapshot retries). */
  #now = 0;
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  /** Ticks since a leader was last heard from (drives leader stickiness). */
  #leaderContactElapsed = Number.POSITIVE_INFINITY;

  #transferee: NodeId | null = null;
  /** The current transfer's conditional `timeoutNow` has left (see `#maybeSendEarlyTimeoutNow`). */
  #earlyTimeoutNowSent = false;
  /** Index of the latest config entry the leader appended; a new change waits until it is applied. */
  #pendingConfIndex = 0;
  /**
   * The leader appended a config entry that takes it out of the voters: it accepts no more
   * proposals, so its log ends at that entry. Otherwise a remaining voter that has not yet
   * applied the removal (and so still needs this member's vote) could be refused forever for
   * lacking entries this member appended after it.
   */
  #removingSelf = false;
  /**
   * The leader has applied a configuration without itself as a voter. It keeps leading (and
   * refusing proposals) until its whole log is committed under the new configuration, then
   * hands over to an up-to-date voter: stepping down earlier could leave the remaining voters
   * needing the vote of a member whose log is longer than theirs, which it would never give.
   */
  #leaving = false;
  /** A new leader refuses proposals until the config entries it inherited are applied. */
  #inheritedConfIndex = 0;
  /** A `timeoutNow` arrived while a committed config change was unapplied: campaign once it is. */
  #deferredTransfer = false;
  #uncommittedSize = 0;
  #readOnly = new ReadOnly();
  #waitingReads: WaitingRead[] = [];
  /** No lease reads until a heartbeat round sent at or after this tick is confirmed. */
  #leaseBlockedUntil = Number.NEGATIVE_INFINITY;

  #messages: Message[] = [];
  /** Urgent messages among {@link #messages} (see {@link RaftCore.takeUrgentMessages}). */
  #urgent = 0;
  #readStates: ReadState[] = [];
  #prevHard: HardState;
  #prevSoft: SoftState;
  #outstanding = false;
  /**
   * Proposals were appended on the leader since the last broadcast: their appends go out (as one
   * message per follower, not one per proposal) before anything else happens to the core.
   */
  #bcastPending = false;
  readonly #maxCommittedPerReady: number;
  readonly #stats = createStats();

  /**
   * Restores term, vote and commit index from `storage.initialState()`, and the configuration
   * as of `applied` (the snapshot's configuration plus the config entries up to `applied`).
   * Throws `RaftConfigError` for invalid options or inconsistent stored state.
   */
  constructor(config: RaftCoreConfig) {
    const cfg = resolveRaftCoreConfig(config);
    this.#cfg = cfg;
    this.id = cfg.id;
    this.#logger = cfg.logger;
    this.#log = new RaftLog(cfg.storage);
    this.#tracker = new ProgressTracker(cfg.maxInflightMsgs);
    this.#maxCommittedPerReady = Math.max(cfg.maxSizePerMsg, 1024 * 1024);

    const { hardState, conf } = cfg.storage.initialState();
    // A storage may retain entries below its snapshot for slow followers: what is applied and
    // committed is bounded by the snapshot, not by the first retained entry.
    const snapshotIndex = cfg.storage.snapshot().meta.index;
    const lastIndex = this.#log.lastIndex();
    if (hardState.commit > lastIndex) {
      throw new RaftConfigError(
        `stored commit ${hardState.commit} is beyond the last stored index ${lastIndex}`,
      );
    }
    this.#log.committed = Math.max(hardState.commit, snapshotIndex);
    const applied = Math.max(cfg.applied ?? snapshotIndex, snapshotIndex);
    if (applied > this.#log.committed) {
      throw new RaftConfigError(`applied ${applied} is beyond the stored commit ${this.#log.committed}`);
    }
    this.#log.applied = applied;
    this.#tracker.setConf(this.#replayConf(conf, snapshotIndex, applied), lastIndex);

    this.#term = hardState.term;
    this.#vote = hardState.vote;
    this.#prevHard = hardState;
    this.#prevSoft = { leader: null, role: 'follower', term: hardState.term };
    // In lease mode a restarted member cannot know when it last heard from a leader, so it
    // behaves as if it just had: a leader's lease may still count on its promise not to vote.
    if (cfg.readMode === 'lease') this.#leaderContactElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    // Campaign after 1 to electionTicks ticks rather than a whole timeout first (etcd's initial
    // election tick advance); the randomised spread, which keeps split votes rare, is unchanged.
    if (cfg.initialElectionTickAdvance) this.#electionElapsed = cfg.electionTicks - 1;
    this.#logger.debug(
      { id: this.id, term: this.#term, commit: this.#log.committed, applied, lastIndex },
      'raft core started',
    );
  }

  /** The configuration as of `applied`: config entries after the snapshot are replayed. */
  #replayConf(conf: ConfState, snapshotIndex: number, applied: number): ConfState {
    let current = conf;
    if (applied <= snapshotIndex) return current;
    for (const entry of this.#log.entries(snapshotIndex + 1, applied + 1)) {
      if (entry.kind !== 'config') continue;
      let change: ConfChange;
      try {
        change = entry.data.byteLength === 0 ? LEAVE_JOINT : this.#cfg.decodeConfChange(entry.data);
      } catch (cause) {
        throw new RaftConfigError(`config entry ${entry.index} cannot be decoded: ${String(cause)}`);
      }
      try {
        current = nextConf(current, change);
      } catch (error) {
        // The same refusal happened when the entry was first applied: it was a no-op then too.
        if (!isConfChangeError(error)) throw error;
      }
    }
    return current;
  }

  // ---------------------------------------------------------------------------------------
  // Time

  /** Advances time by one tick: followers may campaign, the leader heartbeats and checks its quorum. */
  tick(): void {
    this.#flushProposals();
    this.#now++;
    if (this.#role === 'leader') this.#tickLeader();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.#electionElapsed++;
    this.#leaderContactElapsed++;
    if (this.#electionElapsed >= this.#randomizedElectionTimeout && this.#promotable()) {
      this.#electionElapsed = 0;
      this.#hup('election');
    }
  }

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#cfg.electionTicks) {
      this.#electionElapsed = 0;
      // A leaving leader does not give up before its handover (see `#leaving`).
      if (this.#cfg.checkQuorum && !this.#leaving) {
        if (!this.#tracker.quorumActive(this.id)) {
          this.#stats.checkQuorumStepDowns++;
          this.#logger.info(
            { id: this.id, term: this.#term },
            'stepping down: no quorum heard within an election timeout',
          );
          this.#becomeFollower(this.#term, null);
          return;
        }
        for (const [id, pr] of this.#tracker.entries()) if (id !== this.id) pr.recentActive = false;
      }
      if (this.#transferee !== null) {
        this.#logger.info({ id: this.id, to: this.#transferee }, 'leadership transfer timed out');
        this.#abortTransfer();
      }
      this.#readOnly.pruneRounds(this.#now - 2 * this.#cfg.electionTicks);
    }
    if (this.#heartbeatElapsed >= this.#cfg.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#periodicHeartbeat();
      this.#maybeHandOver();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Messages

  /**
   * Handles one message from a peer. Never throws for peer input: malformed, stale or
   * unexpected messages are dropped and counted in `stats().dropped`.
   */
  step(message: Message): void {
    // Forwarded proposals join the pending broadcast like local ones (see #flushProposals).
    // (`message` is untrusted: it may not even be an object.)
    const forwarded = typeof message === 'object' && message !== null && message.type === 'propose';
    if (!forwarded) this.#flushProposals();
    const reason = this.#step(message);
    if (reason !== undefined) this.#drop(reason, message);
  }

  /** Handles a message; returns why it was dropped, if it was. */
  #step(message: Message): DropReason | undefined {
    const malformed = malformedReason(message);
    if (malformed !== null) return malformed;
    const m = message;
    if (m.to !== this.id) return 'wrongRecipient';
    if (m.from === this.id) return 'fromSelf';

    if (m.type === 'propose' || m.type === 'readIndex') {
      // Not term-scoped: a forwarded request is served by whoever is leader now.
    } else if (m.term > this.#term) {
      // Leader stickiness: a leader was heard from recently, so this candidate is disruptive.
      if (m.type === 'vote' && !m.transfer && this.#inLease()) return 'leaderSticky';
      const keepTerm =
        (m.type === 'vote' && m.preVote) || (m.type === 'voteResponse' && m.preVote && m.granted);
      if (!keepTerm) {
        const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
        this.#becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.#term) {
      return this.#stepStale(m);
    }

    if (m.type === 'vote') return this.#handleVote(m);
    switch (this.#role) {
      case 'leader':
        return this.#stepLeader(m);
      case 'candidate':
      case 'preCandidate':
        return this.#stepCandidate(m);
      case 'follower':
        return this.#stepFollower(m);
    }
  }

  /** A message from an older term: answered only where the sender must learn the newer term. */
  #stepStale(m: Message): DropReason {
    if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
      // A deposed leader learns the new term from this answer and steps down.
      this.#send({
        type: 'appendResponse',
        to: m.from,
        term: this.#term,
        reject: true,
        index: 0,
        hintIndex: 0,
        hintTerm: 0,
      });
    } else if (m.type === 'vote') {
      // A candidate (or pre-candidate) with an old term learns it cannot win.
      this.#send({ type: 'voteResponse', to: m.from, term: this.#term, preVote: m.preVote, granted: false });
    }
    return 'staleTerm';
  }

  #handleVote(m: VoteRequest): undefined {
    const canVote =
      this.#vote === m.from ||
      (this.#vote === null && this.#lead === null) ||
      (m.preVote && m.term > this.#term);
    if (canVote && this.#log.isUpToDate(m.lastIndex, m.lastTerm)) {
      // A granted pre-vote answers for the term the candidate would run in.
      this.#send({ type: 'voteResponse', to: m.from, term: m.term, preVote: m.preVote, granted: true });
      if (!m.preVote) {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
      return;
    }
    this.#send({ type: 'voteResponse', to: m.from, term: this.#term, preVote: m.preVote, granted: false });
  }

  #stepLeader(m: Exclude<Message, VoteRequest>): DropReason | undefined {
    switch (m.type) {
      case 'propose':
        if (this.#tracker.progress(m.from) === undefined) return 'unknownSender';
        if (this.#transferee !== null) return 'transferInProgress';
        if (this.#removingSelf) return 'leaderLeaving';
        if (this.#inheritedConfIndex > this.#log.applied) return 'inheritedConfPending';
        if (m.entries.some((e) => e.kind !== 'normal')) return 'malformed';
        if (!this.#admit(payloadSize(m.entries))) return 'uncommittedLimit';
        this.#appendEntries(m.entries.map((e) => ({ kind: e.kind, data: e.data })));
        this.#bcastPending = true;
        return;
      case 'readIndex':
        if (this.#tracker.progress(m.from) === undefined) return 'unknownSender';
        this.#leaderRead(m.context, m.from);
        return;
      case 'appendResponse':
        return this.#handleAppendResponse(m);
      case 'heartbeatResponse':
        return this.#handleHeartbeatResponse(m);
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Two leaders in one term would break election safety; refuse to act on it.
        this.#logger.error({ id: this.id, from: m.from, term: m.term }, 'another leader claims this term');
        return 'conflictingLeader';
      default:
        return 'unexpected';
    }
  }

  #stepCandidate(m: Exclude<Message, VoteRequest>): DropReason | undefined {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Someone won this term: follow it.
        this.#becomeFollower(m.term, m.from);
        return this.#stepFollower(m);
      case 'voteResponse':
        return this.#handleVoteResponse(m);
      case 'propose':
      case 'readIndex':
        return 'noLeader';
      default:
        return 'unexpected';
    }
  }

  #handleVoteResponse(m: VoteResponse): DropReason | undefined {
    const pre = this.#role === 'preCandidate';
    if (m.preVote !== pre) return 'stale';
    // Granted pre-votes carry the prospective term; rejections carry the voter's term.
    if (m.term !== (pre && m.granted ? this.#term + 1 : this.#term)) return 'stale';
    if (!this.#tracker.isVoter(m.from)) return 'unknownSender';
    this.#tracker.recordVote(m.from, m.granted);
    const { result } = this.#tracker.tallyVotes();
    if (result === 'won') {
      if (pre) this.#campaign('elect');
      else this.#becomeLeader();
    } else if (result === 'lost') {
      this.#becomeFollower(this.#term, null);
    }
    return;
  }

  #stepFollower(m: Exclude<Message, VoteRequest>): DropReason | undefined {
    switch (m.type) {
      case 'append':
        this.#heardFromLeader(m.from);
        return this.#handleAppend(m);
      case 'heartbeat':
        this.#heardFromLeader(m.from);
        return this.#handleHeartbeat(m);
      case 'snapshot':
        this.#heardFromLeader(m.from);
        return this.#handleSnapshot(m);
      case 'timeoutNow':
        if (!this.#promotable()) return 'notPromotable';
        // Sent ahead of our acknowledgement: only a log that holds the leader's last entry may
        // campaign (a plain timeoutNow follows the acknowledgement otherwise).
        if (m.index !== undefined && !this.#log.matchTerm(m.index, m.logTerm ?? 0))
          return 'transferNotCaughtUp';
        this.#logger.info(
          { id: this.id, from: m.from, term: this.#term },
          'leadership handed over: campaigning',
        );
        if (this.#hasUnappliedConfChange()) {
          // The leader usually hands over right after a config change commits: campaign under
          // the new configuration once it is applied (see `advance`).
          this.#deferredTransfer = true;
          return;
        }
        this.#hup('transfer');
        return;
      case 'readIndexResponse':
        if (m.index === 0) return 'readRefused';
        this.#readStates.push({ index: m.index, context: m.context });
        return;
      case 'propose':
      case 'readIndex':
        // Forwarded once only: a stale forward to a former leader is not passed on again.
        return 'notLeader';
      default:
        return 'unexpected';
    }
  }

  #heardFromLeader(from: NodeId): void {
    this.#electionElapsed = 0;
    this.#leaderContactElapsed = 0;
    this.#lead = from;
  }

  #handleAppend(m: AppendRequest): undefined {
    const log = this.#log;
    if (m.prevIndex < log.committed) {
      // Everything up to commit is known to match the leader already.
      this.#sendAppendAck(m.from, log.committed);
      return;
    }
    const lastNew = log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.#sendAppendAck(m.from, lastNew);
      return;
    }
    // Reject with a hint: the highest index at or below prevIndex whose term is at most
    // prevTerm. Entries above it cannot match, so the leader can skip a whole term at once.
    const hintIndex = log.findConflictByTerm(Math.min(m.prevIndex, log.lastIndex()), m.prevTerm);
    this.#send({
      type: 'appendResponse',
      to: m.from,
      term: this.#term,
      reject: true,
      index: m.prevIndex,
      hintIndex,
      hintTerm: log.term(hintIndex) ?? 0,
    });
  }

  #sendAppendAck(to: NodeId, index: number): void {
    this.#send({
      type: 'appendResponse',
      to,
      term: this.#term,
      reject: false,
      index,
      hintIndex: 0,
      hintTerm: 0,
    });
  }

  #handleHeartbeat(m: HeartbeatRequest): undefined {
    // The leader sends min(commit, our match); clamping guards against a log lost underneath.
    this.#log.commitTo(Math.min(m.commit, this.#log.lastIndex()));
    this.#send({ type: 'heartbeatResponse', to: m.from, term: this.#term, context: m.context });
  }

  #handleSnapshot(m: SnapshotRequest): undefined {
    const { meta } = m.snapshot;
    const log = this.#log;
    if (meta.index <= log.committed) {
      this.#sendAppendAck(m.from, log.committed);
      return;
    }
    if (log.matchTerm(meta.index, meta.term)) {
      // The log already has the snapshot's last entry: everything up to it is committed.
      log.commitTo(meta.index);
      this.#sendAppendAck(m.from, log.committed);
      return;
    }
    this.#logger.info(
      { id: this.id, index: meta.index, term: meta.term },
      'restoring snapshot from the leader',
    );
    // The configuration switches when the driver takes the snapshot to apply it (in `ready`),
    // so `status().conf` always matches what the state machine has applied.
    log.restore(m.snapshot);
    this.#stats.snapshotsRestored++;
    this.#sendAppendAck(m.from, log.lastIndex());
  }

  #handleAppendResponse(m: AppendResponse): DropReason | undefined {
    const pr = this.#tracker.progress(m.from);
    if (pr === undefined) return 'unknownSender';
    const log = this.#log;
    // An acknowledgement beyond our log would let a faulty peer commit what does not exist.
    if (m.index > log.lastIndex() || m.hintIndex > m.index) return 'malformed';
    pr.recentActive = true;
    if (m.reject) {
      const matchHint = log.findConflictByTerm(m.hintIndex, m.hintTerm);
      if (pr.maybeDecrTo(m.index, matchHint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.#sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot') {
      if (pr.match + 1 >= log.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.match >= pr.pendingSnapshot) {
        // Installed, but the log was compacted further meanwhile: probing sends a newer one.
        pr.becomeProbe();
      }
    } else {
      pr.inflights.freeLE(m.index);
    }
    if (this.#maybeCommit()) {
      this.#onLeaderCommit();
      this.#bcastAppend();
    } else if (wasPaused) {
      // The commit broadcast may have skipped this follower while it was paused: catch it up.
      this.#sendAppend(m.from);
    }
    // Fill the pipeline while there is room and something to send.
    while (this.#sendAppend(m.from, false)) {
      // each call sends one message and moves `next` on
    }
    if (m.from === this.#transferee && pr.match === log.lastIndex()) {
      this.#handOverTo(m.from);
      return;
    }
    if (m.from === this.#transferee) this.#maybeSendEarlyTimeoutNow(m.from, pr);
    this.#maybeHandOver();
  }

  #handleHeartbeatResponse(m: HeartbeatResponse): DropReason | undefined {
    const pr = this.#tracker.progress(m.from);
    if (pr === undefined) return 'unknownSender';
    pr.recentActive = true;
    pr.probeSent = false;
    // An answer shows the follower is alive: make room for one more append in case acks were lost.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (
      pr.state === 'snapshot' &&
      this.#now - pr.snapshotSentAt >= SNAPSHOT_RETRY_ELECTIONS * this.#cfg.electionTicks
    ) {
      // The snapshot (or its acknowledgement) was lost and nobody reported it: probe again.
      pr.becomeProbe();
    }
    if (pr.match < this.#log.lastIndex()) this.#sendAppend(m.from);
    if (m.context !== '' && /^\d{1,15}$/.test(m.context)) this.#ackRound(Number(m.context), m.from);
  }

  // ---------------------------------------------------------------------------------------
  // Roles

  #becomeFollower(term: number, lead: NodeId | null): void {
    this.#reset(term);
    this.#role = 'follower';
    this.#lead = lead;
    if (lead !== null) this.#leaderContactElapsed = 0;
  }

  #becomePreCandidate(): void {
    invariant(this.#role !== 'leader', 'a leader cannot become a pre-candidate');
    // PreVote leaves term and vote alone: a failed pre-election changes nothing durable.
    this.#tracker.resetVotes();
    this.#role = 'preCandidate';
    this.#lead = null;
    this.#electionElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#stats.preElections++;
  }

  #becomeCandidate(): void {
    invariant(this.#role !== 'leader', 'a leader cannot become a candidate');
    this.#reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = 'candidate';
    this.#stats.elections++;
  }

  #becomeLeader(): void {
    invariant(this.#role !== 'follower', 'a follower cannot become leader without an election');
    this.#reset(this.#term);
    this.#role = 'leader';
    this.#lead = this.id;
    const last = this.#log.lastIndex();
    for (const [id, pr] of this.#tracker.entries()) {
      pr.reset(id === this.id ? last : 0, last + 1);
      pr.recentActive = id === this.id;
      if (id !== this.id) pr.becomeOptimistic(last + 1);
    }
    this.#tracker.progress(this.id)?.becomeReplicate();
    // Config entries of earlier terms may still be uncommitted: no new change until they apply.
    this.#pendingConfIndex = last;
    // And no proposals either while one of them is in the log: it might remove this member,
    // which must then leave with nothing after it but its no-op (see `#leaving`).
    this.#inheritedConfIndex = this.#lastConfigIndex(this.#log.applied + 1, last);
    this.#stats.leaderships++;
    this.#logger.info({ id: this.id, term: this.#term, lastIndex: last }, 'became leader');
    // The no-op lets the leader commit (and learn the commit index of) earlier terms' entries.
    this.#appendEntries([{ kind: 'normal', data: EMPTY_DATA }]);
    // Broadcast like a proposal (see #flushProposals): requests the driver proposes as soon as it
    // sees this member lead leave in the same first append.
    this.#bcastPending = true;
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      invariant(term > this.#term, `term must not go back from ${this.#term} to ${term}`);
      this.#term = term;
      this.#vote = null;
    }
    this.#lead = null;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    // A transfer ends with any change of role or term (it succeeded when the target won).
    this.#transferee = null;
    this.#tracker.resetVotes();
    this.#pendingConfIndex = 0;
    this.#removingSelf = false;
    this.#leaving = false;
    this.#inheritedConfIndex = 0;
    this.#deferredTransfer = false;
    this.#uncommittedSize = 0;
    this.#readOnly = new ReadOnly();
    this.#waitingReads = [];
    this.#leaseBlockedUntil = Number.NEGATIVE_INFINITY;
  }

  #resetRandomizedElectionTimeout(): void {
    const base = this.#cfg.electionTicks;
    this.#randomizedElectionTimeout = base + this.#cfg.random.int(0, base);
  }

  /** Only voters of the configuration, with no snapshot waiting to be persisted, may campaign. */
  #promotable(): boolean {
    return this.#tracker.isVoter(this.id) && this.#log.unstable.snapshot === undefined;
  }

  /** A leader was heard from within the election timeout (or this is the leader). */
  #inLease(): boolean {
    if (!this.#cfg.checkQuorum) return false;
    return this.#role === 'leader' || this.#leaderContactElapsed < this.#cfg.electionTicks;
  }

  #hup(reason: 'election' | 'transfer'): void {
    if (this.#role === 'leader') return;
    if (!this.#promotable()) {
      this.#logger.debug({ id: this.id }, 'not campaigning: not a voter');
      this.#count('campaignNotPromotable');
      return;
    }
    if (this.#hasUnappliedConfChange()) {
      // The configuration is about to change: an election now could count the wrong voters.
      this.#logger.debug(
        { id: this.id },
        'not campaigning: a committed configuration change is not applied yet',
      );
      this.#count('campaignPendingConf');
      return;
    }
    if (reason === 'transfer') this.#campaign('transfer');
    else this.#campaign(this.#cfg.preVote ? 'pre' : 'elect');
  }

  /** Index of the last config entry in `[lo, hi]`, or 0. */
  #lastConfigIndex(lo: number, hi: number): number {
    let found = 0;
    let index = Math.max(lo, this.#log.firstIndex());
    while (index <= hi) {
      const batch = this.#log.entries(index, hi + 1, this.#maxCommittedPerReady);
      if (batch.length === 0) break;
      for (const e of batch) if (e.kind === 'config') found = e.index;
      index += batch.length;
    }
    return found;
  }

  #hasUnappliedConfChange(): boolean {
    return this.#lastConfigIndex(this.#log.applied + 1, this.#log.committed) > 0;
  }

  #campaign(kind: CampaignKind): void {
    let voteTerm: number;
    if (kind === 'pre') {
      this.#becomePreCandidate();
      voteTerm = this.#term + 1;
    } else {
      this.#becomeCandidate();
      voteTerm = this.#term;
    }
    this.#tracker.recordVote(this.id, true);
    if (this.#tracker.tallyVotes().result === 'won') {
      // A lone voter wins at once.
      if (kind === 'pre') this.#campaign('elect');
      else this.#becomeLeader();
      return;
    }
    this.#logger.debug({ id: this.id, term: voteTerm, kind }, 'campaigning');
    const lastIndex = this.#log.lastIndex();
    const lastTerm = this.#log.lastTerm();
    for (const voter of this.#tracker.voters()) {
      if (voter === this.id) continue;
      this.#send({
        type: 'vote',
        to: voter,
        term: voteTerm,
        preVote: kind === 'pre',
        lastIndex,
        lastTerm,
        transfer: kind === 'transfer',
      });
      this.#urgent++;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Replication (leader)

  #appendEntries(items: readonly { readonly kind: EntryKind; readonly data: Uint8Array }[]): void {
    const log = this.#log;
    const last = log.lastIndex();
    const entries: Entry[] = items.map((item, i) => ({
      index: last + 1 + i,
      term: this.#term,
      kind: item.kind,
      data: item.data,
    }));
    const first = entries[0];
    invariant(
      first !== undefined && first.index === log.lastIndex() + 1,
      'the leader never overwrites its own log',
    );
    const newLast = log.append(entries);
    this.#tracker.progress(this.id)?.maybeUpdate(newLast);
    if (this.#maybeCommit()) this.#onLeaderCommit();
  }

  /** Raises the commit index to what a quorum stores, counting only current-term entries. */
  #maybeCommit(): boolean {
    const index = this.#tracker.committed();
    // An older term's entry is committed only indirectly, by a current-term entry after it
    // (Raft §5.4.2): a quorum holding it does not stop a later leader from replacing it.
    if (index <= this.#log.committed || this.#log.term(index) !== this.#term) return false;
    this.#log.commitTo(index);
    return true;
  }

  #onLeaderCommit(): void {
    if (this.#waitingReads.length === 0 || !this.#committedInCurrentTerm()) return;
    const waiting = this.#waitingReads;
    this.#waitingReads = [];
    for (const read of waiting) this.#leaderRead(read.context, read.from);
  }

  #committedInCurrentTerm(): boolean {
    return this.#log.term(this.#log.committed) === this.#term;
  }

  /**
   * Sends the appends that proposals since the last broadcast owe the followers. Every public
   * entry point but `propose` (and `step` of a forwarded proposal) calls it first, so the
   * messages come out in the same order, with the same entries, as if each proposal had
   * broadcast at once; only a run of proposals with nothing in between — local or forwarded,
   * and a new leader's no-op before them — becomes one append per follower instead of one per
   * proposal.
   */
  #flushProposals(): void {
    if (!this.#bcastPending) return;
    this.#bcastPending = false;
    if (this.#role === 'leader') this.#bcastAppend();
  }

  #bcastAppend(): void {
    for (const [id] of this.#tracker.entries()) if (id !== this.id) this.#sendAppend(id);
  }

  /**
   * Sends `to` the entries from its `next` index (or a snapshot when they are compacted).
   * Returns whether a message was sent; with `sendIfEmpty` false, nothing is sent when there
   * are no new entries.
   */
  #sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.#tracker.progress(to);
    if (pr === undefined || to === this.id || pr.isPaused()) return false;
    const log = this.#log;
    if (pr.next > log.lastIndex() + 1) pr.next = log.lastIndex() + 1;
    const prevIndex = pr.next - 1;
    const prevTerm = log.term(prevIndex);
    let entries: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        entries = log.entries(pr.next, log.lastIndex() + 1, this.#cfg.maxSizePerMsg);
      } catch (error) {
        if (!isLogCompactedError(error)) throw error;
      }
    }
    if (prevTerm === undefined || entries === undefined) return this.#sendSnapshot(to, pr);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: 'append',
      to,
      term: this.#term,
      prevIndex,
      prevTerm,
      entries,
      commit: log.committed,
    });
    pr.sentEntries(entries.length, prevIndex + entries.length);
    return true;
  }

  #sendSnapshot(to: NodeId, pr: Progress): boolean {
    // An unresponsive follower would not take it anyway; wait until it answers something.
    if (!pr.recentActive) return false;
    const snapshot = this.#cfg.storage.snapshot();
    if (snapshot.meta.index === 0) {
      this.#logger.warn({ id: this.id, to }, 'entries are compacted but the storage has no snapshot');
      return false;
    }
    pr.becomeSnapshot(snapshot.meta.index, this.#now);
    this.#stats.snapshotsSent++;
    this.#logger.info({ id: this.id, to, index: snapshot.meta.index }, 'sending snapshot');
    this.#send({ type: 'snapshot', to, term: this.#term, snapshot });
    return true;
  }

  #bcastHeartbeat(context: string): void {
    for (const [id, pr] of this.#tracker.entries()) {
      if (id === this.id) continue;
      this.#send({
        type: 'heartbeat',
        to: id,
        term: this.#term,
        // Never tell a follower to commit beyond what it is known to store.
        commit: Math.min(pr.match, this.#log.committed),
        context,
      });
    }
  }

  #periodicHeartbeat(): void {
    // Rounds are numbered only when someone needs the confirmation: a pending read (whose
    // own round may have been lost) or the lease.
    if (this.#cfg.readMode === 'lease' || this.#readOnly.pending > 0) this.#startRound();
    else this.#bcastHeartbeat('');
  }

  #startRound(): void {
    const round = this.#readOnly.startRound(this.#now);
    this.#bcastHeartbeat(String(round));
    this.#ackRound(round, this.id);
  }

  #ackRound(round: number, from: NodeId): void {
    const released = this.#readOnly.ack(round, from, (acks) =>
      this.#tracker.isQuorum((id) => id === this.id || acks.has(id)),
    );
    for (const read of released) this.#deliverRead(read);
  }

  /**
   * Tells the transfer target to campaign as soon as this leader's whole log is on its way
   * there, without waiting for the target to acknowledge the last entries: the message names
   * the last entry, and the target campaigns once its log holds it. Messages to one peer arrive
   * in order, so the target normally steps the last appends and this in one batch, and a single
   * fsync makes both the entries and its new term and vote durable; the transfer saves the
   * target's separate fsync of those entries and the round trip of its acknowledgement. It
   * carries no vote from this member (whether the target will hold the entries is not known
   * yet): the target asks for it like any candidate, and the usual up-to-date check answers.
   * Should its log not match (an append lost with a broken connection), it ignores the message,
   * and the plain hand-over follows its acknowledgement of the whole log as before. Not urgent
   * (see `takeUrgentMessages`): it must not overtake the appends it follows.
   */
  #maybeSendEarlyTimeoutNow(to: NodeId, pr: Progress): void {
    if (this.#earlyTimeoutNowSent || this.#transferee !== to || this.#role !== 'leader') return;
    const last = this.#log.lastIndex();
    if (!this.#sentWholeLog(pr) || pr.match >= last) return;
    this.#earlyTimeoutNowSent = true;
    this.#stats.earlyTimeoutNows++;
    this.#leaseBlockedUntil = this.#now + this.#cfg.electionTicks;
    this.#send({ type: 'timeoutNow', to, term: this.#term, index: last, logTerm: this.#log.lastTerm() });
  }

  /** Every entry of this log has been sent to the follower (replicating, nothing left to send). */
  #sentWholeLog(pr: Progress): boolean {
    return pr.state === 'replicate' && pr.next > this.#log.lastIndex();
  }

  #sendTimeoutNow(to: NodeId): void {
    // The target may win without our followers' stickiness: no lease until that settles.
    this.#leaseBlockedUntil = this.#now + this.#cfg.electionTicks;
    this.#send({ type: 'timeoutNow', to, term: this.#term });
    this.#urgent++;
  }

  /**
   * The transfer target has caught up: tell it to campaign, step down, and vote for it in the
   * term it will campaign in, without waiting for its vote request. The vote is the one that
   * request would get: this member votes once per term, and the target's log is at least as up
   * to date as this one — it acknowledged every entry (`match` is the last index, durable on its
   * side), this log cannot grow after stepping down, and the target's could only lose entries to
   * a leader of a newer term, which would make both messages stale there. `timeoutNow` promises
   * nothing and leaves at once (the driver sends it before the fsync); the vote waits until term
   * and vote are durable. The target's own fsync and this one then overlap instead of following
   * each other through a vote round, and this member can neither keep leading nor serve lease
   * reads while the target takes over.
   */
  #handOverTo(to: NodeId): void {
    // A conditional timeoutNow still queued here is superseded by this one.
    if (this.#earlyTimeoutNowSent) {
      this.#messages = this.#messages.filter((m) => m.type !== 'timeoutNow' || m.index === undefined);
    }
    this.#sendTimeoutNow(to);
    this.#logger.info({ id: this.id, to, term: this.#term + 1 }, 'handing over: voting for the target');
    this.#becomeFollower(this.#term + 1, null);
    this.#vote = to;
    this.#stats.transfersHandedOver++;
    this.#send({ type: 'voteResponse', to, term: this.#term, preVote: false, granted: true });
  }

  #abortTransfer(): void {
    this.#transferee = null;
    this.#stats.transfersAborted++;
  }

  // ---------------------------------------------------------------------------------------
  // Reads

  #leaderRead(context: string, from: NodeId): void {
    if (!this.#committedInCurrentTerm()) {
      // A new leader's commit index may lag until its no-op commits.
      this.#waitingReads.push({ context, from });
      return;
    }
    const index = this.#log.committed;
    if (this.#cfg.readMode === 'lease' && this.#leaseValid()) {
      this.#stats.leaseReads++;
      this.#deliverRead({ context, index, from, round: 0 });
      return;
    }
    if (!this.#readOnly.addRead(context, index, from)) {
      this.#count('duplicateRead');
      return;
    }
    this.#startRound();
  }

  #leaseValid(): boolean {
    if (this.#role !== 'leader' || this.#transferee !== null || this.#removingSelf) return false;
    const since = this.#readOnly.confirmedSentAt;
    return (
      since >= this.#leaseBlockedUntil && this.#now < since + this.#cfg.electionTicks - LEASE_GUARD_TICKS
    );
  }

  #deliverRead(read: PendingRead): void {
    if (read.from === this.id) {
      this.#readStates.push({ index: read.index, context: read.context });
      return;
    }
    this.#send({
      type: 'readIndexResponse',
      to: read.from,
      term: this.#term,
      index: read.index,
      context: read.context,
    });
  }

  // ---------------------------------------------------------------------------------------
  // Client API

  /**
   * Proposes a command. The leader appends it; a follower that knows the leader forwards it
   * (unless `forwardProposals` is off). Throws `NotLeaderError` (with the leader hint) when it
   * cannot, and `ProposalDroppedError` during a leadership transfer or when the uncommitted
   * bytes limit is reached.
   */
  propose(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('propose() takes a Uint8Array');
    if (this.#role === 'leader') {
      this.#checkAcceptingProposals();
      if (!this.#admit(data.byteLength)) throw new ProposalDroppedError('too many uncommitted bytes');
      this.#appendEntries([{ kind: 'normal', data }]);
      // Consecutive proposals share one broadcast: see #flushProposals.
      this.#bcastPending = true;
      return;
    }
    if (this.#role !== 'follower' || this.#lead === null) throw new NotLeaderError(null);
    if (!this.#cfg.forwardProposals) throw new NotLeaderError(this.#lead);
    this.#send({
      type: 'propose',
      to: this.#lead,
      term: 0,
      entries: [{ index: 0, term: 0, kind: 'normal', data }],
    });
  }

  /**
   * Proposes a configuration change (leader only: `NotLeaderError` elsewhere). `data` is the
   * entry's payload as the driver wants it stored (defaults to the package's encoding of
   * `change`). Throws `ConfChangeError` when another change is not applied yet or the change is
   * invalid from the current configuration, and `ProposalDroppedError` during a transfer.
   */
  proposeConfChange(change: ConfChange, data?: Uint8Array): void {
    this.#flushProposals();
    if (this.#role !== 'leader') throw new NotLeaderError(this.#lead);
    if (this.#pendingConfIndex > this.#log.applied) {
      throw new ConfChangeError(
        `another configuration change (index ${this.#pendingConfIndex}) is not applied yet (applied ${this.#log.applied})`,
      );
    }
    this.#checkAcceptingProposals();
    const next = nextConf(this.#tracker.conf, change);
    const bytes = data ?? encodeConfChange(change);
    if (!this.#admit(bytes.byteLength)) throw new ProposalDroppedError('too many uncommitted bytes');
    this.#appendConfEntry(bytes, next);
  }

  /**
   * Applies a committed configuration change; the driver calls it, in log order, for every
   * `config` entry it applies (an empty entry is `{ mode: 'leaveJoint', steps: [] }`). Returns
   * the configuration now in force. A change that is invalid here is ignored (every member
   * ignores it alike). A leader that is no longer a voter steps down, first handing the
   * commit index to its peers and leadership to an up-to-date voter.
   */
  applyConfChange(change: ConfChange): ConfState {
    this.#flushProposals();
    let conf: ConfState;
    try {
      conf = nextConf(this.#tracker.conf, change);
    } catch (error) {
      if (!isConfChangeError(error)) throw error;
      this.#logger.warn({ id: this.id, error: error.message }, 'ignoring a committed configuration change');
      this.#count('confChangeRefused');
      return this.#tracker.conf;
    }
    this.#tracker.setConf(conf, this.#log.lastIndex());
    this.#logger.info({ id: this.id, conf }, 'configuration changed');
    if (this.#role !== 'leader') return conf;
    if (!this.#tracker.isVoter(this.id)) {
      this.#leaving = true;
      this.#removingSelf = true;
      if (this.#maybeCommit()) this.#onLeaderCommit();
      this.#bcastAppend();
      this.#maybeHandOver();
      return conf;
    }
    if (this.#transferee !== null && !conf.voters.includes(this.#transferee)) this.#abortTransfer();
    // The quorum changed: the commit index may move, and new members need their first probe.
    if (this.#maybeCommit()) this.#onLeaderCommit();
    this.#bcastAppend();
    return conf;
  }

  /**
   * A leaving leader hands over once everything in its log is committed under the new
   * configuration and some voter of it stores all of it: that voter is told to campaign at
   * once, and this member steps down. Until then it keeps replicating.
   */
  #maybeHandOver(): void {
    if (!this.#leaving || this.#role !== 'leader') return;
    const last = this.#log.lastIndex();
    if (this.#log.committed < last) return;
    let successor: NodeId | null = null;
    for (const voter of [...this.#tracker.conf.voters].sort()) {
      if (voter !== this.id && this.#tracker.progress(voter)?.match === last) {
        successor = voter;
        break;
      }
    }
    if (successor === null) return;
    this.#logger.info({ id: this.id, successor }, 'stepping down: no longer a voter');
    // Peers learn the final commit index first, then the successor campaigns.
    this.#bcastAppend();
    this.#sendTimeoutNow(successor);
    this.#becomeFollower(this.#term, null);
  }

  /** Starts an election now (a PreVote round first when enabled). Ignored on the leader and on non-voters. */
  campaign(): void {
    this.#flushProposals();
    this.#hup('election');
  }

  /**
   * Hands leadership to voter `to`: catches it up if needed, then tells it to campaign at once
   * (`timeoutNow`), steps down and grants it this member's vote for the next term unasked.
   * Proposals are refused meanwhile; a transfer whose target has not caught up within one
   * election timeout is abandoned.
   * Throws `NotLeaderError` on a non-leader and `RangeError` when `to` is not a voter.
   */
  transferLeadership(to: NodeId): void {
    this.#flushProposals();
    if (this.#role !== 'leader') throw new NotLeaderError(this.#lead);
    if (to === this.id) return;
    if (!this.#tracker.conf.voters.includes(to)) throw new RangeError(`transfer target ${to} is not a voter`);
    if (this.#transferee === to) return;
    if (this.#transferee !== null) this.#abortTransfer();
    this.#transferee = to;
    this.#earlyTimeoutNowSent = false;
    this.#stats.transfersStarted++;
    // The election timer doubles as the transfer deadline.
    this.#electionElapsed = 0;
    this.#logger.info({ id: this.id, to }, 'transferring leadership');
    const pr = this.#tracker.progress(to);
    if (pr === undefined) return;
    if (pr.match === this.#log.lastIndex()) {
      this.#handOverTo(to);
      return;
    }
    if (!this.#sentWholeLog(pr)) {
      // Start catching the target up now rather than at the next heartbeat answer.
      pr.probeSent = false;
      if (this.#sendAppend(to)) {
        while (this.#sendAppend(to, false)) {
          // each call sends one message and moves `next` on, within the flow control's limits
        }
      }
    }
    this.#maybeSendEarlyTimeoutNow(to, pr);
  }

  /**
   * Requests a linearizable read. The leader confirms its leadership with a heartbeat round
   * (or its lease) and emits a {@link ReadState} for `context`; a follower forwards the request
   * to the leader. Throws `NotLeaderError` when no leader is known. Duplicate contexts still
   * waiting are ignored.
   */
  readIndex(context: string): void {
    this.#flushProposals();
    if (typeof context !== 'string') throw new TypeError('readIndex() takes a string context');
    if (this.#role === 'leader') {
      this.#leaderRead(context, this.id);
      return;
    }
    if (this.#role !== 'follower' || this.#lead === null) throw new NotLeaderError(null);
    this.#send({ type: 'readIndex', to: this.#lead, term: 0, context });
  }

  /** The transport could not reach `id`: stop pipelining to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    this.#flushProposals();
    if (this.#role !== 'leader') return;
    const pr = this.#tracker.progress(id);
    if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** The snapshot sent to `id` was delivered (`ok`) or failed. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.#flushProposals();
    if (this.#role !== 'leader') return;
    const pr = this.#tracker.progress(id);
    if (pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Probe again only once the follower answers a heartbeat, not in a tight loop.
    pr.probeSent = true;
  }

  #admit(bytes: number): boolean {
    // One oversized entry is accepted when nothing is pending, or it could never be proposed.
    if (
      this.#uncommittedSize > 0 &&
      bytes > 0 &&
      this.#uncommittedSize + bytes > this.#cfg.maxUncommittedBytes
    ) {
      return false;
    }
    this.#uncommittedSize += bytes;
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Ready / advance

  /** True when {@link ready} has work; false while a handed-out Ready awaits {@link advance}. */
  hasReady(): boolean {
    if (this.#outstanding) return false;
    return (
      this.#messages.length > 0 ||
      this.#readStates.length > 0 ||
      this.#log.unstable.entries.length > 0 ||
      this.#log.unstable.snapshot !== undefined ||
      this.#log.hasNextCommitted() ||
      !sameHardState(this.#hardState(), this.#prevHard) ||
      !sameSoftState(this.#softState(), this.#prevSoft)
    );
  }

  /**
   * Takes the urgent messages queued since the last {@link ready}, for the driver to send at
   * once — also while a Ready is outstanding, its save still in flight. They depend on nothing
   * durable; without this they would wait for the save in flight and then for their own Ready,
   * which stretches a transfer or an election by a whole fsync under load:
   * - a plain `timeoutNow` asks a transfer target that acknowledged the whole log to campaign
   *   now (the leader's vote for the target, queued with it, stays for the next Ready: it waits
   *   for the new term and vote to be durable; a conditional `timeoutNow` stays in line behind
   *   the appends it follows);
   * - vote and pre-vote requests: a candidate acts on the answers only as a leader, and a
   *   leader's first messages wait until every batch up to the one with its new term and vote
   *   is durable (the driver persists Readies in order), so asking early promises nothing the
   *   candidate could lose in a crash. The claim about its log (last index and term) may cover
   *   entries still being written, as a Ready's own vote requests may (drivers send those before
   *   that Ready's save): the voters' up-to-date check is all the claim is used for, and a
   *   candidate that crashes before its write lands never leads on it.
   */
  takeUrgentMessages(): Message[] {
    if (this.#urgent === 0) return [];
    this.#urgent = 0;
    const urgent: Message[] = [];
    const rest: Message[] = [];
    for (const message of this.#messages) (isUrgent(message) ? urgent : rest).push(message);
    this.#messages = rest;
    return urgent;
  }

  /**
   * Hands out the pending work. Messages that depend on durable state (votes, append acks)
   * are in the same Ready as the entries and hard state they depend on, so the driver's
   * persist-then-send order is enough. Call {@link advance} with it before the next `ready()`.
   */
  ready(): Ready {
    this.#flushProposals();
    invariant(!this.#outstanding, 'ready() called again before advance()');
    const hard = this.#hardState();
    const soft = this.#softState();
    const prev = this.#prevHard;
    invariant(hard.commit >= prev.commit, `commit went back from ${prev.commit} to ${hard.commit}`);
    invariant(hard.term >= prev.term, `term went back from ${prev.term} to ${hard.term}`);
    invariant(
      hard.term !== prev.term || prev.vote === null || hard.vote === prev.vote,
      `vote changed within term ${hard.term} from ${prev.vote} to ${hard.vote}`,
    );
    const hardChanged = !sameHardState(hard, prev);
    const entries = this.#log.unstableEntries();
    const snapshot = this.#log.unstable.snapshot;
    // The driver applies the snapshot before this Ready's committed entries, whose config
    // changes must build on the snapshot's configuration.
    if (snapshot !== undefined) this.#tracker.setConf(snapshot.meta.conf, this.#log.lastIndex());
    const ready: Ready = {
      entries,
      committed: this.#log.nextCommitted(this.#maxCommittedPerReady),
      messages: this.#messages,
      readStates: this.#readStates,
      mustSync:
        entries.length > 0 || snapshot !== undefined || hard.term !== prev.term || hard.vote !== prev.vote,
      ...(hardChanged ? { hardState: hard } : {}),
      ...(sameSoftState(soft, this.#prevSoft) ? {} : { softState: soft }),
      ...(snapshot === undefined ? {} : { snapshot }),
    };
    this.#messages = [];
    this.#urgent = 0;
    this.#readStates = [];
    this.#prevHard = hard;
    this.#prevSoft = soft;
    this.#outstanding = true;
    return ready;
  }

  /**
   * The driver persisted `ready`'s snapshot, entries and hard state, and applied its
   * committed entries.
   */
  advance(ready: Ready): void {
    this.#flushProposals();
    invariant(this.#outstanding, 'advance() without a pending ready()');
    this.#outstanding = false;
    const log = this.#log;
    if (ready.snapshot !== undefined) {
      log.stableSnapTo(ready.snapshot.meta.index);
      log.appliedTo(ready.snapshot.meta.index);
    }
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) log.stableTo(lastEntry.index, lastEntry.term);
    const lastApplied = ready.committed[ready.committed.length - 1];
    if (lastApplied !== undefined) {
      log.appliedTo(lastApplied.index);
      if (this.#role === 'leader') {
        this.#uncommittedSize = Math.max(0, this.#uncommittedSize - payloadSize(ready.committed));
      }
    }
    this.#maybeAutoLeave();
    if (this.#deferredTransfer && this.#role === 'follower' && !this.#hasUnappliedConfChange()) {
      this.#deferredTransfer = false;
      if (this.#promotable()) this.#hup('transfer');
    }
  }

  #maybeAutoLeave(): void {
    const conf = this.#tracker.conf;
    if (this.#role !== 'leader' || !conf.autoLeave || !isJoint(conf)) return;
    if (this.#pendingConfIndex > this.#log.applied) return;
    this.#logger.info({ id: this.id }, 'leaving the joint configuration automatically');
    this.#appendConfEntry(EMPTY_DATA, nextConf(conf, LEAVE_JOINT));
  }

  /** Appends a config entry whose configuration, once applied, will be `next`. */
  #appendConfEntry(data: Uint8Array, next: ConfState): void {
    this.#appendEntries([{ kind: 'config', data }]);
    this.#pendingConfIndex = this.#log.lastIndex();
    if (!isVoterIn(next, this.id)) this.#removingSelf = true;
    this.#bcastAppend();
  }

  /** Throws `ProposalDroppedError` while the leader must not take new entries. */
  #checkAcceptingProposals(): void {
    if (this.#transferee !== null) {
      throw new ProposalDroppedError(`leadership transfer to ${this.#transferee} in progress`);
    }
    if (this.#removingSelf) throw new ProposalDroppedError('the leader is leaving the configuration');
    if (this.#inheritedConfIndex > this.#log.applied) {
      throw new ProposalDroppedError('a configuration change from an earlier term is not applied yet');
    }
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed };
  }

  #softState(): SoftState {
    return { leader: this.#lead, role: this.#role, term: this.#term };
  }

  // ---------------------------------------------------------------------------------------
  // Introspection

  /** This member's role (cheaper than {@link RaftCore.status} on hot paths). */
  get role(): RaftRole {
    return this.#role;
  }

  /** The known leader, or null. */
  get leader(): NodeId | null {
    return this.#lead;
  }

  /** The current term. */
  get term(): number {
    return this.#term;
  }

  /** The target of a leadership transfer in progress, or null. */
  get transferee(): NodeId | null {
    return this.#transferee;
  }

  /** Whom this member voted for in the current term, or null. */
  get vote(): NodeId | null {
    return this.#vote;
  }

  /** Index of the last entry in the log (stable or not). */
  get lastIndex(): number {
    return this.#log.lastIndex();
  }

  /** A snapshot of the core's state. */
  status(): RaftStatus {
    this.#flushProposals();
    const progress: ProgressStatus[] = [];
    if (this.#role === 'leader') {
      for (const [id, pr] of this.#tracker.entries()) {
        if (id === this.id) continue;
        progress.push({
          id,
          voter: !pr.isLearner,
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
        });
      }
    }
    return {
      id: this.id,
      role: this.#role,
      term: this.#term,
      vote: this.#vote,
      leader: this.#lead,
      commitIndex: this.#log.committed,
      appliedIndex: this.#log.applied,
      lastIndex: this.#log.lastIndex(),
      conf: this.#tracker.conf,
      progress,
      transferee: this.#transferee,
    };
  }

  /** Counters (a copy). */
  stats(): RaftCoreStats {
    this.#flushProposals();
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Inflight window of `id` as the leader tracks it (last indexes, oldest first); for tests and debugging. */
  inflights(id: NodeId): number[] {
    this.#flushProposals();
    return this.#tracker.progress(id)?.inflights.toArray() ?? [];
  }

  // ---------------------------------------------------------------------------------------
  // Helpers

  #send(message: Outgoing): void {
    this.#messages.push({ ...message, from: this.id } as Message);
  }

  #drop(reason: string, message: unknown): void {
    this.#count(reason);
    if (reason !== 'staleTerm' && reason !== 'stale') {
      const m = message as Partial<Message>;
      this.#logger.debug(
        { id: this.id, reason, type: m?.type, from: m?.from, term: m?.term },
        'dropped message',
      );
    }
  }

  #count(reason: string): void {
    this.#stats.dropped[reason] = (this.#stats.dropped[reason] ?? 0) + 1;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role && a.term === b.term;
}

/** Messages a driver may send while a Ready's save is in flight (see `takeUrgentMessages`). */
function isUrgent(message: Message): boolean {
  return message.type === 'vote' || (message.type === 'timeoutNow' && message.index === undefined);
}
