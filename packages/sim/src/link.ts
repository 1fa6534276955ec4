import type { Random } from './random.js';

/**
 * Draws one one-way delay in milliseconds. It takes the network's injected {@link Random}, so
 * every delay is fixed by the simulation seed. The network clamps results below 0 (and NaN) to 0.
 */
export type LatencyModel = (random: Random) => number;

function checkNonNegative(what: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${what} must be a finite number >= 0, got ${value}`);
  }
}

/**
 * Ready-made {@link LatencyModel}s. All take milliseconds and validate their arguments at
 * construction (RangeError), so a bad scenario fails where it is written, not mid-run.
 */
export const latency = {
  /** Always `ms`: with no reordering configured, datagrams between two hosts keep their order. */
  fixed(ms: number): LatencyModel {
    checkNonNegative('fixed latency', ms);
    return () => ms;
  },

  /** Uniform in [`minMs`, `maxMs`): cheap jitter, enough to reorder back-to-back datagrams. */
  uniform(minMs: number, maxMs: number): LatencyModel {
    checkNonNegative('uniform minMs', minMs);
    checkNonNegative('uniform maxMs', maxMs);
    if (maxMs < minMs) throw new RangeError(`uniform latency needs minMs <= maxMs, got ${minMs}, ${maxMs}`);
    const span = maxMs - minMs;
    return (random) => minMs + random.next() * span;
  },

  /**
   * `minMs` plus an exponentially distributed extra with mean `meanExtraMs`: a propagation floor
   * and a long queueing tail, the usual shape of real network delay.
   */
  exponential(minMs: number, meanExtraMs: number): LatencyModel {
    checkNonNegative('exponential minMs', minMs);
    checkNonNegative('exponential meanExtraMs', meanExtraMs);
    // Inverse-transform sampling; 1 - next() is in (0, 1], so the logarithm is finite.
    return (random) => minMs - meanExtraMs * Math.log(1 - random.next());
  },

  /**
   * Normally distributed around `meanMs` with standard deviation `sdMs`, clamped to at least
   * `minMs` (a delay cannot be negative, and a link has a physical floor). Uses the Box–Muller
   * transform on the injected generator, so it stays deterministic.
   */
  normal(meanMs: number, sdMs: number, minMs = 0): LatencyModel {
    checkNonNegative('normal meanMs', meanMs);
    checkNonNegative('normal sdMs', sdMs);
    checkNonNegative('normal minMs', minMs);
    return (random) => {
      const u1 = 1 - random.next(); // (0, 1]: keeps log() finite
      const u2 = random.next();
      const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      return Math.max(minMs, meanMs + sdMs * z);
    };
  },
};

/**
 * Fault model of one direction of a simulated link. Loss, duplication and reordering apply to
 * datagrams only; streams model TCP, which hides them, so streams see only the latency.
 */
export interface LinkConfig {
  /**
   * One-way delay of each datagram (and of each stream chunk).
   * @defaultValue `latency.fixed(1)`
   */
  readonly latency?: LatencyModel;
  /**
   * Probability (0..1) that a datagram is dropped.
   * @defaultValue 0
   */
  readonly loss?: number;
  /**
   * Probability (0..1) that a datagram is delivered twice; the copy draws its own latency.
   * @defaultValue 0
   */
  readonly duplicate?: number;
  /**
   * Probability (0..1) that a datagram is held back by up to `reorderDelayMs` extra, so that
   * datagrams sent after it can overtake it.
   * @defaultValue 0
   */
  readonly reorder?: number;
  /**
   * Upper bound of the extra delay of a reordered datagram (uniform in [0, reorderDelayMs)).
   * @defaultValue 10
   */
  readonly reorderDelayMs?: number;
}

/** A {@link LinkConfig} with every default filled in and every rate validated. */
export interface ResolvedLink {
  /** See {@link LinkConfig.latency}. */
  readonly latency: LatencyModel;
  /** See {@link LinkConfig.loss}. */
  readonly loss: number;
  /** See {@link LinkConfig.duplicate}. */
  readonly duplicate: number;
  /** See {@link LinkConfig.reorder}. */
  readonly reorder: number;
  /** See {@link LinkConfig.reorderDelayMs}. */
  readonly reorderDelayMs: number;
}

const defaultLatency = latency.fixed(1);

function checkProbability(what: string, p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${what} must be a probability in 0..1, got ${p}`);
  return p;
}

/**
 * Fills in the defaults of a {@link LinkConfig} and validates it (RangeError on rates outside
 * 0..1 or a negative reorder delay). Fields missing from `config` come from `base` when given,
 * so a per-link override can change only the loss and keep the network-wide latency.
 */
export function resolveLink(config: LinkConfig = {}, base?: ResolvedLink): ResolvedLink {
  const reorderDelayMs = config.reorderDelayMs ?? base?.reorderDelayMs ?? 10;
  checkNonNegative('reorderDelayMs', reorderDelayMs);
  return {
    latency: config.latency ?? base?.latency ?? defaultLatency,
    loss: checkProbability('loss', config.loss ?? base?.loss ?? 0),
    duplicate: checkProbability('duplicate', config.duplicate ?? base?.duplicate ?? 0),
    reorder: checkProbability('reorder', config.reorder ?? base?.reorder ?? 0),
    reorderDelayMs,
  };
}

/**
 * Draws a whole link fault model from the seed: swarm testing, as TigerBeetle's VOPR does it.
 * Fixed fault rates explore one corner of the space forever; drawing them per seed makes some
 * runs lossless but jittery, others lossy and reordering, and over many seeds covers both the
 * gentle and the hostile corners. Each fault is switched off entirely in about half the seeds,
 * because some bugs only show when one fault is absent and another is heavy.
 *
 * Ranges: loss 0..0.2, duplicate 0..0.05, reorder 0..0.2 with 1..50 ms of extra delay, and a
 * uniform latency whose bounds fall within 0.5..50 ms.
 */
export function swarmLink(random: Random): LinkConfig {
  const rate = (max: number): number => (random.chance(0.5) ? random.next() * max : 0);
  const loss = rate(0.2);
  const duplicate = rate(0.05);
  const reorder = rate(0.2);
  const reorderDelayMs = 1 + random.next() * 49;
  const a = 0.5 + random.next() * 49.5;
  const b = 0.5 + random.next() * 49.5;
  return {
    latency: latency.uniform(Math.min(a, b), Math.max(a, b)),
    loss,
    duplicate,
    reorder,
    reorderDelayMs,
  };
}
