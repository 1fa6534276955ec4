/**
 * Lifeguard's dynamic suspicion timer (memberlist `suspicion`): it starts at the maximum
 * timeout when independent confirmations can be expected, and every new accuser brings it down
 * logarithmically towards the minimum, so a node many members cannot reach is declared dead
 * sooner, while a node only one slow member blames gets the long timeout. An optional check runs
 * once shortly before the deadline (the runtime's `pingSuspectBeforeDeath` pings the suspect
 * then, so a live one can answer before it is declared dead).
 */
import type { Clock, TimerHandle } from '@clusteros/sim';
import { remainingSuspicionTime } from '../wire/timing.js';

/**
 * Something to do shortly before a suspicion runs out: `run` is called once, `leadMs` before
 * the deadline (at once if the deadline is nearer than that when the suspicion starts or a
 * confirmation brings it forward), unless the suspicion ends first.
 */
export interface BeforeExpiry {
  readonly leadMs: number;
  readonly run: () => void;
}

/** A running suspicion of one node. */
export class Suspicion {
  readonly #clock: Clock;
  readonly #k: number;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #start: number;
  readonly #accusers = new Set<string>();
  readonly #fire: () => void;
  readonly #beforeExpiry: BeforeExpiry | undefined;
  #confirmations = 0;
  #timer: TimerHandle | null;
  #checkTimer: TimerHandle | null = null;
  #checkDone = false;

  /**
   * Starts the timer. `from` is the first accuser; `k` the confirmations that bring the timeout
   * from `maxMs` down to `minMs`; `fire` runs once when it expires; `beforeExpiry`, if given,
   * once shortly before (see {@link BeforeExpiry}).
   */
  constructor(
    clock: Clock,
    from: string,
    k: number,
    minMs: number,
    maxMs: number,
    fire: () => void,
    beforeExpiry?: BeforeExpiry,
  ) {
    this.#clock = clock;
    this.#k = k;
    this.#minMs = minMs;
    this.#maxMs = maxMs;
    this.#start = clock.now();
    this.#accusers.add(from);
    this.#fire = fire;
    this.#beforeExpiry = beforeExpiry;
    const timeout = k < 1 ? minMs : maxMs;
    this.#timer = clock.setTimeout(() => this.#expire(), timeout);
    this.#armCheck(timeout);
  }

  /** Independent confirmations counted so far. */
  get confirmations(): number {
    return this.#confirmations;
  }

  /**
   * Counts `from` as a confirmation if it is a new accuser and fewer than `k` have been counted.
   * Returns true when it counted (the caller re-gossips the suspicion then).
   */
  confirm(from: string): boolean {
    if (this.#timer === null || this.#confirmations >= this.#k || this.#accusers.has(from)) return false;
    this.#accusers.add(from);
    this.#confirmations++;
    const elapsed = this.#clock.now() - this.#start;
    const remaining = remainingSuspicionTime(this.#confirmations, this.#k, elapsed, this.#minMs, this.#maxMs);
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => this.#expire(), Math.max(0, remaining));
    this.#armCheck(remaining);
    return true;
  }

  /** Cancels the timer (the node was refuted, declared dead or removed). */
  stop(): void {
    this.#disarmCheck();
    if (this.#timer === null) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #expire(): void {
    if (this.#timer === null) return;
    this.#timer = null;
    this.#disarmCheck();
    this.#fire();
  }

  /** (Re)schedules the check for a deadline `remainingMs` from now, if it has not run yet. */
  #armCheck(remainingMs: number): void {
    const check = this.#beforeExpiry;
    if (check === undefined || this.#checkDone) return;
    this.#disarmCheck();
    // On a timer even when it is due now: the caller is in the middle of handling a message.
    this.#checkTimer = this.#clock.setTimeout(
      () => {
        this.#checkTimer = null;
        this.#checkDone = true;
        check.run();
      },
      Math.max(0, remainingMs - check.leadMs),
    );
  }

  #disarmCheck(): void {
    if (this.#checkTimer === null) return;
    this.#clock.clearTimeout(this.#checkTimer);
    this.#checkTimer = null;
  }
}
