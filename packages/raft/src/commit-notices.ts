import type { Clock, TimerHandle } from '@clusteros/sim';
import type { AppendRequest, Message, NodeId } from './core/types.js';

/**
 * Holds a leader's empty appends (the commit notices it broadcasts when its commit index
 * advances) for a short while, and drops each one that the next append to the same follower
 * makes redundant.
 *
 * Under a steady stream of writes the next proposal's append follows within a fraction of a
 * millisecond and carries the new commit index anyway, so the notice and the follower's answer
 * to it are two messages per follower per write that tell nobody anything new (at one writer
 * they were half of all Raft traffic). A notice that nothing supersedes within `delayMs` is sent
 * as it was: followers of an idle leader learn of a commit at most that much later. Holding or
 * dropping a notice is indistinguishable from the network delaying or losing it, which Raft
 * tolerates; the leader waits for no answer to one (its probes of a paused follower are resent
 * here after the delay too, and heartbeats carry the commit index as well).
 */
export class CommitNoticeCoalescer {
  readonly #clock: Clock;
  readonly #delayMs: number;
  readonly #send: (message: Message) => void;
  readonly #held = new Map<NodeId, AppendRequest>();
  #timer: TimerHandle | undefined;

  constructor(clock: Clock, delayMs: number, send: (message: Message) => void) {
    this.#clock = clock;
    this.#delayMs = delayMs;
    this.#send = send;
  }

  /**
   * Takes a message on its way out: returns true when it was a commit notice and is now held,
   * false when the caller should send it (an append that supersedes a held notice drops it).
   */
  intercept(message: Message): boolean {
    if (message.type !== 'append' || this.#delayMs <= 0) return false;
    if (message.entries.length === 0) {
      // A newer notice to the same follower states the leader's current view; the older one
      // goes, as if the network had lost it.
      this.#held.set(message.to, message);
      this.#timer ??= this.#clock.setTimeout(() => this.flush(), this.#delayMs);
      return true;
    }
    const held = this.#held.get(message.to);
    // The follower commits min(commit, last index of the append): drop the notice only when
    // this append takes it at least as far.
    if (
      held !== undefined &&
      message.term === held.term &&
      message.commit >= held.commit &&
      message.prevIndex + message.entries.length >= held.prevIndex
    ) {
      this.#held.delete(message.to);
    }
    return false;
  }

  /** Sends every held notice now. */
  flush(): void {
    const held = [...this.#held.values()];
    this.clear();
    for (const message of held) this.#send(message);
  }

  /** Forgets the held notices (the member stops). */
  clear(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
  }
}
