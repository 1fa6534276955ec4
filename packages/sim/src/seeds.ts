import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SeedFailedError } from './errors.js';

/** Options of {@link runSeeds}. */
export interface RunSeedsOptions {
  /**
   * The scenario: build a simulation from `seed`, run it, and throw (or reject) when an
   * invariant breaks. It must take all randomness from the seed.
   */
  readonly scenario: (seed: number) => void | Promise<void>;
  /**
   * How many seeds to run, starting at `firstSeed`; or an explicit list.
   * The environment variable `SIM_SEEDS` overrides a count, and `SIM_SEED_OFFSET` moves a
   * counted range (not a list) to later seeds.
   * @defaultValue 100
   */
  readonly seeds?: number | readonly number[];
  /**
   * The first seed when `seeds` is a count.
   * @defaultValue 1
   */
  readonly firstSeed?: number;
  /**
   * The test file that calls this (`import.meta.url` or a path), used to build the replay command.
   */
  readonly file?: string;
  /** Builds the command that replays one seed. Defaults to `SIM_SEED=<seed> npm test -- <file>`. */
  readonly reproduce?: (seed: number) => string;
  /**
   * Keep going after a failure and report all failing seeds (the first one is thrown at the end).
   * @defaultValue false
   */
  readonly keepGoing?: boolean;
  /** Environment to read `SIM_SEED`, `SIM_SEEDS` and `SIM_SEED_OFFSET` from. @defaultValue process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** What {@link runSeeds} did. */
export interface SeedRunReport {
  /** The seeds that ran, in order. */
  readonly seeds: readonly number[];
  /** Seeds whose scenario failed (only more than one with `keepGoing`). */
  readonly failed: readonly number[];
}

/**
 * Runs a scenario once per seed. On the first failing seed it throws {@link SeedFailedError},
 * whose message carries the seed and a command that replays exactly that seed.
 *
 * `SIM_SEED=<n>` in the environment runs only seed `n` (the replay); `SIM_SEEDS=<count>`
 * changes how many seeds a count-based run covers (a nightly job runs more), and
 * `SIM_SEED_OFFSET=<k>` adds `k` to each of them, so that successive long runs explore new
 * seeds instead of repeating the first ones. A failure's replay command names the seed itself,
 * so it needs no offset.
 */
export async function runSeeds(options: RunSeedsOptions): Promise<SeedRunReport> {
  const env = options.env ?? process.env;
  const seeds = chooseSeeds(options, env);
  const reproduce = options.reproduce ?? defaultReproduce(options.file);
  const failed: number[] = [];
  let first: SeedFailedError | undefined;
  for (const seed of seeds) {
    try {
      await options.scenario(seed);
    } catch (cause) {
      const error = new SeedFailedError(seed, reproduce(seed), { cause });
      failed.push(seed);
      first ??= error;
      if (!options.keepGoing) throw error;
    }
  }
  if (first !== undefined) {
    first.message += `\nfailing seeds (${failed.length} of ${seeds.length}): ${failed.join(', ')}`;
    throw first;
  }
  return { seeds, failed };
}

function chooseSeeds(options: RunSeedsOptions, env: Readonly<Record<string, string | undefined>>): number[] {
  const single = env.SIM_SEED;
  if (single !== undefined && single !== '') return [parseSeed(single, 'SIM_SEED')];
  if (Array.isArray(options.seeds)) return [...(options.seeds as readonly number[])];
  const override = env.SIM_SEEDS;
  const count =
    override !== undefined && override !== '' ? parseSeed(override, 'SIM_SEEDS') : (options.seeds ?? 100);
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`seed count must be a non-negative integer, got ${String(count)}`);
  }
  const offsetText = env.SIM_SEED_OFFSET;
  const offset = offsetText !== undefined && offsetText !== '' ? parseSeed(offsetText, 'SIM_SEED_OFFSET') : 0;
  const start = (options.firstSeed ?? 1) + offset;
  return Array.from({ length: count }, (_, i) => start + i);
}

function parseSeed(text: string, variable: string): number {
  if (!/^\d{1,10}$/.test(text.trim()))
    throw new RangeError(`${variable} must be a whole number, got ${text}`);
  return Number(text.trim());
}

function defaultReproduce(file: string | undefined): (seed: number) => string {
  let where = '';
  if (file !== undefined) {
    const path = file.startsWith('file:') ? fileURLToPath(file) : file;
    where = ` -- ${relative(process.cwd(), path)}`;
  }
  return (seed) => `SIM_SEED=${seed} npm test${where}`;
}
