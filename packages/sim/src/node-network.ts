import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { AddressInUseError, ConnectError, type ConnectFailure, SocketClosedError } from './errors.js';
import {
  type Address,
  type ByteStream,
  type ConnectOptions,
  type DatagramHandler,
  type DatagramSocket,
  formatAddress,
  type Network,
  type StreamServer,
} from './network.js';
import { NodeByteStream } from './node-stream.js';

/** Largest UDP payload over IPv4 (65535 − 20 byte IP header − 8 byte UDP header). */
const MAX_UDP4 = 65507;
/** Largest UDP payload over IPv6 without jumbograms (65535 − 8 byte UDP header). */
const MAX_UDP6 = 65527;

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function bindError(local: Address, error: Error): Error {
  return errorCode(error) === 'EADDRINUSE'
    ? new AddressInUseError(formatAddress(local), { cause: error })
    : error;
}

function connectFailure(error: unknown): ConnectFailure {
  switch (errorCode(error)) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      // EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN, EADDRNOTAVAIL, DNS failures, and the rest.
      return 'unreachable';
  }
}

/**
 * A `node:dgram` socket as a {@link DatagramSocket}.
 *
 * Errors that arrive asynchronously (a failed send, an ICMP error, a DNS failure for a host
 * name) are counted, never thrown: UDP is best effort, and an 'error' event without a listener
 * would crash the process. Local misuse (sending on a closed socket, an oversized datagram,
 * an invalid port) throws synchronously from `send`.
 */
export class NodeDatagramSocket implements DatagramSocket {
  readonly local: Address;
  readonly #socket: UdpSocket;
  readonly #maxBytes: number;
  #handler: DatagramHandler | undefined;
  #closing: Promise<void> | undefined;
  #errors = 0;
  #lastError: Error | undefined;
  readonly #onSent = (error: Error | null): void => {
    if (error !== null) this.#countError(error);
  };

  /** Wraps a bound socket; {@link NodeNetwork.bindDatagram} creates these. */
  constructor(socket: UdpSocket) {
    this.#socket = socket;
    const bound = socket.address();
    this.local = Object.freeze({ host: bound.address, port: bound.port });
    this.#maxBytes = bound.family === 'IPv6' ? MAX_UDP6 : MAX_UDP4;
    socket.on('message', (message: Buffer, from) => {
      const handler = this.#handler;
      if (handler === undefined || this.#closing !== undefined) return;
      handler(new Uint8Array(message.buffer, message.byteOffset, message.byteLength), {
        host: from.address,
        port: from.port,
      });
    });
    socket.on('error', (error: Error) => this.#countError(error));
  }

  /** Asynchronous errors seen so far (failed sends, socket errors); they are otherwise ignored. */
  get errors(): number {
    return this.#errors;
  }

  /** The most recent asynchronous error, for diagnostics. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  send(to: Address, data: Uint8Array): void {
    if (this.#closing !== undefined) throw new SocketClosedError(formatAddress(this.local));
    if (data.byteLength > this.#maxBytes) {
      throw new RangeError(`datagram of ${data.byteLength} bytes exceeds the maximum of ${this.#maxBytes}`);
    }
    // Copied: the send may complete after the caller has reused its buffer.
    this.#socket.send(Buffer.from(data), to.port, to.host, this.#onSent);
  }

  onMessage(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed underneath us
      }
    });
    return this.#closing;
  }

  #countError(error: Error): void {
    this.#errors++;
    this.#lastError = error;
  }
}

/** A `node:net` server as a {@link StreamServer}. */
class NodeStreamServer implements StreamServer {
  readonly local: Address;
  readonly #server: Server;
  #closed = false;

  constructor(server: Server, local: Address) {
    this.#server = server;
    this.local = local;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Closes the listening socket now; accepted streams stay open, as the contract says.
      // (The callback form would wait for every accepted connection to end.)
      this.#server.close();
    }
    return Promise.resolve();
  }
}

/**
 * The real {@link Network}: UDP through `node:dgram`, TCP through `node:net`.
 *
 * Hosts are IP literals; the socket family (udp4 or udp6) follows the literal. Listening
 * sockets and open streams keep the process alive, as servers should; once closed, nothing
 * this class created does.
 */
export class NodeNetwork implements Network {
  bindDatagram(local: Address): Promise<DatagramSocket> {
    return new Promise<DatagramSocket>((resolve, reject) => {
      const socket = createSocket({ type: isIPv6(local.host) ? 'udp6' : 'udp4' });
      const onError = (error: Error): void => {
        try {
          socket.close();
        } catch {
          // never bound: nothing to close
        }
        reject(bindError(local, error));
      };
      socket.once('error', onError);
      socket.bind({ address: local.host, port: local.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(new NodeDatagramSocket(socket));
      });
    });
  }

  listenStream(local: Address, onConnection: (stream: ByteStream) => void): Promise<StreamServer> {
    return new Promise<StreamServer>((resolve, reject) => {
      const server = createServer({ allowHalfOpen: true });
      const onError = (error: Error): void => {
        server.close();
        reject(bindError(local, error));
      };
      server.once('error', onError);
      server.listen({ host: local.host, port: local.port, exclusive: true }, () => {
        server.off('error', onError);
        // Accept errors (EMFILE and the like) must not crash the process; the server keeps going.
        server.on('error', () => {});
        server.on('connection', (socket: Socket) => onConnection(new NodeByteStream(socket)));
        const bound = server.address();
        const port = typeof bound === 'object' && bound !== null ? bound.port : local.port;
        const host = typeof bound === 'object' && bound !== null ? bound.address : local.host;
        resolve(new NodeStreamServer(server, Object.freeze({ host, port })));
      });
    });
  }

  connectStream(to: Address, options: ConnectOptions = {}): Promise<ByteStream> {
    const address = formatAddress(to);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const signal = options.signal;
    return new Promise<ByteStream>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new ConnectError(address, 'aborted', { cause: signal.reason }));
        return;
      }
      const socket = connect({ host: to.host, port: to.port, allowHalfOpen: true });
      let done = false;
      const finish = (failure?: ConnectError): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        if (failure === undefined) {
          const stream = new NodeByteStream(socket); // attaches its own 'error' listener first
          socket.off('error', onError);
          resolve(stream);
          return;
        }
        socket.off('error', onError);
        socket.on('error', () => {}); // a late error from the abandoned socket must not crash us
        socket.destroy();
        reject(failure);
      };
      const onConnect = (): void => finish();
      const onError = (error: Error): void =>
        finish(new ConnectError(address, connectFailure(error), { cause: error }));
      const onAbort = (): void => finish(new ConnectError(address, 'aborted', { cause: signal?.reason }));
      const timer = setTimeout(() => finish(new ConnectError(address, 'timeout')), timeoutMs);
      // The connecting socket keeps the process alive as long as it matters; the timer need not.
      timer.unref();
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
