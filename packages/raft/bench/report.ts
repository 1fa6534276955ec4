// Turns the runs into docs/benchmarks/raft.md: every measurement as median (min–max) over the
// runs, side by side, with the ratio and which system did better. Rows are fixed in advance and
// printed whatever they show, so nothing is selected after the fact.
import { SNAPSHOT_COUNT, type SystemName } from './cluster.js';
import type { Quiet } from './cpu.js';
import type { DisruptionResult } from './disruption.js';
import type { LoadResult } from './load.js';
import type { MachineFacts } from './machine.js';
import type { NetworkProbes } from './probes.js';
import { noiseCores, type SystemRun, type TransferResult } from './scenario.js';
import { type LatencySummary, type Spread, spread } from './stats.js';

export interface RunResult {
  readonly run: number;
  readonly fsync: LatencySummary;
  readonly network: NetworkProbes;
  readonly systems: Readonly<Record<SystemName, SystemRun>>;
  /** How idle the machine was before each system's run started. */
  readonly quiet: Readonly<Record<SystemName, Quiet>>;
}

/** A system's run that was repeated because other work disturbed it (kept here, not hidden). */
export interface DiscardedRun {
  readonly run: number;
  readonly system: SystemName;
  readonly result: SystemRun;
}

export interface ReportInput {
  readonly command: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly facts: MachineFacts;
  readonly runs: number;
  readonly seconds: number;
  readonly warmupMs: number;
  readonly processWarmupMs: number;
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: number;
  readonly disruptionTimeoutMs: number;
  readonly repeatTransfers: number;
  readonly repeatWindowMs: number;
  readonly quietMaxCores: number;
  readonly quietLimitMs: number;
  readonly noiseLimitCores: number;
  readonly noiseRetries: number;
  readonly discarded: readonly DiscardedRun[];
  /** 1/5/15-minute load averages when the runs ended (the facts hold those at the start). */
  readonly loadAverageEnd: string;
  readonly results: readonly RunResult[];
}

type Better = 'higher' | 'lower' | 'none';

interface Row {
  readonly label: string;
  readonly better: Better;
  readonly get: (run: SystemRun) => number;
}

interface Section {
  readonly title: string;
  readonly note?: string;
  readonly rows: readonly Row[];
}

/** Few significant digits: the run-to-run noise here is far larger than any third decimal. */
function fmt(value: number): string {
  if (!Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  if (abs >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cell(s: Spread, runs: number): string {
  if (runs === 1 || s.min === s.max) return fmt(s.median);
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

function ratio(etcd: Spread, raftKv: Spread): string {
  if (!Number.isFinite(etcd.median) || !Number.isFinite(raftKv.median)) return '—';
  if (etcd.median === raftKv.median) return '1.00×';
  if (etcd.median === 0) return '∞';
  return `${(raftKv.median / etcd.median).toFixed(2)}×`;
}

function winner(better: Better, etcd: Spread, raftKv: Spread, runs: number): string {
  if (better === 'none' || !Number.isFinite(etcd.median) || !Number.isFinite(raftKv.median)) return '';
  if (etcd.median === raftKv.median) return 'tie';
  const raftKvWins = better === 'higher' ? raftKv.median > etcd.median : raftKv.median < etcd.median;
  const overlap = runs > 1 && etcd.min <= raftKv.max && raftKv.min <= etcd.max;
  return `${raftKvWins ? 'raft-kv' : 'etcd'}${overlap ? ' (ranges overlap)' : ''}`;
}

const perThousand = (cpuSeconds: number, ops: number): number =>
  ops === 0 ? Number.NaN : (cpuSeconds * 1e6) / ops;

function loadRows(name: string, pick: (run: SystemRun) => LoadResult, withMax: boolean): Row[] {
  const rows: Row[] = [
    { label: `${name}: throughput (ops/s)`, better: 'higher', get: (r) => pick(r).throughput },
    { label: `${name}: p50 latency (ms)`, better: 'lower', get: (r) => pick(r).latency.p50 },
    { label: `${name}: p99 latency (ms)`, better: 'lower', get: (r) => pick(r).latency.p99 },
  ];
  if (withMax)
    rows.push({ label: `${name}: max latency (ms)`, better: 'lower', get: (r) => pick(r).latency.max });
  rows.push({ label: `${name}: failed requests`, better: 'lower', get: (r) => pick(r).failures });
  return rows;
}

function cpuRows(name: string, pick: (run: SystemRun) => LoadResult, cpus: number): Row[] {
  return [
    {
      label: `${name}: server CPU per 1000 requests (CPU-ms, 3 members)`,
      better: 'lower',
      get: (r) => perThousand(pick(r).cpu.servers, pick(r).successes),
    },
    {
      label: `${name}: server CPU busy (cores, of ${cpus})`,
      better: 'none',
      get: (r) => pick(r).cpu.servers / pick(r).seconds,
    },
    {
      label: `${name}: leader process CPU busy (cores)`,
      better: 'none',
      get: (r) => pick(r).cpu.leader / pick(r).seconds,
    },
    {
      label: `${name}: leader's busiest thread (cores; 1.00 = saturated)`,
      better: 'none',
      get: (r) => pick(r).cpu.leaderBusiestThread / pick(r).seconds,
    },
    {
      // The client's cost, not the system's merit: no "better" direction.
      label: `${name}: load generator CPU per 1000 requests (CPU-ms)`,
      better: 'none',
      get: (r) => perThousand(pick(r).cpu.client, pick(r).successes),
    },
    {
      label: `${name}: everything else on the machine (cores busy; noise)`,
      better: 'none',
      get: (r) => pick(r).cpu.other / pick(r).seconds,
    },
  ];
}

function disruptionRows(name: string, pick: (run: SystemRun) => DisruptionResult): Row[] {
  return [
    {
      label: `${name}: longest gap without a successful write across the event (ms)`,
      better: 'lower',
      get: (r) => pick(r).gapMs,
    },
    {
      label: `${name}: longest gap anywhere in the phase, before and after the event too (ms)`,
      better: 'lower',
      get: (r) => pick(r).phaseGapMs,
    },
    {
      label: `${name}: from the event until a member's status names the new leader (ms)`,
      better: 'lower',
      get: (r) => pick(r).newLeaderMs,
    },
    {
      label: `${name}: from the event to the first success of a write sent after it (ms)`,
      better: 'lower',
      get: (r) => pick(r).recoveryMs,
    },
    { label: `${name}: failed requests`, better: 'lower', get: (r) => pick(r).failures },
    { label: `${name}: … of which timed out (1 s)`, better: 'none', get: (r) => pick(r).failuresBy.timeout },
    {
      label: `${name}: … of which connection errors`,
      better: 'none',
      get: (r) => pick(r).failuresBy.network,
    },
    {
      label: `${name}: … of which error answers (non-2xx)`,
      better: 'none',
      get: (r) => pick(r).failuresBy.status,
    },
    { label: `${name}: successful writes in the phase`, better: 'none', get: (r) => pick(r).successes },
  ];
}

/** One value of each of a run's repeated transfers, as a spread (NaN when there were none). */
function ofRepeats(r: SystemRun, pick: (t: TransferResult) => number): Spread {
  return spread(r.repeatTransfers.map(pick));
}

/** Failed requests over all of a run's repeated transfers. */
function repeatFailures(r: SystemRun): number {
  return r.repeatTransfers.reduce((sum, t) => sum + t.failures, 0);
}

function repeatTransferRows(): Row[] {
  return [
    {
      label:
        'repeat transfers: longest gap without a successful write across the event, median of the run (ms)',
      better: 'lower',
      get: (r) => ofRepeats(r, (t) => t.gapMs).median,
    },
    {
      label: "repeat transfers: … the run's worst (ms)",
      better: 'lower',
      get: (r) => ofRepeats(r, (t) => t.gapMs).max,
    },
    {
      label: "repeat transfers: from the event until a member's status names the new leader, median (ms)",
      better: 'lower',
      get: (r) => ofRepeats(r, (t) => t.newLeaderMs).median,
    },
    {
      label: 'repeat transfers: from the event to the first success of a write sent after it, median (ms)',
      better: 'lower',
      get: (r) => ofRepeats(r, (t) => t.recoveryMs).median,
    },
    {
      label: 'repeat transfers: failed requests, all transfers of the run',
      better: 'lower',
      get: repeatFailures,
    },
    {
      label: 'repeat transfers: call duration, median (ms)',
      better: 'lower',
      get: (r) => ofRepeats(r, (t) => t.disruptMs).median,
    },
    {
      label: 'repeat transfers: transfers whose target became leader',
      better: 'higher',
      get: (r) => r.repeatTransfers.filter((t) => t.leaderMovedToTarget).length,
    },
  ];
}

function sections(cpus: number, repeats: number): Section[] {
  return [
    {
      title: 'Writes (PUT /v3/kv/put to the leader, 256-byte values, 1000 keys)',
      rows: [
        ...loadRows('c=1', (r) => r.writes.c1, true),
        ...loadRows('c=16', (r) => r.writes.c16, true),
        ...loadRows('c=64', (r) => r.writes.c64, true),
      ],
    },
    {
      title: 'Linearizable reads (POST /v3/kv/range to the leader, no `serializable`)',
      rows: loadRows('c=64', (r) => r.reads, true),
    },
    {
      title: 'Leader failover (SIGKILL of the leader under write load)',
      note: '16 writers spread over all members, moving to the next member on any failure (1 s deadline per request, 25 ms pause after a failure).',
      rows: disruptionRows('kill', (r) => r.failover),
    },
    {
      title: 'Planned leadership transfer under write load',
      note: 'Same writers; POST /v3/maintenance/transfer-leadership {targetID: a follower} to the leader. Goal: zero failed requests.',
      rows: [
        ...disruptionRows('transfer', (r) => r.transfer),
        { label: 'transfer: call duration (ms)', better: 'lower', get: (r) => r.transfer.disruptMs },
        {
          label: 'transfer: target became leader (1 = yes)',
          better: 'higher',
          get: (r) => (r.transfer.leaderMovedToTarget ? 1 : 0),
        },
      ],
    },
    {
      title: 'Repeated leadership transfers under write load',
      note: `After the first transfer, ${repeats} more in each run, back and forth between the first leader and the first target (both have led by then), each in a phase of its own with the same writers; per run the median (and the worst) of its ${repeats} transfers, then as everywhere the median (min–max) over the runs. Goal: zero failed requests.`,
      rows: repeatTransferRows(),
    },
    {
      title: 'CPU cost (evidence for the differences above)',
      note: `Process CPU time (user + system, from /proc/PID/stat) over each recorded window. The machine has ${cpus} cores shared by the 3 members and the load generator.`,
      rows: [
        ...cpuRows('writes c=1', (r) => r.writes.c1, cpus),
        ...cpuRows('writes c=16', (r) => r.writes.c16, cpus),
        ...cpuRows('writes c=64', (r) => r.writes.c64, cpus),
        ...cpuRows('reads c=64', (r) => r.reads, cpus),
      ],
    },
    {
      title: 'Start-up',
      note: 'The first writes of a fresh cluster, before any warm-up: c=1 writes to the leader for one phase length, starting right after the read-after-write check.',
      rows: [
        { label: 'spawn → all members agree on a leader (ms)', better: 'lower', get: (r) => r.startupMs },
        { label: 'first writes, c=1: throughput (ops/s)', better: 'higher', get: (r) => r.cold.throughput },
        { label: 'first writes, c=1: p50 latency (ms)', better: 'lower', get: (r) => r.cold.latency.p50 },
        { label: 'first writes, c=1: p99 latency (ms)', better: 'lower', get: (r) => r.cold.latency.p99 },
        { label: 'first writes, c=1: failed requests', better: 'lower', get: (r) => r.cold.failures },
      ],
    },
  ];
}

function sectionTable(section: Section, results: readonly RunResult[], runs: number): string {
  const lines = [`### ${section.title}`, ''];
  if (section.note !== undefined) lines.push(section.note, '');
  lines.push(
    '| measurement | etcd | raft-kv | raft-kv ÷ etcd | better |',
    '| --- | ---: | ---: | ---: | --- |',
  );
  for (const row of section.rows) {
    const etcd = spread(results.map((r) => row.get(r.systems.etcd)));
    const raftKv = spread(results.map((r) => row.get(r.systems['raft-kv'])));
    lines.push(
      `| ${row.label} | ${cell(etcd, runs)} | ${cell(raftKv, runs)} | ${ratio(etcd, raftKv)} | ${winner(row.better, etcd, raftKv, runs)} |`,
    );
  }
  return lines.join('\n');
}

function probesTable(results: readonly RunResult[], runs: number): string {
  const rows: [string, (r: RunResult) => number][] = [
    ['fsync: 4 KiB append + fdatasync, p50 (ms)', (r) => r.fsync.p50],
    ['fsync: p99 (ms)', (r) => r.fsync.p99],
    ['fsync: max (ms)', (r) => r.fsync.max],
    ['loopback TCP round trip, 32 bytes, p50 (ms)', (r) => r.network.tcp.p50],
    ['loopback TCP round trip, p99 (ms)', (r) => r.network.tcp.p99],
    ['HTTP no-op server, c=1: throughput (req/s)', (r) => r.network.httpFloor.c1.throughput],
    ['HTTP no-op server, c=1: p50 (ms)', (r) => r.network.httpFloor.c1.latency.p50],
    ['HTTP no-op server, c=1: p99 (ms)', (r) => r.network.httpFloor.c1.latency.p99],
    ['HTTP no-op server, c=64: throughput (req/s)', (r) => r.network.httpFloor.c64.throughput],
    ['HTTP no-op server, c=64: p50 (ms)', (r) => r.network.httpFloor.c64.latency.p50],
    ['HTTP no-op server, c=64: p99 (ms)', (r) => r.network.httpFloor.c64.latency.p99],
    [
      'HTTP no-op server, c=64: load generator CPU per 1000 requests (CPU-ms)',
      (r) => perThousand(r.network.httpFloor.c64.cpu.client, r.network.httpFloor.c64.successes),
    ],
  ];
  const lines = ['| probe | median (min–max) |', '| --- | ---: |'];
  for (const [label, get] of rows) lines.push(`| ${label} | ${cell(spread(results.map(get)), runs)} |`);
  return lines.join('\n');
}

function perRunTable(results: readonly RunResult[]): string {
  const lines = [
    '| run | system | machine busy before start (cores) | others during load phases (cores) | writes c=1 ops/s | c=16 ops/s | c=64 ops/s | c=64 p99 ms | reads c=64 ops/s | failover gap ms | failover failed | transfer gap ms | transfer failed | repeat transfers: gap ms (each) | repeat transfers failed |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const result of results) {
    for (const system of ['etcd', 'raft-kv'] as const) {
      const r = result.systems[system];
      lines.push(
        `| ${result.run} | ${system} | ${[
          result.quiet[system].busyCores,
          noiseCores(r),
          r.writes.c1.throughput,
          r.writes.c16.throughput,
          r.writes.c64.throughput,
          r.writes.c64.latency.p99,
          r.reads.throughput,
          r.failover.gapMs,
          r.failover.failures,
          r.transfer.gapMs,
          r.transfer.failures,
        ]
          .map(fmt)
          .join(
            ' | ',
          )} | ${r.repeatTransfers.map((t) => fmt(t.gapMs)).join(', ')} | ${fmt(repeatFailures(r))} |`,
      );
    }
  }
  return lines.join('\n');
}

function discardedTable(discarded: readonly DiscardedRun[]): string {
  if (discarded.length === 0) return 'None: no run was disturbed beyond the limit.';
  const lines = [
    '| run | system | others during load phases (cores) | writes c=1 ops/s | c=16 ops/s | c=64 ops/s | reads c=64 ops/s |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { run, system, result: r } of discarded) {
    const values = [noiseCores(r), r.writes.c1.throughput, r.writes.c16.throughput, r.writes.c64.throughput];
    lines.push(`| ${run} | ${system} | ${[...values, r.reads.throughput].map(fmt).join(' | ')} |`);
  }
  return lines.join('\n');
}

function tally(results: readonly RunResult[], cpus: number, repeats: number): string {
  let etcdBetter = 0;
  let raftKvBetter = 0;
  let ties = 0;
  for (const section of sections(cpus, repeats)) {
    for (const row of section.rows) {
      if (row.better === 'none') continue;
      const etcd = spread(results.map((r) => row.get(r.systems.etcd))).median;
      const raftKv = spread(results.map((r) => row.get(r.systems['raft-kv']))).median;
      if (!Number.isFinite(etcd) || !Number.isFinite(raftKv) || etcd === raftKv) ties++;
      else if (row.better === 'higher' ? raftKv > etcd : raftKv < etcd) raftKvBetter++;
      else etcdBetter++;
    }
  }
  return `Of the rows with a "better" direction, by median: etcd better in ${etcdBetter}, raft-kv better in ${raftKvBetter}, equal or not measurable in ${ties}.`;
}

/** The result tables alone (also printed to stdout). */
export function renderTables(input: ReportInput): string {
  const { results, runs } = input;
  const parts = sections(input.facts.cpus, input.repeatTransfers).map((s) => sectionTable(s, results, runs));
  parts.push(`### Physical limits probes\n\n${probesTable(results, runs)}`);
  parts.push(tally(results, input.facts.cpus, input.repeatTransfers));
  return parts.join('\n\n');
}

export function renderReport(input: ReportInput): string {
  const { facts } = input;
  const minutes = ((input.finishedAt.getTime() - input.startedAt.getTime()) / 60_000).toFixed(1);
  const stale =
    facts.build.sourcesNewer.length === 0
      ? 'no source file is newer than the build'
      : `**warning: ${facts.build.sourcesNewer.length} source file(s) changed after the build** (${facts.build.sourcesNewer.slice(0, 5).join(', ')}${facts.build.sourcesNewer.length > 5 ? ', …' : ''}): these numbers are for the build, not for the current sources`;
  return `# Benchmark: raft-kv (@clusteros/raft) vs etcd

Generated by the benchmark itself (\`packages/raft/bench/\`); do not edit by hand, re-run it.

- Command: \`${input.command}\` (the root script \`npm run bench:raft\` runs \`node --conditions=@clusteros/source --import tsx packages/raft/bench/main.ts\`; needs \`npm run build\` first)
- Date: ${input.startedAt.toISOString()} (took ${minutes} min)
- Runs: ${input.runs}, load phases of ${input.seconds} s (after a ${input.warmupMs} ms unrecorded warm-up each, and ${input.processWarmupMs / 1000} s of unrecorded writes after each start)

## Machine

| fact | value |
| --- | --- |
| CPUs (nproc) | ${facts.cpus} |
| CPU model (/proc/cpuinfo) | ${facts.cpuModel} |
| memory | ${facts.memoryGiB} GiB |
| kernel | ${facts.kernel} |
| Node.js | ${facts.node} |
| etcd | ${facts.etcd} (Debian package, /usr/bin/etcd) |
| data folders | fresh \`mkdtemp\` under ${facts.dataDir}, filesystem ${facts.filesystem} |
| load average (1/5/15 min) at start → end | ${facts.loadAverage} → ${input.loadAverageEnd} |
| raft-kv build | examples/raft-kv/dist/cli.js on packages/raft/dist, built ${facts.build.builtAt}; ${stale} |

## Method

- **Same everything.** Each system runs as 3 member processes on 127.0.0.1 with ports picked per run,
  data folders on the same filesystem (a fresh \`mkdtemp\` per cluster, deleted afterwards), fsync on
  (etcd always fsyncs its WAL; raft-kv's \`FileStorage\` fdatasyncs before acknowledging), heartbeat
  ${input.heartbeatMs} ms and election timeout ${input.electionTimeoutMs} ms on both
  (\`--heartbeat-interval ${input.heartbeatMs} --election-timeout ${input.electionTimeoutMs}\` /
  \`--heartbeat-ms ${input.heartbeatMs} --election-timeout-ms ${input.electionTimeoutMs}\`), a snapshot every
  ${SNAPSHOT_COUNT.toLocaleString('en-US')} applied entries on both (\`--snapshot-count ${SNAPSHOT_COUNT}\`, etcd 3.4's default and
  raft-kv's), and every request goes through
  etcd's v3 JSON gateway API, which raft-kv serves too. Server logs go to files, not through the
  benchmark process.
- **One load generator** for both, in the benchmark process: Node \`node:http\` with a keep-alive
  \`Agent\` (one connection per in-flight request). The global \`fetch\` (undici) was tried while
  writing the benchmark and cost about 10× more load-generator CPU per request against a no-op
  server (≈800 µs vs ≈80 µs), which on 2 cores would have capped both systems at the client.
  Request bodies are encoded once in advance: \`{"key","value"}\` with 256 random bytes per value,
  1000 keys (\`bench/key-0000\`…), taken in rotation.
- **Load phases** are closed loops: c workers each send the next request when the previous one is
  answered, for ${input.seconds} s after an unrecorded ${input.warmupMs} ms warm-up, to the endpoint of the member that
  leads at the start of the phase. Throughput = successful requests ÷ recorded window; latencies
  (p50/p99 nearest-rank, max) are of successful requests. Before the phases each run checks that a
  put on the leader is read back byte for byte by a linearizable range on a follower.
- **Warm-up after the start**: right after that check, c=1 writes for ${input.seconds} s are recorded as
  the *first writes* (Start-up table), then ${input.processWarmupMs / 1000} s of c=16 writes go unrecorded, and only then
  do the measured phases begin, so that they show each system in its steady state. raft-kv runs
  on V8, which compiles hot code with its optimizing compiler only after it has run a while: a
  fresh raft-kv cluster answered c=1 writes at p50 3.0 ms in its first 6 s and at 1.9 ms in the
  next 6 s while this was written (with \`--no-opt\` it stayed at 3.6 ms). etcd, compiled ahead
  of time, gets the same warm-up; the Start-up table shows what both look like without it.
- **Failover**: 16 writers, writer i starting at member i mod 3, each staying with its member
  while it answers and moving to the next member on any failure (${input.disruptionTimeoutMs} ms deadline per request,
  then a 25 ms pause — etcd clientv3's retry backoff — so that failing fast and failing slowly
  compare like for like). After ${input.seconds} s the leader process gets SIGKILL (by PID); the phase goes on for
  ${input.seconds} s after the first write that succeeds after the kill. *Gap across the event* = the longest time
  between two consecutive successful writes (completion times, all writers) among the intervals
  that overlap the disruption, from the event until both a write sent after it has succeeded and
  a member's status names the new leader (a write sent just after a transfer request may still
  be committed by the old leader, which would otherwise end the window before the leader
  changed): what the issue calls the gap during the failover or transfer. *Gap anywhere in the phase* takes
  every interval of the phase, so it also shows stalls unrelated to the event (garbage
  collection, a slow fsync) in the seconds before and after; earlier versions of this report
  showed only that one. *Event → first success* counts only writes sent after the kill. A follower that forwarded a write to the leader
  just killed handles it differently in the two systems: etcd's follower loses it with the leader,
  so the writer gives up only at the ${input.disruptionTimeoutMs} ms deadline and etcd's gaps move in steps of about that
  deadline; raft-kv's follower sends it again to the new leader (RaftNode's
  \`retryForwardedProposals\`; every raft-kv write is in a client session, so a copy the dead
  leader had already replicated is not applied twice), so its gap follows the election.
  *Event → new leader* is the server-side view: the members' \`/v3/maintenance/status\`
  polled every 10 ms until one names a leader other than the old one.
- **Planned transfer**: the same writers; \`POST /v3/maintenance/transfer-leadership\`
  \`{targetID}\` to the leader, the target being a follower's \`header.member_id\`; the same gap and
  failure counts. It runs before the failover, on the intact cluster. This first transfer of the
  cluster's life makes a member lead that never has. In raft-kv that first time used to be
  slower than later transfers (quiet machine, same load: gap median 15.5 ms over 8 fresh
  clusters, 7.4 ms over 11 later transfers in one cluster): the new leader's process then ran
  the leader's code (appending for others, counting acknowledgements, answering its own
  clients) for the first time, which V8 compiles lazily and optimizes only once it is hot,
  while etcd's compiled code has no first time. raft-kv members now run \`warmUpRaft\` (a
  throw-away in-process cluster on simulated I/O, every member leading once) before they open
  their ports (\`--warm-up\`, on by default, as benchmarked here; it is why raft-kv takes longer
  from spawn to an agreed leader). Its transport also keeps a connection open to every peer
  (\`keepConnected\`, as etcd's peers keep their streams), so the target does not first connect
  and authenticate to the follower it never talked to. To show transfers between members that
  have both led, ${input.repeatTransfers} more transfers follow, back and forth between the first leader and the first target,
  each with ${input.repeatWindowMs / 1000} s of the same load before and after it (the "Repeated" table).
- **Order and repetition**: each run does the probes, then etcd, then raft-kv (interleaved:
  etcd 1, raft-kv 1, etcd 2, …), each on a freshly started cluster, the first writes and the
  warm-up first, then the phases in the order of the tables. Every cell is the median over the ${input.runs} run(s) with (min–max); "ratio" is raft-kv's median ÷
  etcd's; "better" compares medians and says when the two ranges overlap (then the difference is
  within this machine's run-to-run noise).
- **Noise**: this is a shared 2-core machine. Before each system's run (and the probes) the
  benchmark waits, at most ${input.quietLimitMs / 1000} s, until the machine has been below ${input.quietMaxCores} busy cores for a second,
  and every load phase records the CPU used by everything other than the servers and the load
  generator (from /proc/stat): the "everything else" rows and the per-run table show how much
  other work ran during the measurements. A system's run during whose load phases other work
  averaged more than ${input.noiseLimitCores} cores is repeated (at most ${input.noiseRetries} times per run; the last attempt is kept
  whatever it shows); the repeated attempts are listed under "Discarded attempts", not hidden.
- **Probes** run in each run too: 4 KiB append + \`fdatasync\` × 200 in the data filesystem (a write
  cannot commit faster than the leader's fsync plus a follower's, done in parallel), a 32-byte TCP
  ping-pong between two Node processes, and the load generator against a no-op Node HTTP server
  (the fastest either system could possibly look through this client).

## Results

${renderTables(input)}

## Per-run values

${perRunTable(input.results)}

## Discarded attempts

${discardedTable(input.discarded)}
`;
}
