// The converged-start benchmark (sim-converged.ts), one worker process per cluster size:
//   npm run bench:membership:converged -- [--sizes 1000,10000] [--seed 1] [--steady-s 60] [--no-write]
import type { ConvergedResult } from './sim-converged.js';
import { renderConverged, spliceConverged } from './sim-converged-report.js';
import { log, machineLine, numbers, one, publishSection, runCli, runJob, UsageError } from './sim-runner.js';

const COMMAND =
  'node --conditions=@clusteros/source --import tsx packages/membership/bench/sim-converged-main.ts';

const USAGE = `usage: npm run bench:membership:converged -- [options]

Builds N members' complete views directly (as after a finished rollout), then measures one
join, an undisturbed window and one crash with the real runtime in simulation; one worker
process per size, in order. Writes its section of docs/benchmarks/membership.md.

  --sizes A,B     cluster sizes (default 1000,10000)
  --seed S        seed (default 1)
  --steady-s T    undisturbed window in simulated seconds (default 60)
  --no-write      print the section, leave the document alone`;

interface ConvergedArgs {
  sizes: number[];
  seed: number;
  steadyS: number;
  write: boolean;
  help: boolean;
}

function parseArgs(argv: readonly string[]): ConvergedArgs {
  const args: ConvergedArgs = { sizes: [1000, 10_000], seed: 1, steadyS: 60, write: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') args.help = true;
    else if (flag === '--sizes') args.sizes = numbers(flag, argv[++i], 3, 20_000);
    else if (flag === '--seed') args.seed = one(flag, argv[++i], 1, 1_000_000);
    else if (flag === '--steady-s') args.steadyS = one(flag, argv[++i], 1, 3_600);
    else if (flag === '--no-write') args.write = false;
    else throw new UsageError(`unknown argument ${flag}`);
  }
  return args;
}

/** Heap for a run: the N² table slots (about 50 bytes each) and room for the simulation. */
function heapMiB(n: number): number {
  return Math.ceil(Math.max(2048, (n * n * 50 * 2.5) / 2 ** 20));
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const startedAt = new Date();
  const runs: ConvergedResult[] = [];
  const errors: string[] = [];
  for (const n of args.sizes) {
    log(`converged: N = ${n}, seed ${args.seed}`);
    try {
      runs.push(
        await runJob<ConvergedResult>(
          {
            kind: 'converged',
            settings: { n, seed: args.seed, steadyMs: args.steadyS * 1000, phaseLimitMs: 120_000 },
          },
          heapMiB(n),
          4 * 60 * 60_000,
        ),
      );
    } catch (error) {
      errors.push(`N = ${n}: ${(error as Error).message}`);
    }
  }
  const section = renderConverged({
    command: [COMMAND, ...argv].join(' '),
    startedAt,
    finishedAt: new Date(),
    machine: machineLine(),
    runs,
    errors,
  });
  await publishSection(section, args.write, spliceConverged);
}

runCli('converged', USAGE, () => main(process.argv.slice(2)));
