/**
 * Who this node has recently answered for accusing it at an incarnation it had already
 * refuted (a ClusterOS extension; memberlist 0.2.2 ignores such messages).
 *
 * A suspect or dead message about this node at an older incarnation than its own means the
 * sender still holds the old accusation: it missed the refutation that gossip spread. Gossip
 * sends every piece of news a bounded number of times (`retransmitMult × log10(N)` per member),
 * so now and then one member misses a refutation completely; memberlist then lets that member's
 * suspicion timer run out and it declares a live node dead. The sender is telling the accused
 * node about its stale view (when it probes a suspect member it piggybacks the suspicion, and
 * it gossips the suspicion to random members), so the accused node can answer it directly with
 * its current alive message. Answers are limited to one per sender address per interval, so a
 * stream of stale gossip (or forged accusations, on a cluster without encryption) costs at most
 * one small datagram per sender per interval.
 */
export class StaleAccusationAnswers {
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #maxTracked: number;
  /** Sender address → when it was last answered. */
  readonly #answeredAt = new Map<string, number>();

  /**
   * @param now - the node's clock.
   * @param intervalMs - at most one answer per sender within this long.
   * @param maxTracked - senders remembered at once; beyond it, entries older than the
   *   interval are forgotten, and if every one is recent the oldest go first.
   */
  constructor(now: () => number, intervalMs: number, maxTracked = 4_096) {
    this.#now = now;
    this.#intervalMs = intervalMs;
    this.#maxTracked = maxTracked;
  }

  /** True when `sender` may be answered now (and records the answer); false within its interval. */
  take(sender: string): boolean {
    const now = this.#now();
    const last = this.#answeredAt.get(sender);
    if (last !== undefined && now - last < this.#intervalMs) return false;
    this.#answeredAt.delete(sender);
    if (this.#answeredAt.size >= this.#maxTracked) this.#forget(now);
    this.#answeredAt.set(sender, now);
    return true;
  }

  #forget(now: number): void {
    for (const [sender, at] of this.#answeredAt) {
      if (now - at >= this.#intervalMs) this.#answeredAt.delete(sender);
    }
    // Map order is insertion order, and a sender is re-inserted when answered again: the first
    // entries are the oldest answers.
    for (const sender of this.#answeredAt.keys()) {
      if (this.#answeredAt.size < this.#maxTracked) break;
      this.#answeredAt.delete(sender);
    }
  }
}
