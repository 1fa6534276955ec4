import { invariant } from '../errors.js';
import { Inflights } from './inflights.js';

/**
 * How the leader replicates to one follower:
 * - `probe`: the follower's log position is unknown; one append at a time, each waiting for its
 *   answer (or the next heartbeat answer), stepping `next` back on rejection.
 * - `replicate`: the position is known; appends are pipelined optimistically, bounded by the
 *   inflight window.
 * - `snapshot`: the entries it needs are compacted; nothing is sent until the snapshot lands.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one member's log. */
export class Progress {
  /** Highest index known to be stored on the member (and to match the leader's log). */
  match: number;
  /** Next index to send. Invariant: `match < next`. */
  next: number;
  /** Replication mode. */
  state: ProgressState = 'probe';
  /** In `snapshot` state: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** In `snapshot` state: the leader tick at which the snapshot was sent. */
  snapshotSentAt = 0;
  /** Heard from within the current election timeout (reset by the leader's quorum check). */
  recentActive = false;
  /** In `probe` state: a probe is outstanding, so no further append is sent until an answer. */
  probeSent = false;
  /** Non-voting member. */
  isLearner: boolean;
  /** Unacknowledged appends while pipelining. */
  readonly inflights: Inflights;
  /**
   * While pipelining on trust after an election ({@link Progress.becomeOptimistic}): the index the
   * first append started at. 0 once the member acknowledged or rejected something.
   */
  #trustedFrom = 0;

  /** Creates the progress of a member whose next index to send is `next`. */
  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.match = 0;
    this.next = Math.max(1, next);
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflight);
  }

  #resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.#trustedFrom = 0;
    this.inflights.reset();
  }

  /** Starts over in `probe` state with the given indexes (a new leadership). */
  reset(match: number, next: number): void {
    this.#resetState('probe');
    this.match = match;
    this.next = Math.max(next, match + 1);
  }

  /**
   * Back to probing from just after `match` (after a snapshot: just after the snapshot; while
   * still pipelining on trust, from where that started, since nothing below it was ever sent).
   */
  becomeProbe(): void {
    const afterSnapshot = this.state === 'snapshot' ? this.pendingSnapshot + 1 : 0;
    const trusted = this.#trustedFrom;
    this.#resetState('probe');
    this.next = Math.max(this.match + 1, afterSnapshot, trusted);
  }

  /**
   * A new leader's start: pipeline from `next` (just after the leader's last entry) before the
   * member has answered, assuming its log matches the leader's up to there, as it does after a
   * planned transfer or any election among up-to-date members. Probing first would hold
   * everything proposed meanwhile back by a round trip and a disk write. If the assumption is
   * wrong the member rejects, and the first rejection turns this into probing from its hint.
   */
  becomeOptimistic(next: number): void {
    this.#resetState('replicate');
    this.next = Math.max(next, this.match + 1);
    this.#trustedFrom = this.next;
  }

  /** Start pipelining from just after `match`. */
  becomeReplicate(): void {
    this.#resetState('replicate');
    this.next = this.match + 1;
  }

  /** Wait for the snapshot at `index` (sent at leader tick `now`) to be installed. */
  becomeSnapshot(index: number, now: number): void {
    this.#resetState('snapshot');
    this.pendingSnapshot = index;
    this.snapshotSentAt = now;
  }

  /** True when the leader must not send appends to this member now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /**
   * Records that an append with `count` entries ending at `lastIndex` was sent: pipelining moves
   * `next` past it, probing waits for the answer.
   */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        invariant(lastIndex >= this.next, `progress: sent up to ${lastIndex} but next is ${this.next}`);
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /**
   * An acknowledgement that the member stores everything up to `index`. Returns false when the
   * acknowledgement is stale (it tells nothing new).
   */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.#trustedFrom = 0;
      updated = true;
      // A probe answer arrived: the next probe may go out.
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append whose previous index was `rejected`; `matchHint` is the highest
   * index at which the logs may still match. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Anything at or below match was acknowledged already: an old, reordered rejection.
      if (rejected <= this.match) return false;
      if (this.#trustedFrom > 0) {
        // The trust after the election was misplaced: probe from the member's hint, as if the
        // first append had been a probe. (Rejections of the appends pipelined after it come
        // next and are stale for the probe.)
        this.#resetState('probe');
        this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
        return true;
      }
      // The pipeline broke: resend from just after what is known to match.
      this.next = this.match + 1;
      return true;
    }
    // Probing sends one append at a time, so only a rejection of the latest probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }
}
