import type { Message, NodeId } from '../core/types.js';

/** Counters of a Raft transport. */
export interface RaftTransportStats {
  /** Messages handed to the network. */
  readonly sent: number;
  /** Messages received, authenticated and decoded. */
  readonly received: number;
  /**
   * Messages dropped, by reason (`queueFull`, `noAddress`, `decode`, `auth`, `tooLarge`, `unreachable`, ...).
   * `auth` counts failed handshakes; `mac` counts frames of an authenticated connection whose
   * MAC failed (tampered, injected, replayed, reordered or cut), each of which also closed the
   * connection.
   */
  readonly dropped: Readonly<Record<string, number>>;
  /** Connections established (outbound and inbound). */
  readonly connections: number;
}

/**
 * How Raft members exchange messages. Delivery is best effort: a message may be lost (Raft
 * retries); messages to one peer are not reordered by the transport. A transport must never
 * throw from `send` for network reasons — it drops and counts instead — and must authenticate
 * peers before delivering anything they send.
 */
export interface RaftTransport {
  /** Queues `message` for `message.to`. */
  send(message: Message): void;
  /** Sets the handler of received messages (one handler; replaces an earlier one). */
  onMessage(handler: (message: Message) => void): void;
  /** Where a member can be reached (`host:port`); called on start and on configuration changes. */
  setPeer(id: NodeId, address: string): void;
  /** Forgets a member and closes its connection. */
  removePeer(id: NodeId): void;
  /**
   * Optional: called when messages to `peer` could not be delivered (connection failed or
   * broke), so the leader stops pipelining to it and probes instead.
   */
  onUnreachable?(handler: (peer: NodeId) => void): void;
  /**
   * Optional: called when a snapshot to `peer` was handed to the network (`ok`) or lost (`!ok`),
   * so the leader resumes replication or resends without waiting for a timeout.
   */
  onSnapshotStatus?(handler: (peer: NodeId, ok: boolean) => void): void;
  /** Counters. */
  stats(): RaftTransportStats;
  /** Closes every connection and listener; idempotent. */
  close(): Promise<void>;
}
