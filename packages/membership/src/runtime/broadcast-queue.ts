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

/**
 * The entries with one transmit count, grouped by message length. Within a group they are kept
 * oldest first, so the newest is at the end. Together this is the order of memberlist's btree
 * (fewest transmits, then largest, then newest), kept up as entries come and go instead of
 * sorting the whole queue for every packet.
 */
interface Tier {
  readonly transmits: number;
  /** Message lengths present, largest first. */
  readonly lengths: number[];
  readonly byLength: Map<number, Entry[]>;
}

/** Index of the first entry of `group` (ascending ids) whose id is at least `id`. */
function lowerBound(group: readonly Entry[], id: number): number {
  let lo = 0;
  let hi = group.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((group[mid] as Entry).id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A queue of messages to piggyback on gossip; see the module description. */
export class BroadcastQueue {
  readonly #retransmitMult: number;
  readonly #numNodes: () => number;
  readonly #maxRetained: number;
  /** Tiers by transmit count, and their counts in ascending order. */
  readonly #tiers = new Map<number, Tier>();
  #tierOrder: number[] = [];
  readonly #byName = new Map<string, Entry>();
  #length = 0;
  #nextId = 1;

  /** Creates an empty queue. */
  constructor(options: BroadcastQueueOptions) {
    this.#retransmitMult = options.retransmitMult;
    this.#numNodes = options.numNodes;
    this.#maxRetained = options.maxRetained ?? 4096;
  }

  /** Number of queued messages. */
  get length(): number {
    return this.#length;
  }

  /** Queues `message` (owned by the queue from now on). */
  queue(message: Uint8Array, options: QueueOptions = {}): void {
    const name = options.name;
    if (name !== undefined) {
      const old = this.#byName.get(name);
      if (old !== undefined) this.#remove(old, false);
    }
    const entry: Entry = { id: this.#nextId++, message, name, onDone: options.onDone, transmits: 0 };
    this.#insert(entry);
    if (name !== undefined) this.#byName.set(name, entry);
    if (this.#length > this.#maxRetained) this.prune(this.#maxRetained);
  }

  /**
   * Takes messages for one packet: each costs its length plus `overhead` bytes, and together
   * they stay within `limit`. Every message taken counts one transmission.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    if (this.#length === 0 || limit <= overhead) return [];
    const transmitLimit = retransmitLimit(this.#retransmitMult, this.#numNodes());
    const taken: Entry[] = [];
    let used = 0;
    // In priority order: tier by tier, largest length first, newest first; skip what does not
    // fit; stop once no message could fit any more.
    const emptied: [Tier, number][] = [];
    tiers: for (const transmits of this.#tierOrder) {
      const tier = this.#tiers.get(transmits) as Tier;
      for (const length of tier.lengths) {
        if (used + length + overhead > limit) continue;
        const group = tier.byLength.get(length) as Entry[];
        while (group.length > 0 && used + length + overhead <= limit) {
          taken.push(group.pop() as Entry);
          used += length + overhead;
          if (group.length === 0) emptied.push([tier, length]);
          if (limit - used <= overhead) break tiers;
        }
      }
    }
    if (taken.length === 0) return [];
    this.#length -= taken.length;
    for (const [tier, length] of emptied) this.#dropIfEmpty(tier, length);
    const finished: Entry[] = [];
    for (const entry of taken) {
      entry.transmits++;
      if (entry.transmits >= transmitLimit) {
        if (entry.name !== undefined && this.#byName.get(entry.name) === entry)
          this.#byName.delete(entry.name);
        finished.push(entry);
      } else this.#insert(entry);
    }
    for (const entry of finished) entry.onDone?.(true);
    return taken.map((entry) => entry.message);
  }

  /** Drops messages (most transmitted first) until at most `maxRetain` are left. */
  prune(maxRetain: number): void {
    const keep = Math.max(0, maxRetain);
    while (this.#length > keep) {
      // The last in priority order: most transmits, then smallest, then oldest.
      const transmits = this.#tierOrder[this.#tierOrder.length - 1] as number;
      const tier = this.#tiers.get(transmits) as Tier;
      const length = tier.lengths[tier.lengths.length - 1] as number;
      const oldest = (tier.byLength.get(length) as Entry[])[0] as Entry;
      this.#remove(oldest, false);
    }
  }

  /** Drops every message. */
  reset(): void {
    const entries: Entry[] = [];
    for (const transmits of this.#tierOrder) {
      const tier = this.#tiers.get(transmits) as Tier;
      for (const length of tier.lengths) entries.push(...(tier.byLength.get(length) as Entry[]));
    }
    this.#tiers.clear();
    this.#tierOrder = [];
    this.#byName.clear();
    this.#length = 0;
    for (const entry of entries) entry.onDone?.(false);
  }

  #insert(entry: Entry): void {
    let tier = this.#tiers.get(entry.transmits);
    if (tier === undefined) {
      tier = { transmits: entry.transmits, lengths: [], byLength: new Map() };
      this.#tiers.set(entry.transmits, tier);
      this.#tierOrder.push(entry.transmits);
      this.#tierOrder.sort((a, b) => a - b);
    }
    const length = entry.message.length;
    let group = tier.byLength.get(length);
    if (group === undefined) {
      group = [];
      tier.byLength.set(length, group);
      tier.lengths.push(length);
      tier.lengths.sort((a, b) => b - a);
    }
    // Usually the newest: append; an entry moving up a tier may be older than some there.
    const last = group[group.length - 1];
    if (last === undefined || last.id < entry.id) group.push(entry);
    else group.splice(lowerBound(group, entry.id), 0, entry);
    this.#length++;
  }

  #remove(entry: Entry, transmitted: boolean): void {
    const tier = this.#tiers.get(entry.transmits);
    const group = tier?.byLength.get(entry.message.length);
    if (tier === undefined || group === undefined) return;
    const index = lowerBound(group, entry.id);
    if (group[index] !== entry) return;
    group.splice(index, 1);
    this.#length--;
    this.#dropIfEmpty(tier, entry.message.length);
    if (entry.name !== undefined && this.#byName.get(entry.name) === entry) this.#byName.delete(entry.name);
    entry.onDone?.(transmitted);
  }

  /** Forgets the group of `length` in `tier` if it is empty, and the tier if that emptied it. */
  #dropIfEmpty(tier: Tier, length: number): void {
    const group = tier.byLength.get(length);
    if (group === undefined || group.length > 0) return;
    tier.byLength.delete(length);
    tier.lengths.splice(tier.lengths.indexOf(length), 1);
    if (tier.lengths.length > 0 || this.#tiers.get(tier.transmits) !== tier) return;
    this.#tiers.delete(tier.transmits);
    this.#tierOrder.splice(this.#tierOrder.indexOf(tier.transmits), 1);
  }
}
