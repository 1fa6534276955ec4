import { randomFillSync } from 'node:crypto';

/**
 * The one source of randomness that ClusterOS components use: member choice, shuffles,
 * election timeouts, backoff jitter. Injected, so a simulation seed fixes every choice.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number;
  /** An integer in [min, max) (unbiased). Throws RangeError unless min < max and both are safe integers. */
  int(min: number, max: number): number;
  /** True with probability `p` (0..1). */
  chance(p: number): boolean;
  /** A uniformly chosen element. Throws RangeError on an empty array. */
  pick<T>(items: readonly T[]): T;
  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[];
  /**
   * A new, independent generator derived from this one's seed and `label`. Forking per node or
   * per component keeps one component's draws from shifting another's when code changes.
   */
  fork(label: string): Random;
}

const UINT32 = 0x1_0000_0000;

/** splitmix32: spreads one 32-bit seed into well-mixed state words. */
function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return [next, (z ^ (z >>> 15)) >>> 0];
}

/** FNV-1a over a string: turns fork labels into 32-bit numbers. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A fast seeded PRNG: **xoshiro128\*\*** (Blackman and Vigna, 2018), 128 bits of state,
 * period 2^128 − 1, state initialised from the seed with splitmix32. Only 32-bit integer
 * operations (`Math.imul`, shifts), so results are identical on every JavaScript engine.
 *
 * Not cryptographic: use it for simulation and protocol choices, never for keys or tokens.
 */
export class SeededRandom implements Random {
  /** The seed this generator was created with (after reduction to 32 bits). */
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Creates a generator; equal seeds give equal sequences. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    this.seed = Math.trunc(seed) >>> 0;
    let s = this.seed;
    let out: number;
    [s, out] = splitmix32(s);
    this.#a = out;
    [s, out] = splitmix32(s);
    this.#b = out;
    [s, out] = splitmix32(s);
    this.#c = out;
    [s, out] = splitmix32(s);
    this.#d = out;
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1;
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  next(): number {
    return this.nextUint32() / UINT32;
  }

  int(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min >= max) {
      throw new RangeError(`int(min, max) needs safe integers with min < max, got ${min}, ${max}`);
    }
    const span = max - min;
    if (span <= UINT32) {
      // Rejection sampling: drop the top sliver that would bias small results.
      const limit = UINT32 - (UINT32 % span);
      let x = this.nextUint32();
      while (x >= limit) x = this.nextUint32();
      return min + (x % span);
    }
    // Wide ranges: build a 53-bit float from two draws.
    const high = this.nextUint32() >>> 5;
    const low = this.nextUint32() >>> 6;
    const unit = (high * 67108864 + low) / 9007199254740992;
    return min + Math.floor(unit * span);
  }

  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick() from an empty array');
    return items[this.int(0, items.length)] as T;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  fork(label: string): Random {
    return new SeededRandom((this.seed ^ hashLabel(label)) >>> 0 || hashLabel(`${label}#`));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A {@link SeededRandom} seeded from the operating system's CSPRNG: what production code gets
 * when no `random` is injected. Still not for secrets.
 */
export function systemRandom(): SeededRandom {
  const seed = new Uint32Array(1);
  randomFillSync(seed);
  return new SeededRandom(seed[0] ?? 1);
}
