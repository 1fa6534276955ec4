/**
 * Waiting probes, by sequence number (memberlist `ackHandlers`): an ack or nack with a known
 * sequence number is handed to the probe that sent it; unknown ones are ignored. Every entry
 * has a deadline, so nothing stays registered after its probe has given up.
 */
import type { Clock, TimerHandle } from '@clusteros/sim';

/** Callbacks of one waiting probe. */
export interface AckWaiter {
  /** An ack arrived, with the ping delegate's payload (if any) and the receive time. */
  readonly onAck: (payload: Uint8Array | null, at: number) => void;
  /** A relay reported that it could not reach the target. */
  readonly onNack?: () => void;
  /** The deadline passed without an ack. */
  readonly onTimeout?: () => void;
}

interface Entry {
  readonly waiter: AckWaiter;
  readonly timer: TimerHandle;
}

/** The table of waiting probes; see the module description. */
export class AckTable {
  readonly #clock: Clock;
  readonly #entries = new Map<number, Entry>();

  /** Creates an empty table on `clock`. */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Number of waiting entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** Registers `waiter` for `seqNo` until an ack arrives or `timeoutMs` passes. */
  register(seqNo: number, waiter: AckWaiter, timeoutMs: number): void {
    this.cancel(seqNo);
    const timer = this.#clock.setTimeout(() => {
      if (this.#entries.get(seqNo)?.timer !== timer) return;
      this.#entries.delete(seqNo);
      waiter.onTimeout?.();
    }, timeoutMs);
    this.#entries.set(seqNo, { waiter, timer });
  }

  /** Delivers an ack; returns false for an unknown sequence number. */
  ack(seqNo: number, payload: Uint8Array | null): boolean {
    const entry = this.#entries.get(seqNo);
    if (entry === undefined) return false;
    this.#entries.delete(seqNo);
    this.#clock.clearTimeout(entry.timer);
    entry.waiter.onAck(payload, this.#clock.now());
    return true;
  }

  /** Delivers a nack (the entry stays: an ack may still come); false if unknown. */
  nack(seqNo: number): boolean {
    const entry = this.#entries.get(seqNo);
    if (entry === undefined) return false;
    entry.waiter.onNack?.();
    return true;
  }

  /** Forgets `seqNo` without calling anything. */
  cancel(seqNo: number): void {
    const entry = this.#entries.get(seqNo);
    if (entry === undefined) return;
    this.#entries.delete(seqNo);
    this.#clock.clearTimeout(entry.timer);
  }

  /** Forgets everything (shutdown). */
  clear(): void {
    for (const entry of this.#entries.values()) this.#clock.clearTimeout(entry.timer);
    this.#entries.clear();
  }
}
