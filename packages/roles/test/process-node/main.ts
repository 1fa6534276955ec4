/**
 * One ClusterOS-like control-plane node per OS process, for the real-process tests
 * (`test/processes.test.ts`) and the benchmark (`bench/main.ts`) of `@clusteros/roles`.
 *
 *   node --conditions=@clusteros/source --import tsx packages/roles/test/process-node/main.ts \
 *     --id n1 --peers n1=127.0.0.1:7001,n2=… --job-ports n1=8001,n2=… --data-dir /tmp/x/n1
 *
 * What runs in here, as in a real node: a `RaftNode` (`StreamTransport` on 127.0.0.1 with the
 * cluster key, `FileStorage` on a `NodeDisk`, `KvStateMachine` with `stampCommand: kv.stamp` and a
 * `kv.tick` every `--tick-ms`, so that leases expire), and a `RoleManager` (SystemClock,
 * systemRandom) whose store is that Raft member and whose cluster view lists every configured
 * node. The manager runs one singleton role, `job-server`, which runs a real child process: a tiny
 * Node HTTP server on this node's loopback job port that answers each `GET /` with
 * `{node, token, served}` (token = the fencing token it was started with).
 *
 * Why a real child: the point of these tests is what a client of the role sees when nodes die or
 * hand the role over — a process that outlives its node, or two servers answering with different
 * tokens at once, would show up here and nowhere in the simulation.
 *
 * The role ({@link JobServerRole}):
 * - `start(ctx)`: spawns the child serving with `ctx.fencingToken` and resolves once it answers;
 *   after a handoff the target already has a warm child (see `acceptHandoff`) and `start` only
 *   activates it with the new token (one local HTTP call), which keeps the unavailability window
 *   of a planned handoff short.
 * - `warmHandoff`: spawns the child in a not-yet-serving `warm` mode (`GET /` answers 503,
 *   `GET /health` answers 200) while the old holder still serves, so the process start-up cost
 *   is paid outside the unavailability window. `acceptHandoff` (the role is stateless) only
 *   checks the warm child is there, spawning it if this node restarted since; the manager then
 *   polls `health()` until the warm child answers.
 * - `prepareHandoff`: `POST /quiesce` (from then on `GET /` answers 503); returns `{served}`.
 * - `abortHandoff`: `POST /resume`. `completeHandoff`: kills the old child.
 * - `stop`: kills the child by PID and waits for it to exit. `health`: `GET /health`.
 * - The child exits by itself when its stdin pipe from this process closes, i.e. when this node
 *   dies, even by SIGKILL. An unexpected child exit while running is reported with `ctx.fail`.
 *
 * Protocol: JSON lines. Stdin: `{"id":1,"cmd":"status"}`,
 * `{"id":2,"cmd":"transfer","role":"job-server","to":"n2","timeoutMs":10000}`. Stdout: a `ready`
 * line, one line per RoleManager event (`started`, `stopped`, `failed`, `leader-acquired`,
 * `leader-lost`, `handoff-*`), `role-call` lines (each role method's begin and end), `child` lines
 * (spawned, listening, exited, with PIDs), `reply`/`error` lines answering commands, and
 * `shutdown-begin`/`shutdown`. Every line carries `at: Date.now()` (all processes of a test share
 * the host clock, so the harness can order and subtract times across nodes).
 * SIGTERM (and stdin EOF) shut down gracefully: `await manager.stop({ handoff: true })` (hand the
 * role to another node), move Raft leadership away if held, stop Raft, exit 0.
 *
 * The cluster key comes from the `ROLES_NODE_CLUSTER_KEY` environment variable (hex, at least 16
 * bytes), never from argv, so it does not show in `ps`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import {
  FileStorage,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  KvStateMachine,
  kv,
  MIN_CLUSTER_KEY_BYTES,
  RaftNode,
  StreamTransport,
} from '@clusteros/raft';
import { NodeDisk, NodeNetwork, SystemClock, systemRandom } from '@clusteros/sim';
import {
  type ClusterView,
  type HandoffState,
  type HealthReport,
  type NodeRef,
  type Role,
  type RoleContext,
  RoleManager,
  type RoleManagerEvents,
  type RoleStatus,
  type StopReason,
} from '../../src/index.js';

/** The one role this node runs (`support/process-cluster.ts` repeats these constants). */
const JOB_ROLE = 'job-server';
/** Environment variable holding the cluster key (hex). */
const CLUSTER_KEY_ENV = 'ROLES_NODE_CLUSTER_KEY';
/** A marker in the child's command line, so the harness can recognise a job-server process. */
const JOB_SERVER_MARKER = 'clusteros-roles-job-server';

const MANAGER_EVENTS = [
  'started',
  'stopped',
  'failed',
  'leader-acquired',
  'leader-lost',
  'handoff-started',
  'handoff-prepared',
  'handoff-accepted',
  'handoff-completed',
  'handoff-aborted',
] as const satisfies readonly (keyof RoleManagerEvents)[];

/** How long the child gets to print `listening` (a loaded 2-core box can be slow to start Node). */
const CHILD_START_LIMIT_MS = 15_000;
/** After SIGKILL the kernel reaps at once; this only guards against a missing exit event. */
const CHILD_EXIT_LIMIT_MS = 5_000;
/** Bound on each HTTP call from the node to its child. */
const CHILD_HTTP_LIMIT_MS = 2_000;
/** Bound on the whole graceful shutdown; past it the node kills its child and exits 1. */
const SHUTDOWN_LIMIT_MS = 40_000;

// ---------------------------------------------------------------------------------------------
// Output.

let lastWrite: Promise<void> = Promise.resolve();

/** One JSON line on stdout, stamped with the wall clock. */
function emit(fields: Record<string, unknown>): void {
  const line = `${JSON.stringify({ ...fields, at: Date.now() })}\n`;
  lastWrite = new Promise((done) => {
    process.stdout.write(line, () => done());
  });
}

process.stdout.on('error', () => {
  // The harness is gone; nothing left to report to.
});

async function exitAfterFlush(code: number): Promise<never> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    lastWrite,
    new Promise<void>((done) => {
      timer = setTimeout(done, 2_000);
    }),
  ]);
  clearTimeout(timer);
  process.exit(code);
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// ---------------------------------------------------------------------------------------------
// Flags.

interface Settings {
  readonly id: string;
  /** Raft peer addresses, this node included. */
  readonly peers: Readonly<Record<string, string>>;
  /** Job-server ports by node id, this node included. */
  readonly jobPorts: Readonly<Record<string, number>>;
  readonly dataDir: string;
  readonly ttlMs: number;
  readonly maxClockSkewMs: number;
  readonly safetyMarginMs: number;
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: number;
  readonly tickMs: number;
  readonly healthIntervalMs: number;
}

class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseMap(flag: string, text: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) throw new UsageError(`${flag}: expected id=value, got ${part}`);
    map[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return map;
}

function parsePort(flag: string, text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535)
    throw new UsageError(`${flag}: bad port ${text}`);
  return port;
}

function parseSettings(argv: readonly string[]): Settings {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === undefined || !flag.startsWith('--') || value === undefined)
      throw new UsageError(`expected --flag value pairs, got ${flag ?? '(nothing)'}`);
    values.set(flag, value);
  }
  const required = (flag: string): string => {
    const value = values.get(flag);
    if (value === undefined) throw new UsageError(`${flag} is required`);
    return value;
  };
  const ms = (flag: string, fallback: number, allowZero = false): number => {
    const text = values.get(flag);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0 || (!allowZero && value === 0) || value > 3_600_000)
      throw new UsageError(`${flag}: bad duration ${text}`);
    return value;
  };
  const known = new Set([
    '--id',
    '--peers',
    '--job-ports',
    '--data-dir',
    '--ttl-ms',
    '--max-clock-skew-ms',
    '--safety-margin-ms',
    '--heartbeat-ms',
    '--election-timeout-ms',
    '--tick-ms',
    '--health-interval-ms',
  ]);
  for (const flag of values.keys()) if (!known.has(flag)) throw new UsageError(`unknown flag ${flag}`);
  const id = required('--id');
  const peers = parseMap('--peers', required('--peers'));
  const jobPorts: Record<string, number> = {};
  for (const [node, port] of Object.entries(parseMap('--job-ports', required('--job-ports'))))
    jobPorts[node] = parsePort('--job-ports', port);
  if (peers[id] === undefined) throw new UsageError(`--peers must list ${id}`);
  for (const node of Object.keys(peers))
    if (jobPorts[node] === undefined) throw new UsageError(`--job-ports must list ${node}`);
  return {
    id,
    peers,
    jobPorts,
    dataDir: required('--data-dir'),
    ttlMs: ms('--ttl-ms', 2_000),
    // Every node of these tests runs on one host and reads one clock: the skew bound can be small.
    // (The library defaults, 500 + 250 ms, would leave a 2000 ms lease a safe window of 750 ms,
    // only 83 ms beyond the renewal period: see the report of the benchmark.)
    maxClockSkewMs: ms('--max-clock-skew-ms', 100, true),
    safetyMarginMs: ms('--safety-margin-ms', 100, true),
    heartbeatMs: ms('--heartbeat-ms', 50),
    electionTimeoutMs: ms('--election-timeout-ms', 300),
    tickMs: ms('--tick-ms', 100),
    healthIntervalMs: ms('--health-interval-ms', 1_000),
  };
}

function clusterKeyFromEnv(): Uint8Array {
  const hex = process.env[CLUSTER_KEY_ENV] ?? '';
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex) || hex.length / 2 < MIN_CLUSTER_KEY_BYTES)
    throw new UsageError(`${CLUSTER_KEY_ENV} must hold at least ${MIN_CLUSTER_KEY_BYTES} bytes as hex`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

// ---------------------------------------------------------------------------------------------
// The job-server child.

/**
 * The child's program (CommonJS, run with `node -e`, no TypeScript loader: it starts in tens of
 * ms). Modes: `serving` answers `GET /`; `warm` (a handoff target before the lease moved) and
 * `quiesced` (an old holder after `prepareHandoff`) answer 503. It exits when its stdin closes.
 */
const CHILD_SCRIPT = `'use strict'; // ${JOB_SERVER_MARKER}
const http = require('node:http');
const port = Number(process.env.JOB_PORT);
const node = process.env.JOB_NODE;
let token = process.env.JOB_TOKEN ? Number(process.env.JOB_TOKEN) : null;
let mode = process.env.JOB_MODE === 'warm' ? 'warm' : 'serving';
let served = 0;
const reply = (res, status, body) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};
const server = http.createServer((req, res) => {
  req.resume();
  const url = new URL(req.url || '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/health')
    return reply(res, 200, { node, token, served, mode, pid: process.pid });
  if (req.method === 'POST' && url.pathname === '/quiesce') {
    if (mode === 'serving') mode = 'quiesced';
    return reply(res, 200, { node, token, served, mode });
  }
  if (req.method === 'POST' && url.pathname === '/resume') {
    if (mode === 'quiesced') mode = 'serving';
    return reply(res, 200, { node, token, served, mode });
  }
  if (req.method === 'POST' && url.pathname === '/activate') {
    const next = Number(url.searchParams.get('token'));
    if (!Number.isSafeInteger(next) || next <= 0 || (token !== null && next < token))
      return reply(res, 409, { node, token, mode, error: 'stale or bad token' });
    token = next;
    mode = 'serving';
    return reply(res, 200, { node, token, served, mode });
  }
  if (req.method === 'GET') {
    if (mode !== 'serving') return reply(res, 503, { node, token, mode });
    served++;
    return reply(res, 200, { node, token, served, at: Date.now() });
  }
  reply(res, 405, { error: 'method not allowed' });
});
server.keepAliveTimeout = 5000;
server.on('error', (error) => {
  process.stderr.write('job-server: ' + error.message + '\\n');
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\\n'));
const leave = () => process.exit(0);
process.stdin.on('end', leave);
process.stdin.on('close', leave);
process.stdin.on('error', leave);
process.stdin.resume();
`;

type ChildMode = 'serving' | 'warm' | 'quiesced';

interface JobChild {
  readonly pid: number;
  readonly process: ChildProcessWithoutNullStreams;
  readonly exited: Promise<void>;
  mode: ChildMode;
  token: number | undefined;
  alive: boolean;
  /** Set before this node kills it on purpose (an exit then is not a failure). */
  killing: boolean;
}

interface HttpAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** One HTTP call to the local child on a fresh connection, bounded by {@link CHILD_HTTP_LIMIT_MS}. */
function callChild(port: number, method: 'GET' | 'POST', path: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        clearTimeout(timer);
        try {
          const body = JSON.parse(text) as unknown;
          resolve({
            status: res.statusCode ?? 0,
            body: typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {},
          });
        } catch (error) {
          reject(error);
        }
      });
      res.on('error', reject);
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`${method} ${path} took over ${CHILD_HTTP_LIMIT_MS} ms`)),
      CHILD_HTTP_LIMIT_MS,
    );
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}

/** The `job-server` singleton role: one child HTTP server on this node's job port. */
class JobServerRole implements Role {
  readonly name = JOB_ROLE;
  readonly placement = 'singleton' as const;
  readonly #node: string;
  readonly #port: number;
  #child: JobChild | undefined;
  #since: number | null = null;
  #healthy = true;

  constructor(node: string, port: number) {
    this.#node = node;
    this.#port = port;
  }

  /** The current child, for `status` replies. */
  get child(): { pid: number; mode: ChildMode; token: number | undefined; alive: boolean } | undefined {
    const child = this.#child;
    return child === undefined
      ? undefined
      : { pid: child.pid, mode: child.mode, token: child.token, alive: child.alive };
  }

  async start(ctx: RoleContext): Promise<void> {
    await this.#traced('start', ctx, async () => {
      const token = ctx.fencingToken;
      if (token === undefined) throw new Error('job-server is a singleton: start needs a fencing token');
      const child = this.#child;
      if (child?.alive === true && child.mode === 'warm') {
        // A handoff target: the warm child only needs the token.
        const answer = await callChild(this.#port, 'POST', `/activate?token=${token}`);
        if (answer.status !== 200) throw new Error(`activate answered ${answer.status}`);
        child.mode = 'serving';
        child.token = token;
        this.#watch(child, ctx);
      } else {
        await this.#killChild();
        const fresh = await this.#spawn('serving', token, ctx.signal);
        this.#watch(fresh, ctx);
      }
      this.#since = Date.now();
    });
  }

  async stop(ctx: RoleContext, reason: StopReason): Promise<void> {
    await this.#traced('stop', ctx, () => this.#killChild(), { reason });
    this.#since = Date.now();
  }

  status(): RoleStatus {
    const child = this.#child;
    return {
      running: child?.alive === true,
      healthy: this.#healthy,
      leader: child?.alive === true && child.mode === 'serving',
      since: this.#since,
      detail:
        child === undefined
          ? 'no job-server child'
          : `job-server pid ${child.pid} port ${this.#port} ${child.mode} token ${child.token ?? '-'}`,
    };
  }

  async health(): Promise<HealthReport> {
    const child = this.#child;
    if (child?.alive !== true) {
      this.#healthy = false;
      return { healthy: false, detail: 'no job-server child' };
    }
    try {
      const answer = await callChild(this.#port, 'GET', '/health');
      this.#healthy = answer.status === 200;
      return { healthy: this.#healthy, detail: `health answered ${answer.status}` };
    } catch (error) {
      this.#healthy = false;
      return { healthy: false, detail: messageOf(error) };
    }
  }

  async prepareHandoff(ctx: RoleContext, to: NodeRef): Promise<HandoffState> {
    return this.#traced(
      'prepareHandoff',
      ctx,
      async () => {
        const child = this.#child;
        if (child?.alive !== true) throw new Error('no job-server child to quiesce');
        const answer = await callChild(this.#port, 'POST', '/quiesce');
        if (answer.status !== 200) throw new Error(`quiesce answered ${answer.status}`);
        child.mode = 'quiesced';
        const served = typeof answer.body.served === 'number' ? answer.body.served : 0;
        return { data: new TextEncoder().encode(JSON.stringify({ served })) };
      },
      { to: to.id },
    );
  }

  async acceptHandoff(ctx: RoleContext, state: HandoffState): Promise<void> {
    let served: unknown;
    try {
      served = (JSON.parse(new TextDecoder().decode(state.data)) as Record<string, unknown>).served;
    } catch {
      served = undefined;
    }
    await this.#traced(
      'acceptHandoff',
      ctx,
      async () => {
        // Normally warmHandoff already started the warm child; a target that restarted since
        // accepts from cold.
        if (this.#child?.alive === true && this.#child.mode === 'warm') return;
        await this.#killChild();
        await this.#spawn('warm', undefined, ctx.signal);
      },
      { served },
    );
  }

  async warmHandoff(ctx: RoleContext): Promise<void> {
    await this.#traced('warmHandoff', ctx, async () => {
      await this.#killChild();
      await this.#spawn('warm', undefined, ctx.signal);
    });
  }

  async completeHandoff(ctx: RoleContext): Promise<void> {
    await this.#traced('completeHandoff', ctx, () => this.#killChild());
  }

  async abortHandoff(ctx: RoleContext): Promise<void> {
    await this.#traced('abortHandoff', ctx, async () => {
      const child = this.#child;
      if (child?.alive !== true) throw new Error('the quiesced job-server child is gone');
      const answer = await callChild(this.#port, 'POST', '/resume');
      if (answer.status !== 200) throw new Error(`resume answered ${answer.status}`);
      child.mode = 'serving';
    });
  }

  /** Kills the child (if any) at once; for the hard shutdown path. */
  killNow(): void {
    const child = this.#child;
    if (child?.alive !== true) return;
    child.killing = true;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** Reports an unexpected exit of the running child to the manager (restart with backoff). */
  #watch(child: JobChild, ctx: RoleContext): void {
    void child.exited.then(() => {
      if (!child.killing) ctx.fail(new Error(`the job-server child ${child.pid} exited unexpectedly`));
    });
  }

  async #traced<T>(
    call: string,
    ctx: RoleContext,
    fn: () => Promise<T>,
    extra: Record<string, unknown> = {},
  ): Promise<T> {
    emit({ event: 'role-call', call, phase: 'begin', role: this.name, token: ctx.fencingToken, ...extra });
    try {
      const value = await fn();
      emit({ event: 'role-call', call, phase: 'end', role: this.name, token: ctx.fencingToken });
      return value;
    } catch (error) {
      emit({ event: 'role-call', call, phase: 'error', role: this.name, message: messageOf(error) });
      throw error;
    }
  }

  /** Spawns the child and resolves once it listens and answers `GET /health`. */
  async #spawn(mode: 'serving' | 'warm', token: number | undefined, signal: AbortSignal): Promise<JobChild> {
    if (signal.aborted) throw new Error('aborted before spawning the job-server');
    const proc = spawn(process.execPath, ['-e', CHILD_SCRIPT], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        JOB_PORT: String(this.#port),
        JOB_NODE: this.#node,
        JOB_MODE: mode,
        ...(token === undefined ? {} : { JOB_TOKEN: String(token) }),
      },
    });
    const pid = proc.pid;
    if (pid === undefined) throw new Error('could not spawn the job-server child');
    let onExit: () => void = () => {};
    const exited = new Promise<void>((done) => {
      onExit = done;
    });
    const child: JobChild = { pid, process: proc, exited, mode, token, alive: true, killing: false };
    this.#child = child;
    emit({ event: 'child', what: 'spawned', pid, mode, token, port: this.#port });
    proc.once('exit', (code, sig) => {
      child.alive = false;
      emit({ event: 'child', what: 'exited', pid, code, signal: sig, expected: child.killing });
      onExit();
    });
    proc.once('error', (error) => {
      process.stderr.write(`[${this.#node}] job-server child error: ${error.message}\n`);
    });
    proc.stdin.on('error', () => {
      // The child is gone; its exit event tells.
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) =>
      process.stderr.write(`[${this.#node} job-server ${pid}] ${chunk}`),
    );
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the job-server child did not listen within ${CHILD_START_LIMIT_MS} ms`)),
        CHILD_START_LIMIT_MS,
      );
      const abort = (): void => reject(new Error('aborted while the job-server child was starting'));
      signal.addEventListener('abort', abort, { once: true });
      const settle = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
      };
      createInterface({ input: proc.stdout }).on('line', (line) => {
        if (line.trim() === 'listening') {
          settle();
          resolve();
        }
      });
      void exited.then(() => {
        settle();
        reject(new Error('the job-server child exited while starting'));
      });
    });
    try {
      await listening;
      emit({ event: 'child', what: 'listening', pid, mode });
      const answer = await callChild(this.#port, 'GET', '/health');
      if (answer.status !== 200) throw new Error(`the new job-server child answered ${answer.status}`);
    } catch (error) {
      await this.#killChild();
      throw error;
    }
    return child;
  }

  /** Kills the current child by PID and waits (bounded) for it to exit. */
  async #killChild(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    if (child.alive) {
      child.killing = true;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        child.exited.then(() => 'exited' as const),
        new Promise<'timeout'>((done) => {
          timer = setTimeout(() => done('timeout'), CHILD_EXIT_LIMIT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout') throw new Error(`job-server child ${child.pid} did not exit after SIGKILL`);
    }
    if (this.#child === child) this.#child = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The node.

type KvNode = RaftNode<KvResult, KvQuery, KvQueryResult>;

function serialise(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

async function main(): Promise<void> {
  let settings: Settings;
  let clusterKey: Uint8Array;
  try {
    settings = parseSettings(process.argv.slice(2));
    clusterKey = clusterKeyFromEnv();
  } catch (error) {
    process.stderr.write(`roles-node: ${messageOf(error)}\n`);
    return exitAfterFlush(2);
  }
  const { id } = settings;
  await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  const clock = new SystemClock();
  const random = systemRandom();
  const peerAddress = settings.peers[id] ?? '';
  const [host, portText] = [peerAddress.slice(0, peerAddress.lastIndexOf(':')), peerAddress.split(':').pop()];
  const transport = await StreamTransport.create({
    id,
    listen: { host: host === '' ? '127.0.0.1' : host, port: Number(portText) },
    network: new NodeNetwork(),
    clusterKey,
    clock,
    random: random.fork('transport'),
  });
  clusterKey.fill(0);
  const machine = new KvStateMachine();
  const raft: KvNode = await RaftNode.create({
    id,
    peers: settings.peers,
    storage: new FileStorage({ disk: new NodeDisk(settings.dataDir) }),
    transport,
    stateMachine: machine,
    clock,
    random: random.fork('raft'),
    heartbeatMs: settings.heartbeatMs,
    electionTimeoutMs: settings.electionTimeoutMs,
    stampCommand: kv.stamp,
    timeCommand: { intervalMs: settings.tickMs, make: kv.tick },
  });
  const refs: NodeRef[] = Object.keys(settings.peers)
    .sort()
    .map((node) => ({ id: node, name: node, address: `127.0.0.1:${settings.jobPorts[node]}` }));
  const self = refs.find((ref) => ref.id === id);
  if (self === undefined) throw new Error(`${id} is not among the peers`);
  const cluster: ClusterView = { self: () => self, members: () => refs };
  const role = new JobServerRole(id, settings.jobPorts[id] ?? 0);
  const manager = new RoleManager({
    roles: [role],
    cluster,
    store: { log: raft, view: machine, raft },
    clock,
    random: random.fork('roles'),
    lease: {
      ttlMs: settings.ttlMs,
      maxClockSkewMs: settings.maxClockSkewMs,
      safetyMarginMs: settings.safetyMarginMs,
    },
    restart: { healthIntervalMs: settings.healthIntervalMs },
    timeouts: { startMs: 20_000, stopMs: 10_000, handoffMs: 20_000 },
    logger: {
      debug: () => {},
      info: () => {},
      warn: (fields, message) => process.stderr.write(`[${id}] warn ${message} ${JSON.stringify(fields)}\n`),
      error: (fields, message) =>
        process.stderr.write(`[${id}] error ${message} ${JSON.stringify(fields)}\n`),
    },
  });
  for (const name of MANAGER_EVENTS) {
    manager.on(name, (info: RoleManagerEvents[typeof name][0]) => {
      const fields: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(info)) fields[key] = serialise(value);
      emit({ ...fields, event: name });
    });
  }

  let stopping = false;
  const shutdown = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    emit({ event: 'shutdown-begin', reason });
    const hardStop = setTimeout(() => {
      role.killNow();
      emit({ event: 'shutdown', reason, error: `graceful shutdown took over ${SHUTDOWN_LIMIT_MS} ms` });
      void exitAfterFlush(1);
    }, SHUTDOWN_LIMIT_MS);
    void (async () => {
      let failure: string | undefined;
      try {
        await manager.stop({ handoff: true });
      } catch (error) {
        failure = `manager.stop: ${messageOf(error)}`;
      }
      // Leave Raft leadership to a member that stays, so the cluster does not wait out an election.
      const other = Object.keys(settings.peers).find((node) => node !== id);
      if (raft.leader === id && other !== undefined) {
        try {
          await manager.coordinator.transfer('raft', other, { timeoutMs: 2_000 });
        } catch {
          // The others elect a leader after an election timeout anyway.
        }
      }
      try {
        await raft.stop();
      } catch (error) {
        failure ??= `raft.stop: ${messageOf(error)}`;
      }
      role.killNow();
      clearTimeout(hardStop);
      emit({ event: 'shutdown', reason, ...(failure === undefined ? {} : { error: failure }) });
      await exitAfterFlush(failure === undefined ? 0 : 1);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const execute = async (command: Record<string, unknown>): Promise<Record<string, unknown>> => {
    switch (command.cmd) {
      case 'status':
        return {
          id,
          raftLeader: raft.leader,
          statuses: manager.statuses(),
          leaders: manager.leaders(),
          child: role.child ?? null,
          acting: manager.isActing(JOB_ROLE),
        };
      case 'transfer': {
        const target = command.to;
        const name = command.role ?? JOB_ROLE;
        const timeoutMs = typeof command.timeoutMs === 'number' ? command.timeoutMs : 10_000;
        if (typeof target !== 'string' || typeof name !== 'string')
          throw new Error('transfer needs role and to as strings');
        const result = await manager.coordinator.transfer(name, target, { timeoutMs });
        return { result };
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
    }
  };

  createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })
    .on('line', (line) => {
      if (line.trim() === '') return;
      let command: Record<string, unknown>;
      try {
        const parsed = JSON.parse(line) as unknown;
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('a command is a JSON object');
        command = parsed as Record<string, unknown>;
      } catch (error) {
        emit({ event: 'error', id: null, message: messageOf(error) });
        return;
      }
      execute(command).then(
        (body) => emit({ ...body, event: 'reply', id: command.id ?? null }),
        (error: unknown) =>
          emit({
            event: 'error',
            id: command.id ?? null,
            message: messageOf(error),
            name: error instanceof Error ? error.name : 'Error',
          }),
      );
    })
    .on('close', () => shutdown('stdin-eof'));

  manager.start();
  emit({
    event: 'ready',
    id,
    pid: process.pid,
    jobPort: settings.jobPorts[id],
    lease: manager.leaseTiming,
  });
}

main().catch(async (error: unknown) => {
  process.stderr.write(
    `roles-node: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  await exitAfterFlush(1);
});
