/**
 * Lease timing and the clock assumption behind it.
 *
 * A holder renews its lease every `renewEveryMs`. The store stamps each renewal with the Raft
 * leader's clock, at or after the moment the holder sent it, and expires the lease `ttlMs` of
 * store time later. Store time comes from whichever member leads; it never goes backwards.
 *
 * **Assumption**: any two members' clocks differ by at most `maxClockSkewMs` (NTP keeps hosts
 * within a few ms; the default allows 500 ms), and run at the same rate to within the margin
 * over one TTL (quartz: ±100 ppm, 0.5 ms per 5 s).
 *
 * Then a lease renewed by a request sent at holder time `t` cannot expire anywhere before holder
 * time `t + ttlMs − 2 × maxClockSkewMs` (once for the clock that stamped the renewal, once for
 * the clock that stamps the expiring tick). The holder stops acting at
 * `t + ttlMs − 2 × maxClockSkewMs − safetyMarginMs`: the margin covers rate drift and the time
 * between "stop" being decided and the role noticing (an event-loop turn).
 */
import { RoleConfigError } from './errors.js';

/** Lease timing of singleton roles. */
export interface LeaseTiming {
  /** Lease time to live in ms. @defaultValue 5000 */
  readonly ttlMs: number;
  /** How often the holder renews. @defaultValue a third of the safe window (`safeWindowMs`) */
  readonly renewEveryMs: number;
  /** Retry delay after a failed renewal or campaign; also the renewal tick. @defaultValue min(ttlMs / 20, safe window / 10) */
  readonly retryMs: number;
  /** The largest clock difference between two members (see the module doc). @defaultValue 500 */
  readonly maxClockSkewMs: number;
  /** Extra margin before the earliest possible expiry. @defaultValue 250 */
  readonly safetyMarginMs: number;
  /**
   * Per rank delay before a node campaigns for a free role: the best eligible node (highest
   * priority, then lowest id) campaigns at once, the next after one stagger, and so on (at most
   * three staggers). @defaultValue ttlMs / 10
   */
  readonly candidacyStaggerMs: number;
}

/** Fills defaults and checks that the timing can work. Throws {@link RoleConfigError}. */
export function resolveLeaseTiming(options: Partial<LeaseTiming> = {}): LeaseTiming {
  const ttlMs = options.ttlMs ?? 5000;
  const maxClockSkewMs = options.maxClockSkewMs ?? 500;
  const safetyMarginMs = options.safetyMarginMs ?? 250;
  // Renewal is paced by the safe window, not the TTL: three tries fit in it by default.
  const window = ttlMs - 2 * maxClockSkewMs - safetyMarginMs;
  const renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(window / 3));
  const timing: LeaseTiming = {
    ttlMs,
    renewEveryMs,
    retryMs: options.retryMs ?? Math.max(10, Math.floor(Math.min(ttlMs / 20, window / 10))),
    maxClockSkewMs,
    safetyMarginMs,
    candidacyStaggerMs: options.candidacyStaggerMs ?? Math.floor(ttlMs / 10),
  };
  for (const [name, value] of Object.entries(timing)) {
    if (
      !Number.isFinite(value) ||
      value < 0 ||
      (name !== 'maxClockSkewMs' && name !== 'safetyMarginMs' && name !== 'candidacyStaggerMs' && value <= 0)
    )
      throw new RoleConfigError(`lease.${name} must be a positive number of ms, got ${value}`);
  }
  // A renewal goes out up to one retry tick late and may need a retry: the window must hold both.
  const needed = timing.renewEveryMs + 2 * timing.retryMs;
  if (window < needed)
    throw new RoleConfigError(
      `lease.ttlMs (${ttlMs}) leaves a safe window of ${window} ms after clock skew and margin; it must be at least renewEveryMs + 2 × retryMs (${needed} ms)`,
    );
  return timing;
}

/** How long after sending a successful grant or renewal the holder may act. */
export function safeWindowMs(timing: LeaseTiming): number {
  return timing.ttlMs - 2 * timing.maxClockSkewMs - timing.safetyMarginMs;
}
