// Command-line flags of the process benchmark.
import type { PeerImpl } from '../test/support/go-peer.js';

export const USAGE = `usage: npm run bench:membership:processes -- [flags]

Real peer processes on 127.0.0.1, Go memberlist 0.2.2 (test/go-peer) and this package
(test/ts-peer, bundled to plain JavaScript and run with node), memberlist's LAN config for
both, alternating implementations run by run. For each N: form the cluster, measure CPU and
resident memory per node right after formation, time joins, SIGKILLs and graceful leaves until
every node has reported them, then measure CPU and memory again at steady state. Writes
docs/benchmarks/membership.md between <!-- processes:begin --> and <!-- processes:end -->.

  --sizes LIST          cluster sizes, comma-separated, each in [5, 100] (default 5,20,50)
  --impls LIST          go, ts or go,ts (default go,ts)
  --runs N              repetitions per size and implementation (default 3, at most 20)
  --steady-seconds S    steady-state window (default 20)
  --settle-seconds S    wait after the cluster has formed, before the early window (default 5)
  --warm-seconds S      wait after the cycles, before the steady window (default 60)
  --cycles K            join/failure/leave cycles per cluster (default 3; a filler node
                        restores N between cycles)
  --quiet-limit-seconds S  before each cluster, wait at most this long for the machine to calm
                        down (default 60; 0 does not wait)
  --json FILE           also write every run's raw results as JSON to FILE
  --from-json FILE      measure nothing: render the report again from a --json file
  --no-report           do not write docs/benchmarks/membership.md

A smoke run: --sizes 5 --runs 1 --cycles 1 --steady-seconds 3 --settle-seconds 1 --warm-seconds 1 --no-report`;

export interface BenchArgs {
  readonly sizes: readonly number[];
  readonly impls: readonly PeerImpl[];
  readonly runs: number;
  readonly steadySeconds: number;
  readonly settleSeconds: number;
  readonly warmSeconds: number;
  readonly cycles: number;
  readonly quietLimitSeconds: number;
  readonly json: string | undefined;
  readonly fromJson: string | undefined;
  readonly report: boolean;
  readonly help: boolean;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function number(flag: string, text: string | undefined, min: number, max: number, integer: boolean): number {
  const value = Number(text);
  if (
    text === undefined ||
    text.trim() === '' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    throw new UsageError(
      `${flag} needs ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${text ?? 'nothing'}`,
    );
  }
  return value;
}

function list(flag: string, text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') throw new UsageError(`${flag} needs a comma-separated list`);
  return text.split(',').map((item) => item.trim());
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  let sizes: number[] = [5, 20, 50];
  let impls: PeerImpl[] = ['go', 'ts'];
  let runs = 3;
  let steadySeconds = 20;
  let settleSeconds = 5;
  let warmSeconds = 60;
  let cycles = 3;
  let quietLimitSeconds = 60;
  let json: string | undefined;
  let fromJson: string | undefined;
  let report = true;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--help':
      case '-h':
        help = true;
        break;
      case '--sizes':
        sizes = [...new Set(list(flag, argv[++i]).map((s) => number(flag, s, 5, 100, true)))].sort(
          (a, b) => a - b,
        );
        break;
      case '--impls':
        impls = [
          ...new Set(
            list(flag, argv[++i]).map((s) => {
              if (s !== 'go' && s !== 'ts') throw new UsageError(`${flag}: go or ts, not ${s}`);
              return s;
            }),
          ),
        ];
        break;
      case '--runs':
        runs = number(flag, argv[++i], 1, 20, true);
        break;
      case '--steady-seconds':
        steadySeconds = number(flag, argv[++i], 1, 600, false);
        break;
      case '--settle-seconds':
        settleSeconds = number(flag, argv[++i], 0, 600, false);
        break;
      case '--warm-seconds':
        warmSeconds = number(flag, argv[++i], 0, 3_600, false);
        break;
      case '--cycles':
        cycles = number(flag, argv[++i], 1, 20, true);
        break;
      case '--quiet-limit-seconds':
        quietLimitSeconds = number(flag, argv[++i], 0, 3_600, false);
        break;
      case '--json': {
        const file = argv[++i];
        if (file === undefined || file === '') throw new UsageError('--json needs a file name');
        json = file;
        break;
      }
      case '--from-json': {
        const file = argv[++i];
        if (file === undefined || file === '') throw new UsageError('--from-json needs a file name');
        fromJson = file;
        break;
      }
      case '--no-report':
        report = false;
        break;
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  return {
    sizes,
    impls,
    runs,
    steadySeconds,
    settleSeconds,
    warmSeconds,
    cycles,
    quietLimitSeconds,
    json,
    fromJson,
    report,
    help,
  };
}
