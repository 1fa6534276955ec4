/**
 * memberlist's pure timing math (MEMBERLIST-WIRE.md §10, §11): suspicion timeouts with
 * Lifeguard confirmations, the retransmit limit of gossip, push/pull interval scaling, and the
 * local-health (awareness) multiplier. Durations are milliseconds; the formulas round where
 * Go's `time.Duration` arithmetic does, so the results match memberlist's to the millisecond.
 */

/** Nodes above which the push/pull interval starts to grow (memberlist `pushPullScaleThreshold`). */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/**
 * The minimum suspicion timeout for a cluster of `n` nodes:
 * `suspicionMult × max(1, log10(max(1, n))) × interval`, with the scale truncated to
 * thousandths as Go does (memberlist `suspicionTimeout`). The maximum is this times
 * `SuspicionMaxTimeoutMult`.
 */
export function suspicionTimeout(suspicionMult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return (suspicionMult * Math.trunc(nodeScale * 1000) * intervalMs) / 1000;
}

/**
 * How many independent confirmations a suspicion waits for before it is at its minimum
 * timeout: `suspicionMult − 2`, or 0 when the cluster has too few other nodes to give them
 * (memberlist `suspectNode`: `k = 0` if `n − 2 < k`).
 */
export function suspicionConfirmations(suspicionMult: number, n: number): number {
  const k = suspicionMult - 2;
  return n - 2 < k ? 0 : Math.max(0, k);
}

/**
 * Time left on a suspicion timer after `n` of the `k` expected confirmations, `elapsedMs` after
 * it started (memberlist `remainingSuspicionTime`): the timeout falls from `maxMs` towards
 * `minMs` as `log(n + 1) / log(k + 1)`, floored to the millisecond and never below `minMs`.
 * A result ≤ 0 means the timer should fire now. With `k < 1` there is nothing to wait for and
 * the timeout is `minMs`.
 */
export function remainingSuspicionTime(
  n: number,
  k: number,
  elapsedMs: number,
  minMs: number,
  maxMs: number,
): number {
  if (k < 1) return minMs - elapsedMs;
  const frac = Math.log(n + 1) / Math.log(k + 1);
  const raw = maxMs / 1000 - frac * (maxMs / 1000 - minMs / 1000);
  const timeout = Math.max(minMs, Math.floor(1000 * raw));
  return timeout - elapsedMs;
}

/**
 * How many times a broadcast is gossiped in a cluster of `n` nodes:
 * `retransmitMult × ceil(log10(n + 1))` (memberlist `retransmitLimit`).
 */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

/**
 * The push/pull interval for a cluster of `n` nodes: unchanged up to 32 nodes, then multiplied
 * by `ceil(log2(n) − log2(32)) + 1` (memberlist `pushPullScale`).
 */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return multiplier * intervalMs;
}

/**
 * A timeout stretched by the local health score (memberlist awareness `ScaleTimeout`):
 * `timeout × (score + 1)`. A node that has trouble hearing acks waits longer before it blames
 * others.
 */
export function scaleTimeout(timeoutMs: number, score: number): number {
  return timeoutMs * (score + 1);
}

/**
 * The health score after adding `delta`, kept in `[0, maxMultiplier − 1]` (memberlist awareness
 * `ApplyDelta`; `AwarenessMaxMultiplier` is 8 by default).
 */
export function applyAwarenessDelta(score: number, delta: number, maxMultiplier: number): number {
  return Math.min(Math.max(score + delta, 0), maxMultiplier - 1);
}
