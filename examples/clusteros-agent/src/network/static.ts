/**
 * The `static` network provider: the node's bind/advertise addresses and its seed list come from
 * configuration, with no discovery (the loopback demo, or a LAN with fixed addresses).
 *
 * It is always connected: `ready()` resolves at once (unless the signal is already aborted), the
 * IP is the advertise address and the peers are the seeds, each reported online, since liveness
 * is membership's job, not the provider's.
 */
import { isIP } from 'node:net';
import { parseHostPort } from '../config/schema.js';
import {
  NetworkNotReadyError,
  type NetworkPeer,
  type NetworkProvider,
  type NetworkState,
} from './provider.js';

/** What the static provider is configured with. */
export interface StaticNetworkOptions {
  /** The IP literal the agent binds its sockets to (e.g. `127.0.0.1`, `0.0.0.0`). */
  readonly bindAddress: string;
  /** The IP literal other nodes reach this one at; defaults to `bindAddress` (must not be a wildcard). */
  readonly advertiseAddress?: string;
  /** Seed nodes as `host:port` (`[v6]:port` for IPv6). */
  readonly seeds?: readonly string[];
}

/** A provider whose addresses and seeds are fixed by configuration. */
export class StaticNetworkProvider implements NetworkProvider {
  /** Always `'static'`. */
  readonly name = 'static' as const;
  /** The address sockets bind to. */
  readonly bindAddress: string;
  /** The address advertised to other nodes. */
  readonly advertiseAddress: string;
  /** The seeds, as given. */
  readonly seeds: readonly string[];
  readonly #peers: readonly NetworkPeer[];

  /** Validates the addresses and seeds; throws a `TypeError` naming the bad value. */
  constructor(options: StaticNetworkOptions) {
    if (isIP(options.bindAddress) === 0) {
      throw new TypeError(
        `static network: bindAddress must be an IP literal, got ${JSON.stringify(options.bindAddress)}`,
      );
    }
    const advertise = options.advertiseAddress ?? options.bindAddress;
    if (isIP(advertise) === 0 || advertise === '0.0.0.0' || advertise === '::') {
      throw new TypeError(
        `static network: advertiseAddress must be a non-wildcard IP literal, got ${JSON.stringify(advertise)}`,
      );
    }
    const seeds = [...(options.seeds ?? [])];
    const peers: NetworkPeer[] = [];
    for (const seed of seeds) {
      const parsed = parseHostPort(seed);
      if (parsed === undefined) {
        throw new TypeError(`static network: seed must be host:port, got ${JSON.stringify(seed)}`);
      }
      peers.push({ hostName: parsed.host, ips: isIP(parsed.host) === 0 ? [] : [parsed.host], online: true });
    }
    this.bindAddress = options.bindAddress;
    this.advertiseAddress = advertise;
    this.seeds = Object.freeze(seeds);
    this.#peers = peers;
  }

  /** Resolves at once with the connected state; rejects only if `signal` is already aborted. */
  async ready(signal?: AbortSignal): Promise<NetworkState> {
    if (signal?.aborted === true) {
      throw new NetworkNotReadyError(
        'static',
        'aborted',
        'static network: ready() was aborted',
        null,
        signal.reason,
      );
    }
    return this.state();
  }

  /** Always connected, with the advertise address and one peer per seed. */
  state(): NetworkState {
    return { provider: 'static', connected: true, ip: this.advertiseAddress, peerCount: this.#peers.length };
  }

  /** One peer per seed (host as `hostName`; `ips` empty when the seed is a DNS name). */
  async peers(): Promise<NetworkPeer[]> {
    return this.#peers.map((p) => ({ hostName: p.hostName, ips: [...p.ips], online: p.online }));
  }
}
