/**
 * Memberlist's tunables and the three presets memberlist ships (`DefaultLANConfig`,
 * `DefaultWANConfig`, `DefaultLocalConfig`), with the same values, in milliseconds.
 */
import { ConfigError } from './errors.js';

/** Lowest memberlist protocol version this implementation speaks. */
export const PROTOCOL_VERSION_MIN = 1;
/** Highest memberlist protocol version this implementation speaks (memberlist 0.2.2's maximum). */
export const PROTOCOL_VERSION_MAX = 5;
/** Largest node metadata memberlist accepts, in bytes (`MetaMaxSize`). */
export const META_MAX_SIZE = 512;

/** The timing and size settings of a memberlist (every duration in milliseconds). */
export interface MemberlistTuning {
  /** Protocol version to speak, 1..5; memberlist's default is 2 (`ProtocolVersion2Compatible`). */
  readonly protocolVersion: number;
  /** Deadline of a whole TCP exchange (push/pull, TCP ping, reliable message). */
  readonly tcpTimeoutMs: number;
  /** How many members are asked to ping a node that missed a direct ping. */
  readonly indirectChecks: number;
  /** Gossip retransmissions are `retransmitMult × ceil(log10(N + 1))`. */
  readonly retransmitMult: number;
  /** Minimum suspicion timeout is `suspicionMult × max(1, log10(N)) × probeIntervalMs`. */
  readonly suspicionMult: number;
  /** Lifeguard: the suspicion timeout starts at this multiple of the minimum. */
  readonly suspicionMaxTimeoutMult: number;
  /** Period of the full-state exchange with a random member (0 disables it). */
  readonly pushPullIntervalMs: number;
  /** How long to wait for a direct ack before asking other members. */
  readonly probeTimeoutMs: number;
  /** Period of the failure detector's probes. */
  readonly probeIntervalMs: number;
  /** Do not fall back to a TCP ping when UDP probes fail. */
  readonly disableTcpPings: boolean;
  /** Lifeguard: the local health score ranges over `[0, awarenessMaxMultiplier − 1]`. */
  readonly awarenessMaxMultiplier: number;
  /** How many members each gossip round sends to. */
  readonly gossipNodes: number;
  /** Period of gossip rounds (0 disables gossip). */
  readonly gossipIntervalMs: number;
  /** Dead members keep receiving gossip (and stay listed) this long. */
  readonly gossipToTheDeadTimeMs: number;
  /** Drop packets and streams that are not encrypted with an installed key. */
  readonly gossipVerifyIncoming: boolean;
  /** Encrypt what is sent (with keys installed). */
  readonly gossipVerifyOutgoing: boolean;
  /** Compress packets (when that shrinks them) and streams (always), as memberlist does. */
  readonly enableCompression: boolean;
  /** Packets are filled with piggybacked gossip up to this size. */
  readonly udpBufferSize: number;
  /** A dead node may come back under a new address after this long (0: never). */
  readonly deadNodeReclaimTimeMs: number;
  /**
   * Lifeguard on (memberlist's behaviour) or plain SWIM: with `false` there is no local health
   * score, no nacks and a fixed suspicion timeout. Only for experiments; Go peers always use it.
   */
  readonly lifeguard: boolean;
  /**
   * A ClusterOS extension (memberlist 0.2.2 has no such setting and ignores these messages): when
   * a member sends this node a suspect or dead message about itself at an incarnation it has
   * already refuted, answer that member directly with this node's current alive message (at most
   * once per member per probe interval). A member that missed the refutation then learns it
   * before its suspicion timer runs out, instead of declaring a live node dead. Wire-compatible:
   * the answer is an ordinary alive message. `false` behaves exactly as memberlist.
   */
  readonly answerStaleAccusations: boolean;
  /**
   * A ClusterOS extension of Lifeguard's buddy system (memberlist tells a suspect of its
   * suspicion only when it happens to probe it): shortly before this node's suspicion of a member
   * runs out, ping that member once with the suspicion attached. A live member that refuted long
   * ago (this node missed the refutation) answers with its alive message, one that never heard
   * of the suspicion refutes now; a dead one stays silent and is declared dead on time. Only with
   * `lifeguard`. Wire-compatible: an ordinary ping and suspect message.
   */
  readonly pingSuspectBeforeDeath: boolean;
  /**
   * A ClusterOS extension: a suspect message at a newer incarnation than this node's running
   * suspicion of the same member means the member refuted that suspicion (this node missed the
   * refutation) and has been accused anew; the old suspicion ends and a new one starts, with its
   * own full timeout. memberlist (`false`) counts it as a confirmation of the old suspicion,
   * which can bring a timer that ought to have been cancelled long ago to expiry at once.
   */
  readonly restartRefutedSuspicions: boolean;
}

/** memberlist `DefaultLANConfig`: a cluster on one local network. */
export function lanConfig(): MemberlistTuning {
  return {
    protocolVersion: 2,
    tcpTimeoutMs: 10_000,
    indirectChecks: 3,
    retransmitMult: 4,
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 6,
    pushPullIntervalMs: 30_000,
    probeTimeoutMs: 500,
    probeIntervalMs: 1_000,
    disableTcpPings: false,
    awarenessMaxMultiplier: 8,
    gossipNodes: 3,
    gossipIntervalMs: 200,
    gossipToTheDeadTimeMs: 30_000,
    gossipVerifyIncoming: true,
    gossipVerifyOutgoing: true,
    enableCompression: true,
    udpBufferSize: 1_400,
    deadNodeReclaimTimeMs: 0,
    lifeguard: true,
    answerStaleAccusations: true,
    pingSuspectBeforeDeath: true,
    restartRefutedSuspicions: true,
  };
}

/** memberlist `DefaultWANConfig`: members spread over the internet. */
export function wanConfig(): MemberlistTuning {
  return {
    ...lanConfig(),
    tcpTimeoutMs: 30_000,
    suspicionMult: 6,
    pushPullIntervalMs: 60_000,
    probeTimeoutMs: 3_000,
    probeIntervalMs: 5_000,
    gossipNodes: 4,
    gossipIntervalMs: 500,
    gossipToTheDeadTimeMs: 60_000,
  };
}

/** memberlist `DefaultLocalConfig`: members on one host or a fast loopback network. */
export function localConfig(): MemberlistTuning {
  return {
    ...lanConfig(),
    tcpTimeoutMs: 1_000,
    indirectChecks: 1,
    retransmitMult: 2,
    suspicionMult: 3,
    pushPullIntervalMs: 15_000,
    probeTimeoutMs: 200,
    probeIntervalMs: 1_000,
    gossipIntervalMs: 100,
    gossipToTheDeadTimeMs: 15_000,
  };
}

const positive: readonly (keyof MemberlistTuning)[] = [
  'tcpTimeoutMs',
  'retransmitMult',
  'suspicionMult',
  'suspicionMaxTimeoutMult',
  'probeTimeoutMs',
  'probeIntervalMs',
  'awarenessMaxMultiplier',
];
const nonNegative: readonly (keyof MemberlistTuning)[] = [
  'indirectChecks',
  'pushPullIntervalMs',
  'gossipNodes',
  'gossipIntervalMs',
  'gossipToTheDeadTimeMs',
  'deadNodeReclaimTimeMs',
];
const booleans: readonly (keyof MemberlistTuning)[] = [
  'disableTcpPings',
  'gossipVerifyIncoming',
  'gossipVerifyOutgoing',
  'enableCompression',
  'lifeguard',
  'answerStaleAccusations',
  'pingSuspectBeforeDeath',
  'restartRefutedSuspicions',
];

/**
 * Checks every field of `tuning` (which may come from a config file) and returns it frozen.
 * Throws {@link ConfigError} naming the first bad option.
 */
export function validateTuning(tuning: MemberlistTuning): MemberlistTuning {
  const record = tuning as unknown as Record<string, unknown>;
  for (const key of positive) {
    const value = record[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
      throw new ConfigError(key, `must be a positive number, got ${String(value)}`);
  }
  for (const key of nonNegative) {
    const value = record[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new ConfigError(key, `must be a non-negative number, got ${String(value)}`);
  }
  for (const key of booleans) {
    if (typeof record[key] !== 'boolean')
      throw new ConfigError(key, `must be true or false, got ${String(record[key])}`);
  }
  const version = tuning.protocolVersion;
  if (!Number.isInteger(version) || version < PROTOCOL_VERSION_MIN || version > PROTOCOL_VERSION_MAX)
    throw new ConfigError(
      'protocolVersion',
      `must be an integer in [${PROTOCOL_VERSION_MIN}, ${PROTOCOL_VERSION_MAX}], got ${String(version)}`,
    );
  if (!Number.isInteger(tuning.udpBufferSize) || tuning.udpBufferSize < 256 || tuning.udpBufferSize > 65_000)
    throw new ConfigError(
      'udpBufferSize',
      `must be an integer in [256, 65000], got ${String(tuning.udpBufferSize)}`,
    );
  if (tuning.probeTimeoutMs > tuning.probeIntervalMs)
    throw new ConfigError('probeTimeoutMs', 'must not exceed probeIntervalMs');
  return Object.freeze({ ...tuning });
}
