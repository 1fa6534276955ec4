// The membership simulation benchmarks: scale (join, steady state, failure detection, simulation
// speed) and Lifeguard vs plain SWIM with slow members. One command, results in the "Simulation"
// section of docs/benchmarks/membership.md.
//   npm run bench:membership:sim -- [--quick] [--only scale|lifeguard] [--sizes 1000,2000]
//     [--attempt 10000] [--attempt-minutes 10] [--seeds 5] [--lifeguard-sizes 100,50]
//     [--minutes 30] [--jobs 2]
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { lanConfig, pushPullScale } from '@clusteros/membership';
import type { Job } from './sim-job.js';
import { LIFEGUARD, type LifeguardResult } from './sim-lifeguard.js';
import {
  type Facts,
  type LifeguardSetup,
  type ReportInput,
  renderSection,
  type ScaleRun,
  spliceSection,
} from './sim-report.js';
import { log, numbers, one, pool, REPORT, runCli, runJob, UsageError } from './sim-runner.js';
import type { ScaleResult } from './sim-scale.js';

const COMMAND = 'node --conditions=@clusteros/source --import tsx packages/membership/bench/sim-main.ts';

const USAGE = `usage: npm run bench:membership:sim -- [options]

Simulates memberlist clusters (the real runtime on @clusteros/sim) and writes the "Simulation"
section of docs/benchmarks/membership.md.

  --only scale|lifeguard   run one of the two parts (default both)
  --sizes A,B              scale runs that must finish (default 1000,2000)
  --attempt N              a budgeted scale run that may stop early (default 10000; 0 = none)
  --attempt-minutes M      its wall-time budget (default 10)
  --seeds K                Lifeguard seeds 1..K (default 5)
  --lifeguard-sizes A,B    Lifeguard cluster sizes (default 100,50)
  --minutes M              Lifeguard window in simulated minutes (default 30)
  --jobs J                 Lifeguard runs at once, one process each (default 2)
  --quick                  a smoke run: --sizes 200 --attempt 0 --seeds 1 --lifeguard-sizes 50 --minutes 2
  --no-write               print the tables, leave the document alone`;

interface Args {
  only: 'scale' | 'lifeguard' | null;
  sizes: number[];
  attempt: number;
  attemptMinutes: number;
  seeds: number;
  lifeguardSizes: number[];
  minutes: number;
  jobs: number;
  write: boolean;
  help: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    only: null,
    sizes: [1000, 2000],
    attempt: 10_000,
    attemptMinutes: 10,
    seeds: 5,
    lifeguardSizes: [100, 50],
    minutes: 30,
    jobs: 2,
    write: true,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') args.help = true;
    else if (flag === '--only') {
      const what = argv[++i];
      if (what !== 'scale' && what !== 'lifeguard') throw new UsageError('--only takes scale or lifeguard');
      args.only = what;
    } else if (flag === '--sizes') args.sizes = numbers(flag, argv[++i], 3, 5000);
    else if (flag === '--attempt') args.attempt = one(flag, argv[++i], 0, 65_000);
    else if (flag === '--attempt-minutes') args.attemptMinutes = one(flag, argv[++i], 1, 120);
    else if (flag === '--seeds') args.seeds = one(flag, argv[++i], 1, 50);
    else if (flag === '--lifeguard-sizes') args.lifeguardSizes = numbers(flag, argv[++i], 10, 1000);
    else if (flag === '--minutes') args.minutes = one(flag, argv[++i], 1, 600);
    else if (flag === '--jobs') args.jobs = one(flag, argv[++i], 1, 16);
    else if (flag === '--no-write') args.write = false;
    else if (flag === '--quick') {
      args.sizes = [200];
      args.attempt = 0;
      args.seeds = 1;
      args.lifeguardSizes = [50];
      args.minutes = 2;
    } else throw new UsageError(`unknown argument ${flag}`);
  }
  return args;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const loads = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const JOIN_EVERY_MS = 10;
const STEADY_MS = 60_000;

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const startedAt = new Date();
  const loadStart = loads();
  const command = [COMMAND, ...argv].join(' ');
  const budgetMs = args.attemptMinutes * 60_000;

  const scale: ScaleRun[] = [];
  if (args.only !== 'lifeguard') {
    const plan: { n: number; kind: 'full' | 'attempt' }[] = [
      ...args.sizes.map((n) => ({ n, kind: 'full' as const })),
      ...(args.attempt > 0 ? [{ n: args.attempt, kind: 'attempt' as const }] : []),
    ];
    // One at a time: the speed rows should not share the machine with another run.
    for (const { n, kind } of plan) {
      log(`scale: N = ${n}${kind === 'attempt' ? ` (budget ${args.attemptMinutes} min)` : ''}`);
      const wallLimitMs = kind === 'attempt' ? budgetMs : 90 * 60_000;
      const heapLimitBytes = (kind === 'attempt' ? 4 : 8) * 2 ** 30;
      const job: Job = {
        kind: 'scale',
        settings: {
          n,
          seed: 1,
          joinEveryMs: JOIN_EVERY_MS,
          convergeLimitMs: 600_000,
          settleLimitMs: 120_000,
          steadyMs: Math.max(STEADY_MS, pushPullScale(lanConfig().pushPullIntervalMs, n)),
          failureLimitMs: 120_000,
          wallLimitMs,
          heapLimitBytes,
        },
      };
      try {
        // The heap limit leaves room above the budget, so that the run stops by itself first.
        const heapMiB = Math.round(heapLimitBytes / 2 ** 20) + 2048;
        const result = await runJob<ScaleResult>(job, heapMiB, wallLimitMs + 30 * 60_000);
        scale.push({ n, kind, result, error: '' });
      } catch (error) {
        log(`scale: N = ${n} failed: ${(error as Error).message}`);
        scale.push({ n, kind, result: null, error: (error as Error).message });
      }
    }
  }

  let lifeguardSetup: LifeguardSetup | null = null;
  const lifeguard: LifeguardResult[] = [];
  const lifeguardErrors: string[] = [];
  if (args.only !== 'scale') {
    const seeds = Array.from({ length: args.seeds }, (_, i) => i + 1);
    const windowMs = args.minutes * 60_000;
    lifeguardSetup = { sizes: args.lifeguardSizes, seeds, windowMs, ...LIFEGUARD };
    const tasks: (() => Promise<LifeguardResult | null>)[] = [];
    for (const n of args.lifeguardSizes) {
      for (const seed of seeds) {
        for (const mode of [false, true]) {
          tasks.push(async () => {
            const what = `N = ${n} seed ${seed} ${mode ? 'Lifeguard' : 'SWIM'}`;
            log(`lifeguard: ${what}`);
            try {
              const result = await runJob<LifeguardResult>(
                { kind: 'lifeguard', settings: { n, seed, lifeguard: mode, windowMs, ...LIFEGUARD } },
                4096,
                // Far above what a run takes (about 10 s of wall time per simulated minute at N = 100).
                Math.max(20, args.minutes * 2) * 60_000,
              );
              log(
                `lifeguard: ${what}: ${result.falseDeclarations} false declarations, ` +
                  `${(result.wallMs / 1000).toFixed(0)} s wall`,
              );
              return result;
            } catch (error) {
              lifeguardErrors.push(`${what}: ${(error as Error).message}`);
              return null;
            }
          });
        }
      }
    }
    for (const result of await pool(tasks, args.jobs)) if (result !== null) lifeguard.push(result);
  }

  const facts: Facts = {
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    loadStart,
    loadEnd: loads(),
  };
  const input: ReportInput = {
    command,
    startedAt,
    finishedAt: new Date(),
    facts,
    joinEveryMs: JOIN_EVERY_MS,
    steadyMs: STEADY_MS,
    attemptBudgetMs: budgetMs,
    scale,
    lifeguardSetup,
    lifeguard,
    lifeguardErrors,
  };
  const section = renderSection(input);
  console.log(section);
  if (args.write) {
    await mkdir(dirname(REPORT), { recursive: true });
    const existing = await readFile(REPORT, 'utf8').catch(() => null);
    await writeFile(REPORT, spliceSection(existing, section, args.only));
    log(`wrote ${REPORT}`);
  }
}

runCli('bench', USAGE, () => main(process.argv.slice(2)));
