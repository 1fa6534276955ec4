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

  /**
   * Adds a new record at a random position of the probe order, as memberlist's `aliveNode`
   * does: appended, then swapped with the record at a random offset (O(1), where inserting
   * into the middle of the list would move half of it).
   */
  add(record: NodeRecord): void {
    this.#byName.set(record.name, record);
    const list = this.#list;
    const n = list.length;
    list.push(record);
    if (n === 0) return;
    const offset = this.#random.int(0, n);
    list[n] = list[offset] as NodeRecord;
    list[offset] = record;
  }

  /**
   * The record of `record.name` that this table may change. A frozen record is shared with other
   * tables (a large simulation builds every member's converged view from one set of records,
   * since N views of N private records do not fit in memory at N = 10,000): it is replaced here,
   * in the map and in the probe order, by a private copy, which is returned. An unfrozen record
   * is this table's own and is returned as it is. Callers take it before every change.
   */
  own(record: NodeRecord): NodeRecord {
    if (!Object.isFrozen(record)) return record;
    const copy: NodeRecord = { ...record };
    this.#byName.set(record.name, copy);
    const at = this.#list.indexOf(record);
    if (at >= 0) this.#list[at] = copy;
    return copy;
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

  /**
   * Up to `k` distinct random records that pass `accept`. As memberlist's `kRandomNodes`, it
   * draws random positions (at most 3n draws), so that a pick costs O(k) and not a scan of the
   * whole table; if that leaves it short of `k`, it completes the pick from a full scan, so
   * that it never returns fewer than `min(k, candidates)`.
   */
  randomNodes(k: number, accept: (record: NodeRecord) => boolean): NodeRecord[] {
    if (k <= 0) return [];
    const list = this.#list;
    const n = list.length;
    const picked: NodeRecord[] = [];
    for (let i = 0; i < 3 * n && picked.length < k; i++) {
      const node = list[this.#random.int(0, n)] as NodeRecord;
      if (accept(node) && !picked.includes(node)) picked.push(node);
    }
    if (picked.length === k) return picked;
    const candidates = list.filter((node) => !picked.includes(node) && accept(node));
    const missing = k - picked.length;
    if (candidates.length <= missing) return picked.concat(this.#random.shuffle(candidates));
    // Partial Fisher-Yates: only the first `missing` positions need to be drawn.
    for (let i = 0; i < missing; i++) {
      const j = this.#random.int(i, candidates.length);
      const chosen = candidates[j] as NodeRecord;
      candidates[j] = candidates[i] as NodeRecord;
      candidates[i] = chosen;
    }
    return picked.concat(candidates.slice(0, missing));
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
