import { type Clock, sanitizeDelay, type TimerHandle } from './clock.js';
import { type HeapEntry, MinHeap } from './heap.js';

const noop = (): void => {};

interface TimerEntry extends HeapEntry {
  readonly id: number;
  /** Replaced by a no-op when the timer is cancelled (see #cancel). */
  fn: () => void;
  /** 0 for one-shot timers. */
  readonly every: number;
  cancelled: boolean;
}

/** Options of {@link SimClock}. */
export interface SimClockOptions {
  /**
   * The simulated time at creation, in milliseconds.
   * @defaultValue 0
   */
  readonly start?: number;
  /**
   * Upper bound on events run by one `advance`/`runUntil` call. A scenario that schedules
   * zero-delay timers forever would otherwise never return; past the bound the call throws.
   * @defaultValue 10_000_000
   */
  readonly maxEventsPerCall?: number;
}

/** Options of {@link SimClock.view}: how one node's clock deviates from true simulated time. */
export interface ClockViewOptions {
  /**
   * Rate error in parts per million: +100 runs 0.01% fast. Real quartz is within about ±100 ppm.
   * @defaultValue 0
   */
  readonly driftPpm?: number;
  /**
   * Constant offset added to the view's `now()`, in milliseconds.
   * @defaultValue 0
   */
  readonly offsetMs?: number;
}

/** Yields to the event loop once, after every queued microtask (promise continuation) has run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A virtual {@link Clock}: time stands still until the test moves it, and timers are an event
 * queue ordered by due time, then by the order they were set. Nothing here reads real time,
 * so a run is a pure function of the scenario and its seed.
 *
 * Two ways to drive it:
 * - `advance(ms)` and `runUntil(pred, limitMs)` are async and let promise continuations run
 *   to completion after every event, so async drivers (storage writes, awaited sends) behave
 *   as they would on a real event loop, just without waiting.
 * - `advanceSync` and `runUntilSync` run callbacks back to back, for fully synchronous cores.
 *
 * An exception thrown by a timer callback propagates out of the driving call; the clock stays
 * consistent (the event is consumed) so a test may inspect state and continue.
 */
export class SimClock implements Clock {
  readonly #queue = new MinHeap<TimerEntry>();
  readonly #live = new Map<number, TimerEntry>();
  readonly #maxEvents: number;
  #now: number;
  #seq = 0;
  #nextId = 1;
  #fired = 0;

  /** Creates a clock at `options.start` (0 by default). */
  constructor(options: SimClockOptions = {}) {
    this.#now = options.start ?? 0;
    this.#maxEvents = options.maxEventsPerCall ?? 10_000_000;
  }

  now(): number {
    return this.#now;
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.#live.size;
  }

  /** Total number of timer callbacks run so far. */
  get firedCount(): number {
    return this.#fired;
  }

  /** When the next timer is due, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    return this.#peekLive()?.at;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#schedule(fn, sanitizeDelay(ms), 0);
  }

  clearTimeout(handle: TimerHandle): void {
    this.#cancel(handle);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const every = Math.max(1, sanitizeDelay(ms));
    return this.#schedule(fn, every, every);
  }

  clearInterval(handle: TimerHandle): void {
    this.#cancel(handle);
  }

  /** Runs the next due timer, moving time to it. Returns false when nothing is pending. */
  stepSync(): boolean {
    const entry = this.#popLive();
    if (entry === undefined) return false;
    this.#fire(entry);
    return true;
  }

  /** Moves time forward by `ms`, running every timer due on the way, synchronously. */
  advanceSync(ms: number): void {
    const end = this.#now + sanitizeDelay(ms);
    let budget = this.#maxEvents;
    for (let next = this.#peekLive(); next !== undefined && next.at <= end; next = this.#peekLive()) {
      this.#spend(--budget);
      this.#popLive();
      this.#fire(next);
    }
    this.#now = end;
  }

  /**
   * Runs events until `predicate()` holds or `limitMs` of simulated time has passed,
   * synchronously. Returns whether the predicate held.
   */
  runUntilSync(predicate: () => boolean, limitMs: number): boolean {
    const end = this.#now + sanitizeDelay(limitMs);
    if (predicate()) return true;
    let budget = this.#maxEvents;
    for (let next = this.#peekLive(); next !== undefined && next.at <= end; next = this.#peekLive()) {
      this.#spend(--budget);
      this.#popLive();
      this.#fire(next);
      if (predicate()) return true;
    }
    this.#now = end;
    return predicate();
  }

  /** Moves time forward by `ms`, running every timer due on the way and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + sanitizeDelay(ms);
    let budget = this.#maxEvents;
    await settle();
    for (let next = this.#peekLive(); next !== undefined && next.at <= end; next = this.#peekLive()) {
      this.#spend(--budget);
      this.#popLive();
      this.#fire(next);
      await settle();
    }
    this.#now = end;
  }

  /**
   * Runs events, settling promises after each, until `predicate()` holds or `limitMs` of
   * simulated time has passed. Returns whether the predicate held. Time stops at the event
   * that made it hold, so the caller can measure how long that took.
   */
  async runUntil(predicate: () => boolean, limitMs: number): Promise<boolean> {
    const end = this.#now + sanitizeDelay(limitMs);
    let budget = this.#maxEvents;
    await settle();
    if (predicate()) return true;
    for (let next = this.#peekLive(); next !== undefined && next.at <= end; next = this.#peekLive()) {
      this.#spend(--budget);
      this.#popLive();
      this.#fire(next);
      await settle();
      if (predicate()) return true;
    }
    this.#now = end;
    return predicate();
  }

  /**
   * A clock for one simulated node: it reads this clock through its own drift and offset, and
   * owns the timers set through it, so a node crash can cancel exactly that node's timers.
   */
  view(options: ClockViewOptions = {}): SimClockView {
    return new SimClockView(this, options);
  }

  #schedule(fn: () => void, delay: number, every: number): TimerHandle {
    const entry: TimerEntry = {
      at: this.#now + delay,
      seq: this.#seq++,
      id: this.#nextId++,
      fn,
      every,
      cancelled: false,
    };
    this.#queue.push(entry);
    this.#live.set(entry.id, entry);
    return { id: entry.id };
  }

  #cancel(handle: TimerHandle): void {
    const entry = this.#live.get(handle.id);
    if (entry === undefined) return;
    entry.cancelled = true;
    // The entry stays in the queue until it reaches the top (deleting from the middle of a heap
    // costs more than skipping it then); dropping its callback now frees what the callback holds,
    // as a real clearTimeout does. A timeout guarding a large transfer (a 10 s TCP deadline
    // around a whole-view push/pull) otherwise kept its buffers alive for the full 10 s.
    entry.fn = noop;
    this.#live.delete(handle.id);
  }

  #peekLive(): TimerEntry | undefined {
    let top = this.#queue.peek();
    while (top?.cancelled) {
      this.#queue.pop();
      top = this.#queue.peek();
    }
    return top;
  }

  #popLive(): TimerEntry | undefined {
    const top = this.#peekLive();
    if (top !== undefined) this.#queue.pop();
    return top;
  }

  #fire(entry: TimerEntry): void {
    this.#now = Math.max(this.#now, entry.at);
    this.#fired++;
    if (entry.every > 0) {
      // Re-arm before running, so a callback that clears its own interval wins.
      const again: TimerEntry = { ...entry, at: entry.at + entry.every, seq: this.#seq++ };
      this.#queue.push(again);
      this.#live.set(entry.id, again);
    } else {
      this.#live.delete(entry.id);
    }
    entry.fn();
  }

  #spend(remaining: number): void {
    if (remaining < 0) {
      throw new RangeError(
        `SimClock ran ${this.#maxEvents} events in one call at t=${this.#now}ms: a timer keeps rescheduling itself`,
      );
    }
  }
}

/**
 * One node's {@link Clock} on a shared {@link SimClock}: `now()` drifts and may be stepped,
 * and `cancelAll()` drops every timer the node set (what a crash does to a process).
 */
export class SimClockView implements Clock {
  readonly #base: SimClock;
  readonly #owned = new Set<number>();
  #halted = false;
  #rate: number;
  #anchorBase: number;
  #anchorLocal: number;

  /** Creates a view; prefer {@link SimClock.view}. */
  constructor(base: SimClock, options: ClockViewOptions = {}) {
    this.#base = base;
    this.#rate = 1 + (options.driftPpm ?? 0) / 1e6;
    this.#anchorBase = base.now();
    this.#anchorLocal = base.now() + (options.offsetMs ?? 0);
  }

  now(): number {
    return this.#anchorLocal + (this.#base.now() - this.#anchorBase) * this.#rate;
  }

  /** Number of timers this view has pending. */
  get pending(): number {
    return this.#owned.size;
  }

  /** True between {@link SimClockView.halt} and {@link SimClockView.resume}. */
  get halted(): boolean {
    return this.#halted;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (this.#halted) return { id: 0 };
    let handle: TimerHandle | undefined;
    const wrapped = (): void => {
      if (handle !== undefined) this.#owned.delete(handle.id);
      fn();
    };
    handle = this.#base.setTimeout(wrapped, sanitizeDelay(ms) / this.#rate);
    this.#owned.add(handle.id);
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    if (!this.#owned.delete(handle.id)) return;
    this.#base.clearTimeout(handle);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    if (this.#halted) return { id: 0 };
    const handle = this.#base.setInterval(fn, Math.max(1, sanitizeDelay(ms)) / this.#rate);
    this.#owned.add(handle.id);
    return handle;
  }

  clearInterval(handle: TimerHandle): void {
    if (!this.#owned.delete(handle.id)) return;
    this.#base.clearInterval(handle);
  }

  /** Changes the drift from now on (re-anchoring, so `now()` stays continuous). */
  setDrift(driftPpm: number): void {
    this.#reanchor();
    this.#rate = 1 + driftPpm / 1e6;
  }

  /** Jumps this view's `now()` forward by `ms` (as an NTP step would); timers keep their schedule. */
  step(ms: number): void {
    this.#reanchor();
    this.#anchorLocal += sanitizeDelay(ms);
  }

  /** Cancels every pending timer set through this view. */
  cancelAll(): void {
    for (const id of this.#owned) {
      this.#base.clearTimeout({ id });
      this.#base.clearInterval({ id });
    }
    this.#owned.clear();
  }

  /**
   * Cancels every pending timer and ignores new ones until {@link SimClockView.resume}: what a
   * crash does. Promise continuations of the dead process may still run once; whatever timers
   * they try to set are dropped, so a crashed node cannot act again.
   */
  halt(): void {
    this.cancelAll();
    this.#halted = true;
  }

  /** Accepts timers again (the node restarted). */
  resume(): void {
    this.#halted = false;
  }

  #reanchor(): void {
    this.#anchorLocal = this.now();
    this.#anchorBase = this.#base.now();
  }
}
