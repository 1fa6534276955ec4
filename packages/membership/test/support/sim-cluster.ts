// A cluster of Memberlist nodes inside one deterministic Simulation: node i is host
// 10.0.0.(i+1) (memberlist puts IP bytes on the wire, so hosts are IP literals), named n<i>,
// bound on port 7946. Everything runs on the simulated clock: async operations (join, leave,
// updateMeta) are awaited while the clock advances, and every membership event each node emits
// is recorded with its simulated time.
import { type LinkConfig, type SimNode, Simulation } from '@clusteros/sim';
import {
  localConfig,
  Memberlist,
  type MemberlistDelegate,
  type MemberlistEvents,
  type MemberlistTuning,
  type MemberState,
} from '../../src/index.js';

/** The port every simulated member binds. */
export const PORT = 7946;

/** Per-node options. */
export interface SimMemberOptions {
  /** Tuning overrides on top of the cluster's (which are on top of `localConfig()`). */
  readonly tuning?: Partial<MemberlistTuning>;
  /** Initial node metadata. */
  readonly meta?: Uint8Array;
  /** Cluster key (turns on encryption). */
  readonly secretKey?: Uint8Array;
  /** Delegate hooks. */
  readonly delegate?: MemberlistDelegate;
}

/** Options of {@link SimCluster.start}. */
export interface SimClusterOptions {
  /** The simulation seed. */
  readonly seed: number;
  /** Number of nodes (at most 250). */
  readonly size: number;
  /** The network-wide link model (latency, loss). */
  readonly link?: LinkConfig;
  /** Tuning overrides for every node, on top of `localConfig()`. */
  readonly tuning?: Partial<MemberlistTuning>;
  /** Per-node options by index; its `tuning` is applied over the cluster's. */
  readonly node?: (index: number) => SimMemberOptions;
}

/** One recorded membership event. */
export interface RecordedEvent {
  /** Simulated time (the true clock) when it was emitted. */
  readonly at: number;
  /** The node that emitted it. */
  readonly observer: string;
  /** The event name. */
  readonly type: keyof MemberlistEvents;
  /** The member it is about. */
  readonly node: string;
  /** The member's state in the event. */
  readonly state: MemberState;
  /** The member's incarnation in the event. */
  readonly incarnation: number;
  /** The member's metadata in the event. */
  readonly meta: Uint8Array;
}

const EVENT_TYPES: readonly (keyof MemberlistEvents)[] = ['join', 'leave', 'update', 'suspect', 'alive'];

/** The host name (an IPv4 literal) of node `index`. */
export function hostOf(index: number): string {
  return `10.0.0.${index + 1}`;
}

/** The memberlist name of node `index`. */
export function nameOf(index: number): string {
  return `n${index}`;
}

/** The seed address of node `index`. */
export function seedOf(index: number): string {
  return `${hostOf(index)}:${PORT}`;
}

/** N memberlist nodes in one simulation; see the module description. */
export class SimCluster {
  /** The simulation. */
  readonly sim: Simulation;
  /** Number of nodes. */
  readonly size: number;
  /** Every membership event of every node, in order. */
  readonly events: RecordedEvent[] = [];
  readonly #options: SimClusterOptions;
  readonly #simNodes: SimNode[] = [];
  readonly #members: (Memberlist | null)[] = [];

  private constructor(options: SimClusterOptions) {
    if (!Number.isInteger(options.size) || options.size < 1 || options.size > 250)
      throw new RangeError(`size must be an integer in [1, 250], got ${options.size}`);
    this.#options = options;
    this.size = options.size;
    this.sim = new Simulation({
      seed: options.seed,
      ...(options.link === undefined ? {} : { link: options.link }),
    });
    for (let i = 0; i < options.size; i++) {
      this.#simNodes.push(this.sim.addNode(hostOf(i)));
      this.#members.push(null);
    }
  }

  /** Creates the simulation and starts every node (not joined yet). */
  static async start(options: SimClusterOptions): Promise<SimCluster> {
    const cluster = new SimCluster(options);
    for (let i = 0; i < cluster.size; i++) await cluster.#boot(i);
    return cluster;
  }

  /** Node indexes 0..size-1. */
  get indexes(): number[] {
    return Array.from({ length: this.size }, (_, i) => i);
  }

  /** Simulated time now. */
  now(): number {
    return this.sim.clock.now();
  }

  /** The running memberlist of node `index`; throws if it is crashed. */
  ml(index: number): Memberlist {
    const member = this.#members[index];
    if (member === null || member === undefined) throw new Error(`node ${nameOf(index)} is not running`);
    return member;
  }

  /** The simulated machine of node `index`. */
  simNode(index: number): SimNode {
    const node = this.#simNodes[index];
    if (node === undefined) throw new RangeError(`no node ${index}`);
    return node;
  }

  /** True while node `index` runs. */
  isUp(index: number): boolean {
    return this.#members[index] !== null && this.#members[index] !== undefined;
  }

  /** Indexes of the running nodes. */
  upIndexes(): number[] {
    return this.indexes.filter((i) => this.isUp(i));
  }

  /**
   * Awaits `promise` while the simulated clock runs; throws when it has not settled within
   * `limitMs` simulated milliseconds, and rethrows its rejection.
   */
  async settle<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    promise.then(
      (value) => {
        outcome = { ok: true, value };
      },
      (error: unknown) => {
        outcome = { ok: false, error };
      },
    );
    await this.sim.clock.runUntil(() => outcome !== undefined, limitMs);
    if (outcome === undefined) throw new Error(`${what} did not settle within ${limitMs} simulated ms`);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /**
   * Joins every running node except the seed through node `seed`: all at once (`concurrent`) or
   * one after the other (`sequential`). Every join must succeed.
   */
  async joinAll(mode: 'concurrent' | 'sequential' = 'concurrent', seed = 0, limitMs = 20_000): Promise<void> {
    const joiners = this.upIndexes().filter((i) => i !== seed);
    if (mode === 'sequential') {
      for (const i of joiners) await this.join(i, seed, limitMs);
      return;
    }
    await this.settle(
      Promise.all(joiners.map((i) => this.ml(i).join([seedOf(seed)]))),
      limitMs,
      `concurrent join of ${joiners.length} nodes`,
    );
  }

  /** Joins node `index` through node `seed`; resolves to how many seeds answered. */
  join(index: number, seed = 0, limitMs = 20_000): Promise<number> {
    return this.settle(this.ml(index).join([seedOf(seed)]), limitMs, `${nameOf(index)} joining`);
  }

  /** Crashes node `index` (its timers and sockets die) and returns the crash time. */
  crash(index: number): number {
    this.simNode(index).crash();
    this.#members[index] = null;
    return this.now();
  }

  /** Boots node `index` again after a crash: a fresh memberlist under the same name and address. */
  async restart(index: number): Promise<Memberlist> {
    if (this.isUp(index)) this.crash(index);
    return this.#boot(index);
  }

  /** Leaves gracefully (waiting for the broadcast) and shuts node `index` down. */
  async leave(index: number, limitMs = 20_000): Promise<void> {
    const ml = this.ml(index);
    await this.settle(ml.leave(), limitMs, `${nameOf(index)} leaving`);
    await this.settle(ml.shutdown(), limitMs, `${nameOf(index)} shutting down`);
    this.#members[index] = null;
  }

  /** A node's view (by index or name): member name → state, from `allNodes()`. */
  viewOf(node: number | string): Map<string, MemberState> {
    const members = this.ml(this.#index(node)).allNodes();
    return new Map(members.map((m) => [m.name, m.state]));
  }

  /** A node's view (by index or name) of one member; undefined when it does not know it. */
  stateIn(node: number | string, name: string): MemberState | undefined {
    return this.ml(this.#index(node))
      .allNodes()
      .find((m) => m.name === name)?.state;
  }

  /** Every running node's view, as text for failure messages. */
  describeViews(): string {
    return this.upIndexes()
      .map((i) => {
        const view = [...this.ml(i).allNodes()]
          .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))
          .map((m) => `${m.name}:${m.state}@${m.incarnation}`)
          .join(' ');
        return `  ${nameOf(i)} sees ${view}`;
      })
      .join('\n');
  }

  /**
   * Advances the clock in `stepMs` steps until `predicate()` holds (checked at the start and
   * after every step) or `limitMs` simulated milliseconds pass. Returns whether it held.
   */
  async converged(predicate: () => boolean, limitMs: number, stepMs = 50): Promise<boolean> {
    const end = this.now() + limitMs;
    if (predicate()) return true;
    while (this.now() < end) {
      await this.sim.advance(Math.min(stepMs, end - this.now()));
      if (predicate()) return true;
    }
    return false;
  }

  /** {@link converged}, throwing with every view when the predicate does not hold in time. */
  async waitConverged(predicate: () => boolean, limitMs: number, what: string): Promise<void> {
    if (await this.converged(predicate, limitMs)) return;
    throw new Error(
      `${what}: not reached within ${limitMs} simulated ms at t=${this.now()}\n${this.describeViews()}`,
    );
  }

  /**
   * True when every running node in `observers` (default: all running nodes) sees exactly the
   * nodes `expected` maps (name → state) with those states, plus optionally others it is told to
   * ignore through `exact: false`.
   */
  viewsAre(expected: ReadonlyMap<string, MemberState>, observers = this.upIndexes(), exact = true): boolean {
    for (const i of observers) {
      const ml = this.ml(i);
      let seen = 0;
      for (const member of ml.allNodes()) {
        const want = expected.get(member.name);
        if (want === undefined) {
          if (exact) return false;
          continue;
        }
        if (member.state !== want) return false;
        seen++;
      }
      if (seen !== expected.size) return false;
    }
    return true;
  }

  /** True when every running node sees every running node alive, and only them. */
  allRunningAlive(): boolean {
    const expected = new Map(this.upIndexes().map((i) => [nameOf(i), 'alive' as MemberState]));
    return this.viewsAre(expected);
  }

  /**
   * Events about `node` (optionally of one type, as seen by one observer), from position `since`
   * of {@link events} on: a position, not a time, tells apart what happened in one millisecond.
   */
  eventsAbout(node: string, type?: keyof MemberlistEvents, observer?: string, since = 0): RecordedEvent[] {
    return this.events.filter(
      (e, position) =>
        position >= since &&
        e.node === node &&
        (type === undefined || e.type === type) &&
        (observer === undefined || e.observer === observer),
    );
  }

  /** Events declaring `node` dead (a failure, not a leave), from position `since` of {@link events} on. */
  deathsOf(node: string, since = 0): RecordedEvent[] {
    return this.eventsAbout(node, 'leave', undefined, since).filter((e) => e.state === 'dead');
  }

  #index(node: number | string): number {
    if (typeof node === 'number') return node;
    const index = this.indexes.find((i) => nameOf(i) === node);
    if (index === undefined) throw new RangeError(`no node named ${node}`);
    return index;
  }

  async #boot(index: number): Promise<Memberlist> {
    const simNode = this.simNode(index);
    await simNode.start();
    const own = this.#options.node?.(index) ?? {};
    const ml = await this.settle(
      Memberlist.create({
        ...localConfig(),
        ...this.#options.tuning,
        ...own.tuning,
        name: nameOf(index),
        bindAddr: hostOf(index),
        bindPort: PORT,
        network: simNode.network,
        clock: simNode.clock,
        random: simNode.random.fork(`memberlist#${simNode.incarnation}`),
        ...(own.meta === undefined ? {} : { meta: own.meta }),
        ...(own.secretKey === undefined ? {} : { secretKey: own.secretKey }),
        ...(own.delegate === undefined ? {} : { delegate: own.delegate }),
      }),
      5_000,
      `creating ${nameOf(index)}`,
    );
    const observer = nameOf(index);
    for (const type of EVENT_TYPES) {
      ml.on(type, (member) => {
        this.events.push({
          at: this.now(),
          observer,
          type,
          node: member.name,
          state: member.state,
          incarnation: member.incarnation,
          meta: member.meta,
        });
      });
    }
    this.#members[index] = ml;
    return ml;
  }
}
