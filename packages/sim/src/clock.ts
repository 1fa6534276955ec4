/**
 * An opaque handle for a scheduled timer. Pass it back to the same clock's
 * `clearTimeout`/`clearInterval`; handles from another clock are ignored.
 */
export interface TimerHandle {
  /** A number unique within the clock that issued it; useful in traces. */
  readonly id: number;
}

/**
 * The one source of time that ClusterOS components use.
 *
 * Protocol code never reads `Date`, `performance` or Node's timers directly: it takes a
 * `Clock` by injection, so that the same code runs on {@link SystemClock} in production and
 * on a virtual {@link SimClock} in deterministic simulation.
 *
 * Contract:
 * - `now()` is in milliseconds and never goes backwards on one clock (a drifting simulated
 *   clock may run fast or slow, and may be stepped forward, but not back).
 * - A timer fires no earlier than `ms` after it was set, measured on this clock.
 * - Timers due at the same time fire in the order they were set.
 * - Callbacks run one at a time; a callback that throws does not stop later timers.
 */
export interface Clock {
  /** Current time in milliseconds. */
  now(): number;
  /** Runs `fn` once, `ms` milliseconds from now (negative or NaN counts as 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer set by {@link Clock.setTimeout}; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Runs `fn` every `ms` milliseconds (at least 1 ms) until cleared. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer set by {@link Clock.setInterval}. */
  clearInterval(handle: TimerHandle): void;
}

/** Options of {@link SystemClock}. */
export interface SystemClockOptions {
  /**
   * Whether pending timers keep the Node.js process alive. Libraries leave this off so that an
   * idle agent can exit once its sockets are closed.
   * @defaultValue false
   */
  readonly keepAlive?: boolean;
}

interface NodeTimer {
  readonly id: number;
  readonly native: ReturnType<typeof globalThis.setTimeout>;
  readonly repeating: boolean;
}

/**
 * The real {@link Clock}: Node.js timers and a monotonic millisecond time.
 *
 * `now()` is `performance.timeOrigin + performance.now()`: wall-clock milliseconds at process
 * start advanced by the monotonic clock, so it never jumps back when NTP steps the system time.
 */
export class SystemClock implements Clock {
  readonly #keepAlive: boolean;
  readonly #timers = new Map<number, NodeTimer>();
  #nextId = 1;

  /** Creates a clock over the process's timers. */
  constructor(options: SystemClockOptions = {}) {
    this.#keepAlive = options.keepAlive ?? false;
  }

  now(): number {
    return performance.timeOrigin + performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#arm(id, fn, this.now() + sanitizeDelay(ms));
    return { id };
  }

  /**
   * Node fires any delay above 2^31 − 1 ms after 1 ms; a longer timer is armed in steps of
   * at most that, so that it still fires no earlier than asked.
   */
  #arm(id: number, fn: () => void, due: number): void {
    const delay = Math.min(MAX_NATIVE_DELAY_MS, Math.max(0, due - this.now()));
    const native = globalThis.setTimeout(() => {
      if (this.now() < due && due - this.now() >= 1) {
        this.#arm(id, fn, due);
        return;
      }
      this.#timers.delete(id);
      fn();
    }, delay);
    this.#track(id, native, false);
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = this.#timers.get(handle.id);
    if (timer === undefined || timer.repeating) return;
    globalThis.clearTimeout(timer.native);
    this.#timers.delete(handle.id);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    const native = globalThis.setInterval(fn, Math.min(MAX_NATIVE_DELAY_MS, Math.max(1, sanitizeDelay(ms))));
    this.#track(id, native, true);
    return { id };
  }

  clearInterval(handle: TimerHandle): void {
    const timer = this.#timers.get(handle.id);
    if (timer === undefined || !timer.repeating) return;
    globalThis.clearInterval(timer.native);
    this.#timers.delete(handle.id);
  }

  #track(id: number, native: ReturnType<typeof globalThis.setTimeout>, repeating: boolean): void {
    if (!this.#keepAlive) native.unref();
    this.#timers.set(id, { id, native, repeating });
  }
}

/** Longest delay Node's timers honour (2^31 − 1 ms, about 24.8 days). */
const MAX_NATIVE_DELAY_MS = 0x7fff_ffff;

/** Turns any requested delay into a finite, non-negative number of milliseconds. */
export function sanitizeDelay(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}
