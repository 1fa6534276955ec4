import {
  type Address,
  type ByteStream,
  type Clock,
  formatAddress,
  type Network,
  parseAddress,
  type Random,
  type StreamServer,
  type TimerHandle,
} from '@clusteros/sim';
import type { Message, NodeId, SnapshotMeta } from '../core/types.js';
import { type Logger, silentLogger } from '../logger.js';
import {
  ClusterAuthKey,
  cryptoNonces,
  HANDSHAKE_MAX_FRAME_BYTES,
  HandshakeInitiator,
  HandshakeResponder,
  isAuthError,
  MAX_HANDSHAKE_ID_BYTES,
  type NonceSource,
} from './auth.js';
import {
  decodeWire,
  encodeMessage,
  encodeSnapshotChunk,
  type SnapshotChunk,
  splitSnapshot,
  type WireItem,
} from './codec.js';
import { FRAME_MAC_BYTES, type FrameOpener, type FrameSealer } from './frame-mac.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, isFrameTooLargeError } from './framing.js';
import { DUPLICATE_ID_WINDOW_MS, ReplacementWatch } from './replacement-watch.js';
import type { RaftTransport, RaftTransportStats } from './transport.js';

/** Capped exponential backoff between connection attempts to one peer. */
export interface ReconnectBackoff {
  /** Delay ceiling of the first retry (the actual delay is drawn in [ceiling/2, ceiling)). */
  readonly minMs: number;
  /** Largest delay ceiling; reached after a few consecutive failures. */
  readonly maxMs: number;
}

/** Options of {@link StreamTransport.create}. */
export interface StreamTransportOptions {
  /** This member's id: what the handshake proves, and the `to` that inbound messages must carry. */
  readonly id: NodeId;
  /** Where to listen (port 0 picks a free port; see {@link StreamTransport.local}). */
  readonly listen: Address;
  /** The network to listen and dial on: `NodeNetwork`, or a simulated host's. */
  readonly network: Network;
  /** The shared cluster secret (at least 16 bytes). Only a key derived from it is kept. */
  readonly clusterKey: Uint8Array;
  /** Schedules reconnects and handshake deadlines. */
  readonly clock: Clock;
  /** Draws reconnect jitter. */
  readonly random: Random;
  /** Where connection events go; never receives keys or payloads. @defaultValue silentLogger */
  readonly logger?: Logger;
  /** Bytes queued per peer before new messages are dropped (`queueFull`). @defaultValue 64 MiB */
  readonly maxQueueBytes?: number;
  /**
   * Largest frame payload sent or accepted (`tooLarge` beyond), counting the
   * 16-byte MAC every frame carries after the handshake. @defaultValue 4 MiB
   */
  readonly maxFrameBytes?: number;
  /** Snapshot data bytes per chunk frame; must be below `maxFrameBytes`. @defaultValue 1 MiB */
  readonly snapshotChunkBytes?: number;
  /** Largest snapshot accepted from a peer. @defaultValue 1 GiB */
  readonly maxSnapshotBytes?: number;
  /** Give up a connection attempt after this long. @defaultValue 3000 */
  readonly connectTimeoutMs?: number;
  /** Close a connection whose handshake has not finished after this long. @defaultValue 5000 */
  readonly handshakeTimeoutMs?: number;
  /** Reconnect backoff. @defaultValue `{ minMs: 50, maxMs: 2000 }` */
  readonly reconnectBackoff?: ReconnectBackoff;
  /**
   * Source of handshake nonces. Keep the default in production; simulations pass
   * `seededNonces(random.fork('nonces'))` so a seed replays byte for byte.
   * @defaultValue cryptoNonces
   */
  readonly nonceSource?: NonceSource;
  /** Inbound connections allowed to be mid-handshake at once; more are refused. @defaultValue 64 */
  readonly maxPendingHandshakes?: number;
  /**
   * Open a connection to every peer as soon as its address is known and keep it open,
   * reconnecting with the backoff whenever it fails or breaks, instead of connecting only when
   * there is something to send. A follower seldom sends to the other followers, so without this
   * the member that campaigns or takes over leadership first pays a TCP connect and the
   * handshake's round trips to reach them, in the middle of the election or transfer. etcd's
   * peers keep their streams to each other open the same way. `false` connects lazily, as a
   * member that mostly idles may prefer. @defaultValue true
   */
  readonly keepConnected?: boolean;
}

/** Defaults of {@link StreamTransportOptions}. */
export const STREAM_TRANSPORT_DEFAULTS = Object.freeze({
  /** Bytes queued per peer before new messages are dropped. */
  maxQueueBytes: 64 * 1024 * 1024,
  /** Largest frame accepted from an authenticated peer. */
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** Snapshot data per chunk frame. */
  snapshotChunkBytes: 1024 * 1024,
  /** Largest snapshot a peer may send. */
  maxSnapshotBytes: 1024 * 1024 * 1024,
  /** Give up on a connection attempt after this long. */
  connectTimeoutMs: 3000,
  /** Give up on an unfinished handshake after this long. */
  handshakeTimeoutMs: 5000,
  /** Reconnect delays: exponential from `minMs` to `maxMs`, with jitter. */
  reconnectBackoff: Object.freeze({
    /** First retry delay. */
    minMs: 50,
    /** Longest retry delay. */
    maxMs: 2000,
  }),
  /** Inbound connections allowed in the handshake at once. */
  maxPendingHandshakes: 64,
  /** Connect to every known peer at once and stay connected. */
  keepConnected: true,
});

/**
 * Small frames queued for a peer are written together, up to about this many bytes per write:
 * one system call (and one read at the other end) for many messages.
 */
const BATCH_BYTES = 64 * 1024;

/** Drop reasons always present in {@link RaftTransportStats.dropped}, so dashboards see zeros. */
const DROP_REASONS = [
  'queueFull',
  'noAddress',
  'decode',
  'encode',
  'auth',
  'mac',
  'tooLarge',
  'unreachable',
  'spoofed',
  'misaddressed',
  'snapshotIncomplete',
  'snapshotInvalid',
  'handlerError',
  'noHandler',
  'closed',
  'removed',
  'protocol',
  'handshakeLimit',
] as const;

/**
 * One frame waiting in a peer's queue. A snapshot is several frames of one message; all but its
 * first chunk wait unencoded (views of the caller's snapshot data) and are framed when written,
 * so queueing a large snapshot copies nothing. Frames wait with room for their MAC, which is
 * filled in when the frame is written (it depends on the connection and its sequence number).
 */
interface Outgoing {
  /** The encoded frame (MAC not yet filled in), or undefined for a chunk still to be framed. */
  readonly bytes: Uint8Array | undefined;
  /** The chunk to frame when `bytes` is undefined. */
  readonly chunk: SnapshotChunk | undefined;
  /** What this item counts against `maxQueueBytes`. */
  readonly cost: number;
  /** First frame of its message. */
  readonly first: boolean;
  /** Last frame of its message (when written, the message counts as sent). */
  readonly last: boolean;
  /** Part of a snapshot message (its fate is reported to the snapshot handler). */
  readonly snapshot: boolean;
}

/** Our connection to one peer. */
interface Outbound {
  readonly abort: AbortController;
  readonly decoder: FrameDecoder;
  stream: ByteStream | undefined;
  state: 'connecting' | 'handshaking' | 'ready';
  initiator: HandshakeInitiator | undefined;
  /** Seals the frames we write once the handshake is done. */
  sealer: FrameSealer | undefined;
  timer: TimerHandle | undefined;
  /** write() returned false: wait for 'drain'. */
  blocked: boolean;
  /** Torn down: late events and promise settlements are ignored. */
  dead: boolean;
}

interface Peer {
  readonly id: NodeId;
  address: Address | undefined;
  queue: (Outgoing | undefined)[];
  head: number;
  queuedBytes: number;
  conn: Outbound | undefined;
  /** Pending reconnect. */
  timer: TimerHandle | undefined;
  /** Consecutive failed attempts, for the backoff. */
  failures: number;
  /** A pump is queued as a microtask (so that what is sent in one go leaves in one write). */
  pumpQueued: boolean;
}

/** A snapshot being reassembled from chunks on one inbound connection. */
interface Assembly {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly meta: SnapshotMeta;
  readonly total: number;
  buffer: Uint8Array;
  received: number;
}

/** A connection a peer opened to us. */
interface Inbound {
  readonly stream: ByteStream;
  readonly decoder: FrameDecoder;
  readonly responder: HandshakeResponder;
  state: 'handshake' | 'ready';
  peer: NodeId | undefined;
  /** Checks the MAC of every frame after the handshake. */
  opener: FrameOpener | undefined;
  timer: TimerHandle | undefined;
  assembly: Assembly | undefined;
  /** Ignoring the rest of a snapshot that was refused (too large). */
  skipping: boolean;
  /** A spoofed message was already logged at warn level (later ones go to debug, not to flood). */
  warnedSpoof: boolean;
  dead: boolean;
}

function positiveInt(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}

function positiveMs(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${what} must be a positive number, got ${value}`);
  return value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * The production {@link RaftTransport}: authenticated, length-prefixed MessagePack frames over
 * byte streams (TCP through `NodeNetwork`, or a simulated network).
 *
 * Outbound: one connection per peer, opened as soon as the peer's address is known and kept
 * open (or, with `keepConnected: false`, opened on the first send), reused for every message; it
 * carries our messages to that peer only (the peer answers on its own connection to us). Messages to a peer
 * wait in a bounded per-peer queue and are written in order, pausing when the stream pushes back.
 * A failed attempt drops what was queued (`unreachable`: Raft resends fresher messages anyway)
 * and retries after a capped exponential backoff with jitter, on the injected clock.
 *
 * Inbound: every accepted connection must complete the handshake of `auth.ts` within
 * `handshakeTimeoutMs`; until then it may send only small handshake frames, and nothing it sends
 * is delivered. A connection that fails is closed and counted (`auth`). After the handshake
 * every frame must carry a valid MAC under the connection's session key and its sequence number
 * (`frame-mac.ts`); the MAC is checked before anything is decoded, and a frame that fails is
 * dropped, counted (`mac`) and closes the connection (the sender reconnects with a fresh
 * handshake). Each message must then come `from` the authenticated member (`spoofed` otherwise)
 * and be addressed to us (`misaddressed`).
 *
 * Snapshots travel as chunk frames of `snapshotChunkBytes` and are reassembled per connection
 * (bounded by `maxSnapshotBytes`) into one `snapshot` message; a connection that breaks
 * mid-snapshot discards the partial data, on both sides.
 */
export class StreamTransport implements RaftTransport {
  /** The address this transport listens on (with the real port when 0 was requested). */
  readonly local: Address;
  readonly #id: NodeId;
  readonly #network: Network;
  readonly #server: StreamServer;
  readonly #key: ClusterAuthKey;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #log: Logger;
  readonly #nonces: NonceSource;
  readonly #maxQueueBytes: number;
  readonly #maxFrameBytes: number;
  readonly #chunkBytes: number;
  readonly #maxSnapshotBytes: number;
  readonly #connectTimeoutMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #backoff: ReconnectBackoff;
  readonly #maxPendingHandshakes: number;
  readonly #keepConnected: boolean;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #inbound = new Set<Inbound>();
  readonly #dropped = new Map<string, number>();
  readonly #replacements = new ReplacementWatch();
  #handler: ((message: Message) => void) | undefined;
  #unreachableHandler: ((peer: NodeId) => void) | undefined;
  #snapshotHandler: ((peer: NodeId, ok: boolean) => void) | undefined;
  #pendingHandshakes = 0;
  #sent = 0;
  #received = 0;
  #connections = 0;
  #closing: Promise<void> | undefined;

  private constructor(options: StreamTransportOptions, key: ClusterAuthKey, server: StreamServer) {
    this.#id = options.id;
    this.#network = options.network;
    this.#server = server;
    this.local = server.local;
    this.#key = key;
    this.#clock = options.clock;
    this.#random = options.random;
    this.#log = options.logger ?? silentLogger;
    this.#nonces = options.nonceSource ?? cryptoNonces;
    const d = STREAM_TRANSPORT_DEFAULTS;
    this.#maxQueueBytes = positiveInt(options.maxQueueBytes ?? d.maxQueueBytes, 'maxQueueBytes');
    this.#maxFrameBytes = positiveInt(options.maxFrameBytes ?? d.maxFrameBytes, 'maxFrameBytes');
    this.#chunkBytes = positiveInt(options.snapshotChunkBytes ?? d.snapshotChunkBytes, 'snapshotChunkBytes');
    this.#maxSnapshotBytes = positiveInt(options.maxSnapshotBytes ?? d.maxSnapshotBytes, 'maxSnapshotBytes');
    this.#connectTimeoutMs = positiveMs(options.connectTimeoutMs ?? d.connectTimeoutMs, 'connectTimeoutMs');
    this.#handshakeTimeoutMs = positiveMs(
      options.handshakeTimeoutMs ?? d.handshakeTimeoutMs,
      'handshakeTimeoutMs',
    );
    const backoff = options.reconnectBackoff ?? d.reconnectBackoff;
    this.#backoff = {
      minMs: positiveMs(backoff.minMs, 'reconnectBackoff.minMs'),
      maxMs: positiveMs(backoff.maxMs, 'reconnectBackoff.maxMs'),
    };
    this.#maxPendingHandshakes = positiveInt(
      options.maxPendingHandshakes ?? d.maxPendingHandshakes,
      'maxPendingHandshakes',
    );
    this.#keepConnected = options.keepConnected ?? d.keepConnected;
    for (const reason of DROP_REASONS) this.#dropped.set(reason, 0);
  }

  /**
   * Derives the authentication key, starts listening and returns the transport. Rejects with
   * RangeError for invalid options (a short cluster key, a chunk size not below the frame size)
   * and with the network's error when the address cannot be bound.
   */
  static async create(options: StreamTransportOptions): Promise<StreamTransport> {
    const idBytes = typeof options.id === 'string' ? new TextEncoder().encode(options.id).byteLength : 0;
    if (idBytes === 0 || idBytes > MAX_HANDSHAKE_ID_BYTES) {
      throw new RangeError(`id must be a string of 1..${MAX_HANDSHAKE_ID_BYTES} UTF-8 bytes`);
    }
    const key = ClusterAuthKey.derive(options.clusterKey);
    const maxFrame = options.maxFrameBytes ?? STREAM_TRANSPORT_DEFAULTS.maxFrameBytes;
    const chunk = options.snapshotChunkBytes ?? STREAM_TRANSPORT_DEFAULTS.snapshotChunkBytes;
    if (!Number.isSafeInteger(maxFrame) || maxFrame > 0xffff_ffff) {
      throw new RangeError(`maxFrameBytes must be an integer up to 2^32 - 1, got ${maxFrame}`);
    }
    if (chunk >= maxFrame) {
      throw new RangeError(`snapshotChunkBytes (${chunk}) must be below maxFrameBytes (${maxFrame})`);
    }
    let transport: StreamTransport | undefined;
    const server = await options.network.listenStream(options.listen, (stream) => {
      // Connections cannot arrive before listenStream resolves; refuse one defensively if it does.
      if (transport === undefined) stream.destroy();
      else transport.#accept(stream);
    });
    try {
      transport = new StreamTransport(options, key, server);
    } catch (error) {
      await server.close();
      throw error;
    }
    transport.#log.info({ id: options.id, local: formatAddress(server.local) }, 'raft transport listening');
    return transport;
  }

  // -------------------------------------------------------------------------------------------
  // RaftTransport

  send(message: Message): void {
    if (this.#closing !== undefined) {
      this.#drop('closed');
      return;
    }
    const peer = this.#peers.get(message.to);
    if (peer === undefined || peer.address === undefined) {
      this.#drop('noAddress');
      return;
    }
    let items: Outgoing[];
    try {
      items = this.#encode(message);
    } catch (error) {
      if (isFrameTooLargeError(error)) {
        this.#drop('tooLarge');
        this.#log.warn(
          { to: message.to, type: message.type, bytes: error.length },
          'message too large to send',
        );
      } else {
        this.#drop('encode');
        this.#log.warn(
          { to: message.to, type: message.type, error: errorText(error) },
          'cannot encode message',
        );
      }
      return;
    }
    let cost = 0;
    for (const item of items) cost += item.cost;
    if (peer.queuedBytes + cost > this.#maxQueueBytes) {
      // Drop the newest: what is queued is older but already promised an order.
      this.#drop('queueFull');
      if (message.type === 'snapshot') this.#report(peer.id, false);
      return;
    }
    for (const item of items) peer.queue.push(item);
    peer.queuedBytes += cost;
    this.#queuePump(peer);
  }

  onMessage(handler: (message: Message) => void): void {
    this.#handler = handler;
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.#unreachableHandler = handler;
  }

  onSnapshotStatus(handler: (peer: NodeId, ok: boolean) => void): void {
    this.#snapshotHandler = handler;
  }

  /** Tells Raft about a delivery problem; a throwing handler must not break the transport. */
  #report(peer: NodeId, snapshotOk?: boolean): void {
    try {
      if (snapshotOk === undefined) this.#unreachableHandler?.(peer);
      else this.#snapshotHandler?.(peer, snapshotOk);
    } catch (error) {
      this.#log.error({ peer, error: errorText(error) }, 'delivery report handler threw');
    }
  }

  setPeer(id: NodeId, address: string): void {
    if (this.#closing !== undefined || id === this.#id) return;
    let parsed: Address | undefined;
    try {
      parsed = parseAddress(address);
    } catch (error) {
      // Addresses come from configuration entries; a bad one must not take the node down.
      this.#log.warn({ peer: id, error: errorText(error) }, 'ignoring invalid peer address');
    }
    let peer = this.#peers.get(id);
    if (peer === undefined) {
      peer = {
        id,
        address: parsed,
        queue: [],
        head: 0,
        queuedBytes: 0,
        conn: undefined,
        timer: undefined,
        failures: 0,
        pumpQueued: false,
      };
      this.#peers.set(id, peer);
      if (this.#wantsConnection(peer)) this.#connect(peer);
      return;
    }
    if (
      parsed !== undefined &&
      peer.address !== undefined &&
      formatAddress(parsed) === formatAddress(peer.address)
    ) {
      return;
    }
    // The member moved: the old connection leads to the old place.
    peer.address = parsed;
    this.#teardownOutbound(peer);
    this.#cancelReconnect(peer);
    peer.failures = 0;
    if (peer.address === undefined) this.#clearQueue(peer, 'noAddress');
    else if (this.#wantsConnection(peer)) this.#connect(peer);
  }

  removePeer(id: NodeId): void {
    const peer = this.#peers.get(id);
    if (peer !== undefined) {
      this.#peers.delete(id);
      this.#cancelReconnect(peer);
      this.#teardownOutbound(peer);
      this.#clearQueue(peer, 'removed');
    }
    for (const conn of [...this.#inbound]) {
      if (conn.peer === id) this.#closeInbound(conn, undefined);
    }
  }

  stats(): RaftTransportStats {
    return {
      sent: this.#sent,
      received: this.#received,
      dropped: Object.fromEntries(this.#dropped),
      connections: this.#connections,
    };
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closing = (async () => {
      for (const peer of this.#peers.values()) {
        this.#cancelReconnect(peer);
        this.#teardownOutbound(peer);
        peer.queue = [];
        peer.head = 0;
        peer.queuedBytes = 0;
      }
      this.#peers.clear();
      for (const conn of [...this.#inbound]) this.#closeInbound(conn, undefined);
      await this.#server.close();
      this.#log.info({ id: this.#id }, 'raft transport closed');
    })();
    return this.#closing;
  }

  // -------------------------------------------------------------------------------------------
  // Outbound

  /** Frames `message` (or its first snapshot chunk); throws what encoding or framing throws. */
  #encode(message: Message): Outgoing[] {
    if (message.type !== 'snapshot') {
      const bytes = encodeFrame(encodeMessage(message), this.#maxFrameBytes, FRAME_MAC_BYTES);
      return [{ bytes, chunk: undefined, cost: bytes.byteLength, first: true, last: true, snapshot: false }];
    }
    const chunks = splitSnapshot(message, this.#chunkBytes);
    // The first chunk is the largest and carries the same metadata as the rest: if it frames,
    // they all do, so they can wait unencoded.
    const head = encodeFrame(
      encodeSnapshotChunk(chunks[0] as SnapshotChunk),
      this.#maxFrameBytes,
      FRAME_MAC_BYTES,
    );
    const overhead = head.byteLength - (chunks[0]?.data.byteLength ?? 0);
    return chunks.map((chunk, i) => ({
      bytes: i === 0 ? head : undefined,
      chunk: i === 0 ? undefined : chunk,
      // The data is the caller's and already in memory; only a frame's own bytes are ours.
      cost: i === 0 ? head.byteLength : overhead,
      first: i === 0,
      last: i === chunks.length - 1,
      snapshot: true,
    }));
  }

  /**
   * Pumps `peer` once the current synchronous run of sends is over (a microtask), so that the
   * messages a caller sends together (a Ready's appends, say) leave in one write instead of one
   * system call each. Frames, their order and their MACs are unchanged.
   */
  #queuePump(peer: Peer): void {
    if (peer.pumpQueued) return;
    peer.pumpQueued = true;
    queueMicrotask(() => {
      peer.pumpQueued = false;
      // Removed or closed meanwhile: its queue was emptied, nothing to do.
      if (this.#peers.get(peer.id) === peer) this.#pump(peer);
    });
  }

  /**
   * Writes `frames` (sealed, in order) as one chunk; returns what the stream's write returned
   * (false: wait for 'drain').
   */
  #writeFrames(stream: ByteStream, frames: Uint8Array[], bytes: number): boolean {
    if (frames.length === 1) return stream.write(frames[0] as Uint8Array);
    const batch = new Uint8Array(bytes);
    let offset = 0;
    for (const frame of frames) {
      batch.set(frame, offset);
      offset += frame.byteLength;
    }
    return stream.write(batch);
  }

  /**
   * Whether `peer` should have a connection now: something is queued for it, or
   * `keepConnected` asks for one anyway. False while one is open or being opened, or a reconnect
   * is pending.
   */
  #wantsConnection(peer: Peer): boolean {
    if (peer.conn !== undefined || peer.timer !== undefined) return false;
    return this.#keepConnected || peer.head < peer.queue.length;
  }

  /** Moves queued frames onto the peer's connection, opening one when there is none. */
  #pump(peer: Peer): void {
    if (peer.head >= peer.queue.length) return;
    const conn = peer.conn;
    if (conn === undefined) {
      if (peer.timer === undefined) this.#connect(peer);
      return;
    }
    const stream = conn.stream;
    const sealer = conn.sealer;
    if (conn.state !== 'ready' || conn.blocked || stream === undefined || sealer === undefined) return;
    // Small frames in a row are gathered (up to BATCH_BYTES) and written together; snapshot
    // frames are written one by one, as before, so that backpressure paces them.
    const batch: Uint8Array[] = [];
    let batchBytes = 0;
    while (peer.head < peer.queue.length) {
      const item = peer.queue[peer.head];
      if (item === undefined) {
        peer.head++;
        continue;
      }
      if (!item.snapshot) {
        peer.queue[peer.head] = undefined;
        peer.head++;
        peer.queuedBytes -= item.cost;
        if (item.last) this.#sent++;
        const bytes = item.bytes as Uint8Array;
        // Sealed as it is written: the MAC binds the frame to this connection and position.
        sealer.seal(bytes);
        batch.push(bytes);
        batchBytes += bytes.byteLength;
        if (batchBytes < BATCH_BYTES) continue;
      }
      if (batch.length > 0) {
        const ok = this.#writeFrames(stream, batch, batchBytes);
        batch.length = 0;
        batchBytes = 0;
        if (!ok) {
          conn.blocked = true;
          break;
        }
        continue;
      }
      peer.queue[peer.head] = undefined;
      peer.head++;
      peer.queuedBytes -= item.cost;
      if (item.last) this.#sent++;
      const bytes = item.bytes ?? this.#frameChunk(item.chunk);
      if (bytes !== undefined) sealer.seal(bytes);
      const blocked = bytes !== undefined && !stream.write(bytes);
      if (item.last) this.#report(peer.id, bytes !== undefined);
      if (blocked) {
        conn.blocked = true;
        break;
      }
    }
    if (batch.length > 0 && !this.#writeFrames(stream, batch, batchBytes)) conn.blocked = true;
    this.#compact(peer);
  }

  /** Frames a queued chunk. Cannot fail after the first chunk framed, but a bug must not throw out of send. */
  #frameChunk(chunk: SnapshotChunk | undefined): Uint8Array | undefined {
    if (chunk === undefined) return undefined;
    try {
      return encodeFrame(encodeSnapshotChunk(chunk), this.#maxFrameBytes, FRAME_MAC_BYTES);
    } catch (error) {
      this.#drop('encode');
      this.#log.error({ to: chunk.to, error: errorText(error) }, 'cannot frame a snapshot chunk');
      return undefined;
    }
  }

  #compact(peer: Peer): void {
    if (peer.head === peer.queue.length) {
      peer.queue = [];
      peer.head = 0;
    } else if (peer.head > 1024 && peer.head * 2 > peer.queue.length) {
      peer.queue = peer.queue.slice(peer.head);
      peer.head = 0;
    }
  }

  /** Drops every queued message, counting each under `reason`. */
  #clearQueue(peer: Peer, reason: string): void {
    let messages = 0;
    let snapshots = 0;
    for (let i = peer.head; i < peer.queue.length; i++) {
      const item = peer.queue[i];
      if (item?.last === true) messages++;
      if (item?.last === true && item.snapshot) snapshots++;
    }
    if (snapshots > 0) this.#report(peer.id, false);
    peer.queue = [];
    peer.head = 0;
    peer.queuedBytes = 0;
    if (messages > 0) this.#drop(reason, messages);
  }

  /**
   * After a connection is gone: the frames of a snapshot already partly written cannot be
   * resumed on a new connection (the receiver discarded the start), so the rest goes too.
   */
  #dropPartialHead(peer: Peer): void {
    let dropped = false;
    while (peer.head < peer.queue.length) {
      const item = peer.queue[peer.head];
      if (item?.first === true) break;
      if (item !== undefined) {
        peer.queuedBytes -= item.cost;
        dropped = true;
      }
      peer.queue[peer.head] = undefined;
      peer.head++;
    }
    if (dropped) {
      this.#drop('snapshotIncomplete');
      this.#report(peer.id, false);
    }
    this.#compact(peer);
  }

  #connect(peer: Peer): void {
    const address = peer.address;
    if (address === undefined || this.#closing !== undefined) return;
    const conn: Outbound = {
      abort: new AbortController(),
      decoder: new FrameDecoder({ maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES }),
      stream: undefined,
      state: 'connecting',
      initiator: undefined,
      sealer: undefined,
      timer: undefined,
      blocked: false,
      dead: false,
    };
    peer.conn = conn;
    this.#network
      .connectStream(address, { timeoutMs: this.#connectTimeoutMs, signal: conn.abort.signal })
      .then(
        (stream) => this.#connected(peer, conn, stream),
        (error: unknown) => {
          if (conn.dead) return;
          this.#log.debug(
            { peer: peer.id, address: formatAddress(address), error: errorText(error) },
            'connect failed',
          );
          this.#outboundFailed(peer, conn);
        },
      );
  }

  #connected(peer: Peer, conn: Outbound, stream: ByteStream): void {
    if (conn.dead || this.#closing !== undefined || peer.conn !== conn) {
      stream.destroy();
      return;
    }
    conn.stream = stream;
    conn.state = 'handshaking';
    stream.on('data', (chunk) => this.#outboundData(peer, conn, chunk));
    stream.on('drain', () => {
      if (conn.dead) return;
      conn.blocked = false;
      this.#pump(peer);
    });
    stream.on('end', () => stream.end());
    stream.on('close', () => this.#outboundClosed(peer, conn));
    let hello: Uint8Array;
    try {
      conn.initiator = new HandshakeInitiator({
        key: this.#key,
        localId: this.#id,
        expectedPeer: peer.id,
        nonces: this.#nonces,
      });
      hello = conn.initiator.hello();
    } catch (error) {
      this.#log.error({ peer: peer.id, error: errorText(error) }, 'cannot start handshake');
      this.#outboundFailed(peer, conn);
      return;
    }
    conn.timer = this.#clock.setTimeout(() => {
      conn.timer = undefined;
      if (conn.dead) return;
      this.#log.warn({ peer: peer.id }, 'handshake timed out');
      this.#outboundFailed(peer, conn);
    }, this.#handshakeTimeoutMs);
    stream.write(encodeFrame(hello, HANDSHAKE_MAX_FRAME_BYTES));
  }

  #outboundData(peer: Peer, conn: Outbound, chunk: Uint8Array): void {
    if (conn.dead) return;
    try {
      conn.decoder.push(chunk, (payload) => this.#outboundFrame(peer, conn, payload));
    } catch (error) {
      if (conn.dead) return;
      if (conn.state === 'ready') {
        this.#log.warn(
          { peer: peer.id, error: errorText(error) },
          'unexpected data on an outbound connection',
        );
        this.#drop('protocol');
        this.#outboundBroken(peer, conn);
        return;
      }
      this.#authFailed(
        peer.id,
        formatAddress(conn.stream?.remote ?? { host: '?', port: 0 }),
        'oversized handshake frame',
      );
      this.#outboundFailed(peer, conn);
    }
  }

  #outboundFrame(peer: Peer, conn: Outbound, payload: Uint8Array): boolean {
    if (conn.dead) return false;
    const initiator = conn.initiator;
    const stream = conn.stream;
    if (conn.state !== 'handshaking' || initiator === undefined || stream === undefined) {
      // Our outbound connections carry our messages only: the peer has nothing to say on them.
      this.#log.warn({ peer: peer.id }, 'unexpected data on an outbound connection');
      this.#drop('protocol');
      this.#outboundBroken(peer, conn);
      return false;
    }
    let reply: Uint8Array;
    try {
      const done = initiator.receive(payload);
      reply = done.reply;
      conn.sealer = done.session.sealer;
    } catch (error) {
      this.#authFailed(peer.id, formatAddress(stream.remote), error);
      this.#outboundFailed(peer, conn);
      return false;
    }
    conn.initiator = undefined;
    conn.state = 'ready';
    if (conn.timer !== undefined) this.#clock.clearTimeout(conn.timer);
    conn.timer = undefined;
    peer.failures = 0;
    this.#connections++;
    this.#log.debug({ peer: peer.id, remote: formatAddress(stream.remote) }, 'connected to peer');
    conn.blocked = !stream.write(encodeFrame(reply, HANDSHAKE_MAX_FRAME_BYTES));
    this.#pump(peer);
    return true;
  }

  /** The stream closed under us (reset, partition, peer gone, or after our own destroy). */
  #outboundClosed(peer: Peer, conn: Outbound): void {
    if (conn.dead) return;
    if (conn.state === 'ready') this.#outboundBroken(peer, conn);
    else this.#outboundFailed(peer, conn);
  }

  /** An established connection broke: keep the queue (minus a torn snapshot) and reconnect soon. */
  #outboundBroken(peer: Peer, conn: Outbound): void {
    this.#killOutbound(peer, conn);
    this.#report(peer.id);
    this.#dropPartialHead(peer);
    this.#log.debug({ peer: peer.id }, 'connection to peer lost');
    if (this.#closing === undefined && this.#peers.get(peer.id) === peer && this.#wantsConnection(peer)) {
      this.#scheduleReconnect(peer);
    }
  }

  /** An attempt failed before it was usable: drop the queue and back off. */
  #outboundFailed(peer: Peer, conn: Outbound): void {
    this.#killOutbound(peer, conn);
    if (this.#closing !== undefined || this.#peers.get(peer.id) !== peer) return;
    this.#report(peer.id);
    this.#clearQueue(peer, 'unreachable');
    this.#scheduleReconnect(peer);
  }

  #killOutbound(peer: Peer, conn: Outbound): void {
    if (conn.dead) return;
    conn.dead = true;
    if (conn.timer !== undefined) this.#clock.clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.decoder.reset();
    conn.sealer = undefined;
    if (peer.conn === conn) peer.conn = undefined;
    if (conn.stream === undefined) conn.abort.abort();
    else if (!conn.stream.closed) conn.stream.destroy();
  }

  /** Closes the peer's connection (ours to tear down: no failure, no backoff). */
  #teardownOutbound(peer: Peer): void {
    const conn = peer.conn;
    if (conn === undefined) return;
    this.#killOutbound(peer, conn);
    this.#dropPartialHead(peer);
  }

  #scheduleReconnect(peer: Peer): void {
    if (peer.timer !== undefined) return;
    const { minMs, maxMs } = this.#backoff;
    const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(peer.failures, 30));
    // Half fixed, half jitter: spreads peers that failed together without retrying at once.
    const delay = ceiling / 2 + (this.#random.next() * ceiling) / 2;
    peer.failures++;
    peer.timer = this.#clock.setTimeout(() => {
      peer.timer = undefined;
      if (this.#closing !== undefined || this.#peers.get(peer.id) !== peer) return;
      // Nothing waiting and not asked to stay connected: stay idle until the next send, which
      // connects at once.
      if (this.#wantsConnection(peer)) this.#connect(peer);
    }, delay);
  }

  #cancelReconnect(peer: Peer): void {
    if (peer.timer !== undefined) this.#clock.clearTimeout(peer.timer);
    peer.timer = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  #accept(stream: ByteStream): void {
    if (this.#closing !== undefined) {
      stream.destroy();
      return;
    }
    if (this.#pendingHandshakes >= this.#maxPendingHandshakes) {
      this.#drop('handshakeLimit');
      this.#log.warn(
        { remote: formatAddress(stream.remote) },
        'too many pending handshakes; refusing connection',
      );
      stream.destroy();
      return;
    }
    let responder: HandshakeResponder;
    try {
      responder = new HandshakeResponder({ key: this.#key, localId: this.#id, nonces: this.#nonces });
    } catch (error) {
      this.#log.error({ error: errorText(error) }, 'cannot answer handshake');
      stream.destroy();
      return;
    }
    const conn: Inbound = {
      stream,
      decoder: new FrameDecoder({ maxFrameBytes: HANDSHAKE_MAX_FRAME_BYTES }),
      responder,
      state: 'handshake',
      peer: undefined,
      opener: undefined,
      timer: undefined,
      assembly: undefined,
      skipping: false,
      warnedSpoof: false,
      dead: false,
    };
    this.#pendingHandshakes++;
    this.#inbound.add(conn);
    conn.timer = this.#clock.setTimeout(() => {
      conn.timer = undefined;
      this.#closeInbound(conn, 'handshake timed out');
    }, this.#handshakeTimeoutMs);
    stream.on('data', (chunk) => this.#inboundData(conn, chunk));
    stream.on('end', () => stream.end());
    stream.on('close', () => this.#closeInbound(conn, 'connection closed during the handshake'));
  }

  #inboundData(conn: Inbound, chunk: Uint8Array): void {
    if (conn.dead) return;
    try {
      conn.decoder.push(chunk, (payload) => this.#inboundFrame(conn, payload));
    } catch (error) {
      if (conn.dead) return;
      if (!isFrameTooLargeError(error)) {
        // Not the peer's doing: a bug here must cost one connection, not the process.
        this.#log.error(
          { peer: conn.peer, error: errorText(error) },
          'internal error on an inbound connection',
        );
        this.#closeInbound(conn, 'internal error');
        return;
      }
      if (conn.state === 'handshake') {
        this.#closeInbound(conn, 'oversized handshake frame');
        return;
      }
      this.#drop('tooLarge');
      this.#log.warn({ peer: conn.peer, error: errorText(error) }, 'oversized frame; closing connection');
      this.#closeInbound(conn, undefined);
    }
  }

  /** Handles one inbound frame; returns false once the connection is closed. */
  #inboundFrame(conn: Inbound, payload: Uint8Array): boolean {
    if (conn.dead) return false;
    if (conn.state === 'handshake') return this.#inboundHandshake(conn, payload);
    // Authenticated before anything else: a frame that fails is not even decoded.
    const body = conn.opener?.open(payload);
    if (body === undefined) {
      this.#macFailed(conn, payload.byteLength);
      return false;
    }
    let item: WireItem;
    try {
      item = decodeWire(body);
    } catch (error) {
      // The MAC held, so the peer itself sent it (a bug, or a codec from another version); frames
      // stay delimited, so one bad frame need not cost the connection.
      this.#drop('decode');
      this.#log.debug({ peer: conn.peer, error: errorText(error) }, 'dropping undecodable frame');
      return true;
    }
    if (item.kind === 'chunk') this.#inboundChunk(conn, item.chunk);
    else if (this.#accepts(conn, item.message.from, item.message.to)) this.#deliver(item.message);
    return !conn.dead;
  }

  #inboundHandshake(conn: Inbound, payload: Uint8Array): boolean {
    let step: ReturnType<HandshakeResponder['receive']>;
    try {
      step = conn.responder.receive(payload);
    } catch (error) {
      this.#closeInbound(conn, isAuthError(error) ? error.reason : errorText(error));
      return false;
    }
    if (step.kind === 'challenge') {
      conn.stream.write(encodeFrame(step.reply, HANDSHAKE_MAX_FRAME_BYTES));
      return true;
    }
    conn.state = 'ready';
    conn.peer = step.peer;
    conn.opener = step.session.opener;
    this.#pendingHandshakes--;
    if (conn.timer !== undefined) this.#clock.clearTimeout(conn.timer);
    conn.timer = undefined;
    conn.decoder.maxFrameBytes = this.#maxFrameBytes;
    this.#connections++;
    this.#log.debug({ peer: step.peer, remote: formatAddress(conn.stream.remote) }, 'peer authenticated');
    // A member keeps one connection to us; an older one is a leftover of its previous life,
    // and closing it keeps its stale frames from interleaving with the new connection's.
    for (const other of [...this.#inbound]) {
      if (other === conn || other.peer !== step.peer) continue;
      this.#noteReplaced(step.peer, other, conn);
      this.#closeInbound(other, undefined);
    }
    return true;
  }

  #noteReplaced(peer: NodeId, older: Inbound, newer: Inbound): void {
    const count = this.#replacements.note(peer, this.#clock.now());
    if (count === undefined) return;
    this.#log.warn(
      {
        peer,
        replacements: count,
        withinMs: DUPLICATE_ID_WINDOW_MS,
        remotes: [formatAddress(older.stream.remote), formatAddress(newer.stream.remote)],
      },
      'connections from this member keep replacing each other: two processes may be running with ' +
        'the same member id (unsafe: both would vote), or the network leaves connections half-open',
    );
  }

  /** Checks the envelope of an inbound message against the connection's authenticated peer. */
  #accepts(conn: Inbound, from: NodeId, to: NodeId): boolean {
    if (from !== conn.peer) {
      this.#drop('spoofed');
      const level = conn.warnedSpoof ? 'debug' : 'warn';
      conn.warnedSpoof = true;
      this.#log[level]({ peer: conn.peer, claimed: from }, 'dropping message with a spoofed sender');
      return false;
    }
    if (to !== this.#id) {
      this.#drop('misaddressed');
      this.#log.debug({ peer: conn.peer, to }, 'dropping message addressed to another member');
      return false;
    }
    return true;
  }

  #inboundChunk(conn: Inbound, chunk: SnapshotChunk): void {
    if (!this.#accepts(conn, chunk.from, chunk.to)) return;
    let a = conn.assembly;
    if (chunk.offset === 0) {
      if (a !== undefined) this.#drop('snapshotIncomplete');
      conn.assembly = undefined;
      conn.skipping = false;
      if (chunk.total > this.#maxSnapshotBytes) {
        conn.skipping = true;
        this.#drop('tooLarge');
        this.#log.warn({ peer: conn.peer, bytes: chunk.total }, 'refusing oversized snapshot');
        return;
      }
      // Grown as chunks arrive rather than sized by the claim, so a lie costs the liar only what it sends.
      const initial = Math.min(chunk.total, Math.max(chunk.data.byteLength, 64 * 1024));
      a = {
        from: chunk.from,
        to: chunk.to,
        term: chunk.term,
        meta: chunk.meta,
        total: chunk.total,
        buffer: new Uint8Array(initial),
        received: 0,
      };
      conn.assembly = a;
    } else if (a === undefined) {
      if (!conn.skipping) {
        this.#drop('snapshotInvalid');
        this.#log.debug({ peer: conn.peer }, 'snapshot chunk without a start');
      }
      return;
    }
    if (
      chunk.offset !== a.received ||
      chunk.total !== a.total ||
      chunk.term !== a.term ||
      chunk.meta.index !== a.meta.index ||
      chunk.meta.term !== a.meta.term
    ) {
      conn.assembly = undefined;
      this.#drop('snapshotInvalid');
      this.#log.warn({ peer: conn.peer }, 'snapshot chunk does not continue the snapshot; discarding it');
      return;
    }
    const end = a.received + chunk.data.byteLength;
    if (end > a.buffer.byteLength) {
      const grown = new Uint8Array(Math.min(a.total, Math.max(end, a.buffer.byteLength * 2)));
      grown.set(a.buffer.subarray(0, a.received));
      a.buffer = grown;
    }
    a.buffer.set(chunk.data, a.received);
    a.received = end;
    if (a.received < a.total) return;
    conn.assembly = undefined;
    this.#deliver({
      type: 'snapshot',
      from: a.from,
      to: a.to,
      term: a.term,
      snapshot: { meta: a.meta, data: a.buffer },
    });
  }

  #deliver(message: Message): void {
    const handler = this.#handler;
    if (handler === undefined) {
      this.#drop('noHandler');
      return;
    }
    this.#received++;
    try {
      handler(message);
    } catch (error) {
      // The handler is the node's; its failure must not take the connection down with it.
      this.#drop('handlerError');
      this.#log.error(
        { from: message.from, type: message.type, error: errorText(error) },
        'message handler threw',
      );
    }
  }

  /**
   * Closes an inbound connection. `authReason` is what to log if it had not authenticated
   * (counted as `auth`); undefined when we close it ourselves for another reason.
   */
  #closeInbound(conn: Inbound, authReason: string | undefined): void {
    if (conn.dead) return;
    conn.dead = true;
    this.#inbound.delete(conn);
    if (conn.timer !== undefined) this.#clock.clearTimeout(conn.timer);
    conn.timer = undefined;
    if (conn.state === 'handshake') {
      this.#pendingHandshakes--;
      if (authReason !== undefined && this.#closing === undefined) {
        this.#authFailed(undefined, formatAddress(conn.stream.remote), authReason);
      }
    }
    if (conn.assembly !== undefined) {
      this.#drop('snapshotIncomplete');
      this.#log.debug({ peer: conn.peer }, 'connection closed mid-snapshot; discarding the partial snapshot');
    }
    conn.assembly = undefined;
    conn.decoder.reset();
    if (!conn.stream.closed) conn.stream.destroy();
  }

  /**
   * A frame after the handshake failed its MAC: tampered with, injected, replayed, reordered or
   * cut. Nothing of it was decoded; the connection is closed, since nothing after it can be
   * trusted either, and the peer reconnects with a fresh handshake.
   */
  #macFailed(conn: Inbound, bytes: number): void {
    this.#drop('mac');
    this.#log.warn(
      {
        peer: conn.peer,
        remote: formatAddress(conn.stream.remote),
        sequence: conn.opener?.sequence,
        bytes,
      },
      'frame failed authentication; closing connection',
    );
    this.#closeInbound(conn, undefined);
  }

  #authFailed(peer: NodeId | undefined, remote: string, why: unknown): void {
    this.#drop('auth');
    const reason = isAuthError(why) ? why.reason : typeof why === 'string' ? why : errorText(why);
    this.#log.warn({ ...(peer === undefined ? {} : { peer }), remote, reason }, 'peer failed authentication');
  }

  #drop(reason: string, count = 1): void {
    this.#dropped.set(reason, (this.#dropped.get(reason) ?? 0) + count);
  }
}
