/**
 * Load benchmark of `@clusteros/dashboard`: `GET /api/v1/status` from 50 concurrent keep-alive
 * clients for 10 s against `serveDashboard` on 127.0.0.1, serving a fake 100-node cluster view
 * (test/support/fake-sources.ts: realistic node objects, roles, services, leaders). Goal: p99
 * under 20 ms and no errors. Writes docs/benchmarks/dashboard.md.
 *
 *   npm run bench:dashboard -- [--runs N] [--seconds S] [--concurrency C] [--nodes N]
 *
 * The server runs in its own Node process (this file with `--serve`), as it would inside an agent,
 * so that its CPU time can be read from /proc apart from the load generator's. The load
 * generator is a closed loop: C workers, each sending the next request when the previous one is
 * answered, over a node:http keep-alive Agent (one socket per worker), for an unrecorded 1 s
 * warm-up and then the recorded window. Every answer must be a 200 (the first one of each run is
 * also checked against StatusResponse); anything else, a network error or no answer within 5 s
 * counts as an error. Each run starts a fresh server after waiting (bounded) for a quiet machine;
 * the report gives the median and range over the runs, and, to show where the time goes, the CPU
 * per request of the server and of the load generator, the same client against a no-op
 * node:http server (the floor), and a V8 CPU profile of the server over the window of one extra
 * run (started and stopped through the server process's stdin), summed by package.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { Session } from 'node:inspector/promises';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { machineBusySeconds, type Quiet, statCpuSeconds, waitForQuiet } from '../../../scripts/bench/proc.js';
import { StatusResponse, serveDashboard } from '../src/index.js';
import { fakeCluster, fakeSources } from '../test/support/fake-sources.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);
const REPORT = join(REPO_ROOT, 'docs/benchmarks/dashboard.md');
const PATH = '/api/v1/status';
const WARMUP_MS = 1_000;
const REQUEST_TIMEOUT_MS = 5_000;
const P99_GOAL_MS = 20;
const QUIET_MAX_CORES = 0.5;
const QUIET_LIMIT_MS = 30_000;

const USAGE = `usage: npm run bench:dashboard -- [--runs N] [--seconds S] [--concurrency C] [--nodes N]

Serves a fake N-node cluster with serveDashboard on 127.0.0.1 (in a child process) and sends
GET ${PATH} from C keep-alive clients for S seconds, R times. Writes docs/benchmarks/dashboard.md.

  --runs N         repetitions, each on a fresh server (default 3, at most 20)
  --seconds S      recorded window per run (default 10, at most 120)
  --concurrency C  closed-loop clients (default 50, at most 1000)
  --nodes N        nodes in the fake cluster view (default 100, at most 10000)`;

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Args {
  readonly runs: number;
  readonly seconds: number;
  readonly concurrency: number;
  readonly nodes: number;
  readonly help: boolean;
  readonly serve: boolean;
}

const DEFAULTS = { runs: 3, seconds: 10, concurrency: 50, nodes: 100 } as const;

function parseArgs(argv: readonly string[]): Args {
  const args: { -readonly [K in keyof Args]: Args[K] } = { ...DEFAULTS, help: false, serve: false };
  const integer = (flag: string, text: string | undefined, min: number, max: number): number => {
    const value = Number(text);
    if (text === undefined || !Number.isInteger(value) || value < min || value > max)
      throw new UsageError(`${flag} needs an integer from ${min} to ${max}, got ${text ?? 'nothing'}`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') args.help = true;
    else if (flag === '--serve') args.serve = true;
    else if (flag === '--runs') args.runs = integer(flag, argv[++i], 1, 20);
    else if (flag === '--seconds') args.seconds = integer(flag, argv[++i], 1, 120);
    else if (flag === '--concurrency') args.concurrency = integer(flag, argv[++i], 1, 1000);
    else if (flag === '--nodes') args.nodes = integer(flag, argv[++i], 1, 10_000);
    else throw new UsageError(`unknown argument ${flag}`);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// The server process.

async function serveMain(nodes: number): Promise<void> {
  const server = await serveDashboard({ sources: fakeSources(fakeCluster(nodes)).sources, port: 0 });
  process.stdout.write(`${JSON.stringify({ port: server.address.port, host: server.address.host })}\n`);
  // The parent ends stdin to stop us (also when it dies), so no server outlives the benchmark.
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.stdin.on('end', stop);
  process.once('SIGTERM', stop);
  // `profile-start` / `profile-stop FILE`: a V8 CPU profile of the recorded window only.
  const session = new Session();
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    void (async () => {
      if (line === 'profile-start') {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 1000 });
        await session.post('Profiler.start');
        process.stdout.write(`${JSON.stringify({ profiling: true })}\n`);
      } else if (line.startsWith('profile-stop ')) {
        const { profile } = await session.post('Profiler.stop');
        await writeFile(line.slice('profile-stop '.length), JSON.stringify(profile));
        session.disconnect();
        process.stdout.write(`${JSON.stringify({ profiled: true })}\n`);
      }
    })();
  });
}

interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Sends one command line and waits (at most 10 s) for the process's one-line answer. */
  command(line: string): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the server process and waits (at most 30 s) for its port. */
async function startServer(nodes: number): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['--conditions=@clusteros/source', '--import', 'tsx', THIS_FILE, '--serve', '--nodes', String(nodes)],
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the server process');
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the server process did not report its port within 30 s')),
      30_000,
    );
    lines.once('line', (line) => {
      clearTimeout(timer);
      const parsed = JSON.parse(line) as { port: number; host: string };
      if (parsed.host !== '127.0.0.1') reject(new Error(`the server bound ${parsed.host}, not loopback`));
      else resolve(parsed.port);
    });
    child.once('exit', (code) => reject(new Error(`the server process exited (${code}) before listening`)));
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  const command = (line: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the server process did not answer ${line} within 10 s`)),
        10_000,
      );
      lines.once('line', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.write(`${line}\n`);
    });
  return { child, pid, port, command, stop };
}

// ---------------------------------------------------------------------------------------------
// The load generator.

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly failure: 'timeout' | 'network' | 'status' | undefined;
}

function get(agent: Agent, port: number, path: string): Promise<Reply> {
  return new Promise<Reply>((resolve) => {
    let settled = false;
    const finish = (reply: Reply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reply);
    };
    const req = request({ agent, host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        finish({
          status,
          body: Buffer.concat(chunks).toString(),
          failure: status === 200 ? undefined : 'status',
        });
      });
      res.on('error', () => finish({ status: 0, body: '', failure: 'network' }));
    });
    const timer = setTimeout(() => {
      finish({ status: 0, body: '', failure: 'timeout' });
      req.destroy();
    }, REQUEST_TIMEOUT_MS);
    req.on('error', () => finish({ status: 0, body: '', failure: 'network' }));
    req.end();
  });
}

interface LoadResult {
  /** Successful requests completed in the recorded window, per second. */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly ok: number;
  readonly errors: { readonly timeout: number; readonly network: number; readonly status: number };
  readonly windowS: number;
  /** CPU seconds in the window. */
  readonly serverCpuS: number;
  readonly clientCpuS: number;
  readonly machineBusyS: number;
  readonly bodyBytes: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/**
 * Closed-loop load on `port` for a warm-up and then `seconds`; `serverPid` (if any) is the
 * process whose CPU is charged to the server. Bounded: workers stop sending at the end of the
 * window and each request has a 5 s deadline.
 */
async function load(
  port: number,
  serverPid: number | undefined,
  concurrency: number,
  seconds: number,
  checkBody: (body: string) => void = () => {},
  onWindowStart: () => void = () => {},
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, scheduling: 'lifo' });
  const latencies: number[] = [];
  const errors = { timeout: 0, network: 0, status: 0 };
  let bodyBytes = 0;
  let firstBody: string | undefined;
  const warmupEnd = performance.now() + WARMUP_MS;
  const end = warmupEnd + seconds * 1000;
  let cpuAtStart: { server: number; client: NodeJS.CpuUsage; machine: number } | undefined;
  const markStart = (): void => {
    if (cpuAtStart === undefined) onWindowStart();
    cpuAtStart ??= {
      server: serverPid === undefined ? 0 : statCpuSeconds(`/proc/${serverPid}/stat`),
      client: process.cpuUsage(),
      machine: machineBusySeconds(),
    };
  };
  const startTimer = setTimeout(markStart, WARMUP_MS);
  const worker = async (): Promise<void> => {
    for (let i = 0; i < 10_000_000; i++) {
      const started = performance.now();
      if (started >= end) return;
      const reply = await get(agent, port, PATH);
      const done = performance.now();
      if (firstBody === undefined && reply.failure === undefined) firstBody = reply.body;
      if (started < warmupEnd) continue;
      if (reply.failure === undefined) {
        latencies.push(done - started);
        bodyBytes = reply.body.length;
      } else errors[reply.failure]++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(startTimer);
  markStart();
  const windowS = (performance.now() - warmupEnd) / 1000;
  const start = cpuAtStart as NonNullable<typeof cpuAtStart>;
  const client = process.cpuUsage(start.client);
  const serverCpuS = serverPid === undefined ? 0 : statCpuSeconds(`/proc/${serverPid}/stat`) - start.server;
  const machineBusyS = machineBusySeconds() - start.machine;
  agent.destroy();
  if (firstBody !== undefined) checkBody(firstBody);
  const sorted = Float64Array.from(latencies).sort();
  return {
    rps: latencies.length / windowS,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    ok: latencies.length,
    errors,
    windowS,
    serverCpuS,
    clientCpuS: (client.user + client.system) / 1e6,
    machineBusyS,
    bodyBytes,
  };
}

/** The first answer of a dashboard run must be a real status response of the whole view. */
function checkStatusBody(nodes: number): (body: string) => void {
  return (body) => {
    const parsed = StatusResponse.safeParse(JSON.parse(body));
    if (!parsed.success)
      throw new Error(`the status response does not match StatusResponse: ${parsed.error.message}`);
    const discovery = parsed.data.discovery;
    if (!('members' in discovery) || discovery.members !== nodes)
      throw new Error(`the status response does not count ${nodes} members: ${JSON.stringify(discovery)}`);
  };
}

/** The same client against a no-op node:http server in a child process: the floor. */
async function noopProbe(concurrency: number, seconds: number): Promise<LoadResult> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s=require('node:http').createServer((q,r)=>{r.writeHead(200,{'content-type':'application/json'});r.end('{}')});` +
        `s.listen(0,'127.0.0.1',()=>console.log(s.address().port));process.stdin.on('end',()=>process.exit(0));process.stdin.resume();`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the no-op server did not start within 10 s')), 10_000);
      lines.once('line', (line) => {
        clearTimeout(timer);
        resolve(Number(line));
      });
    });
    return await load(port, child.pid, concurrency, seconds);
  } finally {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Self time of a V8 CPU profile, by where the code lives. */
interface ProfileSummary {
  /** Busy sample time (everything but idle), ms. */
  readonly busyMs: number;
  /** Share of the busy time per category, highest first. */
  readonly categories: ReadonlyArray<readonly [string, number]>;
  /** The functions with the most self time: label and share of the busy time. */
  readonly functions: ReadonlyArray<readonly [string, number]>;
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }>;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function category(functionName: string, url: string): string {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (functionName === '(program)' || functionName === '(root)')
    return 'V8 and native code outside JavaScript ((program))';
  if (url.includes('/node_modules/@hono/node-server/')) return '@hono/node-server (node:http ↔ fetch bridge)';
  if (url.includes('/node_modules/hono/')) return 'hono (router, context, c.json)';
  if (url.includes('/node_modules/prom-client/')) return 'prom-client (request counter and histogram)';
  if (url.includes('/packages/dashboard/src/'))
    return `dashboard: ${url.slice(url.indexOf('/packages/dashboard/src/') + '/packages/dashboard/'.length)}`;
  if (url.includes('/packages/dashboard/test/support/')) return 'the fake providers';
  if (
    url.includes('undici') ||
    url.includes('node:internal/webstreams') ||
    url.includes('node:internal/abort_controller')
  )
    return 'undici / web streams (WHATWG Headers, Response, streams)';
  if (url.startsWith('node:')) return 'Node core (http parser, net, streams, timers)';
  if (
    url === '' &&
    /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString|readStop|readStart)$/.test(
      functionName,
    )
  )
    return 'socket reads and writes (libuv system calls)';
  if (url === '' && functionName === 'runMicrotasks') return 'microtask queue (promise jobs)';
  if (url === '') return 'other native and V8 builtins (JSON, Map, RegExp, ...)';
  return 'other JavaScript';
}

async function summarizeProfile(file: string): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id);
    const delta = profile.timeDeltas[i] ?? 0;
    if (frame === undefined) return;
    const where = category(frame.functionName, frame.url);
    if (where === 'idle') return;
    busy += delta;
    categories.set(where, (categories.get(where) ?? 0) + delta);
    const path = frame.url
      .replace(/^.*\/node_modules\//, '')
      .replace(/^file:\/\/.*\/packages\//, 'packages/');
    // Line numbers of TypeScript sources are of tsx's output, not of the .ts file: leave them out.
    const at = path === '' ? '' : path.endsWith('.ts') ? path : `${path}:${frame.lineNumber + 1}`;
    const label = `\`${frame.functionName || '(anonymous)'}\` ${at}`.trim();
    functions.set(label, (functions.get(label) ?? 0) + delta);
  });
  const share = (entries: Map<string, number>) =>
    [...entries]
      .map(([key, value]) => [key, busy > 0 ? value / busy : 0] as const)
      .sort((x, y) => y[1] - x[1]);
  return { busyMs: busy / 1000, categories: share(categories), functions: share(functions).slice(0, 12) };
}

// ---------------------------------------------------------------------------------------------
// Report.

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

const fixed = (digits: number) => (value: number) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
const ms2 = fixed(2);
const int = fixed(0);
const cell = (s: Spread, format: (value: number) => string): string =>
  s.count === 0
    ? 'n/a'
    : s.min === s.max
      ? format(s.median)
      : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

function version(name: string): string {
  try {
    return (
      JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
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
  return [
    ['CPUs (nproc)', run('nproc', []) === 'unknown' ? String(availableParallelism()) : run('nproc', [])],
    ['CPU model (/proc/cpuinfo)', cpuModel],
    ['memory', `${Math.round(totalmem() / 2 ** 30)} GiB`],
    ['kernel', release()],
    ['Node.js', process.version],
    [
      'hono, @hono/node-server, prom-client, zod',
      [version('hono'), version('@hono/node-server'), version('prom-client'), version('zod')].join(', '),
    ],
  ];
}

const loadText = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

interface RunResult {
  readonly index: number;
  readonly quiet: Quiet;
  readonly result: LoadResult;
}

function renderReport(input: {
  args: Args;
  runs: readonly RunResult[];
  noop: LoadResult;
  profile: { result: LoadResult; summary: ProfileSummary };
  startedAt: Date;
  tookMs: number;
  loadStart: string;
  loadEnd: string;
  facts: [string, string][];
}): string {
  const { args, runs, noop, profile } = input;
  const results = runs.map((r) => r.result);
  const errorsOf = (r: LoadResult) => r.errors.timeout + r.errors.network + r.errors.status;
  const rps = spread(results.map((r) => r.rps));
  const p50 = spread(results.map((r) => r.p50));
  const p99 = spread(results.map((r) => r.p99));
  const max = spread(results.map((r) => r.max));
  const errors = spread(results.map(errorsOf));
  const serverUs = spread(results.map((r) => (r.serverCpuS * 1e6) / r.ok));
  const clientUs = spread(results.map((r) => (r.clientCpuS * 1e6) / r.ok));
  const serverCores = spread(results.map((r) => r.serverCpuS / r.windowS));
  const clientCores = spread(results.map((r) => r.clientCpuS / r.windowS));
  const others = spread(
    results.map((r) => Math.max(0, (r.machineBusyS - r.serverCpuS - r.clientCpuS) / r.windowS)),
  );
  const met = (ok: boolean): string => (ok ? 'yes' : '**no**');
  const p99Met = p99.median < P99_GOAL_MS;
  const errorsMet = results.every((r) => errorsOf(r) === 0);
  const nonDefault = (Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>)
    .filter((key) => args[key] !== DEFAULTS[key])
    .map((key) => `--${key} ${args[key]}`);
  const command = `npm run bench:dashboard${nonDefault.length > 0 ? ` -- ${nonDefault.join(' ')}` : ''}`;
  const noopUs = (noop.serverCpuS * 1e6) / noop.ok;
  const lines: string[] = [
    '# Benchmark: @clusteros/dashboard under load',
    '',
    'Generated by the benchmark itself (`packages/dashboard/bench/load.ts`); do not edit by hand, re-run it.',
    '',
    `- Command: \`${command}\` (runs \`node --conditions=@clusteros/source --import tsx packages/dashboard/bench/load.ts\`; no build needed)`,
    `- Date: ${input.startedAt.toISOString()} (took ${(input.tookMs / 60_000).toFixed(1)} min)`,
    `- Runs: ${args.runs}, each on a freshly started server process`,
    '',
    '## Machine',
    '',
    '| fact | value |',
    '| --- | --- |',
    ...input.facts.map(([fact, value]) => `| ${fact} | ${value} |`),
    `| load average (1/5/15 min) at start → end | ${input.loadStart} → ${input.loadEnd} |`,
    `| busy cores in the 1 s before each run (nothing of ours running) | ${cell(
      spread(runs.map((r) => r.quiet.busyCores)),
      fixed(2),
    )} |`,
    '',
    '## Settings',
    '',
    '| setting | value |',
    '| --- | --- |',
    `| server | \`serveDashboard\` (node:http + \`@hono/node-server\`) on 127.0.0.1, port 0, in its own Node process (\`bench/load.ts --serve\`), default options (sectionTimeoutMs 2000) |`,
    `| cluster view | \`fakeCluster(${args.nodes})\` from \`test/support/fake-sources.ts\`: ${args.nodes} nodes (alive, suspect, dead, left; roles, addresses, capabilities, tags), 5 leaders, 3 local roles, 4 local services, every provider present |`,
    `| request | \`GET ${PATH}\` (every section: identity, network, membership → discovery counts, raft, roles, local services, resources); answer ${results[0]?.bodyBytes ?? 'n/a'} bytes of JSON |`,
    `| load | closed loop, ${args.concurrency} clients, each one request in flight, node:http keep-alive \`Agent\` (one socket per client, LIFO); ${WARMUP_MS} ms unrecorded warm-up, then ${args.seconds} s recorded |`,
    `| errors | any non-200 answer, network error, or no answer within ${REQUEST_TIMEOUT_MS} ms; the first answer of each run is also checked against \`StatusResponse\` |`,
    '| latency | from sending the request to the end of the answer, successful requests only; p50/p99 nearest-rank |',
    '',
    '## Results',
    '',
    `Median over ${args.runs} runs with (min–max).`,
    '',
    '| measurement | median (min–max) | goal | goal met (median) | goal met (every run) |',
    '| --- | --- | --- | --- | --- |',
    `| throughput (requests/s) | ${cell(rps, int)} | | | |`,
    `| p50 latency (ms) | ${cell(p50, ms2)} | | | |`,
    `| p99 latency (ms) | ${cell(p99, ms2)} | < ${P99_GOAL_MS} ms | ${met(p99Met)} | ${met(p99.max < P99_GOAL_MS)} |`,
    `| max latency (ms) | ${cell(max, ms2)} | | | |`,
    `| errors | ${cell(errors, int)} | 0 | ${met(errors.median === 0)} | ${met(errorsMet)} |`,
    '',
    '### Per run',
    '',
    '| run | machine busy before (cores) | requests | requests/s | p50 ms | p99 ms | max ms | errors (timeout/network/status) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...runs.map(
      ({ index, quiet, result: r }) =>
        `| ${index} | ${quiet.busyCores.toFixed(2)} | ${int(r.ok)} | ${int(r.rps)} | ${ms2(r.p50)} | ${ms2(r.p99)} | ${ms2(r.max)} | ${errorsOf(r)} (${r.errors.timeout}/${r.errors.network}/${r.errors.status}) |`,
    ),
    '',
    '## Where the time goes',
    '',
    'CPU time from /proc over each recorded window (user + system). The machine has',
    `${availableParallelism()} cores shared by the server process and the load generator; a closed loop keeps both busy, so`,
    'latency is queueing behind CPU work: at c clients, p50 ≈ c ÷ throughput.',
    '',
    '| measurement | median (min–max) |',
    '| --- | --- |',
    `| server CPU per request (µs) | ${cell(serverUs, int)} |`,
    `| server process busy (cores; 1.00 = its one JavaScript thread saturated, plus GC and I/O threads) | ${cell(serverCores, fixed(2))} |`,
    `| load generator CPU per request (µs) | ${cell(clientUs, int)} |`,
    `| load generator busy (cores) | ${cell(clientCores, fixed(2))} |`,
    `| everything else on the machine (cores busy; noise) | ${cell(others, fixed(2))} |`,
    '',
    `The same client against a no-op node:http server (answers \`{}\`; a child process), c=${args.concurrency}, ${args.seconds} s — the floor`,
    'of this client and node:http on this machine:',
    '',
    '| probe | value |',
    '| --- | --- |',
    `| throughput (requests/s) | ${int(noop.rps)} |`,
    `| p50 / p99 / max latency (ms) | ${ms2(noop.p50)} / ${ms2(noop.p99)} / ${ms2(noop.max)} |`,
    `| server CPU per request (µs) | ${int(noopUs)} |`,
    `| load generator CPU per request (µs) | ${int((noop.clientCpuS * 1e6) / noop.ok)} |`,
    '',
    '### CPU profile of the server process (one extra run, not in the tables above)',
    '',
    `V8 sampling profiler (1 ms interval, via \`node:inspector\`) over the recorded window of one more run with the same load`,
    `(${int(profile.result.rps)} requests/s, p99 ${ms2(profile.result.p99)} ms while profiled: the profiler costs throughput). Self time of the`,
    `server's main thread by where the code lives, as a share of its busy samples (${int(profile.summary.busyMs)} ms); "≈ µs per request"`,
    `applies the shares to the unprofiled server CPU per request above (${int(serverUs.median)} µs, median), which also holds the`,
    "process's other threads (GC helpers, libuv), so it is an estimate.",
    '',
    '| code | share of busy time | ≈ µs per request |',
    '| --- | ---: | ---: |',
    ...profile.summary.categories.map(
      ([name, share]) => `| ${name} | ${(share * 100).toFixed(1)} % | ${fixed(1)(share * serverUs.median)} |`,
    ),
    '',
    'Functions with the most self time:',
    '',
    '| function | share of busy time |',
    '| --- | ---: |',
    ...profile.summary.functions.map(
      ([name, share]) => `| ${name.replaceAll('|', '\\|')} | ${(share * 100).toFixed(1)} % |`,
    ),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------

let current: ServerProcess | undefined;

/** One more run with the server under the V8 profiler for the recorded window. */
async function profiledRun(args: Args): Promise<{ result: LoadResult; summary: ProfileSummary }> {
  await waitForQuiet(QUIET_LIMIT_MS, QUIET_MAX_CORES);
  const dir = await mkdtemp(join(tmpdir(), 'dashboard-bench-'));
  const file = join(dir, 'server.cpuprofile');
  current = await startServer(args.nodes);
  const server = current;
  try {
    let started: Promise<void> | undefined;
    const result = await load(server.port, server.pid, args.concurrency, args.seconds, undefined, () => {
      started = server.command('profile-start');
    });
    await started;
    await server.command(`profile-stop ${file}`);
    return { result, summary: await summarizeProfile(file) };
  } finally {
    await server.stop();
    current = undefined;
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (args.serve) {
    await serveMain(args.nodes);
    return;
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping the server process...\n`);
      void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const startedAt = new Date();
  const loadStart = loadText();
  const facts = machineFacts();
  const runs: RunResult[] = [];
  for (let index = 1; index <= args.runs; index++) {
    const quiet = await waitForQuiet(QUIET_LIMIT_MS, QUIET_MAX_CORES);
    current = await startServer(args.nodes);
    try {
      const result = await load(
        current.port,
        current.pid,
        args.concurrency,
        args.seconds,
        checkStatusBody(args.nodes),
      );
      runs.push({ index, quiet, result });
      const errors = result.errors.timeout + result.errors.network + result.errors.status;
      log(
        `run ${index}/${args.runs}: ${int(result.rps)} req/s, p50 ${ms2(result.p50)} ms, p99 ${ms2(result.p99)} ms, max ${ms2(result.max)} ms, ${errors} errors (machine busy ${quiet.busyCores.toFixed(2)} cores before)`,
      );
    } finally {
      await current.stop();
      current = undefined;
    }
  }
  await waitForQuiet(QUIET_LIMIT_MS, QUIET_MAX_CORES);
  const noop = await noopProbe(args.concurrency, args.seconds);
  log(`no-op server: ${int(noop.rps)} req/s, p99 ${ms2(noop.p99)} ms`);
  const profile = await profiledRun(args);
  log(
    `profiled run: ${int(profile.result.rps)} req/s; ${profile.summary.categories
      .slice(0, 4)
      .map(([name, share]) => `${name} ${(share * 100).toFixed(0)} %`)
      .join(', ')}`,
  );
  const report = renderReport({
    args,
    runs,
    noop,
    profile,
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
