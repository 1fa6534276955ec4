// A memberlist cluster inside one simulation: N `Memberlist`s on simulated hosts 10.x.y.z, one
// shared virtual clock and network, each node with its own clock view and random stream (as
// `Simulation.addNode` gives them). Built from the sim parts rather than `Simulation` because
// `Simulation` always keeps a trace, which hashes a formatted line for every datagram: at
// 10,000 nodes that alone would cost more than the protocol being measured.

import {
  type Logger,
  lanConfig,
  Memberlist,
  type MemberlistTuning,
  type PacketHandler,
  SimTransport,
  type StreamHandler,
  type Transport,
} from '@clusteros/membership';
import {
  type Address,
  type ByteStream,
  type ByteStreamEvents,
  type LinkConfig,
  SeededRandom,
  SimClock,
  type SimClockView,
  SimNetwork,
} from '@clusteros/sim';
import { EventEmitter } from 'eventemitter3';

export const PORT = 7946;

/** The address of node `index` (0-based): 10.0.0.1, 10.0.0.2, … 10.0.39.16, … */
export function hostOf(index: number): string {
  const n = index + 1;
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function nameOf(index: number): string {
  return `n${index}`;
}

/** Receives the runtime's log lines that the benchmarks count (suspicion expiries). */
export type LogSink = (
  node: number,
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  fields: Record<string, unknown>,
) => void;

/** Options of {@link SimCluster}. */
export interface ClusterOptions {
  readonly seed: number;
  readonly link: LinkConfig;
  /** Tuning on top of `lanConfig()`. */
  readonly tuning?: Partial<MemberlistTuning>;
  /** Gets the interesting log lines (only `info` and above are forwarded). */
  readonly log?: LogSink;
  /** Wraps a node's transport (the Lifeguard experiment slows some nodes down this way). */
  readonly wrapTransport?: (index: number, transport: Transport, clock: SimClockView) => Transport;
}

export interface ClusterNode {
  readonly index: number;
  readonly name: string;
  readonly host: string;
  readonly clock: SimClockView;
  readonly ml: Memberlist;
  crashed: boolean;
}

export class SimCluster {
  readonly clock = new SimClock({ maxEventsPerCall: Number.MAX_SAFE_INTEGER });
  readonly random: SeededRandom;
  readonly network: SimNetwork;
  readonly nodes: ClusterNode[] = [];
  readonly #options: ClusterOptions;

  constructor(options: ClusterOptions) {
    this.#options = options;
    this.random = new SeededRandom(options.seed);
    this.network = new SimNetwork({
      clock: this.clock,
      random: this.random.fork('network'),
      link: options.link,
    });
  }

  get tuning(): MemberlistTuning {
    return { ...lanConfig(), ...this.#options.tuning };
  }

  /** Creates node `index`'s memberlist (not joined to anyone yet). */
  async start(index: number): Promise<ClusterNode> {
    const host = hostOf(index);
    const name = nameOf(index);
    const clock = this.clock.view();
    const random = this.random.fork(`node:${host}`);
    let transport: Transport = await SimTransport.create(this.network.host(host), { host, port: PORT });
    const wrap = this.#options.wrapTransport;
    if (wrap !== undefined) transport = wrap(index, transport, clock);
    const ml = await Memberlist.create({
      ...this.#options.tuning,
      name,
      bindAddr: host,
      bindPort: PORT,
      transport,
      clock,
      random,
      logger: this.#logger(index),
    });
    const node: ClusterNode = { index, name, host, clock, ml, crashed: false };
    this.nodes[index] = node;
    return node;
  }

  /** Kills node `index` as SIGKILL would: its timers stop, its sockets vanish. */
  crash(index: number): void {
    const node = this.nodes[index];
    if (node === undefined || node.crashed) return;
    node.crashed = true;
    node.clock.halt();
    this.network.crash(node.host);
  }

  /** Runs the simulation for `ms` of simulated time. */
  advance(ms: number): Promise<void> {
    return this.clock.advance(ms);
  }

  /** Runs until `done()` (checked every `stepMs`) or `limitMs`; returns whether it held. */
  async runUntil(done: () => boolean, limitMs: number, stepMs = 100): Promise<boolean> {
    const end = this.clock.now() + limitMs;
    while (!done()) {
      if (this.clock.now() >= end) return false;
      await this.clock.advance(Math.min(stepMs, end - this.clock.now()));
    }
    return true;
  }

  /** Shuts every live memberlist down (timers, sockets); the cluster is unusable afterwards. */
  async close(): Promise<void> {
    for (const node of this.nodes) {
      if (node !== undefined && !node.crashed) await node.ml.shutdown();
    }
  }

  #logger(index: number): Logger {
    const sink = this.#options.log;
    if (sink === undefined) return silent;
    return {
      debug: () => {},
      info: (fields, message) => sink(index, 'info', message, fields),
      warn: (fields, message) => sink(index, 'warn', message, fields),
      error: (fields, message) => sink(index, 'error', message, fields),
    };
  }
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A transport of a node that handles what it receives late, as a process stalled by GC pauses
 * or starved of CPU does: each inbound datagram is handed to memberlist after its own random
 * delay on the node's clock (so datagrams may overtake each other), and the bytes of its TCP
 * connections (accepted and dialled) are read late too, in order: each chunk after a random
 * delay, never before the chunk ahead of it. A delay of 0 hands things over at once. Sending
 * and the node's timers are untouched.
 */
export class SlowInboundTransport implements Transport {
  readonly #inner: Transport;
  readonly #clock: SimClockView;
  readonly #delayMs: () => number;

  constructor(inner: Transport, clock: SimClockView, delayMs: () => number) {
    this.#inner = inner;
    this.#clock = clock;
    this.#delayMs = delayMs;
  }

  get local(): Address {
    return this.#inner.local;
  }

  sendPacket(to: Address, bytes: Uint8Array): void {
    this.#inner.sendPacket(to, bytes);
  }

  onPacket(handler: PacketHandler): void {
    this.#inner.onPacket((bytes, from) => {
      const delay = this.#delayMs();
      if (delay <= 0) handler(bytes, from);
      else this.#clock.setTimeout(() => handler(bytes, from), delay);
    });
  }

  async dial(to: Address, timeoutMs: number): Promise<ByteStream> {
    return new SlowReadStream(await this.#inner.dial(to, timeoutMs), this.#clock, this.#delayMs);
  }

  onStream(handler: StreamHandler): void {
    this.#inner.onStream((stream) => handler(new SlowReadStream(stream, this.#clock, this.#delayMs)));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A stream whose `data`, `end` and `close` events reach the reader late, in order. */
class SlowReadStream extends EventEmitter<ByteStreamEvents> implements ByteStream {
  readonly #inner: ByteStream;
  #releaseAt = Number.NEGATIVE_INFINITY;
  #closed = false;

  constructor(inner: ByteStream, clock: SimClockView, delayMs: () => number) {
    super();
    this.#inner = inner;
    const later = (emit: () => void): void => {
      const delay = delayMs();
      if (delay <= 0 && clock.now() >= this.#releaseAt) {
        emit();
        return;
      }
      this.#releaseAt = Math.max(this.#releaseAt, clock.now() + Math.max(0, delay));
      // A timer that cannot fire (the node crashed: its clock is halted) loses the event, as
      // the dead process would.
      clock.setTimeout(emit, this.#releaseAt - clock.now());
    };
    inner.on('data', (chunk) => later(() => this.emit('data', chunk)));
    inner.on('end', () => later(() => this.emit('end')));
    inner.on('drain', () => this.emit('drain'));
    inner.on('close', (error) =>
      later(() => {
        this.#closed = true;
        if (error === undefined) this.emit('close');
        else this.emit('close', error);
      }),
    );
  }

  get local(): Address {
    return this.#inner.local;
  }

  get remote(): Address {
    return this.#inner.remote;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(chunk: Uint8Array): boolean {
    return this.#inner.write(chunk);
  }

  end(): void {
    this.#inner.end();
  }

  destroy(error?: Error): void {
    this.#inner.destroy(error);
  }
}
