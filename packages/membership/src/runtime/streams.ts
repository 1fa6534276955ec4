/**
 * The TCP side of memberlist (MEMBERLIST-WIRE.md §6): push/pull state exchange, TCP pings and
 * reliable user messages, one request (and at most one reply) per connection, each exchange
 * bounded by `tcpTimeoutMs`. Inbound streams are limited in number; a stream that cannot be
 * decoded gets an error reply (as memberlist sends one) and is closed.
 */
import type { Address, ByteStream } from '@clusteros/sim';
import { isConnectError } from '@clusteros/sim';
import { MessageType } from '../wire/message-types.js';
import type { Ping } from '../wire/messages.js';
import { encodeAckResp, encodeErrResp, encodePing } from '../wire/messages.js';
import { encodePushPull, encodeStream, encodeUserStream, type StreamMessage } from '../wire/stream.js';
import { StreamExchangeError } from './errors.js';
import type { Memberlist } from './memberlist.js';
import { readStreamMessage } from './stream-io.js';

/** How long a refused peer gets to read our error reply before the stream is destroyed. */
const ERROR_REPLY_GRACE_MS = 1_000;

/** Push/pull, TCP ping and reliable messages of a {@link Memberlist}. */
export class StreamService {
  readonly #ml: Memberlist;
  readonly #open = new Set<ByteStream>();
  #inbound = 0;

  /** Creates the service of `ml`. */
  constructor(ml: Memberlist) {
    this.#ml = ml;
  }

  /** Handles an accepted stream; refuses it when `limit` inbound streams are already open. */
  accept(stream: ByteStream, limit: number): void {
    const ml = this.#ml;
    if (ml.closed || stream.closed) {
      stream.destroy();
      return;
    }
    if (this.#inbound >= limit) {
      ml.counters.drop('pushPullLimit');
      stream.destroy();
      return;
    }
    // The slot is held until the socket is really gone, and no inbound stream outlives the
    // exchange deadline plus the error-reply grace: a peer that never closes its side cannot
    // pile up sockets.
    this.#inbound++;
    ml.counters.counts.streamsIn++;
    this.#track(stream);
    const deadline = ml.after(ml.opts.tuning.tcpTimeoutMs + ERROR_REPLY_GRACE_MS, () => stream.destroy());
    stream.once('close', () => {
      this.#inbound--;
      ml.cancel(deadline);
    });
    this.#serve(stream).catch((error: Error) => {
      ml.counters.drop('stream');
      ml.opts.logger.debug(
        { remote: `${stream.remote.host}:${stream.remote.port}`, error: error.message },
        'memberlist: inbound stream failed',
      );
    });
  }

  /**
   * Exchanges full state with `to` (memberlist `pushPullNode`): sends ours, reads theirs and
   * merges it. Rejects with {@link StreamExchangeError}.
   */
  async pushPull(to: Address, join: boolean): Promise<void> {
    const ml = this.#ml;
    const reply = await this.#request(
      to,
      encodePushPull(ml.localPushPull(join)),
      ml.opts.tuning.tcpTimeoutMs,
    );
    try {
      if (reply.type === MessageType.err) throw new StreamExchangeError('remote', reply.body.error);
      if (reply.type !== MessageType.pushPull)
        throw new StreamExchangeError(
          'protocol',
          `expected a push/pull reply, got message type ${reply.type}`,
        );
      ml.mergeRemoteState(reply.body);
      ml.counters.counts.pushPulls++;
    } catch (error) {
      ml.counters.counts.pushPullFailures++;
      throw error;
    }
  }

  /** A TCP ping; resolves true when the matching ack arrives in time, false otherwise. */
  async ping(to: Address, ping: Ping, timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    try {
      const reply = await this.#request(to, encodePing(ping), timeoutMs);
      return reply.type === MessageType.ackResp && reply.body.seqNo === ping.seqNo;
    } catch {
      return false;
    }
  }

  /** Sends a reliable user message; resolves once it is written and the stream is ended. */
  async sendUserMessage(to: Address, payload: Uint8Array): Promise<void> {
    const ml = this.#ml;
    const stream = await this.#dial(to, ml.opts.tuning.tcpTimeoutMs);
    stream.write(this.#frame(encodeUserStream(payload)));
    stream.end();
    // The peer closes after reading; if it never does, the deadline closes the stream.
    const timer = ml.after(ml.opts.tuning.tcpTimeoutMs, () => stream.destroy());
    stream.once('close', () => ml.cancel(timer));
  }

  /** Destroys every open stream (shutdown). */
  closeAll(): void {
    for (const stream of this.#open) stream.destroy();
    this.#open.clear();
  }

  async #serve(stream: ByteStream): Promise<void> {
    const ml = this.#ml;
    let message: StreamMessage;
    try {
      message = await this.#read(stream, ml.opts.tuning.tcpTimeoutMs);
    } catch (error) {
      if (error instanceof StreamExchangeError && error.reason === 'protocol')
        this.#refuse(stream, error.message);
      throw error;
    }
    switch (message.type) {
      case MessageType.pushPull: {
        this.#reply(stream, encodePushPull(ml.localPushPull(message.body.join)));
        try {
          ml.mergeRemoteState(message.body);
          ml.counters.counts.pushPulls++;
        } catch (error) {
          ml.counters.counts.pushPullFailures++;
          ml.opts.logger.warn({ error: (error as Error).message }, 'memberlist: refused remote state');
        }
        return;
      }
      case MessageType.ping: {
        if (message.body.node !== '' && message.body.node !== ml.self.name) {
          ml.counters.drop('wrongNode');
          stream.destroy();
          return;
        }
        this.#reply(stream, encodeAckResp({ seqNo: message.body.seqNo, payload: null }));
        return;
      }
      case MessageType.user:
        stream.end();
        if (message.body.length > 0) ml.deliverUserMessage(message.body);
        return;
      default:
        ml.counters.drop('unexpected');
        stream.destroy();
    }
  }

  async #request(to: Address, plaintext: Uint8Array, timeoutMs: number): Promise<StreamMessage> {
    const ml = this.#ml;
    const started = ml.opts.clock.now();
    const stream = await this.#dial(to, timeoutMs);
    try {
      stream.write(this.#frame(plaintext));
      const left = Math.max(1, timeoutMs - (ml.opts.clock.now() - started));
      return await this.#read(stream, left);
    } finally {
      stream.destroy();
    }
  }

  async #dial(to: Address, timeoutMs: number): Promise<ByteStream> {
    const ml = this.#ml;
    let stream: ByteStream;
    try {
      stream = await ml.transport.dial(to, timeoutMs);
    } catch (error) {
      const reason = isConnectError(error) && /timeout/.test(error.message) ? 'timeout' : 'connect';
      throw new StreamExchangeError(reason, `${to.host}:${to.port}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (ml.closed) {
      stream.destroy();
      throw new StreamExchangeError('closed', 'the memberlist was shut down');
    }
    ml.counters.counts.streamsOut++;
    this.#track(stream);
    return stream;
  }

  #read(stream: ByteStream, timeoutMs: number): Promise<StreamMessage> {
    const { clock, keyring, tuning } = this.#ml.opts;
    return readStreamMessage(stream, {
      clock,
      timeoutMs,
      keyring,
      verifyIncoming: tuning.gossipVerifyIncoming,
    });
  }

  #frame(plaintext: Uint8Array): Uint8Array {
    const { keyring, tuning } = this.#ml.opts;
    return encodeStream(plaintext, {
      compress: tuning.enableCompression,
      keyring,
      verifyOutgoing: tuning.gossipVerifyOutgoing,
      encryptionVersion: tuning.protocolVersion < 2 ? 0 : 1,
    });
  }

  /**
   * Answers an unreadable request with memberlist's error message (so a Go peer reports, say,
   * "No installed keys could decrypt the message" instead of a reset), then closes: at once
   * when the peer closes too, and no later than a short grace period otherwise.
   */
  #refuse(stream: ByteStream, reason: string): void {
    if (stream.closed) return;
    this.#reply(stream, encodeErrResp({ error: reason }));
    const ml = this.#ml;
    const timer = ml.after(Math.min(ERROR_REPLY_GRACE_MS, ml.opts.tuning.tcpTimeoutMs), () =>
      stream.destroy(),
    );
    stream.once('close', () => ml.cancel(timer));
  }

  #reply(stream: ByteStream, plaintext: Uint8Array): void {
    if (stream.closed) return;
    stream.write(this.#frame(plaintext));
    stream.end();
  }

  #track(stream: ByteStream): void {
    this.#open.add(stream);
    stream.once('close', () => this.#open.delete(stream));
  }
}
