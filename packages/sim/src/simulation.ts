import { SimTimeoutError } from './errors.js';
import type { LinkConfig } from './link.js';
import type { Network } from './network.js';
import { type Random, SeededRandom } from './random.js';
import { SimClock, type SimClockView } from './sim-clock.js';
import { type DiskOp, SimDisk } from './sim-disk.js';
import { SimNetwork } from './sim-network.js';
import { Trace } from './trace.js';

/** Options of {@link Simulation}. */
export interface SimulationOptions {
  /** The seed that fixes every random choice of the run. */
  readonly seed: number;
  /** The default link between any two hosts (latency, loss, duplication, reordering). */
  readonly link?: LinkConfig;
  /**
   * Recent trace lines kept for failure reports.
   * @defaultValue 200
   */
  readonly traceKeep?: number;
}

/** Options of {@link Simulation.addNode}. */
export interface SimNodeOptions {
  /** Clock rate error of this node in parts per million. @defaultValue 0 */
  readonly driftPpm?: number;
  /** Constant offset of this node's clock in milliseconds. @defaultValue 0 */
  readonly offsetMs?: number;
  /**
   * Simulated disk latency per operation in ms (a slow disk: e.g. 5 ms for `sync`). Without it,
   * disk operations complete on the next microtask.
   */
  readonly diskLatencyMs?: (op: DiskOp) => number;
  /**
   * Starts the node's software: called by {@link SimNode.start} and again by
   * {@link SimNode.restart}, with the node's clock, random, network and (surviving) disk.
   */
  readonly boot?: (node: SimNode) => void | Promise<void>;
}

/**
 * One simulated machine: its own drifting clock, random stream, network view and disk. A
 * crash kills its timers, sockets and unsynced writes at once; a restart boots it again on
 * the same disk.
 */
export class SimNode {
  /** The host name, which is also its network address's `host`. */
  readonly name: string;
  /** This node's clock; timers set through it die with a crash. */
  readonly clock: SimClockView;
  /** This node's random stream, forked from the simulation seed by name. */
  readonly random: Random;
  /** This node's view of the simulated network. */
  readonly network: Network;
  /** This node's disk; survives crashes with what was synced. */
  readonly disk: SimDisk;
  readonly #sim: Simulation;
  readonly #boot: ((node: SimNode) => void | Promise<void>) | undefined;
  #up = false;
  #incarnation = 0;

  /** Created by {@link Simulation.addNode}. */
  constructor(sim: Simulation, name: string, options: SimNodeOptions) {
    this.#sim = sim;
    this.name = name;
    this.clock = sim.clock.view({ driftPpm: options.driftPpm ?? 0, offsetMs: options.offsetMs ?? 0 });
    this.random = sim.random.fork(`node:${name}`);
    this.network = sim.network.host(name);
    this.disk = new SimDisk({
      clock: this.clock,
      random: this.random.fork('disk'),
      name,
      ...(options.diskLatencyMs === undefined ? {} : { latencyMs: options.diskLatencyMs }),
    });
    this.#boot = options.boot;
  }

  /** True while the node is running (started and not crashed). */
  get up(): boolean {
    return this.#up;
  }

  /** How many times the node has been started (1 after the first start). */
  get incarnation(): number {
    return this.#incarnation;
  }

  /** Boots the node (runs `boot`). Starting a running node is a no-op. */
  async start(): Promise<void> {
    if (this.#up) return;
    this.#up = true;
    this.#incarnation++;
    this.clock.resume();
    this.#sim.network.restart(this.name);
    this.#sim.trace.record(this.#sim.clock.now(), `node ${this.name} start #${this.#incarnation}`);
    await this.#boot?.(this);
  }

  /**
   * Kills the node as SIGKILL or a power cut would: its timers are cancelled and refused,
   * its sockets vanish (peers' streams reset), and its disk forgets unsynced writes
   * (keeping a torn prefix of unsynced appends unless `tornTail` is false).
   */
  crash(options: { readonly tornTail?: boolean } = {}): void {
    if (!this.#up) return;
    this.#up = false;
    this.clock.halt();
    this.#sim.network.crash(this.name);
    this.disk.crash({ tornTail: options.tornTail ?? true });
    this.#sim.trace.record(this.#sim.clock.now(), `node ${this.name} crash`);
  }

  /** Crashes the node if it is up, then starts it again on the same disk. */
  async restart(): Promise<void> {
    this.crash();
    await this.start();
  }
}

/**
 * A whole simulated cluster under one seed: a virtual clock, a seeded random, a simulated
 * network with faults, and nodes with disks. Everything that happens is recorded in
 * {@link Simulation.trace}; the same seed and scenario give the same {@link Simulation.digest}.
 *
 * @example
 * ```ts
 * const sim = new Simulation({ seed: 7, link: { latency: latency.uniform(1, 5), loss: 0.01 } });
 * const a = sim.addNode('a');
 * const b = sim.addNode('b');
 * await sim.startAll();
 * sim.partition([['a'], ['b']]);
 * await sim.advance(1_000);
 * sim.heal();
 * ```
 */
export class Simulation {
  /** The seed of this run. */
  readonly seed: number;
  /** The one true simulated time; nodes see it through their own views. */
  readonly clock: SimClock;
  /** The root random stream; components fork from it. */
  readonly random: SeededRandom;
  /** The run's event log and fingerprint. */
  readonly trace: Trace;
  /** The simulated network that joins the nodes. */
  readonly network: SimNetwork;
  readonly #nodes = new Map<string, SimNode>();

  /** Creates an empty simulation for `options.seed`. */
  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.clock = new SimClock();
    this.random = new SeededRandom(options.seed);
    this.trace = new Trace({ keep: options.traceKeep ?? 200 });
    this.network = new SimNetwork({
      clock: this.clock,
      random: this.random.fork('network'),
      trace: this.trace,
      ...(options.link === undefined ? {} : { link: options.link }),
    });
  }

  /** Adds a node (not yet started). Names must be unique. */
  addNode(name: string, options: SimNodeOptions = {}): SimNode {
    if (this.#nodes.has(name)) throw new RangeError(`node ${name} already exists`);
    const node = new SimNode(this, name, options);
    this.#nodes.set(name, node);
    return node;
  }

  /** The node called `name`; throws RangeError when there is none. */
  node(name: string): SimNode {
    const node = this.#nodes.get(name);
    if (node === undefined) throw new RangeError(`no node ${name}`);
    return node;
  }

  /** All nodes in the order they were added. */
  nodes(): SimNode[] {
    return [...this.#nodes.values()];
  }

  /** Starts every node that is not running, in the order they were added. */
  async startAll(): Promise<void> {
    for (const node of this.#nodes.values()) await node.start();
  }

  /** Splits the network: nodes in different groups cannot reach each other. */
  partition(groups: readonly (readonly string[])[]): void {
    this.network.partition(groups.map((g) => [...g]));
  }

  /** Removes every partition and one-way cut. */
  heal(): void {
    this.network.heal();
  }

  /** Moves simulated time forward by `ms`, running everything due. */
  advance(ms: number): Promise<void> {
    return this.clock.advance(ms);
  }

  /** Runs until `predicate()` holds or `limitMs` simulated milliseconds pass; returns whether it held. */
  runUntil(predicate: () => boolean, limitMs: number): Promise<boolean> {
    return this.clock.runUntil(predicate, limitMs);
  }

  /**
   * Like {@link Simulation.runUntil}, but throws {@link SimTimeoutError} naming `what` (and the
   * last trace lines) when the predicate does not hold in time.
   */
  async waitFor(predicate: () => boolean, limitMs: number, what: string): Promise<void> {
    if (await this.clock.runUntil(predicate, limitMs)) return;
    const error = new SimTimeoutError(limitMs, what);
    error.message += `\nlast trace lines:\n${this.trace.tail(20).join('\n')}`;
    throw error;
  }

  /** The fingerprint of everything recorded so far (hex SHA-256). */
  digest(): string {
    return this.trace.digest();
  }
}
