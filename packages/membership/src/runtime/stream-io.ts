/**
 * Reading one memberlist message from a byte stream, with a deadline and size limits: a peer
 * that sends too much, lies about a length or never finishes cannot hold memory or the node.
 */
import type { ByteStream, Clock } from '@clusteros/sim';
import { isDecodeError } from '../errors.js';
import { readU32 } from '../wire/bytes.js';
import { MessageType } from '../wire/message-types.js';
import {
  decodeStream,
  ENCRYPTED_STREAM_HEADER_BYTES,
  MAX_PUSH_STATE_BYTES,
  type StreamDecodeOptions,
  type StreamMessage,
} from '../wire/stream.js';
import { StreamExchangeError } from './errors.js';
import { MessageScan } from './message-scan.js';

/** Options of {@link readStreamMessage}. */
export interface ReadStreamOptions extends StreamDecodeOptions {
  /** The clock that times the deadline. */
  readonly clock: Clock;
  /** Give up (and destroy the stream) after this many milliseconds. */
  readonly timeoutMs: number;
}

/**
 * `buffer` (holding `used` bytes) with `chunk` appended: in place when it fits, else in a new
 * buffer of double the size (at most `cap`, unless more is needed), so that a message received
 * in many chunks is copied a bounded number of times in total, not once per chunk.
 */
function append(buffer: Uint8Array, used: number, chunk: Uint8Array, cap: number): Uint8Array {
  const needed = used + chunk.length;
  if (needed > buffer.length) {
    const grown = new Uint8Array(Math.max(needed, Math.min(cap, Math.max(4096, buffer.length * 2))));
    grown.set(buffer.subarray(0, used));
    buffer = grown;
  }
  buffer.set(chunk, used);
  return buffer;
}

/**
 * Resolves with the first complete message on `stream`. Rejects with
 * {@link StreamExchangeError}: `timeout`, `closed` (ended or reset first) or `protocol` (bytes
 * that can never decode, or a size above the limit). The stream is destroyed on `timeout` and
 * `closed`; on success and on `protocol` it is left open, for a reply, and the caller must close it.
 */
export function readStreamMessage(stream: ByteStream, options: ReadStreamOptions): Promise<StreamMessage> {
  return new Promise<StreamMessage>((resolve, reject) => {
    const limit = options.maxStreamBytes ?? MAX_PUSH_STATE_BYTES;
    // Plaintext is decoded only once the scan says the message may be complete, and the scan
    // itself continues where it stopped: each byte is looked at a bounded number of times.
    const scan = new MessageScan();
    const keyed = (options.keyring?.enabled ?? false) && (options.verifyIncoming ?? true);
    let scanning = true;
    let buffer: Uint8Array = new Uint8Array(0);
    let total = 0;
    let done = false;
    const finish = (outcome: { message: StreamMessage } | { error: StreamExchangeError }): void => {
      if (done) return;
      done = true;
      options.clock.clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      buffer = new Uint8Array(0);
      if ('message' in outcome) resolve(outcome.message);
      else {
        // Undecodable input leaves the stream to the caller, who may answer with an error
        // message as memberlist does; every other failure ends the stream here.
        if (outcome.error.reason !== 'protocol') stream.destroy();
        reject(outcome.error);
      }
    };
    const timer = options.clock.setTimeout(
      () =>
        finish({
          error: new StreamExchangeError('timeout', `no complete message within ${options.timeoutMs} ms`),
        }),
      options.timeoutMs,
    );
    const onData = (chunk: Uint8Array): void => {
      if (done) return;
      buffer = append(buffer, total, chunk, limit + ENCRYPTED_STREAM_HEADER_BYTES);
      total += chunk.length;
      const buffered = buffer.subarray(0, total);
      // An encrypted stream says how long it is: wait for all of it before trying to decode.
      if (buffered[0] === MessageType.encrypt && buffered.length >= ENCRYPTED_STREAM_HEADER_BYTES) {
        const claimed = readU32(buffered, 1);
        if (buffered.length < ENCRYPTED_STREAM_HEADER_BYTES + claimed && claimed <= limit) return;
      } else if (buffered[0] !== MessageType.encrypt && !keyed && scanning) {
        if (!scan.ready(buffered, limit)) return;
      }
      try {
        const result = decodeStream(buffered, options);
        if (result.complete) finish({ message: result.message });
        // The scan thought the message complete and the decoder did not: decode every chunk.
        else if (buffered[0] !== MessageType.encrypt) scanning = false;
      } catch (error) {
        if (!isDecodeError(error)) throw error;
        finish({ error: new StreamExchangeError('protocol', error.message, { cause: error }) });
      }
    };
    const onEnd = (): void =>
      finish({ error: new StreamExchangeError('closed', 'the peer ended the stream early') });
    const onClose = (error?: Error): void =>
      finish({ error: new StreamExchangeError('closed', error?.message ?? 'the stream closed early') });
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onClose);
  });
}
