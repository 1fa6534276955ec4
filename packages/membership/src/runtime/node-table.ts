/**
 * The node list of a memberlist: a map by name plus an ordered list that the failure detector
 * walks round-robin. New nodes go to a random position, and every full pass reaps nodes dead
 * for longer than `gossipToTheDeadTimeMs` and reshuffles, as memberlist does, so that probe
 * order is random but every node is probed once per pass.
 */
import type { Random } from '@clusteros/sim';
import { isDeadOrLeft, type NodeRecord } from './member.js';

/** The node list; see the module description. */
export class NodeTable {
  readonly #random: Random;
  readonly #byName = new Map<string, NodeRecord>();
  #list: NodeRecord[] = [];
  #probeIndex = 0;

  /** Creates an empty table drawing positions from `random`. */
  constructor(random: Random) {
    this.#random = random;
  }

  /** Every record, in probe order (self, dead and left included). */
  get all(): readonly NodeRecord[] {
    return this.#list;
  }

  /** Number of records (memberlist's `estNumNodes`: self and unreaped dead included). */
  get size(): number {
    return this.#list.length;
  }

  /** The record of `name`, if known. */
  get(name: string): NodeRecord | undefined {
    return this.#byName.get(name);
  }

  /** Adds a new record at a random position of the probe order. */
  add(record: NodeRecord): void {
    this.#byName.set(record.name, record);
    const offset = this.#list.length === 0 ? 0 : this.#random.int(0, this.#list.length + 1);
    this.#list.splice(offset, 0, record);
  }

  /**
   * The next node to probe: round-robin over the list, skipping `self` and dead or left nodes.
   * When the walk wraps, nodes dead or left for longer than `deadTimeMs` are removed (through
   * `onReap`) and the order is reshuffled. Returns `undefined` when there is nobody to probe.
   */
  nextProbeTarget(
    self: string,
    now: number,
    deadTimeMs: number,
    onReap: (record: NodeRecord) => void,
  ): NodeRecord | undefined {
    let checked = 0;
    while (checked <= this.#list.length) {
      if (this.#probeIndex >= this.#list.length) {
        this.#reset(now, deadTimeMs, onReap);
        this.#probeIndex = 0;
        checked++;
        continue;
      }
      const node = this.#list[this.#probeIndex++];
      checked++;
      if (node === undefined || node.name === self || isDeadOrLeft(node)) continue;
      return node;
    }
    return undefined;
  }

  /** Up to `k` distinct random records that pass `accept`. */
  randomNodes(k: number, accept: (record: NodeRecord) => boolean): NodeRecord[] {
    if (k <= 0) return [];
    const candidates = this.#list.filter(accept);
    if (candidates.length <= k) return this.#random.shuffle(candidates);
    // Partial Fisher-Yates: only the first k positions need to be drawn.
    for (let i = 0; i < k; i++) {
      const j = this.#random.int(i, candidates.length);
      const picked = candidates[j] as NodeRecord;
      candidates[j] = candidates[i] as NodeRecord;
      candidates[i] = picked;
    }
    return candidates.slice(0, k);
  }

  #reset(now: number, deadTimeMs: number, onReap: (record: NodeRecord) => void): void {
    const kept: NodeRecord[] = [];
    for (const node of this.#list) {
      if (isDeadOrLeft(node) && now - node.stateChange > deadTimeMs) {
        this.#byName.delete(node.name);
        onReap(node);
      } else kept.push(node);
    }
    this.#list = this.#random.shuffle(kept);
  }
}
