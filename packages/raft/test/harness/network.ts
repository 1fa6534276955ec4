/**
 * A test harness for the deterministic Raft core: N {@link RaftCore}s, each over its own
 * {@link MemoryStorage}, joined by an in-process message router with failure injection
 * (drop, isolate, cut, duplicate, reorder). `stabilize()` runs the driver loop of every node —
 * persist the Ready, send its messages, apply its committed entries, advance — and delivers
 * messages until the cluster is quiet.
 *
 * Each node's "state machine" is the list of entries it applied; a snapshot carries that list,
 * so safety checks can compare what every node applied.
 */
import { type Random, SeededRandom } from '@clusteros/sim';
import { decodeConfChange, encodeConfChange } from '../../src/conf-change-codec.js';
import { LEAVE_JOINT } from '../../src/core/confchange.js';
import type { RaftCoreConfig } from '../../src/core/config.js';
import { RaftCore } from '../../src/core/raft-core.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  NodeId,
  RaftStatus,
  ReadState,
  Ready,
  Snapshot,
} from '../../src/core/types.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';

/** Options every node's core gets (id, storage and random are supplied by the harness). */
export type CoreOptions = Partial<Omit<RaftCoreConfig, 'id' | 'storage' | 'random'>>;

/** A bootstrap configuration helper: `voters` (and `learners`) in a plain config. */
export function confOf(voters: readonly NodeId[], learners: readonly NodeId[] = []): ConfState {
  return {
    voters: [...voters],
    learners: [...learners],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
}

/** One node of the harness. */
export interface HarnessNode {
  /** Member id. */
  readonly id: NodeId;
  /** The core (replaced on restart). */
  core: RaftCore;
  /** Its durable storage (kept across restarts). */
  readonly storage: MemoryStorage;
  /** Entries applied so far, in order (the "state machine"); `applied[k].index === firstApplied + k`. */
  applied: Entry[];
  /** Reads that became safe here. */
  readStates: ReadState[];
  /** Configurations returned by `applyConfChange`, in order. */
  confs: ConfState[];
  /** A crashed node neither sends nor receives. */
  down: boolean;
}

/** Options of {@link Network}. */
export interface NetworkOptions {
  /** Initial voters, bootstrapped with a snapshot at index 1 (term 1) as the driver does. */
  readonly voters: readonly NodeId[];
  /** Initial learners. */
  readonly learners?: readonly NodeId[];
  /** Nodes created with empty storage, to be added to the cluster later. */
  readonly spare?: readonly NodeId[];
  /** Seed of every random choice (election timeouts, failure injection). */
  readonly seed?: number;
  /** Core options for every node. */
  readonly core?: CoreOptions;
  /** Core options for one node (merged over `core`). */
  readonly coreFor?: (id: NodeId) => CoreOptions;
}

/** The first index after the bootstrap snapshot. */
export const FIRST_INDEX = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** `data` as UTF-8 text. */
export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** Encodes an applied-entries list as snapshot data. */
export function encodeApplied(entries: readonly Entry[]): Uint8Array {
  return bytes(
    JSON.stringify(entries.map((e) => [e.index, e.term, e.kind, Buffer.from(e.data).toString('base64')])),
  );
}

/** Decodes snapshot data made by {@link encodeApplied}. */
export function decodeApplied(data: Uint8Array): Entry[] {
  if (data.byteLength === 0) return [];
  const raw = JSON.parse(text(data)) as [number, number, 'normal' | 'config', string][];
  return raw.map(([index, term, kind, b64]) => ({
    index,
    term,
    kind,
    data: new Uint8Array(Buffer.from(b64, 'base64')),
  }));
}

/** The ConfChange a committed `config` entry holds (empty data: leave the joint config). */
export function confChangeOf(entry: Entry): ConfChange {
  return entry.data.byteLength === 0 ? LEAVE_JOINT : decodeConfChange(entry.data);
}

/** The bytes a config entry carries for `change`. */
export function confEntryData(change: ConfChange): Uint8Array {
  return encodeConfChange(change);
}

/** A safety property broke. */
export class SafetyError extends Error {
  /** Always `'SafetyError'`. */
  override readonly name = 'SafetyError';
}

/** N cores, their storages, and a lossy router between them. */
export class Network {
  /** The nodes by id. */
  readonly nodes = new Map<NodeId, HarnessNode>();
  /** Messages sent and not yet delivered (or dropped). */
  queue: Message[] = [];
  /** Every message delivered, in order (cleared by tests as they like). */
  delivered: Message[] = [];
  /** Probability that a delivered message is lost. */
  dropRate = 0;
  /** Probability that a delivered message is delivered twice. */
  duplicateRate = 0;
  /** Deliver queued messages in random order. */
  reorder = false;
  /** Custom filter: return true to drop a message. */
  dropIf: ((m: Message) => boolean) | undefined;
  /** Check the safety properties after every delivered message and every Ready. */
  checkEveryStep = false;
  /** Report dropped snapshots and unreachable peers to the sender, as a transport would. */
  reportFailures = true;
  /** Called for every committed entry a node applies. */
  onApply: ((id: NodeId, entry: Entry) => void) | undefined;
  /** The harness's own randomness (failure injection). */
  readonly random: Random;

  readonly #cut = new Set<string>();
  readonly #isolated = new Set<NodeId>();
  readonly #options: NetworkOptions;
  readonly #leaders = new Map<number, NodeId>();
  /** Every committed entry any node has stored, by index: all nodes must agree with it. */
  readonly #committed = new Map<number, Entry>();
  /** Per node: indexes up to here were checked against `#committed`. */
  readonly #checkedTo = new Map<NodeId, number>();
  readonly #seed: number;
  #restarts = 0;

  /** Creates the cluster: bootstrapped voters and learners, plus empty spare nodes. */
  constructor(options: NetworkOptions) {
    this.#options = options;
    this.#seed = options.seed ?? 1;
    this.random = new SeededRandom(this.#seed).fork('network');
    const conf = confOf(options.voters, options.learners ?? []);
    const bootstrap: Snapshot = {
      meta: { index: 1, term: 1, conf, addresses: {} },
      data: encodeApplied([]),
    };
    for (const id of [...options.voters, ...(options.learners ?? [])]) {
      const storage = new MemoryStorage({
        snapshot: bootstrap,
        hardState: { term: 1, vote: null, commit: 1 },
      });
      this.#addNode(id, storage);
    }
    for (const id of options.spare ?? []) this.#addNode(id, new MemoryStorage());
  }

  #coreOptions(id: NodeId): CoreOptions {
    return { ...this.#options.core, ...this.#options.coreFor?.(id) };
  }

  #makeCore(id: NodeId, storage: MemoryStorage, extra: CoreOptions = {}): RaftCore {
    const random = new SeededRandom(this.#seed).fork(`core:${id}:${this.#restarts}`);
    return new RaftCore({ ...this.#coreOptions(id), ...extra, id, storage, random });
  }

  #addNode(id: NodeId, storage: MemoryStorage): void {
    this.nodes.set(id, {
      id,
      core: this.#makeCore(id, storage),
      storage,
      applied: [],
      readStates: [],
      confs: [],
      down: false,
    });
  }

  /** The node `id` (throws for an unknown id). */
  node(id: NodeId): HarnessNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** The core of `id`. */
  core(id: NodeId): RaftCore {
    return this.node(id).core;
  }

  /** Status of `id`. */
  status(id: NodeId): RaftStatus {
    return this.core(id).status();
  }

  /** Node ids in creation order. */
  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  // ----- failure injection -----

  /** Drops every message between `a` and `b` (both directions). */
  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}\u0000${b}`);
    this.#cut.add(`${b}\u0000${a}`);
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    this.#isolated.add(id);
  }

  /** Splits the cluster: messages cross only within a group. */
  partition(...groups: NodeId[][]): void {
    for (const a of groups.flat()) {
      for (const b of groups.flat()) {
        if (groups.findIndex((g) => g.includes(a)) !== groups.findIndex((g) => g.includes(b))) this.cut(a, b);
      }
    }
  }

  /** Heals every cut and isolation and clears random loss, duplication, reordering and the filter. */
  recover(): void {
    this.#cut.clear();
    this.#isolated.clear();
    this.dropRate = 0;
    this.duplicateRate = 0;
    this.reorder = false;
    this.dropIf = undefined;
  }

  /** Whether a message from `from` to `to` would cross now (ignoring random loss). */
  connected(from: NodeId, to: NodeId): boolean {
    if (this.#isolated.has(from) || this.#isolated.has(to)) return false;
    if (this.#cut.has(`${from}\u0000${to}`)) return false;
    const target = this.nodes.get(to);
    return target !== undefined && !target.down && !this.node(from).down;
  }

  // ----- driving -----

  /** Ticks `id` (every live node when omitted) `n` times, processing nothing else. */
  tick(id?: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) {
        if (node.down || (id !== undefined && node.id !== id)) continue;
        node.core.tick();
      }
    }
  }

  /** Ticks every live node once and stabilizes, `n` times. */
  async tickAndStabilize(n = 1, ids?: readonly NodeId[]): Promise<void> {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) {
        if (node.down || (ids !== undefined && !ids.includes(node.id))) continue;
        node.core.tick();
      }
      await this.stabilize();
    }
  }

  /** Handles one Ready of `id` as a driver would. Returns false when it had none. */
  async processReady(id: NodeId): Promise<boolean> {
    const node = this.node(id);
    if (node.down || !node.core.hasReady()) return false;
    const core = node.core;
    const rd = core.ready();
    await this.#persist(node, rd);
    for (const m of rd.messages) this.queue.push(m);
    this.#apply(node, rd);
    core.advance(rd);
    if (this.checkEveryStep) this.checkSafety();
    return true;
  }

  async #persist(node: HarnessNode, rd: Ready): Promise<void> {
    if (rd.snapshot !== undefined) await node.storage.installSnapshot(rd.snapshot);
    if (rd.entries.length > 0 || rd.hardState !== undefined) {
      await node.storage.save({
        entries: rd.entries,
        ...(rd.hardState === undefined ? {} : { hardState: rd.hardState }),
      });
    }
  }

  #apply(node: HarnessNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const restored = decodeApplied(rd.snapshot.data);
      this.#checkExtends(node, restored);
      node.applied = restored;
    }
    for (const entry of rd.committed) {
      const last = node.applied[node.applied.length - 1];
      const expected = last === undefined ? FIRST_INDEX : last.index + 1;
      if (entry.index !== expected) {
        throw new SafetyError(`${node.id} applied ${entry.index} but expected ${expected}`);
      }
      node.applied.push(entry);
      this.onApply?.(node.id, entry);
      if (entry.kind === 'config') node.confs.push(node.core.applyConfChange(confChangeOf(entry)));
    }
    node.readStates.push(...rd.readStates);
  }

  #checkExtends(node: HarnessNode, next: readonly Entry[]): void {
    for (let k = 0; k < node.applied.length; k++) {
      const a = node.applied[k];
      const b = next[k];
      if (a === undefined) continue;
      if (b === undefined || !sameEntry(a, b)) {
        throw new SafetyError(`${node.id}: a snapshot changed applied entry ${a.index}`);
      }
    }
  }

  /** Delivers one queued message (random order when `reorder`). Returns false when the queue is empty. */
  deliverOne(): boolean {
    if (this.queue.length === 0) return false;
    const at = this.reorder ? this.random.int(0, this.queue.length) : 0;
    const [m] = this.queue.splice(at, 1);
    if (m === undefined) return false;
    if (!this.connected(m.from, m.to) || this.dropIf?.(m) === true || this.random.chance(this.dropRate)) {
      this.#reportLoss(m);
      return true;
    }
    const times = this.random.chance(this.duplicateRate) ? 2 : 1;
    for (let i = 0; i < times; i++) {
      this.delivered.push(m);
      this.node(m.to).core.step(m);
    }
    if (this.checkEveryStep) this.checkSafety();
    return true;
  }

  #reportLoss(m: Message): void {
    if (!this.reportFailures) return;
    const sender = this.nodes.get(m.from);
    if (sender === undefined || sender.down) return;
    if (m.type === 'snapshot') sender.core.reportSnapshot(m.to, false);
    else if (m.type === 'append' && !this.connected(m.from, m.to)) sender.core.reportUnreachable(m.to);
  }

  /**
   * Runs every node's Ready loop and delivers messages until nothing is left to do. Throws when
   * it does not settle within `limit` rounds (a livelock).
   */
  async stabilize(limit = 10_000): Promise<void> {
    for (let round = 0; round < limit; round++) {
      let busy = false;
      for (const id of this.nodes.keys()) {
        while (await this.processReady(id)) busy = true;
      }
      while (this.deliverOne()) busy = true;
      if (!busy) return;
    }
    throw new Error(`network did not stabilize within ${limit} rounds`);
  }

  // ----- conveniences -----

  /** Campaigns `id` and stabilizes. */
  async elect(id: NodeId): Promise<void> {
    this.core(id).campaign();
    await this.stabilize();
  }

  /** Proposes `data` at `id` and stabilizes. */
  async propose(id: NodeId, data: string): Promise<void> {
    this.core(id).propose(bytes(data));
    await this.stabilize();
  }

  /** Proposes a configuration change at `id` (which must lead) and stabilizes. */
  async changeConf(id: NodeId, change: ConfChange): Promise<void> {
    this.core(id).proposeConfChange(change);
    await this.stabilize();
  }

  /** Live nodes that currently believe they lead, highest term first. */
  leaders(): NodeId[] {
    return [...this.nodes.values()]
      .filter((n) => !n.down && n.core.status().role === 'leader')
      .sort((a, b) => b.core.status().term - a.core.status().term)
      .map((n) => n.id);
  }

  /** The leader with the highest term, or null. */
  leader(): NodeId | null {
    return this.leaders()[0] ?? null;
  }

  /** Normal entries' data applied at `id`, as text (no-ops and config entries skipped). */
  appliedData(id: NodeId): string[] {
    return this.node(id)
      .applied.filter((e) => e.kind === 'normal' && e.data.byteLength > 0)
      .map((e) => text(e.data));
  }

  /** Takes a snapshot of `id`'s applied state and compacts its log, keeping `retain` entries. */
  async compact(id: NodeId, retain = 0): Promise<void> {
    const node = this.node(id);
    const last = node.applied[node.applied.length - 1];
    if (last === undefined || last.index <= node.storage.snapshot().meta.index) return;
    const snapshot: Snapshot = {
      meta: { index: last.index, term: last.term, conf: node.core.status().conf, addresses: {} },
      data: encodeApplied(node.applied),
    };
    await node.storage.createSnapshot(snapshot, retain);
  }

  /** Crashes `id`: it stops sending and receiving; queued messages to it are lost. */
  crash(id: NodeId): void {
    this.node(id).down = true;
  }

  /**
   * Restarts `id` from its storage with a new core. With `keepApplied` (default) the state
   * machine survived and reports its applied index; otherwise it restarts from the snapshot.
   */
  restart(id: NodeId, keepApplied = true, extra: CoreOptions = {}): RaftCore {
    const node = this.node(id);
    this.#restarts++;
    if (!keepApplied) {
      const restored = decodeApplied(node.storage.snapshot().data);
      // The snapshot holds what this node applied earlier: it must be a prefix of it.
      for (let k = 0; k < restored.length; k++) {
        const a = restored[k];
        const b = node.applied[k];
        if (a === undefined || b === undefined || !sameEntry(a, b)) {
          throw new SafetyError(`${id}: its snapshot disagrees with what it applied at position ${k}`);
        }
      }
      node.applied = restored;
    }
    const last = node.applied[node.applied.length - 1];
    const applied = last?.index ?? node.storage.snapshot().meta.index;
    node.core = this.#makeCore(id, node.storage, { applied, ...extra });
    node.down = false;
    node.readStates = [];
    return node.core;
  }

  // ----- safety -----

  #checkCommittedLogs(full: boolean): void {
    for (const node of this.nodes.values()) {
      // Storage lags the core while a Ready waits to be persisted (a pending write may replace
      // a stored suffix): compare only nodes whose storage is up to date.
      if (node.core.hasReady()) continue;
      const storage = node.storage;
      const upTo = Math.min(node.core.status().commitIndex, storage.lastIndex());
      const from = Math.max(storage.firstIndex(), full ? 0 : (this.#checkedTo.get(node.id) ?? 0) + 1);
      if (from > upTo) continue;
      for (const e of storage.entries(from, upTo + 1)) {
        const known = this.#committed.get(e.index);
        if (known === undefined) this.#committed.set(e.index, e);
        else if (!sameEntry(known, e)) {
          throw new SafetyError(`log matching: ${node.id} stores a different committed entry at ${e.index}`);
        }
      }
      this.#checkedTo.set(node.id, Math.max(this.#checkedTo.get(node.id) ?? 0, upTo));
    }
  }

  /**
   * Checks the Raft safety properties: at most one leader per term (over the whole run), the
   * committed entries every node stores agree (log matching on committed prefixes), applied
   * sequences of all nodes agree on their common prefix, and no node's commit index is beyond
   * its last index. The committed-log check is incremental; `full` re-checks every stored
   * committed entry.
   */
  checkSafety(full = false): void {
    this.#checkCommittedLogs(full);
    for (const node of this.nodes.values()) {
      const s = node.core.status();
      if (s.role === 'leader') {
        const known = this.#leaders.get(s.term);
        if (known !== undefined && known !== node.id) {
          throw new SafetyError(`two leaders in term ${s.term}: ${known} and ${node.id}`);
        }
        this.#leaders.set(s.term, node.id);
      }
      if (s.commitIndex > s.lastIndex)
        throw new SafetyError(`${node.id}: commit ${s.commitIndex} > last ${s.lastIndex}`);
    }
    const nodes = [...this.nodes.values()];
    let longest: HarnessNode | undefined;
    for (const n of nodes)
      if (longest === undefined || n.applied.length > longest.applied.length) longest = n;
    if (longest === undefined) return;
    for (const n of nodes) {
      for (let k = 0; k < n.applied.length; k++) {
        const a = n.applied[k];
        const b = longest.applied[k];
        if (a === undefined || b === undefined || !sameEntry(a, b)) {
          throw new SafetyError(
            `state machine safety: ${n.id} and ${longest.id} applied different entries at position ${k} (index ${a?.index})`,
          );
        }
      }
    }
  }
}

/** Entries are equal in index, term, kind and data. */
export function sameEntry(a: Entry, b: Entry): boolean {
  if (a.index !== b.index || a.term !== b.term || a.kind !== b.kind) return false;
  if (a.data.byteLength !== b.data.byteLength) return false;
  for (let i = 0; i < a.data.byteLength; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}
