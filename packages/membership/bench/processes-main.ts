// Real processes on loopback, Go memberlist 0.2.2 and this package side by side in the same run:
// join, failure and leave propagation; CPU and resident memory per node at steady state.
//   npm run bench:membership:processes -- [--sizes 5,20,50] [--runs N] [--help]
// Results go to docs/benchmarks/membership.md, between <!-- processes:begin --> and
// <!-- processes:end -->.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { goPeerBinary, type Peer, type PeerImpl } from '../test/support/go-peer.js';
import { parseArgs, USAGE, UsageError } from './processes-args.js';
import { type Bundle, bundleTsPeer, REPO } from './processes-bundle.js';
import { runCluster } from './processes-cluster.js';
import { bareNodeRssMiB, waitForQuiet } from './processes-proc.js';
import {
  type Attempt,
  type MachineFacts,
  type ReportInput,
  renderSection,
  writeSection,
} from './processes-report.js';

const REPORT = join(REPO, 'docs/benchmarks/membership.md');
const PAUSE_MS = 3_000;
const QUIET_MAX_CORES = 0.5;

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

/** Every peer started and not yet known to have exited: stopped by PID on a signal or exit. */
const live = new Set<Peer>();

function track(peer: Peer): void {
  live.add(peer);
  void peer.exited.then(() => live.delete(peer));
}

function killAllSync(): void {
  for (const peer of live) {
    try {
      process.kill(peer.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function installCleanup(): void {
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping peers...\n`);
      void Promise.allSettled([...live].map((p) => p.kill('SIGKILL'))).finally(() => process.exit(130));
    });
  }
}

const loadAverage = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function machineFacts(): MachineFacts {
  let cpuModel = 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    cpuModel = line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    // not Linux
  }
  let go = 'go: unknown';
  try {
    go = execFileSync('go', ['version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    // reported as unknown
  }
  return {
    cpus: availableParallelism(),
    cpuModel,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    go,
    loadStart: loadAverage(),
    loadEnd: '',
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (args.fromJson !== undefined) {
    const saved = JSON.parse(await readFile(args.fromJson, 'utf8')) as ReportInput;
    const input: ReportInput = {
      ...saved,
      startedAt: new Date(saved.startedAt),
      finishedAt: new Date(saved.finishedAt),
      // Older files lack it; it is a property of this machine's node, measured now.
      facts: {
        ...saved.facts,
        nodeBaselineRssMiB: saved.facts.nodeBaselineRssMiB ?? (await bareNodeRssMiB()),
      },
    };
    await publish(input, args.report);
    return;
  }
  installCleanup();
  const startedAt = new Date();
  const facts = { ...machineFacts(), nodeBaselineRssMiB: await bareNodeRssMiB() };
  const command = ['npm run bench:membership:processes', ...(argv.length > 0 ? ['--', ...argv] : [])].join(
    ' ',
  );
  log(
    `bench: sizes ${args.sizes.join(',')}, impls ${args.impls.join(',')}, ${args.runs} run(s); load ${facts.loadStart}`,
  );
  if (args.impls.includes('go')) await goPeerBinary();
  let bundle: Bundle | undefined;
  const attempts: Attempt[] = [];
  try {
    bundle = await bundleTsPeer();
    for (const n of args.sizes) {
      for (let run = 1; run <= args.runs; run++) {
        const order: PeerImpl[] = run % 2 === 1 ? ['go', 'ts'] : ['ts', 'go'];
        for (const impl of order.filter((i) => args.impls.includes(i))) {
          const quiet = await waitForQuiet(args.quietLimitSeconds * 1000, QUIET_MAX_CORES);
          log(
            `N=${n} run ${run}/${args.runs} ${impl} (machine ${quiet.busyCores.toFixed(2)} cores busy, waited ${(quiet.waitedMs / 1000).toFixed(0)} s)`,
          );
          try {
            const result = await runCluster({
              impl,
              n,
              tsBundle: bundle.file,
              config: 'lan',
              settleMs: args.settleSeconds * 1000,
              warmMs: args.warmSeconds * 1000,
              steadyMs: args.steadySeconds * 1000,
              cycles: args.cycles,
              pauseMs: PAUSE_MS,
              formLimitMs: 60_000 + n * 2_000,
              propagationLimitMs: 60_000,
              failureLimitMs: 120_000,
              track,
              log,
            });
            attempts.push({ n, impl, run, quiet, result });
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            log(`  ${impl} N=${n} run ${run} failed: ${message}`);
            attempts.push({ n, impl, run, quiet, error: message });
          }
        }
      }
    }
  } finally {
    await Promise.allSettled([...live].map((p) => p.kill('SIGKILL')));
    await bundle?.remove();
  }

  const input: ReportInput = {
    command,
    startedAt,
    finishedAt: new Date(),
    facts: { ...facts, loadEnd: loadAverage() },
    sizes: args.sizes,
    impls: args.impls,
    runs: args.runs,
    steadySeconds: args.steadySeconds,
    settleSeconds: args.settleSeconds,
    warmSeconds: args.warmSeconds,
    cycles: args.cycles,
    pauseMs: PAUSE_MS,
    quietMaxCores: QUIET_MAX_CORES,
    quietLimitSeconds: args.quietLimitSeconds,
    bundleFlags: bundle?.flags ?? [],
    attempts,
  };
  if (args.json !== undefined) {
    await mkdir(dirname(args.json), { recursive: true });
    await writeFile(args.json, `${JSON.stringify(input, null, 1)}\n`);
    log(`wrote ${args.json}`);
  }
  await publish(input, args.report);
}

async function publish(input: ReportInput, report: boolean): Promise<void> {
  const section = renderSection(input);
  console.log(section);
  if (report) {
    await writeSection(REPORT, section);
    log(`wrote ${REPORT}`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    killAllSync();
    if (error instanceof UsageError) {
      console.error(`bench: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
