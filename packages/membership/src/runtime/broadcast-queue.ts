/**
 * A retransmit-limited broadcast queue, as memberlist's `TransmitLimitedQueue`: each message is
 * piggybacked on outgoing packets until it has been sent `retransmitMult × ceil(log10(N + 1))`
 * times. Messages sent fewest times go first; within that, the largest that still fits, newest
 * first on ties. A message queued under a name replaces an older one with the same name (a
 * newer fact about the same node supersedes the old one).
 */
import { retransmitLimit } from '../wire/timing.js';

/** Options of {@link BroadcastQueue}. */
export interface BroadcastQueueOptions {
  /** The retransmit multiplier (memberlist `RetransmitMult`). */
  readonly retransmitMult: number;
  /** The current cluster size estimate; the retransmit limit grows with its logarithm. */
  readonly numNodes: () => number;
  /**
   * Most messages kept; when more are queued, those already sent most often are dropped first.
   * @defaultValue 4096
   */
  readonly maxRetained?: number;
}

/** Options of {@link BroadcastQueue.queue}. */
export interface QueueOptions {
  /** Replaces any queued message with the same name. */
  readonly name?: string;
  /**
   * Called once when the message leaves the queue: `true` after its last transmission,
   * `false` when it was replaced, pruned or the queue was reset.
   */
  readonly onDone?: (transmitted: boolean) => void;
}

interface Entry {
  readonly id: number;
  readonly message: Uint8Array;
  readonly name: string | undefined;
  readonly onDone: ((transmitted: boolean) => void) | undefined;
  transmits: number;
}

/** Fewest transmissions first, then largest, then newest. */
function byPriority(a: Entry, b: Entry): number {
  return a.transmits - b.transmits || b.message.length - a.message.length || b.id - a.id;
}

/** A queue of messages to piggyback on gossip; see the module description. */
export class BroadcastQueue {
  readonly #retransmitMult: number;
  readonly #numNodes: () => number;
  readonly #maxRetained: number;
  #entries: Entry[] = [];
  readonly #byName = new Map<string, Entry>();
  #nextId = 1;
  #sorted = true;

  /** Creates an empty queue. */
  constructor(options: BroadcastQueueOptions) {
    this.#retransmitMult = options.retransmitMult;
    this.#numNodes = options.numNodes;
    this.#maxRetained = options.maxRetained ?? 4096;
  }

  /** Number of queued messages. */
  get length(): number {
    return this.#entries.length;
  }

  /** Queues `message` (owned by the queue from now on). */
  queue(message: Uint8Array, options: QueueOptions = {}): void {
    const name = options.name;
    if (name !== undefined) {
      const old = this.#byName.get(name);
      if (old !== undefined) this.#remove(old, false);
    }
    const entry: Entry = { id: this.#nextId++, message, name, onDone: options.onDone, transmits: 0 };
    this.#entries.push(entry);
    if (name !== undefined) this.#byName.set(name, entry);
    this.#sorted = false;
    if (this.#entries.length > this.#maxRetained) this.prune(this.#maxRetained);
  }

  /**
   * Takes messages for one packet: each costs its length plus `overhead` bytes, and together
   * they stay within `limit`. Every message taken counts one transmission.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    if (this.#entries.length === 0 || limit <= overhead) return [];
    this.#sort();
    const transmitLimit = retransmitLimit(this.#retransmitMult, this.#numNodes());
    const taken: Uint8Array[] = [];
    const finished: Entry[] = [];
    let used = 0;
    for (const entry of this.#entries) {
      const cost = entry.message.length + overhead;
      if (used + cost > limit) continue;
      used += cost;
      taken.push(entry.message);
      entry.transmits++;
      if (entry.transmits >= transmitLimit) finished.push(entry);
      if (limit - used <= overhead) break;
    }
    if (taken.length > 0) this.#sorted = false;
    for (const entry of finished) this.#remove(entry, true);
    return taken;
  }

  /** Drops messages (most transmitted first) until at most `maxRetain` are left. */
  prune(maxRetain: number): void {
    if (this.#entries.length <= maxRetain) return;
    this.#sort();
    const excess = this.#entries.slice(Math.max(0, maxRetain));
    for (const entry of excess) this.#remove(entry, false);
  }

  /** Drops every message. */
  reset(): void {
    const entries = this.#entries;
    this.#entries = [];
    this.#byName.clear();
    for (const entry of entries) entry.onDone?.(false);
  }

  #sort(): void {
    if (this.#sorted) return;
    this.#entries.sort(byPriority);
    this.#sorted = true;
  }

  #remove(entry: Entry, transmitted: boolean): void {
    const index = this.#entries.indexOf(entry);
    if (index < 0) return;
    this.#entries.splice(index, 1);
    if (entry.name !== undefined && this.#byName.get(entry.name) === entry) this.#byName.delete(entry.name);
    entry.onDone?.(transmitted);
  }
}
