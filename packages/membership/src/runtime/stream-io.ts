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

/** Options of {@link readStreamMessage}. */
export interface ReadStreamOptions extends StreamDecodeOptions {
  /** The clock that times the deadline. */
  readonly clock: Clock;
  /** Give up (and destroy the stream) after this many milliseconds. */
  readonly timeoutMs: number;
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Resolves with the first complete message on `stream`. Rejects with
 * {@link StreamExchangeError}: `timeout`, `closed` (ended or reset first) or `protocol` (bytes
 * that can never decode, or a size above the limit). The stream is destroyed on every failure;
 * on success it is left open (for a reply).
 */
export function readStreamMessage(stream: ByteStream, options: ReadStreamOptions): Promise<StreamMessage> {
  return new Promise<StreamMessage>((resolve, reject) => {
    let chunks: Uint8Array[] = [];
    let total = 0;
    let done = false;
    const finish = (outcome: { message: StreamMessage } | { error: StreamExchangeError }): void => {
      if (done) return;
      done = true;
      options.clock.clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      chunks = [];
      if ('message' in outcome) resolve(outcome.message);
      else {
        stream.destroy();
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
      chunks.push(chunk);
      total += chunk.length;
      const buffered = concat(chunks, total);
      chunks = [buffered];
      // An encrypted stream says how long it is: wait for all of it before trying to decode.
      if (buffered[0] === MessageType.encrypt && buffered.length >= ENCRYPTED_STREAM_HEADER_BYTES) {
        const claimed = readU32(buffered, 1);
        if (
          buffered.length < ENCRYPTED_STREAM_HEADER_BYTES + claimed &&
          claimed <= (options.maxStreamBytes ?? MAX_PUSH_STATE_BYTES)
        )
          return;
      }
      try {
        const result = decodeStream(buffered, options);
        if (result.complete) finish({ message: result.message });
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
