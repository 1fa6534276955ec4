/**
 * Benchmark of `@clusteros/roles` with real processes: how long a singleton role is unavailable
 * (i) after SIGKILL of its holder, measured against the lease TTL (goal: under 2 × TTL), and
 * (ii) during a planned handoff of the stateless `job-server` role (goal: under 100 ms), as a
 * client polling every ~1 ms sees it. Writes docs/benchmarks/roles.md.
 *
 *   npm run bench:roles -- [--runs N] [--ttl-ms N]
 *
 * Each run starts a fresh three-node cluster (test/process-node/main.ts through
 * test/support/process-cluster.ts: Raft over TCP on 127.0.0.1, FileStorage on disk, a RoleManager
 * with the job-server role whose child is a real HTTP server), waits for the holder, then
 * (ii) hands the role to another node while a client polls all three job ports, and (i) SIGKILLs
 * the holder while the client polls. Every node event carries the host's wall clock, so the
 * report also splits each handoff and failover into its steps: that is how one sees where the
 * time goes, not only how much there is. Before each run it waits (bounded) for the machine to be
 * quiet and records how busy it was (a shared 2-core machine).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Quiet, waitForQuiet } from '../../../scripts/bench/proc.js';
import {
  changeover,
  type Holder,
  JobClient,
  type NodeEvent,
  type NodeProcess,
  ProcessCluster,
  type ProcessClusterOptions,
  REPO_ROOT,
} from '../test/support/process-cluster.js';

const USAGE = `usage: npm run bench:roles -- [--runs N] [--ttl-ms N]

Starts three role-manager nodes (one process each, 127.0.0.1) per run and measures
(i) SIGKILL of the job-server holder -> a new holder's child answers, against the lease TTL,
(ii) the client-observed gap of a planned handoff of the job-server role.
Writes docs/benchmarks/roles.md.

  --runs N     repetitions, each on a fresh cluster (default 10, at most 50)
  --ttl-ms N   lease TTL in ms (default 2000)`;

const REPORT = join(REPO_ROOT, 'docs/benchmarks/roles.md');
const HEARTBEAT_MS = 50;
const ELECTION_TIMEOUT_MS = 300;
const TICK_MS = 100;
/** The node's lease settings besides the TTL (process-node/main.ts defaults, one host clock). */
const MAX_CLOCK_SKEW_MS = 100;
const SAFETY_MARGIN_MS = 100;
const POLL_PAUSE_MS = 1;
/** Before each run: wait for the machine to be this idle (cores busy), at most this long. */
const QUIET_MAX_CORES = 0.5;
const QUIET_LIMIT_MS = 30_000;
const HANDOFF_GOAL_MS = 100;

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Args {
  readonly runs: number;
  readonly ttlMs: number;
  readonly help: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let runs = 10;
  let ttlMs = 2_000;
  let help = false;
  const integer = (flag: string, text: string | undefined, min: number, max: number): number => {
    const value = Number(text);
    if (text === undefined || !Number.isInteger(value) || value < min || value > max)
      throw new UsageError(`${flag} needs an integer in [${min}, ${max}], got ${text ?? 'nothing'}`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') help = true;
    else if (flag === '--runs') runs = integer(flag, argv[++i], 1, 50);
    else if (flag === '--ttl-ms') ttlMs = integer(flag, argv[++i], 1_000, 60_000);
    else throw new UsageError(`unknown argument ${flag}`);
  }
  return { runs, ttlMs, help };
}

// ---------------------------------------------------------------------------------------------
// Statistics.

interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

function spread(values: readonly number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, count: 0 };
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return {
    median,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    count: sorted.length,
  };
}

const ms = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(0)} ms` : 'n/a');
const cell = (s: Spread, format: (value: number) => string = ms): string =>
  s.count === 0 ? 'n/a' : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;

// ---------------------------------------------------------------------------------------------
// One run.

/** Named intervals of one handoff or failover, ms. */
type Steps = Record<string, number>;

interface HandoffRun {
  readonly gapMs: number;
  readonly transferMs: number;
  readonly from: string;
  readonly to: string;
  readonly oldToken: number;
  readonly newToken: number;
  readonly oldAfterNew: number;
  readonly steps: Steps;
}

interface FailoverRun {
  readonly failoverMs: number;
  readonly from: string;
  readonly to: string;
  readonly steps: Steps;
}

interface RunResult {
  readonly index: number;
  readonly quiet: Quiet;
  readonly startupMs: number;
  readonly handoff: HandoffRun | string;
  readonly failover: FailoverRun | string;
}

function firstEvent(
  node: NodeProcess,
  match: (event: NodeEvent) => boolean,
  after: number,
): NodeEvent | undefined {
  return node.log.find((event) => event.at >= after && match(event));
}

const roleCall =
  (call: string, phase: string) =>
  (event: NodeEvent): boolean =>
    event.event === 'role-call' && event.call === call && event.phase === phase;

const since = (later: NodeEvent | number | undefined, earlier: NodeEvent | number | undefined): number => {
  const a = typeof later === 'number' ? later : later?.at;
  const b = typeof earlier === 'number' ? earlier : earlier?.at;
  return a === undefined || b === undefined ? Number.NaN : a - b;
};

async function measureHandoff(cluster: ProcessCluster, holder: Holder): Promise<HandoffRun> {
  const ids = cluster.nodes.map((node) => node.id);
  const target = cluster.node(ids[(ids.indexOf(holder.node.id) + 1) % ids.length] ?? '');
  const client = new JobClient(
    cluster.nodes.map((node) => node.jobPort),
    { pauseMs: POLL_PAUSE_MS, maxMs: 60_000 },
  );
  let result: Awaited<ReturnType<NodeProcess['transfer']>>;
  let sentWall: number;
  let sentPerf: number;
  try {
    await client.waitFor(
      (answers) => answers.filter((answer) => answer.token === holder.token).length >= 100,
      20_000,
      '100 answers from the holder',
    );
    sentWall = Date.now();
    sentPerf = performance.now();
    result = await holder.node.transfer(target.id, 10_000);
    const newToken = result.fencingToken;
    await client.waitFor(
      (answers) => answers.filter((answer) => answer.token === newToken).length >= 100,
      10_000,
      '100 answers from the new holder',
    );
  } finally {
    await client.stop();
  }
  const transferMs = performance.now() - sentPerf;
  const seen = changeover(client.answers, holder.token, result.fencingToken);
  // The client may see the new holder before the nodes' last lines arrive: wait for them.
  await holder.node.waitFor((event) => event.event === 'handoff-completed', 10_000, 'handoff-completed');
  await target.waitFor(
    (event) => event.event === 'started' && event.fencingToken === result.fencingToken,
    10_000,
    'started on the target',
  );
  const old = holder.node;
  const started = firstEvent(old, (e) => e.event === 'handoff-started', sentWall);
  const prepBegin = firstEvent(old, roleCall('prepareHandoff', 'begin'), sentWall);
  const prepEnd = firstEvent(old, roleCall('prepareHandoff', 'end'), sentWall);
  const prepared = firstEvent(old, (e) => e.event === 'handoff-prepared', sentWall);
  const acceptBegin = firstEvent(target, roleCall('acceptHandoff', 'begin'), sentWall);
  const spawned = firstEvent(target, (e) => e.event === 'child' && e.what === 'spawned', sentWall);
  const listening = firstEvent(target, (e) => e.event === 'child' && e.what === 'listening', sentWall);
  const acceptEnd = firstEvent(target, roleCall('acceptHandoff', 'end'), sentWall);
  const accepted = firstEvent(target, (e) => e.event === 'handoff-accepted', sentWall);
  const startBegin = firstEvent(target, roleCall('start', 'begin'), sentWall);
  const startEnd = firstEvent(target, roleCall('start', 'end'), sentWall);
  const completed = firstEvent(old, (e) => e.event === 'handoff-completed', sentWall);
  const steps: Steps = {
    'transfer sent → target warmed up, old holder begins to quiesce (handoff-started)': since(
      started,
      sentWall,
    ),
    'prepareHandoff (POST /quiesce)': since(prepEnd, prepBegin),
    'last old answer (client) → quiesced': since(prepEnd, seen.lastOldAnswer?.receivedWall),
    'quiesced → prepared record committed (handoff-prepared)': since(prepared, prepEnd),
    'prepared → target begins acceptHandoff': since(acceptBegin, prepared),
    'warmHandoff (before the window): spawn → child listening': since(listening, spawned),
    'acceptHandoff: whole call': since(acceptEnd, acceptBegin),
    'acceptHandoff end → lease moved (health poll, move txn; the grant was sent with the state)': since(
      accepted,
      acceptEnd,
    ),
    'lease moved → start begins': since(startBegin, accepted),
    'start (POST /activate)': since(startEnd, startBegin),
    'start end → first new answer (client)': since(seen.firstNewAnswer?.receivedWall, startEnd),
    'lease moved → handoff-completed on the old holder': since(completed, accepted),
  };
  return {
    gapMs: seen.gapMs,
    transferMs,
    from: holder.node.id,
    to: target.id,
    oldToken: holder.token,
    newToken: result.fencingToken,
    oldAfterNew: seen.oldAfterNew,
    steps,
  };
}

async function measureFailover(cluster: ProcessCluster, holder: Holder): Promise<FailoverRun> {
  const client = new JobClient(
    cluster.nodes.map((node) => node.jobPort),
    { pauseMs: POLL_PAUSE_MS, maxMs: 60_000 },
  );
  let failoverMs = Number.NaN;
  let killWall = 0;
  let first: ReturnType<typeof changeover>['firstNewAnswer'];
  try {
    await client.waitFor((answers) => answers.length >= 100, 20_000, '100 answers before the kill');
    // The last renewal before the kill decides when the lease expires; record when that was.
    killWall = Date.now();
    const killPerf = performance.now();
    holder.node.signal('SIGKILL');
    await client.waitFor(
      (answers) => answers.some((answer) => (answer.token ?? 0) > holder.token),
      4 * cluster.ttlMs + 20_000,
      'an answer from a new holder',
    );
    first = client.answers.find((answer) => (answer.token ?? 0) > holder.token);
    failoverMs = (first?.receivedAt ?? Number.NaN) - killPerf;
  } finally {
    await client.stop();
  }
  const to = cluster.node(first?.node ?? '');
  // The child answers as soon as it listens, before `start` returns: wait for the node's lines.
  await to.waitFor((event) => event.event === 'started' && event.at >= killWall, 10_000, 'started');
  const acquired = firstEvent(to, (e) => e.event === 'leader-acquired', killWall);
  const startBegin = firstEvent(to, roleCall('start', 'begin'), killWall);
  const spawned = firstEvent(to, (e) => e.event === 'child' && e.what === 'spawned', killWall);
  const listening = firstEvent(to, (e) => e.event === 'child' && e.what === 'listening', killWall);
  const startEnd = firstEvent(to, roleCall('start', 'end'), killWall);
  const steps: Steps = {
    'SIGKILL → new holder acquires the lease (expiry, stagger, campaign)': since(acquired, killWall),
    'lease acquired → start begins': since(startBegin, acquired),
    'start: spawn → child listening': since(listening, spawned),
    'start: whole call': since(startEnd, startBegin),
    'child listening → first answer (client)': since(first?.receivedWall, listening),
  };
  return { failoverMs, from: holder.node.id, to: to.id, steps };
}

let current: ProcessCluster | undefined;

async function oneRun(index: number, settings: ProcessClusterOptions): Promise<RunResult> {
  const quiet = await waitForQuiet(QUIET_LIMIT_MS, QUIET_MAX_CORES);
  const startedAt = performance.now();
  const cluster = await ProcessCluster.start(settings);
  current = cluster;
  let handoff: HandoffRun | string = 'not run';
  let failover: FailoverRun | string = 'not run';
  let startupMs = Number.NaN;
  try {
    const holder = await cluster.waitForHolder(60_000);
    startupMs = performance.now() - startedAt;
    try {
      handoff = await measureHandoff(cluster, holder);
    } catch (error) {
      handoff = (error as Error).message.split('\n')[0] ?? 'failed';
    }
    try {
      const now = await cluster.waitForHolder(20_000);
      failover = await measureFailover(cluster, now);
    } catch (error) {
      failover = (error as Error).message.split('\n')[0] ?? 'failed';
    }
  } finally {
    await cluster.stop();
    current = undefined;
  }
  return { index, quiet, startupMs, handoff, failover };
}

// ---------------------------------------------------------------------------------------------
// Report.

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

function machineFacts(): [string, string][] {
  let cpuModel = 'unknown';
  try {
    cpuModel =
      readFileSync('/proc/cpuinfo', 'utf8')
        .split('\n')
        .find((line) => line.startsWith('model name'))
        ?.split(':')[1]
        ?.trim() ?? 'unknown';
  } catch {
    // not Linux
  }
  const df = (run('df', ['-T', tmpdir()]).split('\n')[1] ?? '').trim().split(/\s+/);
  return [
    ['CPUs (nproc)', String(availableParallelism())],
    ['CPU model (/proc/cpuinfo)', cpuModel],
    ['memory', `${Math.round(totalmem() / 2 ** 30)} GiB`],
    ['kernel', release()],
    ['Node.js', process.version],
    [
      'data folders',
      `fresh \`mkdtemp\` under ${tmpdir()}, filesystem ${df[1] ?? '?'} (${df[0] ?? '?'} mounted on ${df[6] ?? '?'})`,
    ],
  ];
}

const loadText = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function stepTable(title: string, runs: readonly Steps[]): string[] {
  const names = runs[0] === undefined ? [] : Object.keys(runs[0]);
  const lines = [`| ${title} | median (min–max) |`, '| --- | --- |'];
  for (const name of names)
    lines.push(`| ${name} | ${cell(spread(runs.map((steps) => steps[name] ?? Number.NaN)))} |`);
  return lines;
}

/** A generated paragraph: how the median gap splits over the steps inside the window. */
function windowShares(runs: readonly Steps[], gapMedian: number): string[] {
  const median = (name: string): number => spread(runs.map((steps) => steps[name] ?? Number.NaN)).median;
  const warm = median('acceptHandoff: whole call');
  const move = median(
    'acceptHandoff end → lease moved (health poll, move txn; the grant was sent with the state)',
  );
  const prepared = median('quiesced → prepared record committed (handoff-prepared)');
  const activate =
    median('lease moved → start begins') +
    median('start (POST /activate)') +
    median('start end → first new answer (client)');
  const rest = gapMedian - warm - move - prepared - activate;
  if (![warm, move, prepared, activate, gapMedian].every(Number.isFinite)) return [];
  const share = (value: number): string => `${ms(value)} (${((100 * value) / gapMedian).toFixed(0)} %)`;
  return [
    `Of the median gap of ${ms(gapMedian)} (medians of the steps, so the parts add up only roughly):`,
    `the target's \`acceptHandoff\` (applying the state to its warm child) ${share(warm)};`,
    `moving the lease (the manager's health poll, then the move transaction; the lease grant went out`,
    `with the state) ${share(move)}; recording \`prepared\` ${share(prepared)}; activating the`,
    `warm child and its first answer ${share(activate)}; the rest (the client's poll interval, notifications`,
    `between processes) ${ms(rest)}. Starting the child's Node process happens in \`warmHandoff\`, before`,
    `the old holder quiesces (record phase \`ready\`), so it is not in the window.`,
  ];
}

function renderReport(input: {
  readonly args: Args;
  readonly results: readonly RunResult[];
  readonly startedAt: Date;
  readonly tookMs: number;
  readonly loadStart: string;
  readonly loadEnd: string;
  readonly facts: readonly [string, string][];
}): string {
  const { args, results } = input;
  const ttl = args.ttlMs;
  const renewEveryMs = Math.floor(ttl / 3);
  const safeWindowMs = ttl - 2 * MAX_CLOCK_SKEW_MS - SAFETY_MARGIN_MS;
  const handoffs = results.flatMap((r) => (typeof r.handoff === 'string' ? [] : [r.handoff]));
  const failovers = results.flatMap((r) => (typeof r.failover === 'string' ? [] : [r.failover]));
  const gap = spread(handoffs.map((h) => h.gapMs));
  const failover = spread(failovers.map((f) => f.failoverMs));
  const transfer = spread(handoffs.map((h) => h.transferMs));
  const failures = results.flatMap((r) => [
    ...(typeof r.handoff === 'string' ? [`run ${r.index}, handoff: ${r.handoff}`] : []),
    ...(typeof r.failover === 'string' ? [`run ${r.index}, failover: ${r.failover}`] : []),
  ]);
  const overlaps = handoffs.filter((h) => h.oldAfterNew > 0).length;
  const met = (value: number, goal: number): string =>
    Number.isFinite(value) ? (value < goal ? 'yes' : '**no**') : 'n/a';
  const lines: string[] = [
    '# Benchmark: @clusteros/roles failover and planned handoff',
    '',
    'Generated by the benchmark itself (`packages/roles/bench/main.ts`); do not edit by hand, re-run it.',
    '',
    `- Command: \`npm run bench:roles${args.runs === 10 && ttl === 2_000 ? '' : ` -- --runs ${args.runs} --ttl-ms ${ttl}`}\` (runs \`node --conditions=@clusteros/source --import tsx packages/roles/bench/main.ts\`; no build needed)`,
    `- Date: ${input.startedAt.toISOString()} (took ${(input.tookMs / 60_000).toFixed(1)} min)`,
    `- Runs: ${args.runs}, each on a freshly started three-node cluster; ${results.length - failures.length === results.length ? 'none failed' : `${failures.length} measurement(s) failed (listed below)`}`,
    '',
    '## Machine',
    '',
    '| fact | value |',
    '| --- | --- |',
    ...input.facts.map(([fact, value]) => `| ${fact} | ${value} |`),
    `| load average (1/5/15 min) at start → end | ${input.loadStart} → ${input.loadEnd} |`,
    `| busy cores in the 1 s before each run (nothing of ours running) | ${cell(
      spread(results.map((r) => r.quiet.busyCores)),
      (cores) => cores.toFixed(2),
    )} |`,
    '',
    '## Settings',
    '',
    '| setting | value |',
    '| --- | --- |',
    '| nodes | 3 processes on 127.0.0.1 (`packages/roles/test/process-node/main.ts`), one Raft member + one `RoleManager` each |',
    `| lease TTL | ${ttl} ms |`,
    `| lease renewal | every ${renewEveryMs} ms (TTL / 3), retried every ${Math.max(10, Math.floor(ttl / 20))} ms |`,
    `| clock-skew bound, safety margin | ${MAX_CLOCK_SKEW_MS} ms, ${SAFETY_MARGIN_MS} ms (all nodes read one host clock) → safe window ${safeWindowMs} ms |`,
    `| candidacy stagger | ${Math.floor(ttl / 10)} ms per rank (TTL / 10) |`,
    `| Raft heartbeat, election timeout | ${HEARTBEAT_MS} ms, ${ELECTION_TIMEOUT_MS} ms |`,
    `| leader tick (\`kv.tick\`, drives lease expiry) | every ${TICK_MS} ms |`,
    '| storage | `FileStorage` on `NodeDisk` (fsync on) |',
    '| role | `job-server`: a child `node -e` HTTP server per holder; `warmHandoff` spawns it warm (503) before the old holder quiesces, `start` activates it |',
    `| client | one GET in flight per job port, all three ports, ${POLL_PAUSE_MS} ms pause between requests (keep-alive) |`,
    '',
    '## Method',
    '',
    '- **(i) Failover.** With the client polling all three job ports, the benchmark SIGKILLs the holder',
    "  node (by PID); the figure is the time from the signal to the client's first answer carrying a larger",
    "  fencing token. It contains what is left of the dead holder's lease (TTL minus the time since its",
    "  last renewal, as the Raft leader's ticks expire it), the candidacy stagger of the best remaining",
    '  node (rank × TTL / 10; the cluster view is static, so the dead node keeps its rank), the campaign',
    '  (a lease grant and a compare-and-swap, two Raft commits) and the start of the new child.',
    "- **(ii) Planned handoff.** With the client polling, `transfer('job-server', next node)` is sent to the",
    '  holder; the gap is the time between the last answer carrying the old token and the first answer',
    '  carrying the new one, in the order the client received them (one process, one event loop). The',
    '  run also counts old-token answers received after the first new-token one (must be 0).',
    '- The handoff runs first (all three nodes up), then the failover on the same cluster.',
    '',
    '## Results',
    '',
    `Median over ${args.runs} runs with (min–max).`,
    '',
    '| measurement | median (min–max) | goal | goal met (median) | goal met (every run) |',
    '| --- | --- | --- | --- | --- |',
    `| (i) SIGKILL of the holder → a new holder's child answers | ${cell(failover)} | < 2 × TTL = ${2 * ttl} ms | ${met(failover.median, 2 * ttl)} | ${met(failover.max, 2 * ttl)} |`,
    `| (i) the same as a multiple of the TTL | ${(failover.median / ttl).toFixed(2)} × (${(failover.min / ttl).toFixed(2)}–${(failover.max / ttl).toFixed(2)}) | < 2 × | | |`,
    `| (ii) planned handoff: client-observed gap (last old answer → first new answer) | ${cell(gap)} | < ${HANDOFF_GOAL_MS} ms | ${met(gap.median, HANDOFF_GOAL_MS)} | ${met(gap.max, HANDOFF_GOAL_MS)} |`,
    `| (ii) whole \`transfer\` call (intent → completed) | ${cell(transfer)} | | | |`,
    `| runs where an old-token answer arrived after the first new-token answer | ${overlaps} of ${handoffs.length} | 0 | | |`,
    `| cluster start-up (spawn → one holder serving) | ${cell(spread(results.map((r) => r.startupMs)))} | | | |`,
    '',
    '### Per run',
    '',
    '| run | handoff | gap | SIGKILL | failover |',
    '| --- | --- | --- | --- | --- |',
    ...results.map((r) => {
      const h = typeof r.handoff === 'string' ? undefined : r.handoff;
      const f = typeof r.failover === 'string' ? undefined : r.failover;
      return `| ${r.index} | ${h === undefined ? 'failed' : `${h.from} → ${h.to} (token ${h.oldToken} → ${h.newToken})`} | ${ms(h?.gapMs ?? Number.NaN)} | ${f === undefined ? 'failed' : `${f.from} killed, ${f.to} took over`} | ${ms(f?.failoverMs ?? Number.NaN)} |`;
    }),
    '',
    '## Where the time goes',
    '',
    "From the nodes' event lines (each stamped with `Date.now()` of the one host clock, so they compare",
    "across processes to within a millisecond) and the client's answers.",
    '',
    '### (ii) Planned handoff, step by step',
    '',
    ...stepTable(
      'step (node)',
      handoffs.map((h) => h.steps),
    ),
    '',
    ...windowShares(
      handoffs.map((h) => h.steps),
      gap.median,
    ),
    '',
    '### (i) SIGKILL failover, step by step',
    '',
    ...stepTable(
      'step',
      failovers.map((f) => f.steps),
    ),
    '',
  ];
  if (failures.length > 0) lines.push('## Failed measurements', '', ...failures.map((f) => `- ${f}`), '');
  return `${lines.join('\n')}\n`;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping the nodes and removing temp folders...\n`);
      void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const startedAt = new Date();
  const loadStart = loadText();
  const facts = machineFacts();
  const settings: ProcessClusterOptions = {
    size: 3,
    ttlMs: args.ttlMs,
    heartbeatMs: HEARTBEAT_MS,
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    tickMs: TICK_MS,
    maxClockSkewMs: MAX_CLOCK_SKEW_MS,
    safetyMarginMs: SAFETY_MARGIN_MS,
  };
  const results: RunResult[] = [];
  for (let i = 1; i <= args.runs; i++) {
    const result = await oneRun(i, settings);
    results.push(result);
    const h = typeof result.handoff === 'string' ? result.handoff : `gap ${ms(result.handoff.gapMs)}`;
    const f =
      typeof result.failover === 'string' ? result.failover : `failover ${ms(result.failover.failoverMs)}`;
    log(`run ${i}/${args.runs}: ${h}; ${f} (machine busy ${result.quiet.busyCores.toFixed(2)} cores before)`);
  }
  const report = renderReport({
    args,
    results,
    startedAt,
    tookMs: Date.now() - startedAt.getTime(),
    loadStart,
    loadEnd: loadText(),
    facts,
  });
  await writeFile(REPORT, report);
  log(`wrote ${REPORT}`);
  process.stdout.write(report);
}

main(process.argv.slice(2)).catch(async (error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await current?.stop();
  process.exit(1);
});
