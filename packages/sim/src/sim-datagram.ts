import { SocketClosedError } from './errors.js';
import type { Address, DatagramHandler, DatagramSocket } from './network.js';
import { formatAddress } from './network.js';

/**
 * What a simulated datagram socket needs from the host it is bound on: the network does the
 * routing, fault injection and bookkeeping; the socket only keeps its own state.
 * @internal
 */
export interface DatagramOwner {
  /** Routes one datagram sent from `socket` (which is open, though its host may have crashed). */
  sendDatagram(socket: SimDatagramSocket, to: Address, data: Uint8Array): void;
  /** Releases the socket's port, if the port is still bound to this very socket. */
  unbindDatagram(socket: SimDatagramSocket): void;
}

/**
 * A simulated UDP socket, as returned by a {@link SimNetwork} host's `bindDatagram`.
 *
 * It is a thin handle: `send` hands the datagram to the network, which draws its fate from the
 * seed. A socket whose host crashed is "killed": the process that owned it is gone, so its
 * sends are dropped silently instead of throwing into code that no longer exists.
 */
export class SimDatagramSocket implements DatagramSocket {
  readonly local: Address;
  readonly #owner: DatagramOwner;
  #handler: DatagramHandler | undefined;
  #closed = false;
  #killed = false;

  /**
   * Creates a socket bound at `local`; only the network calls this.
   * @internal
   */
  constructor(owner: DatagramOwner, local: Address) {
    this.#owner = owner;
    this.local = Object.freeze({ host: local.host, port: local.port });
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once the socket's host crashed (the socket is then unbound, and sends go nowhere). */
  get killed(): boolean {
    return this.#killed;
  }

  send(to: Address, data: Uint8Array): void {
    if (this.#closed) throw new SocketClosedError(formatAddress(this.local));
    this.#owner.sendDatagram(this, to, data);
  }

  onMessage(handler: DatagramHandler): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#owner.unbindDatagram(this);
    }
    return Promise.resolve();
  }

  /**
   * Marks the socket dead because its host crashed.
   * @internal
   */
  kill(): void {
    this.#killed = true;
  }

  /**
   * Hands an arriving datagram to the handler. Returns false when nobody could take it (closed,
   * killed, or no handler set yet).
   * @internal
   */
  deliver(data: Uint8Array, from: Address): boolean {
    const handler = this.#handler;
    if (handler === undefined || this.#closed || this.#killed) return false;
    handler(data, from);
    return true;
  }
}
