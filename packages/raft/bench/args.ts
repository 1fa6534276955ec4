// Command-line flags of the benchmark.

export const USAGE = `usage: npm run bench:raft -- [--runs N] [--seconds N]

Runs etcd 3.4 and raft-kv side by side (3 members each on 127.0.0.1), interleaved
(etcd run 1, raft-kv run 1, etcd run 2, ...), and writes docs/benchmarks/raft.md.

  --runs N      repetitions of the whole comparison (default 3, at most 20)
  --seconds N   length of each load phase in seconds (default 5, at most 120)

Needs the build: run \`npm run build\` first. A smoke run: --runs 1 --seconds 1.`;

export interface BenchArgs {
  readonly runs: number;
  readonly seconds: number;
  readonly help: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function positive(flag: string, text: string | undefined, max: number, integer: boolean): number {
  const value = Number(text);
  if (
    text === undefined ||
    !Number.isFinite(value) ||
    value <= 0 ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new UsageError(
      `${flag} needs ${integer ? 'an integer' : 'a number'} in (0, ${max}], got ${text ?? 'nothing'}`,
    );
  }
  return value;
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  let runs = 3;
  let seconds = 5;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') help = true;
    else if (flag === '--runs') runs = positive(flag, argv[++i], 20, true);
    else if (flag === '--seconds') seconds = positive(flag, argv[++i], 120, false);
    else throw new UsageError(`unknown argument ${flag}`);
  }
  return { runs, seconds, help };
}
