import {
  type Clock,
  type LinkConfig,
  type Random,
  type ResolvedLink,
  resolveLink,
  type SimNetwork,
  type Trace,
} from '@clusteros/sim';
import type { Message, NodeId } from '../core/types.js';
import { decodeMessage, encodeMessage } from './codec.js';
import type { RaftTransport, RaftTransportStats } from './transport.js';

/** Options of {@link SimRaftBus}. */
export interface SimRaftBusOptions {
  /** The simulation's clock (the global `SimClock`): every delivery is a timer on it. */
  readonly clock: Clock;
  /** Source of every fault and latency draw; fork one for the bus so other draws stay put. */
  readonly random: Random;
  /**
   * When given, a message also needs `network.isUp(to)` and `network.canReach(from, to)` both
   * when sent and when delivered, so `partition`, `cut`, `crash` and `heal` apply to Raft
   * messages. Endpoint ids must then be host names of this network.
   */
  readonly network?: SimNetwork;
  /** The default link of every pair without a {@link SimRaftBus.setLink} override. */
  readonly link?: LinkConfig;
  /** Receives a line per send, delivery and drop, when given (e.g. the simulation's trace). */
  readonly trace?: Trace;
}

/** Message drops of a {@link SimRaftBus}, by reason. */
export interface SimRaftBusDrops {
  /** Random loss of the link. */
  readonly loss: number;
  /** Partition or one-way cut of the network, at send or delivery. */
  readonly partition: number;
  /** Sender or receiver host down in the network, at send or delivery. */
  readonly down: number;
  /** The sending endpoint was closed, or the receiving one closed before delivery. */
  readonly closed: number;
  /** No endpoint for the destination id when sent. */
  readonly noEndpoint: number;
  /** The destination endpoint had no handler. */
  readonly noHandler: number;
  /** The message did not encode (a field out of bounds: a bug in the sender). */
  readonly encode: number;
  /** The encoded message did not decode (a codec bug). */
  readonly decode: number;
  /** `from` was not the sending endpoint's id. */
  readonly spoofed: number;
}

/** Counters of a {@link SimRaftBus}. Every copy ends delivered, dropped, or still in flight. */
export interface SimRaftBusStats {
  /** Messages handed to an endpoint's `send`. */
  readonly sent: number;
  /** Copies handed to a handler. */
  readonly delivered: number;
  /** Extra copies made by the duplication fault. */
  readonly duplicated: number;
  /** Copies held back by the reordering fault. */
  readonly reordered: number;
  /** Copies scheduled and not yet delivered or dropped. */
  readonly inFlight: number;
  /** Drops by reason. */
  readonly dropped: SimRaftBusDrops;
}

type DropReason = keyof SimRaftBusDrops;

/** One node's endpoint on the bus. */
class SimRaftEndpoint implements RaftTransport {
  readonly id: NodeId;
  readonly #bus: SimRaftBus;
  readonly #route: (endpoint: SimRaftEndpoint, message: Message) => void;
  readonly #dropped = new Map<string, number>();
  #handler: ((message: Message) => void) | undefined;
  #closed = false;
  #sent = 0;
  #received = 0;

  constructor(bus: SimRaftBus, id: NodeId, route: (endpoint: SimRaftEndpoint, message: Message) => void) {
    this.#bus = bus;
    this.id = id;
    this.#route = route;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get handler(): ((message: Message) => void) | undefined {
    return this.#handler;
  }

  send(message: Message): void {
    this.#sent++;
    this.#route(this, message);
  }

  onMessage(handler: (message: Message) => void): void {
    this.#handler = handler;
  }

  // Addressing on the bus is by id, so there is nothing to configure or tear down per peer.
  setPeer(_id: NodeId, _address: string): void {}

  removePeer(_id: NodeId): void {}

  stats(): RaftTransportStats {
    return {
      sent: this.#sent,
      received: this.#received,
      dropped: Object.fromEntries(this.#dropped),
      connections: 0,
    };
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#bus.disconnect(this.id, this);
    }
    return Promise.resolve();
  }

  countDrop(reason: DropReason): void {
    this.#dropped.set(reason, (this.#dropped.get(reason) ?? 0) + 1);
  }

  countReceived(): void {
    this.#received++;
  }
}

/**
 * An in-memory Raft message bus for deterministic simulation: each node gets a
 * {@link RaftTransport} endpoint from {@link SimRaftBus.transport}, and messages between them
 * suffer message-level faults drawn from the seeded random — loss, duplication, reordering and
 * latency per link ({@link LinkConfig}), plus the partitions and crashes of a `SimNetwork` when one
 * is given.
 *
 * Every message is encoded with `encodeMessage` when sent and decoded on delivery, so the wire
 * codec runs on every simulated message and each receiver gets its own copy. Messages of one
 * pair keep their order unless the reordering fault holds one back (the stream transport keeps
 * order too; reordering is a fault to test against, not the norm).
 *
 * A closed endpoint (the driver closes it when its node crashes, or {@link SimRaftBus.disconnect})
 * receives nothing more, including messages already in flight to it; {@link SimRaftBus.reconnect}
 * gives the node a fresh one. Exceptions thrown by a handler propagate out of the clock's
 * `advance`/`runUntil`: in simulation a throwing node is a bug to surface, not to absorb.
 */
export class SimRaftBus {
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #network: SimNetwork | undefined;
  readonly #trace: Trace | undefined;
  readonly #link: ResolvedLink;
  readonly #links = new Map<NodeId, Map<NodeId, ResolvedLink>>();
  readonly #endpoints = new Map<NodeId, SimRaftEndpoint>();
  /** Latest scheduled delivery time per `from → to` pair, to keep pairs FIFO. */
  readonly #lastAt = new Map<NodeId, Map<NodeId, number>>();
  readonly #dropped: Record<DropReason, number> = {
    loss: 0,
    partition: 0,
    down: 0,
    closed: 0,
    noEndpoint: 0,
    noHandler: 0,
    encode: 0,
    decode: 0,
    spoofed: 0,
  };
  #sent = 0;
  #delivered = 0;
  #duplicated = 0;
  #reordered = 0;
  #inFlight = 0;

  /** Creates a bus with no endpoints. Throws RangeError for an invalid link config. */
  constructor(options: SimRaftBusOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
    this.#network = options.network;
    this.#trace = options.trace;
    this.#link = resolveLink(options.link);
  }

  /**
   * The endpoint of node `id`: the open one if there is one, otherwise a fresh one (so a node
   * whose endpoint was closed gets a new endpoint, as {@link SimRaftBus.reconnect} gives).
   */
  transport(id: NodeId): RaftTransport {
    const existing = this.#endpoints.get(id);
    if (existing !== undefined && !existing.closed) return existing;
    const endpoint = new SimRaftEndpoint(this, id, (from, message) => this.#send(from, message));
    this.#endpoints.set(id, endpoint);
    return endpoint;
  }

  /**
   * Closes node `id`'s endpoint: it receives nothing more (messages in flight to it are dropped
   * on arrival) and its sends are dropped. No-op when it has none. The second argument is for
   * endpoints closing themselves.
   */
  disconnect(id: NodeId, endpoint?: RaftTransport): void {
    const current = this.#endpoints.get(id);
    if (current === undefined || (endpoint !== undefined && endpoint !== current)) return;
    this.#endpoints.delete(id);
    if (!current.closed) void current.close();
    this.#note(`raft ${id} disconnect`);
  }

  /** Closes node `id`'s endpoint, if any, and returns a fresh one. */
  reconnect(id: NodeId): RaftTransport {
    this.disconnect(id);
    return this.transport(id);
  }

  /**
   * Overrides the link `from → to`. Fields left out keep the bus-wide values. Applies to
   * messages sent from now on. Throws RangeError for invalid rates.
   */
  setLink(from: NodeId, to: NodeId, config: LinkConfig): void {
    let map = this.#links.get(from);
    if (map === undefined) {
      map = new Map();
      this.#links.set(from, map);
    }
    map.set(to, resolveLink(config, this.#link));
  }

  /** Removes a {@link SimRaftBus.setLink} override. */
  resetLink(from: NodeId, to: NodeId): void {
    this.#links.get(from)?.delete(to);
  }

  /** A snapshot of the counters (a fresh object on every call). */
  stats(): SimRaftBusStats {
    return {
      sent: this.#sent,
      delivered: this.#delivered,
      duplicated: this.#duplicated,
      reordered: this.#reordered,
      inFlight: this.#inFlight,
      dropped: { ...this.#dropped },
    };
  }

  #send(from: SimRaftEndpoint, message: Message): void {
    this.#sent++;
    const label = this.#trace === undefined ? '' : `raft ${message.from}>${message.to} ${message.type}`;
    if (from.closed) {
      this.#drop(from, 'closed', label);
      return;
    }
    if (message.from !== from.id) {
      this.#drop(from, 'spoofed', label);
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage(message);
    } catch {
      this.#drop(from, 'encode', label);
      return;
    }
    const to = message.to;
    const blocked = this.#blocked(from.id, to);
    if (blocked !== undefined) {
      this.#drop(from, blocked, label);
      return;
    }
    const target = this.#endpoints.get(to);
    if (target === undefined) {
      this.#drop(from, 'noEndpoint', label);
      return;
    }
    const link = this.#links.get(from.id)?.get(to) ?? this.#link;
    const random = this.#random;
    if (link.loss > 0 && random.next() < link.loss) {
      this.#drop(from, 'loss', label);
      return;
    }
    const copies = link.duplicate > 0 && random.next() < link.duplicate ? 2 : 1;
    if (copies === 2) this.#duplicated++;
    this.#note(`${label} send len=${bytes.byteLength}${copies === 2 ? ' dup' : ''}`);
    const now = this.#clock.now();
    let pair = this.#lastAt.get(from.id);
    if (pair === undefined) {
      pair = new Map();
      this.#lastAt.set(from.id, pair);
    }
    for (let i = 0; i < copies; i++) {
      let delay = link.latency(random);
      if (!(Number.isFinite(delay) && delay > 0)) delay = 0;
      let at: number;
      if (link.reorder > 0 && random.next() < link.reorder) {
        // Held back outside the pair's FIFO, so later messages may overtake it.
        this.#reordered++;
        at = now + delay + random.next() * link.reorderDelayMs;
      } else {
        at = Math.max(pair.get(to) ?? now, now + delay);
        pair.set(to, at);
      }
      this.#inFlight++;
      this.#clock.setTimeout(() => this.#deliver(from, target, bytes, label), at - now);
    }
  }

  #deliver(from: SimRaftEndpoint, target: SimRaftEndpoint, bytes: Uint8Array, label: string): void {
    this.#inFlight--;
    if (target.closed) {
      this.#drop(from, 'closed', label);
      return;
    }
    const blocked = this.#blocked(from.id, target.id);
    if (blocked !== undefined) {
      this.#drop(from, blocked, label);
      return;
    }
    let message: Message;
    try {
      message = decodeMessage(bytes);
    } catch {
      this.#drop(from, 'decode', label);
      return;
    }
    const handler = target.handler;
    if (handler === undefined) {
      this.#drop(from, 'noHandler', label);
      return;
    }
    this.#delivered++;
    target.countReceived();
    this.#note(`${label} deliver`);
    handler(message);
  }

  /** Why the network would not carry `from → to` now, or undefined when it would. */
  #blocked(from: NodeId, to: NodeId): 'down' | 'partition' | undefined {
    const network = this.#network;
    if (network === undefined) return undefined;
    if (!network.isUp(from) || !network.isUp(to)) return 'down';
    return network.canReach(from, to) ? undefined : 'partition';
  }

  #drop(from: SimRaftEndpoint, reason: DropReason, label: string): void {
    this.#dropped[reason]++;
    from.countDrop(reason);
    this.#note(`${label} drop ${reason}`);
  }

  #note(line: string): void {
    this.#trace?.record(this.#clock.now(), line);
  }
}
