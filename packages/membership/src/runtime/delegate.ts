/**
 * Hooks into a memberlist, as memberlist's `Delegate`, `MergeDelegate`, `AliveDelegate`,
 * `ConflictDelegate` and `PingDelegate` in one optional-method object. Every method is called
 * synchronously on the memberlist's event loop turn and must return quickly; an exception is
 * caught, logged and counted (`stats().delegateErrors`), never fatal.
 */
import type { Member } from './member.js';

/** The delegate of a {@link Memberlist}; implement only what you need. */
export interface MemberlistDelegate {
  /**
   * This node's metadata, at most `limit` (512) bytes; read at start and by `updateMeta()`
   * without arguments. Takes precedence over the `meta` option.
   */
  nodeMeta?(limit: number): Uint8Array;
  /** A user message arrived (best-effort, reliable or broadcast). The bytes are the caller's. */
  notifyMessage?(message: Uint8Array): void;
  /**
   * More user broadcasts to piggyback: return messages whose lengths plus `overhead` each fit
   * within `limit` bytes in total. Each is delivered to the receivers' `notifyMessage`.
   */
  getBroadcasts?(overhead: number, limit: number): Uint8Array[];
  /** User state sent in every push/pull (`join` tells whether this is a join's). */
  localState?(join: boolean): Uint8Array;
  /** A peer's user state from a push/pull. */
  mergeRemoteState?(state: Uint8Array, join: boolean): void;
  /**
   * A join is about to merge the remote cluster's `peers` into this one (both the joining and
   * the answering side call it). Return a reason string to refuse the whole merge; the join
   * then fails. This is where cluster-merge policy lives.
   */
  notifyMerge?(peers: readonly Member[]): string | undefined;
  /** An alive message about `peer` is about to be applied. Return a reason string to ignore it. */
  notifyAlive?(peer: Member): string | undefined;
  /** Two nodes claim one name: `existing` is known here, `other` came in an alive message. */
  notifyConflict?(existing: Member, other: Member): void;
  /** Payload put into this node's UDP acks (at most a few hundred bytes). */
  ackPayload?(): Uint8Array;
  /** A probe of `peer` was answered after `rttMs`, with the peer's ack payload. */
  notifyPingComplete?(peer: Member, rttMs: number, payload: Uint8Array): void;
}
