import type { EventEmitter } from 'eventemitter3';
import { InvalidAddressError } from './errors.js';

/**
 * Where a socket lives: an IP literal (or, in simulation, a host name) and a port.
 * Port 0 in a bind or listen call means "pick a free port"; the bound socket reports the real one.
 */
export interface Address {
  /** IPv4/IPv6 literal, or a simulated host's name. */
  readonly host: string;
  /** UDP or TCP port, 0..65535. */
  readonly port: number;
}

/** Formats an address as `host:port`, bracketing IPv6 literals (`[::1]:7946`). */
export function formatAddress(address: Address): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * Parses `host:port` or `[v6]:port`. Throws {@link InvalidAddressError} for anything else,
 * including ports outside 0..65535; the input is untrusted (config files, CLI flags, gossip).
 */
export function parseAddress(input: string): Address {
  if (input.length === 0 || input.length > 300) throw new InvalidAddressError(input, 'length');
  let host: string;
  let portText: string;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0 || input[close + 1] !== ':') throw new InvalidAddressError(input, 'expected [host]:port');
    host = input.slice(1, close);
    portText = input.slice(close + 2);
  } else {
    const colon = input.lastIndexOf(':');
    if (colon <= 0) throw new InvalidAddressError(input, 'expected host:port');
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (host.includes(':')) throw new InvalidAddressError(input, 'IPv6 hosts must be bracketed');
  }
  if (host.length === 0) throw new InvalidAddressError(input, 'empty host');
  if (!/^\d{1,5}$/.test(portText)) throw new InvalidAddressError(input, 'port is not a number');
  const port = Number(portText);
  if (port > 65535) throw new InvalidAddressError(input, 'port out of range');
  return { host, port };
}

/** Receives one datagram. `data` is owned by the handler. */
export type DatagramHandler = (data: Uint8Array, from: Address) => void;

/**
 * An unreliable, unordered, message-preserving socket (UDP, or its simulation).
 *
 * Contract: `send` never throws for an unreachable or unknown peer (the datagram is simply
 * lost, as UDP loses it); it throws only for local misuse (closed socket, oversized datagram).
 * Each received datagram is delivered whole, at most once per copy sent by the network.
 */
export interface DatagramSocket {
  /** The bound local address (with the real port when 0 was requested). */
  readonly local: Address;
  /** Sends one datagram, best effort. */
  send(to: Address, data: Uint8Array): void;
  /** Sets the handler for incoming datagrams, replacing any earlier one. */
  onMessage(handler: DatagramHandler): void;
  /** Closes the socket; idempotent. Datagrams arriving afterwards are dropped. */
  close(): Promise<void>;
}

/** Events of a {@link ByteStream}. */
export interface ByteStreamEvents {
  /** Bytes arrived, in order. */
  data: [chunk: Uint8Array];
  /** The peer finished writing (half-close); no more `data` follows. */
  end: [];
  /** Buffered writes were flushed after `write` returned false. */
  drain: [];
  /** The stream is fully closed; `error` is set when it broke instead of ending cleanly. */
  close: [error?: Error];
}

/**
 * A reliable, ordered byte stream (TCP, or its simulation).
 *
 * Contract: bytes arrive in order, without loss or duplication, until the stream breaks;
 * a break (reset, partition, crash) emits `close` with an error and no further `data`.
 * Chunk boundaries are not preserved: framing is the protocol's job.
 */
export interface ByteStream extends EventEmitter<ByteStreamEvents> {
  /** This end's address. */
  readonly local: Address;
  /** The other end's address. */
  readonly remote: Address;
  /** True once `close` has been emitted. */
  readonly closed: boolean;
  /** Queues bytes; returns false when the caller should wait for `drain`. */
  write(chunk: Uint8Array): boolean;
  /** Half-closes: no more writes; the peer sees `end` after all written bytes. */
  end(): void;
  /** Closes at once, discarding unsent bytes; the peer sees a reset. */
  destroy(error?: Error): void;
}

/** A listening stream server. */
export interface StreamServer {
  /** The bound local address (with the real port when 0 was requested). */
  readonly local: Address;
  /** Stops accepting connections; open streams stay open. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link Network.connectStream}. */
export interface ConnectOptions {
  /**
   * Give up after this many milliseconds of the network's clock with a `ConnectError` of reason `timeout`.
   * @defaultValue 10000
   */
  readonly timeoutMs?: number;
  /** Aborts the attempt with a `ConnectError` of reason `aborted`. */
  readonly signal?: AbortSignal;
}

/**
 * A host's view of the network: the transport seam that membership and Raft take by
 * injection. {@link NodeNetwork} is the real one (`node:dgram` and `node:net`);
 * {@link SimNetwork.host} gives simulated ones.
 *
 * Errors: `bindDatagram`/`listenStream` reject with `AddressInUseError`; `connectStream`
 * rejects with `ConnectError` (`refused`, `timeout`, `unreachable` or `aborted`).
 */
export interface Network {
  /** Binds a datagram socket at `local` (port 0 picks a free port). */
  bindDatagram(local: Address): Promise<DatagramSocket>;
  /** Listens for stream connections at `local` (port 0 picks a free port). */
  listenStream(local: Address, onConnection: (stream: ByteStream) => void): Promise<StreamServer>;
  /** Opens a stream to `to`. */
  connectStream(to: Address, options?: ConnectOptions): Promise<ByteStream>;
}
