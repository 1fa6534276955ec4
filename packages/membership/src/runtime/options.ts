/** The options of `Memberlist.create` and how they resolve to a complete configuration. */
import { lookup } from 'node:dns/promises';
import { type Clock, type Network, type Random, SystemClock, systemRandom } from '@clusteros/sim';
import { Keyring } from '../wire/keyring.js';
import { lanConfig, META_MAX_SIZE, type MemberlistTuning, validateTuning } from './config.js';
import type { MemberlistDelegate } from './delegate.js';
import { ConfigError } from './errors.js';
import { isIpLiteral } from './ip.js';
import { type Logger, silentLogger } from './logger.js';
import type { Transport } from './transport.js';

/** The delegate protocol range a node advertises (Serf uses 2..5, current 4; plain memberlist 0). */
export interface DelegateVersions {
  /** Lowest delegate protocol version understood. */
  readonly min: number;
  /** Highest delegate protocol version understood. */
  readonly max: number;
  /** The delegate protocol version spoken. */
  readonly cur: number;
}

/**
 * Options of `Memberlist.create`: the node's identity and sockets, its secrets and hooks, the
 * injected clock/random/transport, and any tuning field (defaults: {@link lanConfig}).
 */
export interface MemberlistOptions extends Partial<MemberlistTuning> {
  /** Unique node name in the cluster. */
  readonly name: string;
  /**
   * Address to bind UDP and TCP to. Loopback by default, so that nothing listens on a public
   * interface unless asked; set the cluster (e.g. tailnet) address in production.
   * @defaultValue '127.0.0.1'
   */
  readonly bindAddr?: string;
  /** Port for UDP and TCP; 0 picks a free port (see `localNode.port`). @defaultValue 7946 */
  readonly bindPort?: number;
  /** Address other nodes should use; required when binding to a wildcard address. */
  readonly advertiseAddr?: string;
  /** Port other nodes should use. @defaultValue the bound port */
  readonly advertisePort?: number;
  /** The cluster key (16, 24 or 32 bytes): turns on AES-GCM encryption of all traffic. */
  readonly secretKey?: Uint8Array;
  /** A ready keyring (takes precedence over `secretKey`), for several accepted keys. */
  readonly keyring?: Keyring;
  /** Initial node metadata (at most 512 bytes); `delegate.nodeMeta` takes precedence. */
  readonly meta?: Uint8Array;
  /** Hooks: user messages and state, merge/alive vetoes, conflicts, ping observations. */
  readonly delegate?: MemberlistDelegate;
  /** Delegate protocol versions to advertise. @defaultValue { min: 0, max: 0, cur: 0 } */
  readonly delegateVersions?: DelegateVersions;
  /** The transport; without it, one is bound on `network` (or real sockets) at bindAddr:bindPort. */
  readonly transport?: Transport;
  /** Network to bind a transport on when `transport` is not given. @defaultValue real sockets */
  readonly network?: Network;
  /** Clock for every timer. @defaultValue a {@link SystemClock} */
  readonly clock?: Clock;
  /** Randomness for probe order, gossip targets and staggering. @defaultValue crypto-seeded */
  readonly random?: Random;
  /** Structured logger (pino-compatible). @defaultValue silent */
  readonly logger?: Logger;
  /**
   * Resolves a seed's host name to IP addresses (seeds that are IP literals need none).
   * @defaultValue DNS (`node:dns` lookup) on real sockets; none with an injected transport or network
   */
  readonly resolve?: HostResolver;
}

/** Resolves a host name to IP literals. */
export type HostResolver = (host: string) => Promise<readonly string[]>;

/** Everything resolved and checked. */
export interface ResolvedOptions {
  readonly name: string;
  readonly bindAddr: string;
  readonly bindPort: number;
  readonly advertiseAddr: string | undefined;
  readonly advertisePort: number | undefined;
  readonly keyring: Keyring;
  readonly meta: Uint8Array;
  readonly delegate: MemberlistDelegate;
  readonly delegateVersions: DelegateVersions;
  readonly tuning: MemberlistTuning;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly resolve: HostResolver | undefined;
}

function checkPort(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65_535)
    throw new ConfigError(option, `must be an integer port in [0, 65535], got ${String(value)}`);
  return value;
}

function checkVersionByte(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255)
    throw new ConfigError(option, `must be an integer in [0, 255], got ${String(value)}`);
  return value;
}

/** Resolves and validates options; throws {@link ConfigError}. Secrets are never echoed. */
export function resolveOptions(options: MemberlistOptions): ResolvedOptions {
  const name = options.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 255)
    throw new ConfigError('name', 'must be a non-empty string of at most 255 characters');
  const bindAddr = options.bindAddr ?? '127.0.0.1';
  if (typeof bindAddr !== 'string' || bindAddr.length === 0)
    throw new ConfigError('bindAddr', 'must be a host');
  const bindPort = checkPort('bindPort', options.bindPort ?? 7946);
  if (options.advertiseAddr !== undefined && !isIpLiteral(options.advertiseAddr))
    throw new ConfigError('advertiseAddr', 'must be an IPv4 or IPv6 literal');
  const advertisePort =
    options.advertisePort === undefined ? undefined : checkPort('advertisePort', options.advertisePort);
  let keyring = options.keyring;
  if (keyring === undefined) {
    try {
      keyring = new Keyring(options.secretKey ?? null);
    } catch (error) {
      throw new ConfigError('secretKey', error instanceof Error ? error.message : 'invalid key');
    }
  }
  const meta = options.meta ?? new Uint8Array(0);
  if (!(meta instanceof Uint8Array) || meta.length > META_MAX_SIZE)
    throw new ConfigError('meta', `must be at most ${META_MAX_SIZE} bytes`);
  const versions = options.delegateVersions ?? { min: 0, max: 0, cur: 0 };
  const delegateVersions = {
    min: checkVersionByte('delegateVersions.min', versions.min),
    max: checkVersionByte('delegateVersions.max', versions.max),
    cur: checkVersionByte('delegateVersions.cur', versions.cur),
  };
  if (delegateVersions.cur < delegateVersions.min || delegateVersions.cur > delegateVersions.max)
    throw new ConfigError('delegateVersions', 'cur must lie within [min, max]');
  const defaults = lanConfig();
  const tuning = validateTuning(
    Object.fromEntries(
      Object.keys(defaults).map((key) => {
        const value = (options as unknown as Record<string, unknown>)[key];
        return [key, value === undefined ? defaults[key as keyof MemberlistTuning] : value];
      }),
    ) as unknown as MemberlistTuning,
  );
  return {
    name,
    bindAddr,
    bindPort,
    advertiseAddr: options.advertiseAddr,
    advertisePort,
    keyring,
    meta: meta.slice(),
    delegate: options.delegate ?? {},
    delegateVersions,
    tuning,
    clock: options.clock ?? new SystemClock(),
    random: options.random ?? systemRandom(),
    logger: options.logger ?? silentLogger,
    resolve:
      options.resolve ??
      (options.transport === undefined && options.network === undefined ? dnsResolve : undefined),
  };
}

/** The default resolver on real sockets: every address the system resolver returns. */
async function dnsResolve(host: string): Promise<readonly string[]> {
  const results = await lookup(host, { all: true });
  return results.map((r) => r.address);
}
