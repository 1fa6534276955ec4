// Turns the process benchmark's runs into the section of docs/benchmarks/membership.md between
// <!-- processes:begin --> and <!-- processes:end -->: every measurement as median (min–max) over
// the runs, Go and TypeScript side by side, and a verdict for each goal of the issue. Rows are
// fixed in advance and printed whatever they show.
import { readFile, writeFile } from 'node:fs/promises';
import type { PeerImpl } from '../test/support/go-peer.js';
import type { ClusterRun, Cycle, Propagation } from './processes-cluster.js';
import type { Quiet } from './processes-proc.js';

export const BEGIN = '<!-- processes:begin -->';
export const END = '<!-- processes:end -->';

/** 60 MB, the memory goal, in MiB (VmRSS is in KiB): checked strictly as 60·10⁶ bytes. */
export const RSS_GOAL_MIB = 60e6 / 2 ** 20;
export const CPU_GOAL_RATIO = 1.5;

export interface Attempt {
  readonly n: number;
  readonly impl: PeerImpl;
  readonly run: number;
  readonly quiet: Quiet;
  readonly result?: ClusterRun;
  readonly error?: string;
}

export interface MachineFacts {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly go: string;
  readonly loadStart: string;
  readonly loadEnd: string;
  /** VmRSS of an idle bare `node` process on this machine, MiB (see bareNodeRssMiB). */
  readonly nodeBaselineRssMiB?: number;
}

export interface ReportInput {
  readonly command: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly facts: MachineFacts;
  readonly sizes: readonly number[];
  readonly impls: readonly PeerImpl[];
  readonly runs: number;
  readonly steadySeconds: number;
  readonly settleSeconds: number;
  readonly warmSeconds: number;
  readonly cycles: number;
  readonly pauseMs: number;
  readonly quietMaxCores: number;
  readonly quietLimitSeconds: number;
  readonly bundleFlags: readonly string[];
  readonly attempts: readonly Attempt[];
}

interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

export function median(values: readonly number[]): number {
  return spread(values).median;
}

function spread(values: readonly number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, count: 0 };
  const mid = Math.floor(sorted.length / 2);
  const med =
    sorted.length % 2 === 1
      ? (sorted[mid] ?? Number.NaN)
      : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
  return {
    median: med,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    count: sorted.length,
  };
}

function fmt(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cell(s: Spread): string {
  if (s.count === 0) return '—';
  if (s.count === 1 || s.min === s.max) return fmt(s.median);
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

function ratio(go: Spread, ts: Spread): string {
  if (!Number.isFinite(go.median) || !Number.isFinite(ts.median)) return '—';
  if (go.median === ts.median) return '1.00×';
  if (go.median === 0) return '∞';
  return `${(ts.median / go.median).toFixed(2)}×`;
}

const maxOf = (values: readonly number[]): number => Math.max(...values.filter((v) => Number.isFinite(v)));
const meanOf = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;
const pct = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))] ?? Number.NaN;

/** A deterministic PRNG (mulberry32) for the bootstrap, so that the report is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 95% bootstrap interval of median(ts) ÷ median(go) (percentile method, 4000 resamples). */
function ratioInterval(go: readonly number[], ts: readonly number[]): [number, number] {
  const random = prng(0x5eed);
  const resample = (values: readonly number[]): number =>
    median(values.map(() => values[Math.floor(random() * values.length)] ?? Number.NaN));
  const ratios: number[] = [];
  for (let i = 0; i < 4000; i++) ratios.push(resample(ts) / resample(go));
  ratios.sort((a, b) => a - b);
  return [pct(ratios, 0.025), pct(ratios, 0.975)];
}

// ---------------------------------------------------------------------------------------------
// Event timings: every cycle of every run is one sample.

type EventName = 'join' | 'failure' | 'leave';
const EVENTS: readonly { readonly name: EventName; readonly label: string }[] = [
  { name: 'join', label: 'join: until every member reported the new node' },
  { name: 'failure', label: 'failure (SIGKILL): until every survivor declared it dead' },
  { name: 'leave', label: 'leave: until every other member reported it left' },
];

function cyclesOf(input: ReportInput, n: number, impl: PeerImpl): Cycle[] {
  return resultsOf(input, n, impl).flatMap((r) => r.cycles);
}

function samples(
  input: ReportInput,
  n: number,
  impl: PeerImpl,
  event: EventName,
  pick: (p: Propagation) => number,
): number[] {
  return cyclesOf(input, n, impl).map((c) => pick(c[event]));
}

function sampleCell(values: readonly number[]): string {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return '—';
  if (sorted.length === 1) return `${fmt(sorted[0] ?? Number.NaN)} (1 event)`;
  return `${fmt(median(sorted))} [${fmt(pct(sorted, 0.25))}–${fmt(pct(sorted, 0.75))}] (${fmt(sorted[0] ?? Number.NaN)}–${fmt(sorted[sorted.length - 1] ?? Number.NaN)}), ${sorted.length} events`;
}

function ratioCell(go: readonly number[], ts: readonly number[]): string {
  const g = median(go);
  const t = median(ts);
  if (!Number.isFinite(g) || !Number.isFinite(t) || g === 0) return '—';
  if (go.length < 2 || ts.length < 2) return `${(t / g).toFixed(2)}×`;
  const [low, high] = ratioInterval(go, ts);
  return `${(t / g).toFixed(2)}× [${low.toFixed(2)}–${high.toFixed(2)}]`;
}

function timingTable(input: ReportInput, n: number): string {
  const lines = [
    '| event, time from the action (ms) | Go memberlist 0.2.2 | TypeScript | TS ÷ Go [95% CI] |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const { name, label } of EVENTS) {
    for (const [suffix, pick] of [
      ['every node', (p: Propagation) => p.allMs],
      ['median node', (p: Propagation) => p.medianMs],
      ['first node', (p: Propagation) => p.firstMs],
    ] as const) {
      const go = samples(input, n, 'go', name, pick);
      const ts = samples(input, n, 'ts', name, pick);
      lines.push(`| ${label} — ${suffix} | ${sampleCell(go)} | ${sampleCell(ts)} | ${ratioCell(go, ts)} |`);
    }
  }
  const command = (label: string, get: (c: Cycle) => number): void => {
    const go = cyclesOf(input, n, 'go').map(get);
    const ts = cyclesOf(input, n, 'ts').map(get);
    lines.push(`| ${label} | ${sampleCell(go)} | ${sampleCell(ts)} | ${ratioCell(go, ts)} |`);
  };
  command('join command on the new node (push/pull with the seed)', (c) => c.joinCommandMs);
  command('leave command (returns once the leave broadcast is sent)', (c) => c.leaveCommandMs);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Steady state and formation: one value per run.

interface Row {
  readonly label: string;
  readonly get: (run: ClusterRun) => number;
}

const ROWS: readonly Row[] = [
  { label: 'CPU per node, median node (% of one core)', get: (r) => median(r.steady.cpuPercent) },
  { label: 'CPU per node, mean over nodes (% of one core)', get: (r) => meanOf(r.steady.cpuPercent) },
  { label: 'CPU per node, busiest node (% of one core)', get: (r) => maxOf(r.steady.cpuPercent) },
  { label: 'RSS per node, median node at end of window (MiB)', get: (r) => median(r.steady.rssMiB) },
  {
    label: 'RSS per node, largest sample of any node in window (MiB)',
    get: (r) => maxOf(r.steady.rssPeakMiB),
  },
  { label: 'peak RSS since start (VmHWM), largest node (MiB)', get: (r) => maxOf(r.steady.hwmMiB) },
  { label: 'private memory (RssAnon), median node (MiB)', get: (r) => median(r.steady.rssAnonMiB) },
  {
    label: 'Lifeguard health score at end of window, worst node (0 = healthy)',
    get: (r) => maxOf(r.steady.health),
  },
  {
    label: 'membership changes in the window (0 = nobody wrongly declared dead)',
    get: (r) => r.steady.membershipChanges,
  },
  { label: 'noise: other work on the machine during the window (cores)', get: (r) => r.steady.otherCores },
  {
    label: 'early window (right after formation): CPU per node, median node (%)',
    get: (r) => median(r.early.cpuPercent),
  },
  { label: 'early window: CPU per node, mean over nodes (%)', get: (r) => meanOf(r.early.cpuPercent) },
  { label: 'early window: RSS per node, largest sample (MiB)', get: (r) => maxOf(r.early.rssPeakMiB) },
  { label: 'early window: noise, other work on the machine (cores)', get: (r) => r.early.otherCores },
  { label: 'formation: first join command → every node sees N alive (ms)', get: (r) => r.formationMs },
  { label: 'formation: leave events while forming (false deaths)', get: (r) => r.formationLeaves },
];

function resultsOf(input: ReportInput, n: number, impl: PeerImpl): ClusterRun[] {
  return input.attempts.flatMap((a) =>
    a.n === n && a.impl === impl && a.result !== undefined ? [a.result] : [],
  );
}

function steadyTable(input: ReportInput, n: number): string {
  const go = resultsOf(input, n, 'go');
  const ts = resultsOf(input, n, 'ts');
  const lines = [
    `| steady state (${input.steadySeconds} s windows), one value per run | Go memberlist 0.2.2 | TypeScript | TS ÷ Go |`,
    '| --- | ---: | ---: | ---: |',
  ];
  for (const row of ROWS) {
    const g = spread(go.map(row.get));
    const t = spread(ts.map(row.get));
    lines.push(`| ${row.label} | ${cell(g)} | ${cell(t)} | ${ratio(g, t)} |`);
  }
  return lines.join('\n');
}

function sizeSection(input: ReportInput, n: number): string {
  const go = resultsOf(input, n, 'go');
  const ts = resultsOf(input, n, 'ts');
  return `#### N = ${n} (${go.length} Go and ${ts.length} TypeScript runs, ${cyclesOf(input, n, 'go').length} and ${cyclesOf(input, n, 'ts').length} join/failure/leave cycles)

Event times: median [interquartile range] (min–max) over all cycles of all runs.

${timingTable(input, n)}

Steady state: median (min–max) over runs.

${steadyTable(input, n)}`;
}

/** "yes" / "within noise" / "no" for "TypeScript no slower than Go" on one event. */
function speedVerdict(go: readonly number[], ts: readonly number[]): string {
  if (go.length === 0 || ts.length === 0) return 'not measured';
  const g = median(go);
  const t = median(ts);
  if (t <= g) return `yes: ${fmt(t)} vs ${fmt(g)} ms`;
  if (go.length >= 2 && ts.length >= 2) {
    const [low, high] = ratioInterval(go, ts);
    if (low <= 1)
      return `within noise: ${fmt(t)} vs ${fmt(g)} ms (×${(t / g).toFixed(2)}, 95% CI ${low.toFixed(2)}–${high.toFixed(2)})`;
    return `**no**: ${fmt(t)} vs ${fmt(g)} ms (×${(t / g).toFixed(2)}, 95% CI ${low.toFixed(2)}–${high.toFixed(2)})`;
  }
  return `**no**: ${fmt(t)} vs ${fmt(g)} ms`;
}

function goalsTable(input: ReportInput): string {
  const head = ['| goal |', ...input.sizes.map((n) => ` N = ${n} |`)].join('');
  const rule = ['| --- |', ...input.sizes.map(() => ' --- |')].join('');
  const lines = [head, rule];
  for (const { name } of EVENTS) {
    const cells = input.sizes.map((n) =>
      speedVerdict(
        samples(input, n, 'go', name, (p) => p.allMs),
        samples(input, n, 'ts', name, (p) => p.allMs),
      ),
    );
    lines.push(
      `| ${name} known by every node no slower than Go (median over events) | ${cells.join(' | ')} |`,
    );
  }
  const cpu = input.sizes.map((n) => {
    const goRuns = resultsOf(input, n, 'go');
    const tsRuns = resultsOf(input, n, 'ts');
    if (goRuns.length === 0 || tsRuns.length === 0) return 'not measured';
    const goMean = median(goRuns.map((r) => meanOf(r.steady.cpuPercent)));
    const tsMean = median(tsRuns.map((r) => meanOf(r.steady.cpuPercent)));
    const goMedian = median(goRuns.map((r) => median(r.steady.cpuPercent)));
    const tsMedian = median(tsRuns.map((r) => median(r.steady.cpuPercent)));
    const x = tsMean / goMean;
    return `${x <= CPU_GOAL_RATIO ? 'yes' : '**no**'}: mean ×${x.toFixed(2)} (${fmt(tsMean)} % vs ${fmt(goMean)} %); median node ×${(tsMedian / goMedian).toFixed(2)} (${fmt(tsMedian)} % vs ${fmt(goMedian)} %)`;
  });
  lines.push(`| CPU per node within ${CPU_GOAL_RATIO}× Go's (steady window) | ${cpu.join(' | ')} |`);
  const early = input.sizes.map((n) => {
    const goRuns = resultsOf(input, n, 'go');
    const tsRuns = resultsOf(input, n, 'ts');
    if (goRuns.length === 0 || tsRuns.length === 0) return 'not measured';
    const goMean = median(goRuns.map((r) => meanOf(r.early.cpuPercent)));
    const tsMean = median(tsRuns.map((r) => meanOf(r.early.cpuPercent)));
    const x = tsMean / goMean;
    return `${x <= CPU_GOAL_RATIO ? 'within' : 'above'}: mean ×${x.toFixed(2)} (${fmt(tsMean)} % vs ${fmt(goMean)} %)`;
  });
  lines.push(`| for comparison, the early window (JIT warm-up, not steady state) | ${early.join(' | ')} |`);
  const rss = input.sizes.map((n) => {
    const ts = resultsOf(input, n, 'ts');
    if (ts.length === 0) return 'not measured';
    const worst = maxOf(ts.map((r) => Math.max(maxOf(r.steady.rssPeakMiB), maxOf(r.early.rssPeakMiB))));
    const hwm = maxOf(ts.map((r) => maxOf(r.steady.hwmMiB)));
    return `${worst < RSS_GOAL_MIB ? 'yes' : '**no**'}: largest sample ${fmt(worst)} MiB (${fmt((worst * 2 ** 20) / 1e6)} MB); VmHWM ${fmt(hwm)} MiB`;
  });
  lines.push(
    `| under 60 MB resident per node (every TS node, every sample of both windows) | ${rss.join(' | ')} |`,
  );
  return lines.join('\n');
}

function perRunTable(input: ReportInput): string {
  const lines = [
    '| N | run | impl | machine busy before (cores) | others in window (cores) | join every node (ms, per cycle) | failure every node (ms) | leave every node (ms) | CPU/node median (%) | RSS median (MiB) | RSS max (MiB) | outcome |',
    '| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const a of input.attempts) {
    const r = a.result;
    const per = (get: (c: Cycle) => number): string =>
      r === undefined ? '—' : r.cycles.map((c) => fmt(get(c))).join(', ');
    const values =
      r === undefined
        ? ['—', '—', '—', '—', '—', '—', '—']
        : [
            fmt(r.steady.otherCores),
            per((c) => c.join.allMs),
            per((c) => c.failure.allMs),
            per((c) => c.leave.allMs),
            fmt(median(r.steady.cpuPercent)),
            fmt(median(r.steady.rssMiB)),
            fmt(maxOf(r.steady.rssPeakMiB)),
          ];
    const outcome = a.error === undefined ? 'ok' : `failed: ${a.error.split('\n')[0]?.slice(0, 160)}`;
    lines.push(
      `| ${a.n} | ${a.run} | ${a.impl} | ${fmt(a.quiet.busyCores)} | ${values.join(' | ')} | ${outcome} |`,
    );
  }
  return lines.join('\n');
}

/** Observations that hold for any run, with this run's numbers filled in. */
function notes(input: ReportInput): string {
  const ts = input.sizes.flatMap((n) => resultsOf(input, n, 'ts'));
  if (ts.length === 0) return '';
  const rss = median(ts.map((r) => median(r.steady.rssMiB)));
  const anon = median(ts.map((r) => median(r.steady.rssAnonMiB)));
  const worst = maxOf(ts.map((r) => Math.max(maxOf(r.steady.rssPeakMiB), maxOf(r.early.rssPeakMiB))));
  const bare = input.facts.nodeBaselineRssMiB;
  const margin = ((RSS_GOAL_MIB - worst) * 2 ** 20) / 1e6;
  const verdict =
    margin > 0
      ? `under 60 MB by ${fmt(margin)} MB: met, with a thin margin that is mostly the runtime's, not this package's`
      : `**over** 60 MB by ${fmt(-margin)} MB`;
  const bareText =
    bare === undefined || !Number.isFinite(bare)
      ? ''
      : ` An idle bare \`node -e "setInterval(() => {}, 1000)"\` is already ${fmt(bare)} MiB on this machine.`;
  return `Reading the results:

- **Memory.** A TypeScript node is ${fmt(rss)} MiB resident (median), of which only ${fmt(anon)} MiB is private (RssAnon); the rest is pages of the \`node\` executable, shared by every Node.js process on the machine.${bareText} The largest sample of any TypeScript node, ${fmt(worst)} MiB, is ${fmt((worst * 2 ** 20) / 1e6)} MB: ${verdict}.
- **CPU.** Both implementations use a fraction of a percent of a core per node at LAN timing. Right after start-up a Node.js process still runs most of its code unoptimized and compiles the hot paths in the background (the early window); the steady window is the comparison the goal asks for.
- **The join command.** One push/pull with the seed, issued by a process started moments before; it takes longer in TypeScript (cold code: lazily compiled, unoptimized), so the seed also reports the new node a few milliseconds later ("first node"); the time until every node knows is set by gossip rounds (200 ms).
- **Formation** (10 joins at a time) is not a goal of the issue: a new node that gossip misses before its retransmit budget runs out is learnt at the next push/pull (every 30 s, scaled up above 32 nodes), which is what long formation times show.`;
}

export function renderSection(input: ReportInput): string {
  const { facts } = input;
  const minutes = ((input.finishedAt.getTime() - input.startedAt.getTime()) / 60_000).toFixed(1);
  const failed = input.attempts.filter((a) => a.error !== undefined).length;
  return `## Real processes on loopback: TypeScript peer vs Go memberlist 0.2.2

Generated by \`packages/membership/bench/processes-main.ts\`; do not edit by hand between the markers, re-run it.

- Command: \`${input.command}\`
- Date: ${input.startedAt.toISOString()} (took ${minutes} min); ${input.runs} run(s) per size and implementation, ${failed} failed run(s) (listed below, excluded from the medians)
- Machine: ${facts.cpus} CPUs (nproc; ${facts.cpuModel}), ${facts.memoryGiB} GiB, Linux ${facts.kernel}, Node.js ${facts.node}, ${facts.go}; load average (1/5/15 min) ${facts.loadStart} at start → ${facts.loadEnd} at end. The machine is shared: other jobs ran during the benchmark (the "noise" row and per-run table show how much).

### What is measured

- **Processes.** Go: \`test/go-peer/main.go\` (HashiCorp memberlist 0.2.2, Debian's source, built by the test harness). TypeScript: \`test/ts-peer/main.ts\`, the same program over this package, bundled once by esbuild (\`${input.bundleFlags.join(' ')}\`, this package's sources and eventemitter3 in one ES module) and run with plain \`node\`, no transpiler. Both speak the same JSON-lines protocol and are driven by the same harness (\`test/support/go-peer.ts\`); every node is its own process on 127.0.0.1 with real UDP and TCP sockets.
- **Same config.** memberlist's \`DefaultLANConfig\` on both sides (\`-config lan\`: probe interval 1 s, probe timeout 500 ms, gossip interval 200 ms to 3 nodes, suspicion multiplier 4 (Lifeguard max ×6), push/pull every 30 s, no encryption, no compression overrides).
- **Order.** For each N, runs alternate implementations (run 1 Go then TS, run 2 TS then Go, ...), each on a freshly started cluster; before each cluster the benchmark waits (at most ${input.quietLimitSeconds} s) for the machine to be below ${input.quietMaxCores} busy cores for a second.
- **Formation.** N peers start; nodes 1 and 2 join node 0, every other node joins one of those three seeds (round robin, 10 joins at a time); then the benchmark waits until every node has reported all N as joined and the \`members\` command of every node lists N members, all alive.
- **CPU and memory windows** (${input.steadySeconds} s each, all N nodes alive): an *early* window ${input.settleSeconds} s after formation, and the *steady* window after the cycles below, with N restored and ${input.warmSeconds} s of quiet (by then dead and left nodes have been reaped and the JavaScript engine has compiled the hot paths; in the early window a Node.js process is still running much of its code unoptimized and compiling it in the background). CPU per node = (utime + stime from \`/proc/PID/stat\`, all threads) over the window, as a percentage of one core; resident memory = VmRSS from \`/proc/PID/status\`, sampled every second, plus VmHWM (peak since start-up) and RssAnon (private memory; the rest of VmRSS is mapped files such as the \`node\` or Go executable, shared between processes). "Median node" is the median over the N nodes of one run. CPU time is counted in 10 ms clock ticks, so a node at 0.2 % of a core is only ${fmt((0.002 * input.steadySeconds) / 0.01)} ticks in a window: the mean over nodes is the finer measure, and the CPU goal is judged on it.
- **Cycles of join / failure / leave** (${input.cycles} per cluster, ${input.pauseMs} ms apart): (a) one more node starts (not timed), then the clock starts and it joins through one seed; time until every member has reported the join event for it. (b) SIGKILL, by PID, of an established non-seed node; time until every survivor (the new node included) has reported it gone with state dead. (c) Graceful \`leave\` (memberlist Leave) of another; time until every other live member has reported it with state left; it is then shut down. Between cycles an untimed node joins, so each cycle starts from N members. Times are arrival times of the event lines in the benchmark process (stamped as each line is parsed), from just before the action (join command, kill, leave command); "every node" is the last node's time, "first" and "median node" the others'.
- **Statistics.** Event times pool all cycles of all runs: median [interquartile range] (min–max). "TS ÷ Go" is the ratio of medians with a 95% bootstrap interval (4000 resamples, fixed seed): an interval containing 1.00 means the difference is within this benchmark's noise. Steady-state cells: median (min–max) over runs. Lower is better everywhere.

### Goals

${goalsTable(input)}

"Within noise": TypeScript's median was slower, but the 95% interval of the ratio includes 1. Failure detection is dominated by SWIM's randomness (when the dead node is next probed, by whom, and how soon other nodes confirm the suspicion: Lifeguard shortens the suspicion timeout from ×6 towards ×1 of 4·log10(N) s as confirmations arrive), and join and leave by the phase of the 200 ms gossip ticks, so single events spread widely for both implementations.

${notes(input)}

### Results

${input.sizes.map((n) => sizeSection(input, n)).join('\n\n')}

### Per-run values

${perRunTable(input)}
`;
}

/** Writes the section between the markers of `file`, creating the file or the markers if missing. */
export async function writeSection(file: string, section: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Benchmarks: @clusteros/membership\n';
  }
  const block = `${BEGIN}\n${section.trimEnd()}\n${END}`;
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin >= 0 && end > begin) text = `${text.slice(0, begin)}${block}${text.slice(end + END.length)}`;
  else text = `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(file, text);
}
