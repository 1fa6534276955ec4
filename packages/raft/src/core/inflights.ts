import { invariant } from '../errors.js';

/**
 * The append messages sent to one follower and not yet acknowledged, as a sliding window. Each
 * slot holds the last entry index of one message; an acknowledgement of index `i` frees every
 * message ending at or below `i`. When the window is full the leader stops pipelining to that
 * follower until acknowledgements come back, which bounds the memory a slow follower costs.
 */
export class Inflights {
  /** Window size: the most messages in flight at once. */
  readonly capacity: number;
  // A ring buffer: `#start` is the oldest slot, `#count` slots are used.
  readonly #slots: number[];
  #start = 0;
  #count = 0;

  /** Creates an empty window of `capacity` messages. */
  constructor(capacity: number) {
    invariant(
      Number.isSafeInteger(capacity) && capacity > 0,
      `inflights capacity must be positive, got ${capacity}`,
    );
    this.capacity = capacity;
    this.#slots = new Array<number>(capacity).fill(0);
  }

  /** Messages in flight. */
  get count(): number {
    return this.#count;
  }

  /** True when no more messages may be sent. */
  full(): boolean {
    return this.#count >= this.capacity;
  }

  /** Records a message whose last entry is `lastIndex`; indexes must increase. */
  add(lastIndex: number): void {
    invariant(!this.full(), 'inflights: add to a full window');
    if (this.#count > 0) {
      const newest = this.#slots[(this.#start + this.#count - 1) % this.capacity] ?? 0;
      invariant(lastIndex > newest, `inflights: index ${lastIndex} not above the newest ${newest}`);
    }
    this.#slots[(this.#start + this.#count) % this.capacity] = lastIndex;
    this.#count++;
  }

  /** Frees every message whose last index is at or below `index` (an acknowledgement). */
  freeLE(index: number): void {
    while (this.#count > 0 && (this.#slots[this.#start] ?? 0) <= index) {
      this.#start = (this.#start + 1) % this.capacity;
      this.#count--;
    }
    if (this.#count === 0) this.#start = 0;
  }

  /** Frees the oldest message, if any (used when a heartbeat answer shows the follower is alive). */
  freeFirstOne(): void {
    if (this.#count === 0) return;
    this.freeLE(this.#slots[this.#start] ?? 0);
  }

  /** Empties the window. */
  reset(): void {
    this.#start = 0;
    this.#count = 0;
  }

  /** The last indexes in flight, oldest first (for tests and status). */
  toArray(): number[] {
    return Array.from({ length: this.#count }, (_, i) => this.#slots[(this.#start + i) % this.capacity] ?? 0);
  }
}
