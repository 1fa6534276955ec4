/**
 * The memberlist runtime: SWIM failure detection with the Lifeguard extensions, gossip,
 * push/pull anti-entropy, join and leave, speaking memberlist 0.2.2's wire protocol.
 *
 * The state rules (alive, suspect, dead, refute) follow memberlist's `state.go`
 * (MEMBERLIST-WIRE.md §11); probing lives in `prober.ts`, streams in `streams.ts`. All time,
 * randomness and I/O come through the injected clock, random and transport, so a simulation
 * runs this exact code.
 */
import { type Address, formatAddress, parseAddress, type TimerHandle } from '@clusteros/sim';
import { EventEmitter } from 'eventemitter3';
import { PayloadTooLargeError } from '../errors.js';
import { COMPOUND_HEADER_OVERHEAD, COMPOUND_PART_OVERHEAD, encodeCompound } from '../wire/compound.js';
import { NodeState } from '../wire/message-types.js';
import {
  type Alive,
  type Dead,
  encodeAlive,
  encodeDead,
  encodePing,
  encodeSuspect,
  encodeUserPacket,
  type Ping,
  type Suspect,
} from '../wire/messages.js';
import { encodePacket } from '../wire/packet.js';
import { encryptOverhead } from '../wire/security.js';
import type { PushPull } from '../wire/stream.js';
import {
  applyAwarenessDelta,
  pushPullScale,
  scaleTimeout,
  suspicionConfirmations,
  suspicionTimeout,
} from '../wire/timing.js';
import { AckTable } from './ack-table.js';
import { BroadcastQueue } from './broadcast-queue.js';
import { META_MAX_SIZE, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN } from './config.js';
import {
  BroadcastTimeoutError,
  ConfigError,
  type JoinAttempt,
  JoinError,
  MemberlistClosedError,
  UnknownNodeError,
} from './errors.js';
import { ipFromBytes, ipToBytes } from './ip.js';
import { isDeadOrLeft, type Member, type NodeRecord, toMember } from './member.js';
import { NodeTable } from './node-table.js';
import { type MemberlistOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { PacketHandler } from './packet-handler.js';
import { Prober } from './prober.js';
import { localPushPull, mergeRemoteState } from './push-pull-state.js';
import { StaleAccusationAnswers } from './stale-accusations.js';
import { type MemberlistStats, StatsCounters } from './stats.js';
import { StreamService } from './streams.js';
import { Suspicion } from './suspicion.js';
import { NetTransport, NetworkTransport, type Transport } from './transport.js';

/** Events of a {@link Memberlist}; each carries a snapshot of the member. */
export interface MemberlistEvents {
  /** A node joined (or came back after being dead or having left). */
  join: [member: Member];
  /** A node failed (state `dead`) or left gracefully (state `left`). */
  leave: [member: Member];
  /** A node's metadata changed. */
  update: [member: Member];
  /** A node is suspected of having failed (it may still refute). */
  suspect: [member: Member];
  /** A suspected node refuted the suspicion and is alive again. */
  alive: [member: Member];
}

/** Most concurrent push/pull and other inbound streams (memberlist's `maxPushPullRequests`). */
const MAX_INBOUND_STREAMS = 128;
/** Largest UDP payload over IPv4. */
const MAX_DATAGRAM_BYTES = 65_507;

/**
 * One node of a memberlist cluster. Create it with {@link Memberlist.create}, {@link join} a
 * seed, listen for `join`/`leave`/`update`/`suspect` events, and {@link leave} then
 * {@link shutdown} when done.
 */
export class Memberlist extends EventEmitter<MemberlistEvents> {
  /** @internal */ readonly opts: ResolvedOptions;
  /** @internal */ readonly transport: Transport;
  /** @internal */ readonly table: NodeTable;
  /** @internal */ readonly acks: AckTable;
  /** @internal */ readonly counters = new StatsCounters();
  /** @internal */ readonly broadcasts: BroadcastQueue;
  readonly #userBroadcasts: BroadcastQueue;
  readonly #self: NodeRecord;
  readonly #suspicions = new Map<string, Suspicion>();
  readonly #prober: Prober;
  readonly #streams: StreamService;
  readonly #timers = new Set<TimerHandle>();
  #gossipTimer: TimerHandle | null = null;
  #pushPullTimer: TimerHandle | null = null;
  #sequence = 0;
  #incarnation = 0;
  #awareness = 0;
  #leaving = false;
  #closed = false;
  readonly #staleAnswers: StaleAccusationAnswers;

  private constructor(opts: ResolvedOptions, transport: Transport) {
    super();
    this.opts = opts;
    this.transport = transport;
    this.table = new NodeTable(opts.random.fork('node-table'));
    this.acks = new AckTable(opts.clock);
    this.#staleAnswers = new StaleAccusationAnswers(() => opts.clock.now(), opts.tuning.probeIntervalMs);
    const numNodes = (): number => this.table.size;
    this.broadcasts = new BroadcastQueue({ retransmitMult: opts.tuning.retransmitMult, numNodes });
    this.#userBroadcasts = new BroadcastQueue({ retransmitMult: opts.tuning.retransmitMult, numNodes });
    const host = opts.advertiseAddr ?? transport.local.host;
    const addrBytes = ipToBytes(host);
    if (addrBytes === null || addrBytes.every((b) => b === 0))
      throw new ConfigError('advertiseAddr', `cannot advertise ${JSON.stringify(host)}: set an IP literal`);
    const meta = this.#callDelegate('nodeMeta', (d) => d.nodeMeta?.(META_MAX_SIZE)) ?? opts.meta;
    if (meta.length > META_MAX_SIZE)
      throw new ConfigError('meta', `node meta exceeds ${META_MAX_SIZE} bytes`);
    this.#self = {
      name: opts.name,
      addr: ipFromBytes(addrBytes) ?? host,
      addrBytes,
      port: opts.advertisePort ?? transport.local.port,
      meta: meta.slice(),
      incarnation: ++this.#incarnation,
      state: NodeState.alive,
      stateChange: opts.clock.now(),
      vsn: this.#vsn(),
    };
    this.table.add(this.#self);
    // memberlist's setAlive runs aliveNode(bootstrap) for this node, which queues its alive
    // message: once a join has found members, the new node gossips itself as well as its seed.
    this.broadcasts.queue(encodeAlive(this.#selfAlive()), { name: this.#self.name });
    this.#prober = new Prober(this);
    this.#streams = new StreamService(this);
    const packets = new PacketHandler(this);
    transport.onPacket((bytes, from) => packets.ingest(bytes, from));
    transport.onStream((stream) => this.#streams.accept(stream, MAX_INBOUND_STREAMS));
  }

  /**
   * Binds the sockets (or takes the given transport), announces this node as alive at
   * incarnation 1 and starts probing, gossip and push/pull. Rejects with `ConfigError` for bad
   * options and with the network's error when the address is taken.
   */
  static async create(options: MemberlistOptions): Promise<Memberlist> {
    const opts = resolveOptions(options);
    let transport = options.transport;
    if (transport === undefined) {
      const bind = { host: opts.bindAddr, port: opts.bindPort };
      transport = options.network
        ? await NetworkTransport.create(options.network, bind)
        : await NetTransport.create(bind);
    }
    let memberlist: Memberlist;
    try {
      memberlist = new Memberlist(opts, transport);
    } catch (error) {
      if (options.transport === undefined) await transport.close();
      throw error;
    }
    memberlist.#schedule();
    return memberlist;
  }

  // ---------------------------------------------------------------- public API

  /** This node as the cluster sees it (its real port when bound to port 0). */
  get localNode(): Member {
    return toMember(this.#self);
  }

  /** The memberlist's keyring: install, use (make primary) and remove keys at run time. */
  get keyring(): KeyringControl {
    return this.opts.keyring;
  }

  /** Alive and suspect members, this node included. */
  members(): Member[] {
    return this.table.all.filter((n) => !isDeadOrLeft(n)).map(toMember);
  }

  /** Every node still in the table, dead and left ones included until they are reaped. */
  allNodes(): Member[] {
    return this.table.all.map(toMember);
  }

  /** Number of alive and suspect members, this node included. */
  numMembers(): number {
    let count = 0;
    for (const node of this.table.all) if (!isDeadOrLeft(node)) count++;
    return count;
  }

  /** Lifeguard's local health score: 0 is healthy, higher means this node is struggling. */
  healthScore(): number {
    return this.#awareness;
  }

  /** Counters: probes, acks, suspicions, bytes, drops by reason and more. */
  stats(): MemberlistStats {
    return this.counters.snapshot();
  }

  /**
   * Joins a cluster through `seeds` (`host:port`, `[v6]:port`, `host`, or memberlist's
   * `name/host:port`): a push/pull with each. Resolves to how many seeds answered; rejects
   * with {@link JoinError} (listing every seed's error) when none did.
   */
  async join(seeds: readonly string[]): Promise<number> {
    this.#assertOpen('join');
    const attempts: JoinAttempt[] = [];
    let contacted = 0;
    for (const seed of seeds) {
      let addresses: Address[];
      try {
        addresses = await this.#resolveSeed(seed);
      } catch (error) {
        attempts.push({ seed, error: error instanceof Error ? error : new Error(String(error)) });
        continue;
      }
      for (const address of addresses) {
        try {
          await this.#streams.pushPull(address, true);
          contacted++;
        } catch (error) {
          attempts.push({ seed, error: error instanceof Error ? error : new Error(String(error)) });
          this.opts.logger.warn({ seed, error: (error as Error).message }, 'memberlist: join attempt failed');
        }
      }
    }
    if (contacted === 0) throw new JoinError(attempts);
    return contacted;
  }

  /**
   * Sets new metadata (or re-reads `delegate.nodeMeta` when `meta` is omitted), raises the
   * incarnation and gossips it; resolves once the update has been sent its retransmit count
   * (at once without other members), or rejects with {@link BroadcastTimeoutError}.
   */
  async updateMeta(meta?: Uint8Array, timeoutMs = 5_000): Promise<void> {
    this.#assertOpen('update meta');
    const next =
      meta ?? this.#callDelegate('nodeMeta', (d) => d.nodeMeta?.(META_MAX_SIZE)) ?? this.#self.meta;
    if (next.length > META_MAX_SIZE) throw new PayloadTooLargeError('node meta', next.length, META_MAX_SIZE);
    const done = this.#broadcastDone('meta update', timeoutMs);
    this.aliveNode(
      {
        incarnation: ++this.#incarnation,
        node: this.#self.name,
        addr: this.#self.addrBytes,
        port: this.#self.port,
        meta: next.slice(),
        vsn: this.#vsn(),
      },
      done.notify,
      true,
    );
    await done.wait(this.#anyOtherAlive());
  }

  /**
   * Sends `message` to `node` over UDP, without piggybacked gossip. Best effort. Throws
   * `PayloadTooLargeError` for a message that cannot fit one datagram (use {@link sendReliable}).
   */
  sendBestEffort(node: Member | string, message: Uint8Array): void {
    this.#assertOpen('send');
    const record = this.#lookup(node);
    // Go's socket refuses a datagram above the UDP limit ("message too long"); say so too.
    const limit = MAX_DATAGRAM_BYTES - 128;
    if (message.length > limit) throw new PayloadTooLargeError('best-effort message', message.length, limit);
    this.rawSend({ host: record.addr, port: record.port }, encodeUserPacket(message), record);
  }

  /** Sends `message` to `node` over TCP; resolves when it has been written and the stream closed. */
  async sendReliable(node: Member | string, message: Uint8Array): Promise<void> {
    this.#assertOpen('send');
    const record = this.#lookup(node);
    await this.#streams.sendUserMessage({ host: record.addr, port: record.port }, message);
  }

  /**
   * Queues `message` for gossip: it is piggybacked on outgoing packets to random members,
   * `retransmitMult × ceil(log10(N + 1))` times in all, and handed to each receiver's
   * `notifyMessage`. As in memberlist, receivers do not relay it, so in larger clusters it
   * reaches a share of the members, not necessarily all; a delegate that re-queues what it
   * receives (deduplicating by an id of its own) spreads it epidemically. A `name` replaces an
   * earlier queued message with the same name.
   */
  queueBroadcast(message: Uint8Array, name?: string): void {
    this.#assertOpen('broadcast');
    const framed = encodeUserPacket(message);
    this.#userBroadcasts.queue(framed, name === undefined ? {} : { name });
  }

  /**
   * Leaves gracefully: gossips `dead` about itself with `from` = itself (seen as *left*, not
   * failed) and waits until that has been sent its retransmit count, or rejects with
   * {@link BroadcastTimeoutError}. Keeps answering probes until {@link shutdown}.
   */
  async leave(timeoutMs = 5_000): Promise<void> {
    this.#assertOpen('leave');
    if (this.#leaving) return;
    this.#leaving = true;
    const done = this.#broadcastDone('leave', timeoutMs);
    this.deadNode(
      { incarnation: this.#self.incarnation, node: this.#self.name, from: this.#self.name },
      done.notify,
    );
    await done.wait(this.#anyOtherAlive());
  }

  /** Stops every timer and closes the sockets. No goodbye is sent: call {@link leave} first. */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#prober.stop();
    if (this.#gossipTimer !== null) this.opts.clock.clearInterval(this.#gossipTimer);
    if (this.#pushPullTimer !== null) this.opts.clock.clearTimeout(this.#pushPullTimer);
    for (const timer of this.#timers) this.opts.clock.clearTimeout(timer);
    this.#timers.clear();
    for (const suspicion of this.#suspicions.values()) suspicion.stop();
    this.#suspicions.clear();
    this.acks.clear();
    this.broadcasts.reset();
    this.#userBroadcasts.reset();
    this.#streams.closeAll();
    await this.transport.close();
  }

  /** True after {@link shutdown}. */
  get closed(): boolean {
    return this.#closed;
  }

  // ---------------------------------------------------------------- internals shared with prober/streams

  /** @internal This node's record. */
  get self(): NodeRecord {
    return this.#self;
  }

  /** @internal The next probe sequence number (u32, wraps, never 0). */
  nextSeqNo(): number {
    this.#sequence = (this.#sequence + 1) >>> 0;
    if (this.#sequence === 0) this.#sequence = 1;
    return this.#sequence;
  }

  /** @internal Adds `delta` to the local health score. */
  applyAwareness(delta: number): void {
    if (!this.opts.tuning.lifeguard) return;
    this.#awareness = applyAwarenessDelta(this.#awareness, delta, this.opts.tuning.awarenessMaxMultiplier);
  }

  /** @internal Runs `fn` after `ms` unless shut down; the handle is cleared on shutdown. */
  after(ms: number, fn: () => void): TimerHandle {
    const handle = this.opts.clock.setTimeout(() => {
      this.#timers.delete(handle);
      if (!this.#closed) fn();
    }, ms);
    this.#timers.add(handle);
    return handle;
  }

  /** @internal Cancels a timer from {@link after}. */
  cancel(handle: TimerHandle | null): void {
    if (handle === null) return;
    this.opts.clock.clearTimeout(handle);
    this.#timers.delete(handle);
  }

  /** @internal A ping from this node to `target`. */
  pingFor(seqNo: number, target: string): Ping {
    return {
      seqNo,
      node: target,
      sourceAddr: this.#self.addrBytes,
      sourcePort: this.#self.port,
      sourceNode: this.#self.name,
    };
  }

  /** @internal Sends `message` with as much queued gossip piggybacked as fits (memberlist `sendMsg`). */
  sendMsg(to: Address, message: Uint8Array): void {
    const available =
      this.opts.tuning.udpBufferSize - message.length - COMPOUND_HEADER_OVERHEAD - this.#encryptionOverhead();
    const extra = this.#getBroadcasts(COMPOUND_PART_OVERHEAD, available);
    this.rawSend(to, extra.length === 0 ? message : encodeCompound([message, ...extra]), null);
  }

  /** @internal Frames and sends one datagram; a CRC header when `node` speaks protocol ≥ 5. */
  rawSend(to: Address, message: Uint8Array, node: NodeRecord | null): void {
    const { tuning, keyring } = this.opts;
    const packet = encodePacket(message, {
      compress: tuning.enableCompression,
      crc: node !== null && (node.vsn[1] ?? 0) >= 5,
      keyring,
      verifyOutgoing: tuning.gossipVerifyOutgoing,
      encryptionVersion: tuning.protocolVersion < 2 ? 0 : 1,
    });
    this.counters.counts.packetsOut++;
    this.counters.counts.bytesOut += packet.length;
    this.transport.sendPacket(to, packet);
  }

  /** @internal Calls a delegate method, containing and counting its exceptions. */
  callDelegate<T>(what: string, fn: (delegate: ResolvedOptions['delegate']) => T): T | undefined {
    return this.#callDelegate(what, fn);
  }

  /** @internal Emits an event, containing listener exceptions. */
  emitSafely(event: keyof MemberlistEvents, record: NodeRecord): void {
    try {
      this.emit(event, toMember(record));
    } catch (error) {
      this.opts.logger.error({ event, error: (error as Error).message }, 'memberlist: event listener threw');
    }
  }

  /** @internal The push/pull body this node sends. */
  localPushPull(join: boolean): PushPull {
    return localPushPull(this, join);
  }

  /** @internal Merges a peer's push/pull; see {@link mergeRemoteState} in push-pull-state.ts. */
  mergeRemoteState(remote: PushPull): void {
    mergeRemoteState(this, remote);
  }

  // ---------------------------------------------------------------- state rules (memberlist state.go)

  /**
   * @internal Applies an alive message. `notify` is told when its broadcast is done;
   * `bootstrap` marks this node's own announcements (which must not trigger a refute).
   */
  aliveNode(alive: Alive, notify: ((sent: boolean) => void) | null, bootstrap: boolean): void {
    if (this.#leaving && alive.node === this.#self.name) return;
    const addr = ipFromBytes(alive.addr);
    if (addr === null || alive.node.length === 0) {
      this.counters.drop('badAddress');
      return;
    }
    const vsn = alive.vsn ?? new Uint8Array(0);
    if (vsn.length > 0 && vsn.length < 6) {
      // Go indexes six version bytes; a shorter array is malformed.
      this.counters.drop('decode');
      return;
    }
    const [pMin = 0, pMax = 0] = vsn;
    if (vsn.length > 0 && (pMin === 0 || pMax === 0 || pMin > pMax)) {
      // memberlist ignores an alive whose protocol range is empty or inverted.
      this.counters.drop('incompatible');
      return;
    }
    if (this.opts.delegate.notifyAlive !== undefined) {
      const candidate = this.#recordFromAlive(alive, addr);
      const veto = this.#callDelegate('notifyAlive', (d) => d.notifyAlive?.(toMember(candidate)));
      if (typeof veto === 'string') {
        this.counters.drop('vetoed');
        return;
      }
    }
    let record = this.table.get(alive.node);
    let reclaim = false;
    if (record === undefined) {
      // An unknown node at incarnation 0 is ignored, as in memberlist.
      if (alive.incarnation === 0) return;
      record = { ...this.#recordFromAlive(alive, addr), incarnation: 0, state: NodeState.dead };
      this.table.add(record);
    } else if (record.addr !== addr || record.port !== alive.port) {
      const now = this.opts.clock.now();
      const reclaimTime = this.opts.tuning.deadNodeReclaimTimeMs;
      const canReclaim = reclaimTime > 0 && now - record.stateChange > reclaimTime;
      if (record.state === NodeState.left || (record.state === NodeState.dead && canReclaim)) {
        reclaim = true;
      } else {
        this.counters.drop('conflict');
        this.opts.logger.warn(
          { node: alive.node, existing: `${record.addr}:${record.port}`, other: `${addr}:${alive.port}` },
          'memberlist: conflicting address for node',
        );
        const existing = toMember(record);
        const other = toMember(this.#recordFromAlive(alive, addr));
        this.#callDelegate('notifyConflict', (d) => d.notifyConflict?.(existing, other));
        return;
      }
    }
    const isSelf = record.name === this.#self.name;
    if (alive.incarnation <= record.incarnation && !isSelf && !reclaim) return;
    if (alive.incarnation < record.incarnation && isSelf) return;
    this.#clearSuspicion(record.name);
    const oldState = record.state;
    const oldMeta = record.meta;
    if (!bootstrap && isSelf) {
      const sameVsn = bytesEqual(vsn, this.#vsn());
      if (alive.incarnation === record.incarnation && bytesEqual(alive.meta ?? EMPTY, record.meta) && sameVsn)
        return;
      this.#refute(alive.incarnation);
      this.opts.logger.warn(
        { incarnation: alive.incarnation },
        'memberlist: refuting an alive message about this node',
      );
      return;
    }
    this.broadcasts.queue(
      encodeAlive(alive),
      notify === null ? { name: alive.node } : { name: alive.node, onDone: notify },
    );
    record = this.table.own(record);
    if (vsn.length === 6) record.vsn = vsn.slice();
    record.incarnation = alive.incarnation;
    record.meta = (alive.meta ?? EMPTY).slice();
    record.addr = addr;
    record.addrBytes = ipToBytes(addr) ?? record.addrBytes;
    record.port = alive.port;
    if (isSelf) this.#incarnation = Math.max(this.#incarnation, alive.incarnation);
    if (record.state !== NodeState.alive) {
      record.state = NodeState.alive;
      record.stateChange = this.opts.clock.now();
    }
    if (oldState === NodeState.dead || oldState === NodeState.left) {
      this.opts.logger.info(
        { node: record.name, addr: `${record.addr}:${record.port}` },
        'memberlist: node joined',
      );
      this.emitSafely('join', record);
    } else {
      if (!bytesEqual(oldMeta, record.meta)) this.emitSafely('update', record);
      if (oldState === NodeState.suspect) this.emitSafely('alive', record);
    }
  }

  /** @internal Applies a suspect message (memberlist `suspectNode`). */
  suspectNode(suspect: Suspect): void {
    let record = this.table.get(suspect.node);
    if (record === undefined || suspect.incarnation < record.incarnation) return;
    const running = this.#suspicions.get(suspect.node);
    const { tuning } = this.opts;
    if (running !== undefined) {
      if (!(tuning.restartRefutedSuspicions && suspect.incarnation > record.incarnation)) {
        if (running.confirm(suspect.from))
          this.broadcasts.queue(encodeSuspect(suspect), { name: suspect.node });
        return;
      }
      // The member refuted the suspicion running here and was accused again: a new suspicion.
      this.#clearSuspicion(suspect.node);
    } else if (record.state !== NodeState.alive) return;
    if (record.name === this.#self.name) {
      this.#refute(suspect.incarnation);
      this.opts.logger.warn({ from: suspect.from }, 'memberlist: refuting a suspicion of this node');
      return;
    }
    this.broadcasts.queue(encodeSuspect(suspect), { name: suspect.node });
    this.counters.counts.suspects++;
    record = this.table.own(record);
    record.incarnation = suspect.incarnation;
    record.state = NodeState.suspect;
    const changedAt = this.opts.clock.now();
    record.stateChange = changedAt;
    const n = this.table.size;
    const k = tuning.lifeguard ? suspicionConfirmations(tuning.suspicionMult, n) : 0;
    const min = suspicionTimeout(tuning.suspicionMult, n, tuning.probeIntervalMs);
    const max = tuning.suspicionMaxTimeoutMult * min;
    const suspicion = new Suspicion(
      this.opts.clock,
      suspect.from,
      k,
      min,
      max,
      () => {
        this.#suspicions.delete(record.name);
        if (this.#stillSuspected(record, changedAt)) {
          this.opts.logger.info({ node: record.name }, 'memberlist: suspicion expired, marking node dead');
          this.deadNode({ incarnation: record.incarnation, node: record.name, from: this.#self.name }, null);
        }
      },
      tuning.lifeguard && tuning.pingSuspectBeforeDeath
        ? {
            leadMs: scaleTimeout(tuning.probeIntervalMs, this.healthScore()),
            run: () => this.#pingSuspect(record, changedAt),
          }
        : undefined,
    );
    this.#suspicions.set(record.name, suspicion);
    this.emitSafely('suspect', record);
  }

  /** @internal Applies a dead message (memberlist `deadNode`); `from === node` means a leave. */
  deadNode(dead: Dead, notify: ((sent: boolean) => void) | null): void {
    let record = this.table.get(dead.node);
    if (record === undefined || dead.incarnation < record.incarnation) return;
    this.#clearSuspicion(record.name);
    if (isDeadOrLeft(record)) return;
    const isSelf = record.name === this.#self.name;
    if (isSelf && !this.#leaving) {
      this.#refute(dead.incarnation);
      this.opts.logger.warn({ from: dead.from }, 'memberlist: refuting a death of this node');
      return;
    }
    this.broadcasts.queue(
      encodeDead(dead),
      notify === null ? { name: dead.node } : { name: dead.node, onDone: notify },
    );
    record = this.table.own(record);
    record.incarnation = dead.incarnation;
    record.state = dead.node === dead.from ? NodeState.left : NodeState.dead;
    record.stateChange = this.opts.clock.now();
    if (record.state === NodeState.dead) this.counters.counts.deaths++;
    this.opts.logger.info(
      { node: record.name, state: record.state === NodeState.left ? 'left' : 'dead' },
      'memberlist: node left the cluster',
    );
    this.emitSafely('leave', record);
  }

  #refute(accusedIncarnation: number): void {
    let incarnation = ++this.#incarnation;
    if (accusedIncarnation >= incarnation) {
      this.#incarnation = accusedIncarnation + 1;
      incarnation = this.#incarnation;
    }
    // Incarnations are u32 on the wire: an accusation at 0xffffffff (forgeable without
    // encryption) cannot be outbid, and going past it would make every later encoding of this
    // node (alive, push/pull) throw. Stay at the maximum instead.
    if (incarnation > 0xffff_ffff) {
      incarnation = 0xffff_ffff;
      this.#incarnation = incarnation;
    }
    this.#self.incarnation = incarnation;
    this.counters.counts.refutes++;
    this.applyAwareness(1);
    this.broadcasts.queue(encodeAlive(this.#selfAlive()), { name: this.#self.name });
  }

  /** This node's alive message at its current incarnation. */
  #selfAlive(): Alive {
    return {
      incarnation: this.#self.incarnation,
      node: this.#self.name,
      addr: this.#self.addrBytes,
      port: this.#self.port,
      meta: this.#self.meta,
      vsn: this.#self.vsn,
    };
  }

  /**
   * @internal A suspect or dead message about `node` at `incarnation` arrived from `from`: if it
   * accuses this node at an incarnation already refuted, the sender missed the refutation and is
   * answered with this node's alive message (see `answerStaleAccusations`).
   */
  answerStaleAccusation(node: string, incarnation: number, from: Address): void {
    if (!this.opts.tuning.answerStaleAccusations || this.#leaving || this.#closed) return;
    if (node !== this.#self.name || incarnation >= this.#self.incarnation) return;
    if (!this.#staleAnswers.take(formatAddress(from))) return;
    this.counters.counts.staleAccusationsAnswered++;
    this.sendMsg(from, encodeAlive(this.#selfAlive()));
  }

  /**
   * True while the suspicion that put `record` into suspect at `since` still stands: the node
   * runs, the record is still the table's, and nothing (a refutation, a death, a new suspicion)
   * has changed its state since.
   */
  #stillSuspected(record: NodeRecord, since: number): boolean {
    return (
      !this.#closed &&
      this.table.get(record.name) === record &&
      record.state === NodeState.suspect &&
      record.stateChange === since
    );
  }

  /** The last-chance buddy ping of `pingSuspectBeforeDeath`, if the suspicion still stands. */
  #pingSuspect(record: NodeRecord, since: number): void {
    if (!this.#stillSuspected(record, since)) return;
    this.counters.counts.suspectPingsBeforeDeath++;
    const ping = encodePing(this.pingFor(this.nextSeqNo(), record.name));
    const suspect = encodeSuspect({
      incarnation: record.incarnation,
      node: record.name,
      from: this.#self.name,
    });
    // The suspicion first (memberlist's probes put it second): a node that had not heard of it
    // refutes before it answers the ping, so the ack can carry the refutation back.
    this.rawSend({ host: record.addr, port: record.port }, encodeCompound([suspect, ping]), record);
  }

  #clearSuspicion(name: string): void {
    const suspicion = this.#suspicions.get(name);
    if (suspicion === undefined) return;
    suspicion.stop();
    this.#suspicions.delete(name);
  }

  // ---------------------------------------------------------------- receive path (see packet-handler.ts)

  /** @internal A TCP ping of `node` (memberlist's fallback probe); resolves true on a matching ack. */
  tcpPing(node: NodeRecord, seqNo: number, timeoutMs: number): Promise<boolean> {
    return this.#streams.ping(
      { host: node.addr, port: node.port },
      this.pingFor(seqNo, node.name),
      timeoutMs,
    );
  }

  /** @internal Hands a user message to the delegate. */
  deliverUserMessage(payload: Uint8Array): void {
    this.counters.counts.userMessages++;
    this.#callDelegate('notifyMessage', (d) => d.notifyMessage?.(payload));
  }

  // ---------------------------------------------------------------- gossip and scheduling

  #schedule(): void {
    const { tuning, random } = this.opts;
    this.#prober.start(random.int(0, Math.max(1, Math.floor(tuning.probeIntervalMs))));
    if (tuning.gossipIntervalMs > 0) {
      this.after(random.int(0, Math.max(1, Math.floor(tuning.gossipIntervalMs))), () => {
        this.#gossipTimer = this.opts.clock.setInterval(() => {
          if (!this.#closed) this.#gossip();
        }, tuning.gossipIntervalMs);
      });
    }
    if (tuning.pushPullIntervalMs > 0) {
      this.#pushPullTimer = this.after(
        random.int(0, Math.max(1, Math.floor(tuning.pushPullIntervalMs))),
        () => this.#periodicPushPull(),
      );
    }
  }

  #gossip(): void {
    const now = this.opts.clock.now();
    const deadTime = this.opts.tuning.gossipToTheDeadTimeMs;
    const targets = this.table.randomNodes(this.opts.tuning.gossipNodes, (n) => {
      if (n.name === this.#self.name) return false;
      if (n.state === NodeState.alive || n.state === NodeState.suspect) return true;
      return n.state === NodeState.dead && now - n.stateChange <= deadTime;
    });
    const available = this.opts.tuning.udpBufferSize - COMPOUND_HEADER_OVERHEAD - this.#encryptionOverhead();
    for (const target of targets) {
      const messages = this.#getBroadcasts(COMPOUND_PART_OVERHEAD, available);
      if (messages.length === 0) return;
      const [only] = messages;
      const message = messages.length === 1 && only !== undefined ? only : encodeCompound(messages);
      this.rawSend({ host: target.addr, port: target.port }, message, target);
    }
  }

  #periodicPushPull(): void {
    const interval = pushPullScale(this.opts.tuning.pushPullIntervalMs, this.table.size);
    this.#pushPullTimer = this.after(interval, () => this.#periodicPushPull());
    const [peer] = this.table.randomNodes(
      1,
      (n) => n.name !== this.#self.name && n.state === NodeState.alive,
    );
    if (peer === undefined) return;
    this.#streams.pushPull({ host: peer.addr, port: peer.port }, false).catch((error: Error) => {
      this.opts.logger.debug(
        { peer: peer.name, error: error.message },
        'memberlist: periodic push/pull failed',
      );
    });
  }

  #getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const own = this.broadcasts.getBroadcasts(overhead, limit);
    let used = own.reduce((sum, m) => sum + m.length + overhead, 0);
    const user = this.#userBroadcasts.getBroadcasts(overhead, limit - used);
    used += user.reduce((sum, m) => sum + m.length + overhead, 0);
    const messages = own.concat(user);
    if (this.opts.delegate.getBroadcasts !== undefined) {
      // Each delegate message costs one more byte: the user-message type byte in front of it.
      const extra =
        this.#callDelegate('getBroadcasts', (d) => d.getBroadcasts?.(overhead + 1, limit - used)) ?? [];
      for (const payload of extra) {
        if (used + payload.length + overhead + 1 > limit) break;
        used += payload.length + overhead + 1;
        messages.push(encodeUserPacket(payload));
      }
    }
    return messages;
  }

  // ---------------------------------------------------------------- helpers

  #vsn(): Uint8Array {
    const d = this.opts.delegateVersions;
    return Uint8Array.of(
      PROTOCOL_VERSION_MIN,
      PROTOCOL_VERSION_MAX,
      this.opts.tuning.protocolVersion,
      d.min,
      d.max,
      d.cur,
    );
  }

  #encryptionOverhead(): number {
    if (!this.opts.keyring.enabled || !this.opts.tuning.gossipVerifyOutgoing) return 0;
    return encryptOverhead(this.opts.tuning.protocolVersion < 2 ? 0 : 1);
  }

  #recordFromAlive(alive: Alive, addr: string): NodeRecord {
    return {
      name: alive.node,
      addr,
      addrBytes: ipToBytes(addr) ?? new Uint8Array(0),
      port: alive.port,
      meta: (alive.meta ?? EMPTY).slice(),
      incarnation: alive.incarnation,
      state: NodeState.alive,
      stateChange: this.opts.clock.now(),
      vsn: (alive.vsn ?? EMPTY).slice(),
    };
  }

  #anyOtherAlive(): boolean {
    return this.table.all.some((n) => n.name !== this.#self.name && !isDeadOrLeft(n));
  }

  #broadcastDone(
    what: string,
    timeoutMs: number,
  ): {
    notify: (sent: boolean) => void;
    wait: (needed: boolean) => Promise<void>;
  } {
    let settle: (() => void) | null = null;
    let finished = false;
    const notify = (): void => {
      finished = true;
      settle?.();
    };
    const wait = (needed: boolean): Promise<void> => {
      if (!needed || finished) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = this.after(timeoutMs, () => reject(new BroadcastTimeoutError(what, timeoutMs)));
        settle = () => {
          this.cancel(timer);
          resolve();
        };
      });
    };
    return { notify, wait };
  }

  #callDelegate<T>(what: string, fn: (delegate: ResolvedOptions['delegate']) => T): T | undefined {
    try {
      return fn(this.opts.delegate);
    } catch (error) {
      this.counters.counts.delegateErrors++;
      this.opts.logger.error(
        { delegate: what, error: (error as Error)?.message },
        'memberlist: delegate threw',
      );
      return undefined;
    }
  }

  #lookup(node: Member | string): NodeRecord {
    const name = typeof node === 'string' ? node : node.name;
    const record = this.table.get(name);
    if (record === undefined) throw new UnknownNodeError(name);
    return record;
  }

  /**
   * Turns a seed into addresses: an IP literal with an optional port (default: our bind port),
   * or a host name resolved through the `resolve` option (every address it returns is tried).
   */
  async #resolveSeed(seed: string): Promise<Address[]> {
    const slash = seed.indexOf('/');
    const hostPort = slash >= 0 ? seed.slice(slash + 1) : seed;
    if (hostPort.length === 0 || hostPort.length > 300)
      throw new ConfigError(
        'seed',
        `${JSON.stringify(seed.slice(0, 64))} is not a host with an optional port`,
      );
    const bare = ipToBytes(hostPort) !== null || !/:\d+$/.test(hostPort);
    const address = bare
      ? { host: hostPort.replace(/^\[|\]$/g, ''), port: this.opts.bindPort }
      : parseAddress(hostPort);
    if (ipToBytes(address.host) !== null) return [address];
    const resolve = this.opts.resolve;
    if (resolve === undefined || !/^[A-Za-z0-9.-]+$/.test(address.host))
      throw new ConfigError('seed', `${JSON.stringify(seed)} is not an IP address with an optional port`);
    const ips = (await resolve(address.host)).filter((ip) => ipToBytes(ip) !== null);
    if (ips.length === 0)
      throw new ConfigError('seed', `${JSON.stringify(address.host)} resolved to no IP address`);
    return ips.map((host) => ({ host, port: address.port }));
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new MemberlistClosedError(operation);
  }
}

/** The keyring operations a running memberlist exposes (see `Keyring`). */
export interface KeyringControl {
  /** Installs a key for decryption (16, 24 or 32 bytes). */
  install(key: Uint8Array): void;
  /** Makes an installed key the primary (encryption) key. */
  use(key: Uint8Array): void;
  /** Removes a key that is not primary. */
  remove(key: Uint8Array): void;
  /** Number of installed keys. */
  readonly size: number;
}

const EMPTY = new Uint8Array(0);

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
