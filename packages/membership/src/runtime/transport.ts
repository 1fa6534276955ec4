/**
 * The transport seam: memberlist needs datagrams (probes, gossip) and byte streams (push/pull,
 * TCP pings, reliable messages) on one address and port. {@link NetworkTransport} provides
 * both over any `@clusteros/sim` {@link Network}: `node:dgram` and `node:net` through
 * {@link NetTransport}, or a simulated host through {@link SimTransport}.
 */
import {
  type Address,
  type ByteStream,
  type DatagramSocket,
  isAddressInUseError,
  type Network,
  NodeNetwork,
  type StreamServer,
} from '@clusteros/sim';

/** Receives one datagram. */
export type PacketHandler = (bytes: Uint8Array, from: Address) => void;

/** Receives one accepted stream; the handler owns it and must close it. */
export type StreamHandler = (stream: ByteStream) => void;

/** What a memberlist needs from the network. Implement it to run memberlist over anything else. */
export interface Transport {
  /** The bound address (the real port when 0 was asked for). */
  readonly local: Address;
  /** Sends one datagram, best effort; never throws for an unreachable peer. */
  sendPacket(to: Address, bytes: Uint8Array): void;
  /** Sets the datagram handler. */
  onPacket(handler: PacketHandler): void;
  /** Opens a stream to `to`, failing after `timeoutMs`. */
  dial(to: Address, timeoutMs: number): Promise<ByteStream>;
  /** Sets the handler of accepted streams. */
  onStream(handler: StreamHandler): void;
  /** Closes the socket and the listener; idempotent. */
  close(): Promise<void>;
}

/** How many times a port-0 bind retries when the UDP port it got is taken for TCP. */
const FREE_PORT_ATTEMPTS = 20;

/** UDP and TCP on one address and port, over any {@link Network}. */
export class NetworkTransport implements Transport {
  readonly local: Address;
  readonly #network: Network;
  readonly #socket: DatagramSocket;
  readonly #server: StreamServer;
  #packetHandler: PacketHandler = () => {};
  #streamHandler: StreamHandler = (stream) => stream.destroy();
  #closed = false;

  private constructor(network: Network, socket: DatagramSocket, server: StreamServer, local: Address) {
    this.#network = network;
    this.#socket = socket;
    this.#server = server;
    this.local = local;
    socket.onMessage((bytes, from) => {
      if (!this.#closed) this.#packetHandler(bytes, from);
    });
  }

  /**
   * Binds UDP and TCP at `bind` on `network`. With port 0, UDP picks a free port and TCP
   * listens on the same one (retrying when another process holds it for TCP).
   */
  static async create(network: Network, bind: Address): Promise<NetworkTransport> {
    const attempts = bind.port === 0 ? FREE_PORT_ATTEMPTS : 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const socket = await network.bindDatagram(bind);
      const local: Address = { host: bind.host, port: socket.local.port };
      // Connections can arrive before the constructor has run; they wait in this list.
      let accept: (stream: ByteStream) => void = (stream) => early.push(stream);
      const early: ByteStream[] = [];
      try {
        const server = await network.listenStream(local, (stream) => accept(stream));
        const transport = new NetworkTransport(network, socket, server, Object.freeze(local));
        accept = (stream) => transport.#acceptStream(stream);
        for (const stream of early) transport.#acceptStream(stream);
        return transport;
      } catch (error) {
        await socket.close();
        if (!isAddressInUseError(error)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  sendPacket(to: Address, bytes: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.#socket.send(to, bytes);
    } catch {
      // A datagram that cannot be sent is lost, as UDP loses it; the protocol copes.
    }
  }

  onPacket(handler: PacketHandler): void {
    this.#packetHandler = handler;
  }

  dial(to: Address, timeoutMs: number): Promise<ByteStream> {
    return this.#network.connectStream(to, { timeoutMs });
  }

  onStream(handler: StreamHandler): void {
    this.#streamHandler = handler;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#socket.close(), this.#server.close()]);
  }

  #acceptStream(stream: ByteStream): void {
    if (this.#closed) {
      stream.destroy();
      return;
    }
    this.#streamHandler(stream);
  }
}

/** Real sockets: UDP through `node:dgram` and TCP through `node:net`, bound to `bind`. */
export const NetTransport = Object.freeze({
  /** Binds UDP and TCP at `bind` (port 0 picks a free port). */
  create(bind: Address): Promise<NetworkTransport> {
    return NetworkTransport.create(new NodeNetwork(), bind);
  },
});

/** A simulated host's sockets: pass `SimNode.network` (or `SimNetwork.host(name)`). */
export const SimTransport = Object.freeze({
  /** Binds on the simulated host behind `network`; `bind.host` must be that host's name. */
  create(network: Network, bind: Address): Promise<NetworkTransport> {
    return NetworkTransport.create(network, bind);
  },
});
