import {
  AddressInUseError,
  ConnectError,
  type ConnectFailure,
  HostDownError,
  InvalidAddressError,
  StreamResetError,
} from './errors.js';
import { type LinkConfig, type ResolvedLink, resolveLink } from './link.js';
import {
  type Address,
  type ByteStream,
  type ConnectOptions,
  type DatagramSocket,
  formatAddress,
  type Network,
  type StreamServer,
} from './network.js';
import type { Random } from './random.js';
import type { SimClock } from './sim-clock.js';
import { type DatagramOwner, SimDatagramSocket } from './sim-datagram.js';
import { SimByteStream, type StreamWire } from './sim-stream.js';
import type { Trace } from './trace.js';

/** Options of {@link SimNetwork}. */
export interface SimNetworkOptions {
  /** The simulation clock: every delivery is a timer on it. */
  readonly clock: SimClock;
  /** Source of every fault and latency draw; fork it per component to keep runs stable. */
  readonly random: Random;
  /** Receives a line per send, delivery, drop, connection event and fault, when given. */
  readonly trace?: Trace;
  /** The link model of every host pair without a {@link SimNetwork.setLink} override. */
  readonly link?: LinkConfig;
  /**
   * Largest datagram payload `send` accepts; bigger ones throw RangeError, as UDP over IPv4 does.
   * @defaultValue 65507
   */
  readonly maxDatagramBytes?: number;
}

/** Counters of a {@link SimNetwork}, as returned by {@link SimNetwork.stats}. */
export interface SimNetworkStats {
  /** Datagram counters. Every sent copy ends up delivered or in exactly one drop reason. */
  readonly datagrams: {
    /** Datagrams handed to `send` (duplicates not included). */
    readonly sent: number;
    /** Copies handed to a receiving socket's handler. */
    readonly delivered: number;
    /** Extra copies created by the duplication fault. */
    readonly duplicated: number;
    /** Copies lost, by reason. */
    readonly dropped: {
      /** Random loss of the link. */
      readonly loss: number;
      /** Partition or one-way cut, at send or at delivery time. */
      readonly partition: number;
      /** Destination (or sending) host down, or restarted while the datagram was in flight. */
      readonly hostDown: number;
      /** No socket bound at the destination port, or it has no handler. */
      readonly noListener: number;
      /** No host of that name was ever created. */
      readonly unknownHost: number;
    };
  };
  /** Datagram payload bytes. */
  readonly bytes: {
    /** Bytes handed to `send`. */
    readonly sent: number;
    /** Bytes handed to receiving handlers (duplicates count again). */
    readonly delivered: number;
  };
  /** Stream counters. */
  readonly streams: {
    /** Connections established (the client's `connectStream` resolved). */
    readonly opened: number;
    /** Attempts refused because nothing listened. */
    readonly refused: number;
    /** Attempts that timed out (black-holed by a partition, cut or dead host). */
    readonly timedOut: number;
    /** Stream ends that closed with a {@link StreamResetError}. */
    readonly reset: number;
    /** Stream bytes delivered to receivers. */
    readonly bytes: number;
  };
}

const FIRST_PORT = 40000;
/** Size of the slabs that small datagram copies are cut from. */
const SLAB_BYTES = 16 * 1024;
/** Datagrams up to this size share slabs; bigger ones get their own buffer. */
const SLAB_MAX_COPY = 1024;
const FIRST_EPHEMERAL_PORT = 49152;
const LAST_PORT = 65535;

function checkPort(port: number, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > LAST_PORT) {
    throw new RangeError(`port must be an integer in ${allowZero ? 0 : 1}..${LAST_PORT}, got ${port}`);
  }
}

function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::';
}

/** A listening simulated stream server. */
class SimStreamServer implements StreamServer {
  readonly local: Address;
  readonly onConnection: (stream: ByteStream) => void;
  readonly #host: SimHost;
  #closed = false;

  constructor(host: SimHost, local: Address, onConnection: (stream: ByteStream) => void) {
    this.#host = host;
    this.local = Object.freeze({ host: local.host, port: local.port });
    this.onConnection = onConnection;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#host.unlisten(this);
    }
    return Promise.resolve();
  }

  /** Marks the server closed because its host crashed. */
  kill(): void {
    this.#closed = true;
  }
}

/** The network's bookkeeping for one stream end: where it lives and where its peer is. */
class StreamEnd implements StreamWire {
  readonly clock: SimClock;
  readonly record: ((what: string) => void) | undefined;
  readonly host: SimHost;
  readonly peerHost: SimHost;
  /** The port this end holds privately (a client's ephemeral port), or 0. */
  readonly ephemeralPort: number;
  readonly #net: SimNetwork;
  // Assigned right after construction: the stream needs the wire, the wire names the stream.
  stream: SimByteStream | undefined;

  constructor(
    net: SimNetwork,
    host: SimHost,
    peerHost: SimHost,
    ephemeralPort: number,
    label: string | undefined,
  ) {
    this.#net = net;
    this.clock = net.clock;
    this.host = host;
    this.peerHost = peerHost;
    this.ephemeralPort = ephemeralPort;
    const trace = net.trace;
    this.record =
      trace === undefined || label === undefined
        ? undefined
        : (what: string) => trace.record(net.clock.now(), `stream ${label} ${what}`);
  }

  latency(): number {
    return this.#net.drawLatency(this.host, this.peerHost);
  }

  closed(_end: SimByteStream, error: Error | undefined): void {
    this.host.streams.delete(this);
    if (this.ephemeralPort !== 0) this.host.ephemeral.delete(this.ephemeralPort);
    this.#net.countStreamClose(error);
    this.record?.(error === undefined ? 'close' : `close error=${error.name}`);
  }

  delivered(bytes: number): void {
    this.#net.countStreamBytes(bytes);
  }
}

/** One simulated machine: its sockets, servers and streams, and its place in the fault model. */
class SimHost implements Network, DatagramOwner {
  readonly name: string;
  readonly #net: SimNetwork;
  up = true;
  /** Incremented on every crash, so in-flight datagrams addressed to an earlier life are dropped. */
  epoch = 0;
  /** Partition group: hosts talk only within one group. 0 is the group of unlisted hosts. */
  group = 0;
  /** Per-destination link overrides, shared with the network's map (undefined when none). */
  linkTo: Map<string, ResolvedLink> | undefined;
  readonly datagrams = new Map<number, SimDatagramSocket>();
  readonly servers = new Map<number, SimStreamServer>();
  readonly ephemeral = new Set<number>();
  readonly streams = new Set<StreamEnd>();
  /** Cancels connection attempts in progress (without settling them) when the host crashes. */
  readonly connecting = new Set<() => void>();
  #nextDatagramPort = FIRST_PORT;
  #nextServerPort = FIRST_PORT;
  #nextEphemeralPort = FIRST_EPHEMERAL_PORT;

  constructor(net: SimNetwork, name: string) {
    this.#net = net;
    this.name = name;
  }

  bindDatagram(local: Address): Promise<DatagramSocket> {
    try {
      const port = this.#claim(local, 'udp', (p) => this.datagrams.has(p));
      const socket = new SimDatagramSocket(this, { host: this.name, port });
      this.datagrams.set(port, socket);
      this.#net.note(`bind udp ${this.name}:${port}`);
      return Promise.resolve(socket);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  listenStream(local: Address, onConnection: (stream: ByteStream) => void): Promise<StreamServer> {
    try {
      const port = this.#claim(local, 'tcp', (p) => this.servers.has(p) || this.ephemeral.has(p));
      const server = new SimStreamServer(this, { host: this.name, port }, onConnection);
      this.servers.set(port, server);
      this.#net.note(`listen tcp ${this.name}:${port}`);
      return Promise.resolve(server);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  connectStream(to: Address, options: ConnectOptions = {}): Promise<ByteStream> {
    return this.#net.connect(this, to, options);
  }

  sendDatagram(socket: SimDatagramSocket, to: Address, data: Uint8Array): void {
    this.#net.sendDatagram(this, socket, to, data);
  }

  unbindDatagram(socket: SimDatagramSocket): void {
    const port = socket.local.port;
    if (this.datagrams.get(port) !== socket) return;
    this.datagrams.delete(port);
    this.#net.note(`unbind udp ${this.name}:${port}`);
  }

  unlisten(server: SimStreamServer): void {
    const port = server.local.port;
    if (this.servers.get(port) !== server) return;
    this.servers.delete(port);
    this.#net.note(`unlisten tcp ${this.name}:${port}`);
  }

  /** Picks the local port of an outgoing connection, counting up through the ephemeral range. */
  claimEphemeral(): number {
    const span = LAST_PORT - FIRST_EPHEMERAL_PORT + 1;
    for (let i = 0; i < span; i++) {
      const port = this.#nextEphemeralPort;
      this.#nextEphemeralPort = port >= LAST_PORT ? FIRST_EPHEMERAL_PORT : port + 1;
      if (!this.ephemeral.has(port) && !this.servers.has(port)) {
        this.ephemeral.add(port);
        return port;
      }
    }
    throw new AddressInUseError(`${this.name}:0`);
  }

  #claim(local: Address, kind: 'udp' | 'tcp', taken: (port: number) => boolean): number {
    if (!this.up) throw new HostDownError(this.name);
    if (local.host !== this.name && !isWildcard(local.host)) {
      throw new InvalidAddressError(formatAddress(local), `not an address of host ${this.name}`);
    }
    checkPort(local.port, true);
    if (local.port !== 0) {
      if (taken(local.port)) throw new AddressInUseError(`${this.name}:${local.port}`);
      return local.port;
    }
    // Port 0: count up from FIRST_PORT (per host and protocol), so choices depend only on history.
    const span = LAST_PORT - FIRST_PORT + 1;
    for (let i = 0; i < span; i++) {
      const port = kind === 'udp' ? this.#nextDatagramPort : this.#nextServerPort;
      const next = port >= LAST_PORT ? FIRST_PORT : port + 1;
      if (kind === 'udp') this.#nextDatagramPort = next;
      else this.#nextServerPort = next;
      if (!taken(port)) return port;
    }
    throw new AddressInUseError(`${this.name}:0`);
  }
}

/**
 * A simulated network of named hosts on a {@link SimClock}, with a seeded fault model.
 *
 * Each host is a {@link Network} (from {@link SimNetwork.host}); datagram and stream ports are
 * separate namespaces, as UDP and TCP ports are. Every delivery is a clock timer, so nothing
 * happens until the test advances the clock, and every fate (latency, loss, duplication,
 * reordering) is drawn from the injected {@link Random}: one seed, one run.
 *
 * Datagrams follow the per-direction {@link LinkConfig}. They are dropped at send time when the
 * path is partitioned or cut, and again at delivery time when the destination is down (or was
 * restarted meanwhile), the path was cut meanwhile, or no socket is bound at the port.
 *
 * Streams model TCP: in order, no loss, delayed by the link latency. Connecting takes one round
 * trip; it is refused after one round trip when nothing listens; it black-holes (and so ends in
 * `timeout`) when the destination is unknown, down, partitioned or cut in either direction, as a
 * SYN into the void does (this model does not retransmit SYNs, so a heal during the attempt does
 * not rescue it). Partitions, cuts and crashes break open streams; see {@link SimByteStream}.
 */
export class SimNetwork {
  /**
   * The simulation clock the network schedules deliveries on.
   * @internal
   */
  readonly clock: SimClock;
  /**
   * The trace, when given.
   * @internal
   */
  readonly trace: Trace | undefined;
  readonly #random: Random;
  readonly #link: ResolvedLink;
  readonly #maxDatagramBytes: number;
  readonly #hosts = new Map<string, SimHost>();
  /** Group of each host named in the current partition. */
  readonly #groupOf = new Map<string, number>();
  /** One-way cuts: from-host name to the names it cannot reach. */
  readonly #cuts = new Map<string, Set<string>>();
  /** Per-direction link overrides: from-host name to (to-host name to link). */
  readonly #links = new Map<string, Map<string, ResolvedLink>>();
  #slab = new Uint8Array(0);
  #slabUsed = 0;

  #sent = 0;
  #delivered = 0;
  #duplicated = 0;
  #dropLoss = 0;
  #dropPartition = 0;
  #dropHostDown = 0;
  #dropNoListener = 0;
  #dropUnknownHost = 0;
  #bytesSent = 0;
  #bytesDelivered = 0;
  #streamsOpened = 0;
  #streamsRefused = 0;
  #streamsTimedOut = 0;
  #streamsReset = 0;
  #streamBytes = 0;

  /** Creates an empty network; hosts appear on first use of {@link SimNetwork.host}. */
  constructor(options: SimNetworkOptions) {
    this.clock = options.clock;
    this.#random = options.random;
    this.trace = options.trace;
    this.#link = resolveLink(options.link);
    this.#maxDatagramBytes = options.maxDatagramBytes ?? 65507;
    if (!Number.isInteger(this.#maxDatagramBytes) || this.#maxDatagramBytes < 0) {
      throw new RangeError(`maxDatagramBytes must be a non-negative integer, got ${this.#maxDatagramBytes}`);
    }
  }

  /**
   * The {@link Network} of host `name`, created (up, with no sockets) on first call; later calls
   * return the same object. Its addresses are `{ host: name, port }`.
   */
  host(name: string): Network {
    return this.#host(name);
  }

  /** Whether host `name` exists and is up. */
  isUp(name: string): boolean {
    return this.#hosts.get(name)?.up === true;
  }

  /**
   * Whether a packet from `from` would currently reach `to`: both hosts exist and are up, they
   * are in the same partition group, and `from → to` is not cut. Not symmetric under cuts.
   */
  canReach(from: string, to: string): boolean {
    const a = this.#hosts.get(from);
    const b = this.#hosts.get(to);
    return a !== undefined && b !== undefined && a.up && b.up && this.#open(a, b);
  }

  /**
   * Splits the hosts into groups that cannot reach each other. Hosts named in no group (including
   * hosts created later) form one more group together. Replaces any earlier partition; cuts stay.
   * Open streams between separated hosts break. Throws RangeError when a host is in two groups.
   */
  partition(groups: readonly (readonly string[])[]): void {
    const groupOf = new Map<string, number>();
    groups.forEach((group, index) => {
      for (const name of group) {
        if (groupOf.has(name)) throw new RangeError(`host ${name} is in two partition groups`);
        groupOf.set(name, index + 1);
      }
    });
    this.#groupOf.clear();
    for (const [name, group] of groupOf) this.#groupOf.set(name, group);
    for (const host of this.#hosts.values()) host.group = groupOf.get(host.name) ?? 0;
    this.note(`partition ${groups.map((group) => group.join(',')).join(' | ')}`);
    this.#breakSeparatedStreams();
  }

  /** Removes every partition and one-way cut. Link overrides stay. */
  heal(): void {
    this.#groupOf.clear();
    for (const host of this.#hosts.values()) host.group = 0;
    this.#cuts.clear();
    this.note('heal');
  }

  /** Cuts the direction `from → to`: `from`'s packets to `to` are lost; `to → from` still works. */
  cut(from: string, to: string): void {
    let set = this.#cuts.get(from);
    if (set === undefined) {
      set = new Set();
      this.#cuts.set(from, set);
    }
    set.add(to);
    this.note(`cut ${from}>${to}`);
    // TCP needs both directions: a one-way cut breaks the streams between the two hosts.
    this.#breakSeparatedStreams();
  }

  /** Restores the direction `from → to` after {@link SimNetwork.cut}. */
  uncut(from: string, to: string): void {
    const set = this.#cuts.get(from);
    if (set === undefined) return;
    set.delete(to);
    if (set.size === 0) this.#cuts.delete(from);
    this.note(`uncut ${from}>${to}`);
  }

  /**
   * Overrides the link model of the direction `from → to`. Fields left out keep the network-wide
   * values from the constructor. Applies to datagrams sent and stream bytes written from now on.
   */
  setLink(from: string, to: string, config: LinkConfig): void {
    const resolved = resolveLink(config, this.#link);
    let map = this.#links.get(from);
    if (map === undefined) {
      map = new Map();
      this.#links.set(from, map);
      const host = this.#hosts.get(from);
      if (host !== undefined) host.linkTo = map;
    }
    map.set(to, resolved);
    this.note(`link ${from}>${to}`);
  }

  /** Removes a {@link SimNetwork.setLink} override, returning `from → to` to the network-wide model. */
  resetLink(from: string, to: string): void {
    const map = this.#links.get(from);
    if (map === undefined || !map.delete(to)) return;
    this.note(`unlink ${from}>${to}`);
  }

  /**
   * Takes host `name` down, as a power cut or `kill -9` does: its sockets and servers are
   * unbound, its streams vanish without an event on its side (the process is gone) and their
   * peers see a reset one latency later, its connection attempts never settle, and datagrams in
   * flight to it are dropped on arrival (even if it restarts before they land). While it is
   * down, its {@link Network} rejects binds and listens with an Error and connects with a
   * `ConnectError` of reason `unreachable`; sends on its old sockets are dropped silently.
   * No-op when it is already down. Throws RangeError for an unknown host.
   */
  crash(name: string): void {
    const host = this.#existing(name);
    if (!host.up) return;
    host.up = false;
    host.epoch++;
    this.note(`crash ${name}`);
    for (const socket of host.datagrams.values()) socket.kill();
    host.datagrams.clear();
    for (const server of host.servers.values()) server.kill();
    host.servers.clear();
    for (const cancel of [...host.connecting]) cancel();
    host.connecting.clear();
    for (const end of [...host.streams]) end.stream?.crash();
    host.streams.clear();
    host.ephemeral.clear();
  }

  /**
   * Brings host `name` up again with no sockets: the caller re-binds, as a restarted process
   * would. Restarting a host that is up crashes it first (a reboot). Throws RangeError for an
   * unknown host.
   */
  restart(name: string): void {
    const host = this.#existing(name);
    if (host.up) this.crash(name);
    host.up = true;
    this.note(`restart ${name}`);
  }

  /** A snapshot of the counters (a fresh plain object on every call). */
  stats(): SimNetworkStats {
    return {
      datagrams: {
        sent: this.#sent,
        delivered: this.#delivered,
        duplicated: this.#duplicated,
        dropped: {
          loss: this.#dropLoss,
          partition: this.#dropPartition,
          hostDown: this.#dropHostDown,
          noListener: this.#dropNoListener,
          unknownHost: this.#dropUnknownHost,
        },
      },
      bytes: { sent: this.#bytesSent, delivered: this.#bytesDelivered },
      streams: {
        opened: this.#streamsOpened,
        refused: this.#streamsRefused,
        timedOut: this.#streamsTimedOut,
        reset: this.#streamsReset,
        bytes: this.#streamBytes,
      },
    };
  }

  /**
   * Records a trace line at the current time, when there is a trace.
   * @internal
   */
  note(line: string): void {
    this.trace?.record(this.clock.now(), line);
  }

  /**
   * Draws a one-way latency for `from → to` under the current link model.
   * @internal
   */
  drawLatency(from: SimHost, to: SimHost): number {
    const link = from.linkTo?.get(to.name) ?? this.#link;
    const ms = link.latency(this.#random);
    // Models are user code: a negative, NaN or infinite draw must not corrupt the clock's queue.
    return Number.isFinite(ms) && ms > 0 ? ms : 0;
  }

  /**
   * Counts a closed stream end.
   * @internal
   */
  countStreamClose(error: Error | undefined): void {
    if (error instanceof StreamResetError) this.#streamsReset++;
  }

  /**
   * Counts stream bytes delivered.
   * @internal
   */
  countStreamBytes(bytes: number): void {
    this.#streamBytes += bytes;
  }

  /**
   * Routes one datagram; the hot path of large simulations, so no strings unless tracing.
   * @internal
   */
  sendDatagram(src: SimHost, socket: SimDatagramSocket, to: Address, data: Uint8Array): void {
    const length = data.byteLength;
    if (length > this.#maxDatagramBytes) {
      throw new RangeError(`datagram of ${length} bytes exceeds the maximum of ${this.#maxDatagramBytes}`);
    }
    checkPort(to.port, false);
    this.#sent++;
    this.#bytesSent += length;
    const trace = this.trace;
    const from = socket.local;
    const label =
      trace === undefined ? '' : `dgram ${formatAddress(from)}>${formatAddress(to)} len=${length}`;
    trace?.record(this.clock.now(), `${label} send`);
    if (socket.killed || !src.up) {
      this.#dropHostDown++;
      trace?.record(this.clock.now(), `${label} drop host-down`);
      return;
    }
    const dst = this.#hosts.get(to.host);
    if (dst === undefined) {
      this.#dropUnknownHost++;
      trace?.record(this.clock.now(), `${label} drop unknown-host`);
      return;
    }
    if (!this.#open(src, dst)) {
      this.#dropPartition++;
      trace?.record(this.clock.now(), `${label} drop partition`);
      return;
    }
    const link = src.linkTo?.get(dst.name) ?? this.#link;
    const random = this.#random;
    if (link.loss > 0 && random.next() < link.loss) {
      this.#dropLoss++;
      trace?.record(this.clock.now(), `${label} drop loss`);
      return;
    }
    const copies = link.duplicate > 0 && random.next() < link.duplicate ? 2 : 1;
    if (copies === 2) {
      this.#duplicated++;
      trace?.record(this.clock.now(), `${label} dup`);
    }
    const port = to.port;
    const epoch = dst.epoch;
    for (let i = 0; i < copies; i++) {
      // Each copy is the receiver's own view (and immune to the sender reusing `data`).
      const copy = this.#copy(data);
      let delay = link.latency(random);
      if (!(Number.isFinite(delay) && delay > 0)) delay = 0;
      if (link.reorder > 0 && random.next() < link.reorder) delay += random.next() * link.reorderDelayMs;
      this.clock.setTimeout(() => this.#deliver(src, from, dst, epoch, port, copy, label), delay);
    }
  }

  /**
   * Copies a datagram into a view of its own. Allocating a typed array costs far more than
   * copying 100 bytes, and millions of datagrams go through here, so small copies are cut from
   * shared slabs, as Node's Buffer pool does. Each view covers only its own bytes; a view kept
   * for long pins its slab (16 KiB), a bounded price.
   */
  #copy(data: Uint8Array): Uint8Array {
    const length = data.byteLength;
    if (length > SLAB_MAX_COPY) return new Uint8Array(data);
    if (this.#slabUsed + length > this.#slab.byteLength) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#slabUsed = 0;
    }
    const offset = this.#slabUsed;
    this.#slab.set(data, offset);
    // Keep views 8-byte aligned, so a receiver may lay a wider typed array over its own bytes.
    this.#slabUsed = offset + ((length + 7) & ~7);
    return new Uint8Array(this.#slab.buffer, offset, length);
  }

  #deliver(
    src: SimHost,
    from: Address,
    dst: SimHost,
    epoch: number,
    port: number,
    data: Uint8Array,
    label: string,
  ): void {
    const trace = this.trace;
    if (!dst.up || dst.epoch !== epoch) {
      this.#dropHostDown++;
      trace?.record(this.clock.now(), `${label} drop host-down`);
      return;
    }
    if (!this.#open(src, dst)) {
      this.#dropPartition++;
      trace?.record(this.clock.now(), `${label} drop partition`);
      return;
    }
    const socket = dst.datagrams.get(port);
    if (socket === undefined) {
      this.#dropNoListener++;
      trace?.record(this.clock.now(), `${label} drop no-listener`);
      return;
    }
    // Count and trace before the handler runs, so that lines it causes come after this one.
    this.#delivered++;
    this.#bytesDelivered += data.byteLength;
    trace?.record(this.clock.now(), `${label} deliver`);
    if (!socket.deliver(data, from)) {
      this.#delivered--;
      this.#bytesDelivered -= data.byteLength;
      this.#dropNoListener++;
      trace?.record(this.clock.now(), `${label} drop no-handler`);
    }
  }

  /**
   * Opens a stream from `src` to `to`: SYN, SYN-ACK (or RST), as described on the class.
   * @internal
   */
  connect(src: SimHost, to: Address, options: ConnectOptions): Promise<ByteStream> {
    return new Promise<ByteStream>((resolve, reject) => {
      const address = formatAddress(to);
      const timeoutMs = options.timeoutMs ?? 10_000;
      const signal = options.signal;
      checkPort(to.port, false);
      if (!src.up) {
        reject(new ConnectError(address, 'unreachable', { cause: new HostDownError(src.name) }));
        return;
      }
      if (signal?.aborted) {
        reject(new ConnectError(address, 'aborted', { cause: signal.reason }));
        return;
      }
      const localPort = src.claimEphemeral();
      const local: Address = { host: src.name, port: localPort };
      const label = this.trace === undefined ? '' : `stream ${formatAddress(local)}>${address}`;
      let settled = false;
      let client: SimByteStream | undefined;

      const cleanup = (): void => {
        settled = true;
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        src.connecting.delete(cancel);
        // Until a client end exists, the attempt itself holds the port.
        if (client === undefined) src.ephemeral.delete(localPort);
      };
      const fail = (reason: ConnectFailure): void => {
        if (settled) return;
        cleanup();
        if (reason === 'timeout') this.#streamsTimedOut++;
        else if (reason === 'refused') this.#streamsRefused++;
        this.note(`${label} ${reason}`);
        reject(new ConnectError(address, reason, reason === 'aborted' ? { cause: signal?.reason } : {}));
      };
      // The host crashed: the process awaiting this promise is gone, so it never settles.
      const cancel = (): void => {
        if (!settled) cleanup();
      };
      const onAbort = (): void => fail('aborted');
      const timer = this.clock.setTimeout(() => fail('timeout'), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      src.connecting.add(cancel);
      this.note(`${label} syn`);

      const dst = this.#hosts.get(to.host);
      if (dst === undefined || !dst.up || !this.#open(src, dst)) return; // black hole
      const synDelay = this.drawLatency(src, dst);
      this.clock.setTimeout(() => {
        if (settled || !dst.up || !this.#open(src, dst)) return;
        const server = dst.servers.get(to.port);
        if (server === undefined) {
          if (!this.#open(dst, src)) return;
          this.clock.setTimeout(() => fail('refused'), this.drawLatency(dst, src));
          return;
        }
        if (!this.#open(dst, src)) return; // SYN-ACK would be lost: the client times out
        const tracing = this.trace !== undefined;
        const clientWire = new StreamEnd(
          this,
          src,
          dst,
          localPort,
          tracing ? `${formatAddress(local)}>${address}` : undefined,
        );
        const serverWire = new StreamEnd(
          this,
          dst,
          src,
          0,
          tracing ? `${address}>${formatAddress(local)}` : undefined,
        );
        const made = new SimByteStream(clientWire, local, server.local);
        const accepted = new SimByteStream(serverWire, server.local, local);
        SimByteStream.connect(made, accepted);
        clientWire.stream = made;
        serverWire.stream = accepted;
        src.streams.add(clientWire);
        dst.streams.add(serverWire);
        client = made;
        // The SYN-ACK travels in the server's direction first, so it precedes any server bytes.
        accepted.enqueue(() => {
          if (made.broken) return; // broken on the way (partition, crash): the client times out
          if (settled) {
            made.destroy(); // the client gave up: answer the SYN-ACK with a reset
            return;
          }
          cleanup();
          this.#streamsOpened++;
          this.note(`${label} open`);
          resolve(made);
        });
        this.note(`${label} accept`);
        server.onConnection(accepted);
      }, synDelay);
    });
  }

  #host(name: string): SimHost {
    let host = this.#hosts.get(name);
    if (host === undefined) {
      host = new SimHost(this, name);
      host.group = this.#groupOf.get(name) ?? 0;
      host.linkTo = this.#links.get(name);
      this.#hosts.set(name, host);
    }
    return host;
  }

  #existing(name: string): SimHost {
    const host = this.#hosts.get(name);
    if (host === undefined) throw new RangeError(`unknown host ${name}`);
    return host;
  }

  /** Whether the path `a → b` is open (same partition group, not cut); ignores up/down. */
  #open(a: SimHost, b: SimHost): boolean {
    if (a.group !== b.group) return false;
    if (this.#cuts.size === 0) return true;
    return this.#cuts.get(a.name)?.has(b.name) !== true;
  }

  #breakSeparatedStreams(): void {
    for (const host of this.#hosts.values()) {
      for (const end of host.streams) {
        const stream = end.stream;
        if (stream === undefined || stream.broken) continue;
        if (this.#open(end.host, end.peerHost) && this.#open(end.peerHost, end.host)) continue;
        stream.breakLink('partition', end.latency());
      }
    }
  }
}
