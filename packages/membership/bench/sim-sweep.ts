// The Lifeguard experiment swept over how slow the slow members are: the same runs as the
// "Simulation" section's Lifeguard table, once per range of inbound delay, both modes with the
// same seeds. Results in the "Lifeguard: how slow the slow members are" section of
// docs/benchmarks/membership.md.
//   npm run bench:membership:sweep -- [--delays 500-3000,1000-6000,2000-12000] [--sizes 50]
//     [--seeds 3] [--minutes 30] [--jobs 2] [--no-write]
import { LIFEGUARD, type LifeguardResult } from './sim-lifeguard.js';
import {
  log,
  machineLine,
  numbers,
  one,
  pool,
  publishSection,
  runCli,
  runJob,
  UsageError,
} from './sim-runner.js';
import { renderSweep, type SweepCell, spliceSweep } from './sim-sweep-report.js';

const COMMAND = 'node --conditions=@clusteros/source --import tsx packages/membership/bench/sim-sweep.ts';

const USAGE = `usage: npm run bench:membership:sweep -- [options]

Runs the Lifeguard experiment (plain SWIM and Lifeguard, same seeds) once per range of delay
that slow members' inbound traffic suffers, and writes its section of
docs/benchmarks/membership.md.

  --delays LO-HI,...   delay ranges in ms (default 500-3000,1000-6000,2000-12000)
  --sizes A,B          cluster sizes (default 50)
  --seeds K            seeds 1..K (default 3)
  --minutes M          window in simulated minutes (default 30)
  --jobs J             runs at once, one process each (default 2)
  --no-write           print the section, leave the document alone`;

interface SweepArgs {
  delays: [number, number][];
  sizes: number[];
  seeds: number;
  minutes: number;
  jobs: number;
  write: boolean;
  help: boolean;
}

function delayRanges(text: string | undefined): [number, number][] {
  if (text === undefined || text === '') throw new UsageError('--delays needs LO-HI ranges');
  return text.split(',').map((part) => {
    const match = /^(\d{1,6})-(\d{1,6})$/.exec(part);
    const lo = Number(match?.[1]);
    const hi = Number(match?.[2]);
    if (match === null || lo > hi || hi > 60_000)
      throw new UsageError(`--delays: '${part}' is not LO-HI with 0 <= LO <= HI <= 60000 (ms)`);
    return [lo, hi];
  });
}

function parseSweepArgs(argv: readonly string[]): SweepArgs {
  const args: SweepArgs = {
    delays: [
      [500, 3_000],
      [1_000, 6_000],
      [2_000, 12_000],
    ],
    sizes: [50],
    seeds: 3,
    minutes: 30,
    jobs: 2,
    write: true,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') args.help = true;
    else if (flag === '--delays') args.delays = delayRanges(argv[++i]);
    else if (flag === '--sizes') args.sizes = numbers(flag, argv[++i], 10, 1000);
    else if (flag === '--seeds') args.seeds = one(flag, argv[++i], 1, 50);
    else if (flag === '--minutes') args.minutes = one(flag, argv[++i], 1, 600);
    else if (flag === '--jobs') args.jobs = one(flag, argv[++i], 1, 16);
    else if (flag === '--no-write') args.write = false;
    else throw new UsageError(`unknown argument ${flag}`);
  }
  return args;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseSweepArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const startedAt = new Date();
  const seeds = Array.from({ length: args.seeds }, (_, i) => i + 1);
  const windowMs = args.minutes * 60_000;
  const errors: string[] = [];
  const cells = args.delays.map((delayMs) => ({ delayMs, runs: [] as LifeguardResult[] }));
  const tasks: (() => Promise<void>)[] = [];
  for (const cell of cells) {
    for (const n of args.sizes) {
      for (const seed of seeds) {
        for (const lifeguard of [false, true]) {
          tasks.push(async () => {
            const what = `N = ${n}, delay ${cell.delayMs.join('–')} ms, seed ${seed}, ${lifeguard ? 'Lifeguard' : 'SWIM'}`;
            log(`sweep: ${what}`);
            try {
              const result = await runJob<LifeguardResult>(
                {
                  kind: 'lifeguard',
                  settings: { n, seed, lifeguard, windowMs, ...LIFEGUARD, slowDelayMs: cell.delayMs },
                },
                4096,
                Math.max(20, args.minutes * 2) * 60_000,
              );
              log(
                `sweep: ${what}: ${result.falseAboutNormal} about normal, ${result.falseDeclarations} in all`,
              );
              cell.runs.push(result);
            } catch (error) {
              errors.push(`${what}: ${(error as Error).message}`);
            }
          });
        }
      }
    }
  }
  await pool(tasks, args.jobs);
  const section = renderSweep({
    command: [COMMAND, ...argv].join(' '),
    startedAt,
    finishedAt: new Date(),
    machine: machineLine(),
    sizes: args.sizes,
    seeds,
    windowMs,
    slowShare: LIFEGUARD.slowShare,
    crashes: LIFEGUARD.crashes,
    cells: cells satisfies SweepCell[],
    errors,
  });
  await publishSection(section, args.write, spliceSweep);
}

runCli('sweep', USAGE, () => main(process.argv.slice(2)));
