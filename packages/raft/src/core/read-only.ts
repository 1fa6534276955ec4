import type { NodeId } from './types.js';

/** A linearizable read waiting for the leader to confirm its leadership. */
export interface PendingRead {
  /** The caller's request id. */
  readonly context: string;
  /** The leader's commit index when the read arrived: the read may be served once applied. */
  readonly index: number;
  /** Who asked: the leader itself, or a follower that forwarded the read. */
  readonly from: NodeId;
  /** The first heartbeat round sent after the read arrived; its quorum answer confirms the read. */
  readonly round: number;
}

interface Round {
  readonly sentAt: number;
  readonly acks: Set<NodeId>;
}

/**
 * Leadership confirmation by heartbeat rounds, shared by ReadIndex and the leader lease.
 *
 * Every heartbeat broadcast that matters is a numbered round (its number travels as the
 * heartbeat's `context`). When a quorum answers round `r`, the leader knows it was still the
 * leader when `r` was sent, so every read that arrived before `r` was sent is safe to serve at
 * the commit index recorded on arrival, and the lease runs from `r`'s send time.
 *
 * Only the leader uses it; a new leadership starts with a fresh instance.
 */
export class ReadOnly {
  readonly #rounds = new Map<number, Round>();
  readonly #reads: PendingRead[] = [];
  readonly #contexts = new Set<string>();
  #nextRound = 1;
  #confirmedSentAt = Number.NEGATIVE_INFINITY;

  /** Reads waiting for confirmation. */
  get pending(): number {
    return this.#reads.length;
  }

  /** The number the next round will carry. */
  get nextRound(): number {
    return this.#nextRound;
  }

  /** Leader tick at which the latest quorum-confirmed round was sent (−∞ when none). */
  get confirmedSentAt(): number {
    return this.#confirmedSentAt;
  }

  /** Queues a read; returns false for a context already waiting (duplicates are ignored). */
  addRead(context: string, index: number, from: NodeId): boolean {
    if (this.#contexts.has(context)) return false;
    this.#contexts.add(context);
    this.#reads.push({ context, index, from, round: this.#nextRound });
    return true;
  }

  /** Opens a round sent at leader tick `now`; returns its number (the heartbeat context). */
  startRound(now: number): number {
    const round = this.#nextRound++;
    this.#rounds.set(round, { sentAt: now, acks: new Set() });
    return round;
  }

  /**
   * Records `from`'s answer to `round`; `isQuorum` decides whether the answers so far confirm
   * leadership. Returns the reads that became safe (oldest first).
   */
  ack(round: number, from: NodeId, isQuorum: (acks: ReadonlySet<NodeId>) => boolean): PendingRead[] {
    const entry = this.#rounds.get(round);
    if (entry === undefined) return [];
    entry.acks.add(from);
    if (!isQuorum(entry.acks)) return [];
    this.#confirmedSentAt = Math.max(this.#confirmedSentAt, entry.sentAt);
    // Older rounds can no longer tell anything new.
    for (const r of [...this.#rounds.keys()]) if (r <= round) this.#rounds.delete(r);
    let released = 0;
    while (
      released < this.#reads.length &&
      (this.#reads[released]?.round ?? Number.POSITIVE_INFINITY) <= round
    ) {
      released++;
    }
    const done = this.#reads.splice(0, released);
    for (const read of done) this.#contexts.delete(read.context);
    return done;
  }

  /** Forgets rounds sent before `before` that were never confirmed (lost answers). */
  pruneRounds(before: number): void {
    for (const [r, entry] of this.#rounds) if (entry.sentAt < before) this.#rounds.delete(r);
  }

  /** Rounds still open. */
  get openRounds(): number {
    return this.#rounds.size;
  }
}
