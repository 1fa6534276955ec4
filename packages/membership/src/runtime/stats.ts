/** Counters of a memberlist, as returned by `Memberlist.stats()`. */
import type { DropReason } from '../wire/packet.js';

/**
 * Why the runtime dropped something it received, beyond the packet decoder's reasons:
 *
 * - `wrongNode`: a ping addressed to another node name.
 * - `badAddress`: an alive or indirect ping whose address is not 4 or 16 bytes.
 * - `conflict`: an alive for a known name from another address.
 * - `vetoed`: the alive or merge delegate refused it.
 * - `unexpected`: a message type that is valid but not expected there (an ack on a stream
 *   nobody is waiting on, a push/pull reply of the wrong type).
 * - `stream`: a stream that could not be decoded, timed out or broke.
 * - `pushPullLimit`: a push/pull refused because too many were in progress.
 * - `incompatible`: remote state that failed the protocol version check.
 */
export type RuntimeDropReason =
  | 'wrongNode'
  | 'badAddress'
  | 'conflict'
  | 'vetoed'
  | 'unexpected'
  | 'stream'
  | 'pushPullLimit'
  | 'incompatible';

/** Every drop counter name. */
export type DroppedReason = DropReason | RuntimeDropReason;

/** Counters since the memberlist was created. */
export interface MemberlistStats {
  /** Probe rounds started (one target each). */
  readonly probes: number;
  /** Probes that ended with an ack (direct, relayed or over TCP). */
  readonly probeSuccesses: number;
  /** Probes that ended without an ack (the target became suspect). */
  readonly probeFailures: number;
  /** Acks received that matched a waiting probe. */
  readonly acks: number;
  /** Nacks received that matched a waiting probe. */
  readonly nacks: number;
  /** Indirect ping requests sent. */
  readonly indirectPings: number;
  /** TCP fallback pings attempted. */
  readonly tcpPings: number;
  /** Suspicions this node started or accepted about other nodes. */
  readonly suspects: number;
  /** Times this node refuted a suspicion or death of itself. */
  readonly refutes: number;
  /**
   * Alive messages sent straight to a member that accused this node at an incarnation it had
   * already refuted (the `answerStaleAccusations` extension).
   */
  readonly staleAccusationsAnswered: number;
  /**
   * Pings (with the suspicion attached) sent to a suspect shortly before this node's suspicion
   * of it would run out (the `pingSuspectBeforeDeath` extension of Lifeguard's buddy system).
   */
  readonly suspectPingsBeforeDeath: number;
  /** Nodes that became dead (not left) here. */
  readonly deaths: number;
  /** Push/pull exchanges completed (either side). */
  readonly pushPulls: number;
  /** Push/pull exchanges that failed (either side). */
  readonly pushPullFailures: number;
  /** Datagrams received. */
  readonly packetsIn: number;
  /** Datagrams sent. */
  readonly packetsOut: number;
  /** Datagram bytes received. */
  readonly bytesIn: number;
  /** Datagram bytes sent. */
  readonly bytesOut: number;
  /** Messages decoded from datagrams (compound parts counted one by one). */
  readonly messagesIn: number;
  /** Streams accepted. */
  readonly streamsIn: number;
  /** Streams opened. */
  readonly streamsOut: number;
  /** User messages handed to the delegate (packets and streams). */
  readonly userMessages: number;
  /** Errors thrown by delegate callbacks (caught; the node carries on). */
  readonly delegateErrors: number;
  /** Dropped input, by reason. */
  readonly dropped: Readonly<Record<DroppedReason, number>>;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const dropReasons: readonly DroppedReason[] = [
  'empty',
  'decrypt',
  'crc',
  'decode',
  'compound',
  'lzw',
  'unknownType',
  'tooLarge',
  'nested',
  'wrongNode',
  'badAddress',
  'conflict',
  'vetoed',
  'unexpected',
  'stream',
  'pushPullLimit',
  'incompatible',
];

/** The mutable counters behind {@link MemberlistStats}. */
export class StatsCounters {
  readonly counts: Mutable<Omit<MemberlistStats, 'dropped'>> = {
    probes: 0,
    probeSuccesses: 0,
    probeFailures: 0,
    acks: 0,
    nacks: 0,
    indirectPings: 0,
    tcpPings: 0,
    suspects: 0,
    refutes: 0,
    staleAccusationsAnswered: 0,
    suspectPingsBeforeDeath: 0,
    deaths: 0,
    pushPulls: 0,
    pushPullFailures: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    streamsIn: 0,
    streamsOut: 0,
    userMessages: 0,
    delegateErrors: 0,
  };
  readonly dropped = Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<DroppedReason, number>;

  /** Counts one dropped item. */
  drop(reason: DroppedReason): void {
    this.dropped[reason]++;
  }

  /** A frozen copy. */
  snapshot(): MemberlistStats {
    return Object.freeze({ ...this.counts, dropped: Object.freeze({ ...this.dropped }) });
  }
}
