import type { NodeId } from '../core/types.js';

/** Replacements of a member's open connection within {@link DUPLICATE_ID_WINDOW_MS} that raise the warning. */
export const DUPLICATE_ID_REPLACEMENTS = 3;
/** The window, and the least time between two warnings about one member. */
export const DUPLICATE_ID_WINDOW_MS = 60_000;
/** Replacement times kept per member. */
const MAX_KEPT = 64;

/**
 * Watches for one member id used by two processes at once. A member keeps one connection to
 * each peer, so a new authenticated connection from it replaces the one still open: once after
 * a restart that left a half-open connection behind, but over and over when two processes hold
 * the same id (each reconnects when the other's connection replaces its own). That is unsafe,
 * not just noisy: both would vote in the same election. The transport cannot tell the two
 * processes apart (they hold the same key and id), so it warns and carries on.
 */
export class ReplacementWatch {
  readonly #times = new Map<NodeId, number[]>();
  readonly #warnedAt = new Map<NodeId, number>();

  /**
   * Records that `peer`'s open connection was replaced at `now`. Returns the number of
   * replacements in the window (counted up to 64) when a warning is due (at most one per
   * window), else undefined.
   * Only authenticated ids reach it, so its maps hold at most one entry per cluster member.
   */
  note(peer: NodeId, now: number): number | undefined {
    const recent = (this.#times.get(peer) ?? []).filter((t) => now - t < DUPLICATE_ID_WINDOW_MS);
    recent.push(now);
    // Bounded under a long fight (a reconnect every few milliseconds): the count it reports
    // stops at MAX_KEPT.
    if (recent.length > MAX_KEPT) recent.splice(0, recent.length - MAX_KEPT);
    this.#times.set(peer, recent);
    if (recent.length < DUPLICATE_ID_REPLACEMENTS) return undefined;
    const warned = this.#warnedAt.get(peer);
    if (warned !== undefined && now - warned < DUPLICATE_ID_WINDOW_MS) return undefined;
    this.#warnedAt.set(peer, now);
    return recent.length;
  }
}
