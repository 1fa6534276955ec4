import { EventEmitter } from 'eventemitter3';
import type { Clock } from './clock.js';
import { StreamResetError } from './errors.js';
import type { Address, ByteStream, ByteStreamEvents } from './network.js';

/**
 * What one end of a simulated stream needs from the network that carries it. The network
 * builds one per end, so the end never has to know about hosts, links or partitions.
 * @internal
 */
export interface StreamWire {
  /** The simulation clock: every event of the stream is emitted from one of its callbacks. */
  readonly clock: Clock;
  /** Draws the one-way delay (>= 0 ms) from this end's host to the peer's, under the current link config. */
  latency(): number;
  /** Bookkeeping once this end has closed (emitted or, after a crash, silently). */
  closed(end: SimByteStream, error: Error | undefined): void;
  /** Bookkeeping for bytes that reached this end. */
  delivered(bytes: number): void;
  /** Records a trace line about this end, when the network has a trace. */
  readonly record: ((what: string) => void) | undefined;
}

/**
 * One end of a simulated TCP connection.
 *
 * Each direction is a FIFO: a chunk, FIN or reset is queued and released by a clock timer at
 * `max(previous release, now + latency)`, and each timer releases the oldest queued item, so
 * bytes arrive in order whatever the latency model draws. There is no loss, duplication or
 * flow control (`write` always returns true while writable, and `drain` is never needed).
 *
 * Closing:
 * - `end()` sends a FIN after the queued bytes; when both FINs have been delivered, both ends
 *   emit `close` without error, at the moment the second FIN arrives.
 * - `destroy(err?)` emits `close` (with `err`) on a zero-delay timer, drops bytes arriving
 *   afterwards, and sends a reset that reaches the peer after the bytes already in flight;
 *   the peer then emits `close` with a {@link StreamResetError}.
 * - A partition or cut between the hosts breaks the stream: bytes in flight are lost and both
 *   ends emit `close` with a {@link StreamResetError} one link latency later (a simplified TCP
 *   reset or retransmission timeout).
 * - A crash of this end's host closes it silently (the process is gone) and sends a reset.
 */
export class SimByteStream extends EventEmitter<ByteStreamEvents> implements ByteStream {
  readonly local: Address;
  readonly remote: Address;
  readonly #wire: StreamWire;
  #peer: SimByteStream | undefined;
  /** Items waiting to be released towards the peer, oldest at `#outHead`. */
  #outbox: Array<(() => void) | undefined> = [];
  #outHead = 0;
  #lastReleaseAt = Number.NEGATIVE_INFINITY;
  #writeEnded = false;
  #finDelivered = false;
  #readEnded = false;
  /** No more data in or out: a close is pending (or done). */
  #dead = false;
  /** Closed by a crash: never emit anything. */
  #silent = false;
  #closed = false;

  /**
   * Creates an unconnected end; the network then pairs two ends with `SimByteStream.connect`.
   * @internal
   */
  constructor(wire: StreamWire, local: Address, remote: Address) {
    super();
    this.#wire = wire;
    this.local = Object.freeze({ host: local.host, port: local.port });
    this.remote = Object.freeze({ host: remote.host, port: remote.port });
  }

  /**
   * Joins two ends into one connection.
   * @internal
   */
  static connect(a: SimByteStream, b: SimByteStream): void {
    a.#peer = b;
    b.#peer = a;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * True once the stream can carry no more bytes (a close is pending or done).
   * @internal
   */
  get broken(): boolean {
    return this.#dead;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#writeEnded || this.#dead) return false;
    if (chunk.byteLength === 0) return true;
    // Copy: the caller may reuse its buffer, and the receiver owns what it gets.
    const copy = new Uint8Array(chunk);
    const peer = this.#peer;
    this.#wire.record?.(`write len=${copy.byteLength}`);
    if (peer !== undefined) this.enqueue(() => peer.#receiveData(copy));
    return true;
  }

  end(): void {
    if (this.#writeEnded || this.#dead) return;
    this.#writeEnded = true;
    this.#wire.record?.('fin');
    const peer = this.#peer;
    if (peer !== undefined) this.enqueue(() => peer.#receiveFin());
  }

  destroy(error?: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#writeEnded = true;
    this.#wire.record?.(error === undefined ? 'destroy' : `destroy error=${error.name}`);
    this.#wire.clock.setTimeout(() => this.#finish(error), 0);
    this.#sendReset('peer reset');
  }

  /**
   * Queues `fn` to run when everything queued before it has reached the peer: the network
   * sends the connection's SYN-ACK this way, so it precedes the server's first bytes.
   * @internal
   */
  enqueue(fn: () => void): void {
    const clock = this.#wire.clock;
    const now = clock.now();
    // The wire's latency is already clamped to >= 0; max() keeps the direction FIFO in time.
    const at = Math.max(this.#lastReleaseAt, now + this.#wire.latency());
    this.#lastReleaseAt = at;
    this.#outbox.push(fn);
    clock.setTimeout(() => this.#releaseOne(), at - now);
  }

  /**
   * Breaks the stream because the path to the peer is gone: no more bytes, and `close` with a
   * {@link StreamResetError} after `delayMs`.
   * @internal
   */
  breakLink(reason: string, delayMs: number): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#wire.record?.(`break ${reason}`);
    this.#wire.clock.setTimeout(() => this.#finish(new StreamResetError(reason)), delayMs);
  }

  /**
   * Closes this end without a word (its host crashed) and resets the peer.
   * @internal
   */
  crash(): void {
    if (this.#closed) return;
    const wasDead = this.#dead;
    this.#silent = true;
    this.#dead = true;
    this.#finish(undefined);
    if (!wasDead) this.#sendReset('peer crashed');
  }

  #sendReset(reason: string): void {
    const peer = this.#peer;
    if (peer === undefined || peer.#closed) return;
    this.enqueue(() => peer.#receiveReset(reason));
  }

  #releaseOne(): void {
    // Timers may fire a hair out of order when float delays round differently; releasing the
    // oldest item, whichever timer fired, keeps the direction strictly FIFO.
    const fn = this.#outbox[this.#outHead];
    this.#outbox[this.#outHead] = undefined;
    this.#outHead++;
    if (this.#outHead === this.#outbox.length) {
      this.#outbox = [];
      this.#outHead = 0;
    }
    fn?.();
  }

  #receiveData(chunk: Uint8Array): void {
    if (this.#dead || this.#readEnded) return;
    this.#wire.delivered(chunk.byteLength);
    this.#wire.record?.(`data len=${chunk.byteLength}`);
    this.emit('data', chunk);
  }

  #receiveFin(): void {
    const sender = this.#peer;
    if (this.#dead || this.#readEnded || sender === undefined) return;
    sender.#finDelivered = true;
    this.#readEnded = true;
    this.#wire.record?.('end');
    this.emit('end');
    // Both directions are finished once each side's FIN has arrived: close both, receiver first.
    if (this.#finDelivered && !this.#dead) this.#finish(undefined);
    if (sender.#readEnded && !sender.#dead) sender.#finish(undefined);
  }

  #receiveReset(reason: string): void {
    if (this.#closed) return;
    this.#dead = true;
    this.#finish(new StreamResetError(reason));
  }

  #finish(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dead = true;
    this.#wire.closed(this, error);
    if (this.#silent) return;
    if (error === undefined) this.emit('close');
    else this.emit('close', error);
  }
}
