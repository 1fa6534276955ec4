import type { Socket } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import { StreamResetError } from './errors.js';
import type { Address, ByteStream, ByteStreamEvents } from './network.js';

/** Error codes that mean the connection broke underneath us rather than a local bug. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps a socket error to what a ByteStream reports: resets, broken pipes and TCP timeouts
 * become a StreamResetError (the original as `cause`), so callers handle real and simulated
 * breaks alike; anything else passes through.
 */
function toStreamError(error: Error): Error {
  const code = errorCode(error);
  if (code !== undefined && RESET_CODES.has(code)) return new StreamResetError(code, { cause: error });
  return error;
}

/**
 * A connected `node:net` socket as a {@link ByteStream}.
 *
 * Expects a socket created with `allowHalfOpen: true` (what {@link NodeNetwork} does): `end()`
 * then half-closes, and `close` comes once both sides have ended, as the contract says.
 * `write` returns `socket.write`'s answer, so backpressure reaches the caller through `drain`.
 * `destroy()` resets the connection (RST, not FIN), so the peer sees a {@link StreamResetError}
 * rather than a clean end. Nagle's algorithm is turned off: cluster protocols send small
 * latency-sensitive messages and batch on their own.
 */
export class NodeByteStream extends EventEmitter<ByteStreamEvents> implements ByteStream {
  readonly local: Address;
  readonly remote: Address;
  readonly #socket: Socket;
  #closed = false;
  #ending = false;
  #destroyed = false;
  #localError: Error | undefined;
  #socketError: Error | undefined;

  /** Wraps `socket`, which must already be connected; the wrapper takes over its events. */
  constructor(socket: Socket) {
    super();
    this.#socket = socket;
    // Captured now: Node clears these once the socket is destroyed.
    this.local = Object.freeze({ host: socket.localAddress ?? '', port: socket.localPort ?? 0 });
    this.remote = Object.freeze({ host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.emit('data', new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    socket.on('end', () => this.emit('end'));
    socket.on('drain', () => this.emit('drain'));
    // An 'error' listener must exist, or Node turns a peer's reset into an uncaught exception.
    socket.on('error', (error: Error) => {
      this.#socketError ??= toStreamError(error);
    });
    socket.on('close', () => {
      this.#closed = true;
      const error = this.#destroyed ? this.#localError : this.#socketError;
      if (error === undefined) this.emit('close');
      else this.emit('close', error);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#ending || this.#destroyed || this.#closed || !this.#socket.writable) return false;
    // Copied: Node keeps a reference to queued chunks, and callers may reuse their buffers.
    return this.#socket.write(Buffer.from(chunk));
  }

  end(): void {
    if (this.#ending || this.#destroyed || this.#closed) return;
    this.#ending = true;
    this.#socket.end();
  }

  destroy(error?: Error): void {
    if (this.#destroyed || this.#closed) return;
    this.#destroyed = true;
    this.#localError = error;
    try {
      this.#socket.resetAndDestroy();
    } catch {
      // Not a TCP handle any more (already closing): a plain destroy still closes it.
      this.#socket.destroy();
    }
  }
}
