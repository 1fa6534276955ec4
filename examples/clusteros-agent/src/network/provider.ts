/**
 * The network provider contract: how the agent learns its own cluster-facing address and the
 * peers it could reach, before membership starts gossiping.
 *
 * Two implementations exist: `static` (configured addresses and seeds, for the loopback demo,
 * see static.ts) and `tailscale` (reads tailscaled's status, see tailscale.ts). Both report a
 * {@link NetworkState} snapshot and a list of {@link NetworkPeer}s; `ready()` is the one call that
 * may wait, and every wait it does is bounded.
 *
 * Also here: the typed {@link NetworkNotReadyError} that `ready()` rejects with, and the minimal
 * pino-compatible {@link NetworkLogger} the providers log through.
 */

/** A snapshot of what a provider knows about this node's network. */
export interface NetworkState {
  /** Which provider produced this state (`NetworkProvider.name`). */
  readonly provider: 'static' | 'tailscale';
  /**
   * Whether the node is on the network now: always true for `static`; for `tailscale`, true when
   * tailscaled's BackendState is `Running` and the node has a Tailscale IPv4 address.
   */
  readonly connected: boolean;
  /**
   * The address other nodes should use to reach this one (the advertise address for `static`,
   * the first 100.64.0.0/10 address for `tailscale`), or null while none is known.
   */
  readonly ip: string | null;
  /**
   * How many peers the provider knows of, online or not (the seed count for `static`, the peers
   * in tailscaled's network map for `tailscale`). Zero until the first status was read.
   */
  readonly peerCount: number;
  /** This node's DNS name on the network (Tailscale's MagicDNS name), when the provider knows one. */
  readonly dnsName?: string;
}

/** Another node as the provider sees it. */
export interface NetworkPeer {
  /** The peer's host name as it reports it (not necessarily unique, never a key). */
  readonly hostName: string;
  /** The peer's addresses on this network, in the order the provider gave them (IPv4 and IPv6). */
  readonly ips: string[];
  /**
   * Whether the peer is reachable as far as the provider knows: for `tailscale`, tailscaled's
   * `Online` (connected to the control plane); for `static`, always true (liveness is
   * membership's job).
   */
  readonly online: boolean;
}

/** Where the agent's node address and candidate peers come from. */
export interface NetworkProvider {
  /** The provider's kind; also `NetworkState.provider`. */
  readonly name: 'static' | 'tailscale';
  /**
   * Resolves once the node is on the network, with the state at that moment. Waits (bounded by
   * the provider's deadline) while the network is coming up; rejects with a
   * {@link NetworkNotReadyError} when the deadline passes, `signal` aborts, or the status cannot
   * be understood.
   */
  ready(signal?: AbortSignal): Promise<NetworkState>;
  /** The last known state, without any I/O (disconnected, no IP, no peers before the first read). */
  state(): NetworkState;
  /** Reads the current peers (one bounded status read) and refreshes `state()`. */
  peers(): Promise<NetworkPeer[]>;
}

/** The subset of a pino logger the network code uses (a pino `Logger` satisfies it). */
export interface NetworkLogger {
  /** Logs `msg` with structured fields `obj` at info level. */
  info(obj: object, msg: string): void;
  /** Logs at warn level. */
  warn(obj: object, msg: string): void;
  /** Logs at debug level. */
  debug(obj: object, msg: string): void;
  /** Logs at error level. */
  error(obj: object, msg: string): void;
}

/** A logger that drops everything (the default when none is injected). */
export const silentLogger: NetworkLogger = {
  info() {},
  warn() {},
  debug() {},
  error() {},
};

/** Why `ready()` gave up. */
export type NetworkNotReadyReason = 'deadline' | 'aborted' | 'invalid-status';

/** `ready()` gave up: the network did not come up in time, the caller aborted, or the status was unreadable. */
export class NetworkNotReadyError extends Error {
  /** Always `'NetworkNotReadyError'`. */
  static override readonly name = 'NetworkNotReadyError' as const;
  /** Always `'NetworkNotReadyError'`. */
  override readonly name = 'NetworkNotReadyError' as const;
  /** The provider that was waiting. */
  readonly provider: 'static' | 'tailscale';
  /** Why it gave up. */
  readonly reason: NetworkNotReadyReason;
  /** The last backend state seen (tailscale's BackendState), or null if none was read. */
  readonly lastState: string | null;
  /** Creates the error; `cause` is the last underlying failure, if any. */
  constructor(
    provider: 'static' | 'tailscale',
    reason: NetworkNotReadyReason,
    message: string,
    lastState: string | null = null,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.provider = provider;
    this.reason = reason;
    this.lastState = lastState;
  }
}

/** Whether `value` is a {@link NetworkNotReadyError} (also across module copies, by name). */
export function isNetworkNotReadyError(value: unknown): value is NetworkNotReadyError {
  return (
    value instanceof NetworkNotReadyError ||
    (value instanceof Error && (value as { name?: unknown }).name === 'NetworkNotReadyError')
  );
}
