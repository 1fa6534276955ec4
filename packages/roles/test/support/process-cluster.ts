/**
 * Harness for the real-process tests and the benchmark of `@clusteros/roles`: starts N
 * control-plane nodes (`test/process-node/main.ts`, one OS process each, run from the repository
 * root with `node --conditions=@clusteros/source --import tsx` like the membership ts-peer) on
 * free 127.0.0.1 ports with their own temporary data folders, talks to them with JSON lines on
 * stdin/stdout (correlating replies by id), keeps every event each node reported, and offers a
 * load client that hammers the nodes' job-server ports.
 *
 * Rules it keeps: every wait is bounded (a deadline, or an event with a timeout — nothing waits by
 * sleeping), it signals only the PIDs it spawned (node processes; the job-server children belong
 * to the nodes and are only watched, by the PIDs the nodes report — except that `stop()` kills a
 * child still alive 5 s after its node ended, by that reported PID and only after checking its
 * command line is a job-server's, so that a failing test leaves no server behind), and it removes
 * its temporary folders when stopped.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '@clusteros/sim';

/** The repository root: node processes run from there, where `tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const NODE_MAIN = fileURLToPath(new URL('../process-node/main.ts', import.meta.url));
/** The node's one role (the same constant as in `process-node/main.ts`, which cannot be imported: it runs). */
export const JOB_ROLE = 'job-server';
/** The environment variable the nodes read the cluster key from (hex). */
const CLUSTER_KEY_ENV = 'ROLES_NODE_CLUSTER_KEY';

/** One JSON line a node printed (`event` names it; `at` is the node's `Date.now()`). */
export interface NodeEvent {
  readonly event: string;
  readonly at: number;
  readonly [field: string]: unknown;
}

/** A command a node answered with an `error` line. */
export class NodeCommandError extends Error {
  override readonly name = 'NodeCommandError';
  constructor(
    readonly node: string,
    readonly command: string,
    readonly reason: string,
  ) {
    super(`${node}: ${command} failed: ${reason}`);
  }
}

/** Settings of a cluster (everything optional). */
export interface ProcessClusterOptions {
  /** Nodes. @defaultValue 3 */
  readonly size?: number;
  /** Lease TTL of the role. @defaultValue 2000 */
  readonly ttlMs?: number;
  /** Raft heartbeat. @defaultValue 50 */
  readonly heartbeatMs?: number;
  /** Raft election timeout. @defaultValue 300 */
  readonly electionTimeoutMs?: number;
  /** Interval of the leader's `kv.tick`. @defaultValue 100 */
  readonly tickMs?: number;
  /** Clock-skew bound of the lease (see `timing.ts`); the node's default when absent. */
  readonly maxClockSkewMs?: number;
  /** Safety margin of the lease; the node's default when absent. */
  readonly safetyMarginMs?: number;
  /** Bound on a node's start-up (tsx compiles on a loaded 2-core box). @defaultValue 60000 */
  readonly readyTimeoutMs?: number;
  /** Default bound on each command's reply. @defaultValue 30000 */
  readonly commandTimeoutMs?: number;
}

const STDERR_LIMIT = 64 * 1024;
const TERM_GRACE_MS = 45_000;
const KILL_WAIT_MS = 5_000;

/** Resolves after `ms`; only for pacing polls and load, never to wait for something to happen. */
export const pause = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/**
 * Polls `probe` every `intervalMs` until it returns something other than `undefined`, and returns
 * that; throws (naming `what`, with `detail()` if given) when `limitMs` passes first.
 */
export async function pollUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  limitMs: number,
  what: string,
  intervalMs = 20,
  detail?: () => string,
): Promise<T> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() >= deadline)
      throw new Error(`${what}: not within ${limitMs} ms${detail === undefined ? '' : `\n${detail()}`}`);
    await pause(intervalMs);
  }
}

/** `promise`, or a rejection naming `what` if it has not settled within `limitMs`. */
export function within<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${limitMs} ms`)), limitMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Whether process `pid` is gone: no /proc entry, or a zombie (exited, not yet reaped by its new
 * parent). Linux only, like the rest of these tests.
 */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/** The marker every job-server child carries in its command line (see `process-node/main.ts`). */
const JOB_SERVER_MARKER = 'clusteros-roles-job-server';

/** Whether `pid` runs a job-server child (its command line carries the marker). */
function isJobServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(JOB_SERVER_MARKER);
  } catch {
    return false;
  }
}

interface Pending {
  readonly command: string;
  readonly resolve: (body: Record<string, unknown>) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One node process. */
export class NodeProcess {
  /** Every line the node printed, in order. */
  readonly log: NodeEvent[] = [];
  /** Emits `event` (a {@link NodeEvent}) and `exit` (code, signal). */
  readonly events = new EventEmitter();
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  #stderr = '';
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(
    readonly id: string,
    readonly jobPort: number,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly commandTimeoutMs: number,
  ) {
    if (child.pid === undefined) throw new Error(`node ${id} did not start`);
    this.pid = child.pid;
    this.events.setMaxListeners(0);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => this.#appendStderr(chunk));
    child.on('error', (error) => this.#appendStderr(`[process error] ${error.message}\n`));
    child.stdin.on('error', () => {
      // The process is gone; its exit rejects whatever is pending.
    });
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.#appendStderr(`[stdout, not JSON] ${line}\n`);
        return;
      }
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as NodeEvent).event !== 'string') {
        this.#appendStderr(`[stdout, not an event] ${line}\n`);
        return;
      }
      const event = parsed as NodeEvent;
      this.log.push(event);
      if (event.event === 'reply' || event.event === 'error') this.#settle(event);
      this.events.emit('event', event);
    });
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        for (const [id, pending] of this.#pending) {
          clearTimeout(pending.timer);
          pending.reject(
            new Error(
              `node ${this.id} exited (code ${code}, signal ${signal}) before replying to ${pending.command}${this.#tail()}`,
            ),
          );
          this.#pending.delete(id);
        }
        this.events.emit('exit', code, signal);
        done({ code, signal });
      });
    });
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** How the process ended, once it has. */
  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.#exit;
  }

  /** The last part of the node's stderr. */
  stderrTail(chars = 4_000): string {
    return this.#stderr.slice(-chars);
  }

  #tail(): string {
    const text = this.stderrTail().trimEnd();
    return text === '' ? '' : `\n--- stderr of node ${this.id} (tail) ---\n${text}`;
  }

  #appendStderr(chunk: string): void {
    this.#stderr += chunk;
    if (this.#stderr.length > STDERR_LIMIT) this.#stderr = this.#stderr.slice(-STDERR_LIMIT / 2);
  }

  #settle(event: NodeEvent): void {
    const id = typeof event.id === 'number' ? event.id : undefined;
    if (id === undefined) return;
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (event.event === 'reply') pending.resolve(event);
    else pending.reject(new NodeCommandError(this.id, pending.command, String(event.message)));
  }

  /** Sends a command and resolves with the reply line; rejects on an error line, exit or timeout. */
  command(cmd: string, fields: Record<string, unknown> = {}, timeoutMs = this.commandTimeoutMs) {
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      if (!this.running) {
        reject(new Error(`node ${this.id} is not running (${cmd})`));
        return;
      }
      const id = this.#nextId++;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`node ${this.id}: no reply to ${cmd} within ${timeoutMs} ms${this.#tail()}`));
      }, timeoutMs);
      this.#pending.set(id, { command: cmd, resolve, reject, timer });
      this.child.stdin.write(`${JSON.stringify({ ...fields, id, cmd })}\n`);
    });
  }

  /** This node's status: role statuses, leaders, its job-server child. */
  status(): Promise<Record<string, unknown>> {
    return this.command('status', {}, 10_000);
  }

  /** Asks this node to hand `role` to `to`; resolves with the transfer result. */
  async transfer(to: string, timeoutMs = 10_000, role = JOB_ROLE): Promise<TransferReply> {
    const reply = await this.command('transfer', { role, to, timeoutMs }, timeoutMs + 30_000);
    const result = reply.result as Record<string, unknown> | undefined;
    if (result === undefined || typeof result.fencingToken !== 'number' || typeof result.to !== 'string')
      throw new Error(`node ${this.id}: transfer reply without a result: ${JSON.stringify(reply)}`);
    return {
      from: String(result.from),
      to: result.to,
      fencingToken: result.fencingToken,
      id: String(result.id),
    };
  }

  /**
   * The first event (from index `from` of the log on) that satisfies `match`, waiting for it at
   * most `limitMs`; rejects on timeout, or if the process exits first.
   */
  waitFor(match: (event: NodeEvent) => boolean, limitMs: number, what: string, from = 0): Promise<NodeEvent> {
    for (let i = from; i < this.log.length; i++) {
      const event = this.log[i];
      if (event !== undefined && match(event)) return Promise.resolve(event);
    }
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('event', onEvent);
        this.events.off('exit', onExit);
      };
      const onEvent = (event: NodeEvent): void => {
        if (!match(event)) return;
        cleanup();
        resolve(event);
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`node ${this.id} exited while waiting for ${what}${this.#tail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`node ${this.id}: no ${what} within ${limitMs} ms${this.#tail()}`));
      }, limitMs);
      this.events.on('event', onEvent);
      if (!this.running) onExit();
      else this.events.on('exit', onExit);
    });
  }

  /** Events named `name`, in order. */
  eventsNamed(name: string): NodeEvent[] {
    return this.log.filter((event) => event.event === name);
  }

  /** PIDs of every job-server child this node reported spawning. */
  childPids(): number[] {
    return this.log
      .filter((event) => event.event === 'child' && event.what === 'spawned' && typeof event.pid === 'number')
      .map((event) => event.pid as number);
  }

  /** Sends `signal` to this process, by its PID (only if it still runs). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, wait up to `graceMs`, then SIGKILL; resolves once it has exited. */
  async stop(graceMs = TERM_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await Promise.race([
      this.exited,
      new Promise<void>((done) => setTimeout(done, graceMs + KILL_WAIT_MS).unref()),
    ]);
    clearTimeout(timer);
  }
}

/** What a node's `transfer` command resolved with. */
export interface TransferReply {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly fencingToken: number;
}

/** The current holder as the job ports show it. */
export interface Holder {
  readonly node: NodeProcess;
  readonly token: number;
  /** PID of the holder's job-server child. */
  readonly childPid: number;
}

/** A running cluster of node processes. */
export class ProcessCluster {
  readonly nodes: NodeProcess[] = [];
  readonly #root: string;
  readonly #args: (id: string) => string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #options: Required<Pick<ProcessClusterOptions, 'readyTimeoutMs' | 'commandTimeoutMs'>>;
  /** Lease TTL the nodes run with. */
  readonly ttlMs: number;
  #stopped = false;

  private constructor(
    root: string,
    args: (id: string) => string[],
    env: NodeJS.ProcessEnv,
    ttlMs: number,
    options: Required<Pick<ProcessClusterOptions, 'readyTimeoutMs' | 'commandTimeoutMs'>>,
  ) {
    this.#root = root;
    this.#args = args;
    this.#env = env;
    this.ttlMs = ttlMs;
    this.#options = options;
  }

  /** Picks ports and folders, starts every node and waits (bounded) until each is ready. */
  static async start(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const size = options.size ?? 3;
    const ttlMs = options.ttlMs ?? 2_000;
    const root = await mkdtemp(join(tmpdir(), 'roles-processes-'));
    const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const peers: string[] = [];
    const jobPorts: string[] = [];
    for (const id of ids) {
      peers.push(`${id}=127.0.0.1:${await freePort()}`);
      jobPorts.push(`${id}=${await freePort()}`);
    }
    const settings: [string, number | undefined][] = [
      ['--ttl-ms', ttlMs],
      ['--heartbeat-ms', options.heartbeatMs ?? 50],
      ['--election-timeout-ms', options.electionTimeoutMs ?? 300],
      ['--tick-ms', options.tickMs ?? 100],
      ['--max-clock-skew-ms', options.maxClockSkewMs],
      ['--safety-margin-ms', options.safetyMarginMs],
    ];
    const args = (id: string): string[] => {
      const list = [
        '--id',
        id,
        '--peers',
        peers.join(','),
        '--job-ports',
        jobPorts.join(','),
        '--data-dir',
        join(root, id),
      ];
      for (const [flag, value] of settings) if (value !== undefined) list.push(flag, String(value));
      return list;
    };
    const env: NodeJS.ProcessEnv = { ...process.env, [CLUSTER_KEY_ENV]: randomBytes(32).toString('hex') };
    const cluster = new ProcessCluster(root, args, env, ttlMs, {
      readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      commandTimeoutMs: options.commandTimeoutMs ?? 30_000,
    });
    try {
      await Promise.all(ids.map((id) => cluster.#spawn(id)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  async #spawn(id: string): Promise<NodeProcess> {
    const args = this.#args(id);
    const jobPort = Number(
      (args[args.indexOf('--job-ports') + 1] ?? '')
        .split(',')
        .find((part) => part.startsWith(`${id}=`))
        ?.slice(id.length + 1),
    );
    const child = spawn(
      process.execPath,
      ['--conditions=@clusteros/source', '--import', 'tsx', NODE_MAIN, ...args],
      {
        cwd: REPO_ROOT,
        env: this.#env,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const node = new NodeProcess(id, jobPort, child, this.#options.commandTimeoutMs);
    const index = this.nodes.findIndex((n) => n.id === id);
    if (index >= 0) this.nodes[index] = node;
    else this.nodes.push(node);
    await node.waitFor((event) => event.event === 'ready', this.#options.readyTimeoutMs, 'ready line');
    return node;
  }

  /** The node with `id` (its latest process). */
  node(id: string): NodeProcess {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Nodes whose process is running. */
  running(): NodeProcess[] {
    return this.nodes.filter((node) => node.running);
  }

  /** Starts `id` again (same ports, same data folder) after its process ended. */
  async restart(id: string): Promise<NodeProcess> {
    const node = this.node(id);
    if (node.running) throw new Error(`node ${id} still runs`);
    return this.#spawn(id);
  }

  /**
   * Waits (bounded) until exactly one running node's job port answers `GET /` with 200, every
   * other running node's does not, and that node's status says it acts as the holder with the
   * token the child reports; `notToken` excludes an old holder's token.
   */
  async waitForHolder(limitMs: number, options: { notToken?: number } = {}): Promise<Holder> {
    let last = '';
    return pollUntil(
      async () => {
        const nodes = this.running();
        const answers = await Promise.all(nodes.map((node) => getJob(node.jobPort, 1_000)));
        const serving = nodes.filter((_, i) => answers[i]?.status === 200);
        last = nodes.map((node, i) => `${node.id}: ${describeAnswer(answers[i])}`).join('; ');
        if (serving.length !== 1) return undefined;
        const [node] = serving;
        const answer = answers[nodes.indexOf(node as NodeProcess)];
        if (node === undefined || answer?.token === undefined) return undefined;
        if (options.notToken !== undefined && answer.token === options.notToken) return undefined;
        const status = await node.status().catch(() => undefined);
        const child = status?.child as { pid?: unknown } | null | undefined;
        if (status?.acting !== true || typeof child?.pid !== 'number') return undefined;
        return { node, token: answer.token, childPid: child.pid };
      },
      limitMs,
      'one job-server holder',
      25,
      () => `last answers: ${last}${this.stderrTails()}`,
    );
  }

  /** Every running node's stderr tail, for failure messages. */
  stderrTails(): string {
    return this.nodes
      .map((node) => {
        const tail = node.stderrTail(1_500).trimEnd();
        return tail === '' ? '' : `\n--- stderr of ${node.id} ---\n${tail}`;
      })
      .join('');
  }

  /**
   * Stops every node (SIGTERM, bounded wait, SIGKILL, by PID), waits (bounded) for the job-server
   * children the nodes reported to be gone, and removes the temporary folders.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.nodes.map((node) => node.stop()));
    const children = this.nodes.flatMap((node) => node.childPids());
    await pollUntil(
      () => (children.every(processGone) ? true : undefined),
      KILL_WAIT_MS,
      'job-server children to exit with their nodes',
      25,
    ).catch((error: unknown) => {
      // A child that outlived its node is the bug the SIGKILL test looks for; when a test has
      // already failed on it, do not leave a server behind: kill it by the PID its node reported,
      // after checking that this PID still is a job-server (its command line carries the marker).
      const stray = children.filter((pid) => !processGone(pid) && isJobServer(pid));
      process.stderr.write(
        `process-cluster: ${(error as Error).message}; killing strays by PID: ${stray.join(', ')}\n`,
      );
      for (const pid of stray) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    });
    await rm(this.#root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Clients of the job server.

/** One answer of a job-server port (or why there was none). */
export interface JobAnswer {
  readonly port: number;
  /** `performance.now()` when the request was sent and when its outcome arrived. */
  readonly sentAt: number;
  readonly receivedAt: number;
  /** Wall-clock ms (`Date.now()`) when the outcome arrived, to compare with node events. */
  readonly receivedWall: number;
  /** HTTP status, or 0 if the request failed (refused, reset, timeout). */
  readonly status: number;
  readonly node?: string;
  readonly token?: number;
  readonly served?: number;
  readonly error?: string;
}

function describeAnswer(answer: JobAnswer | undefined): string {
  if (answer === undefined) return '?';
  if (answer.status === 0) return `no answer (${answer.error ?? ''})`;
  return `${answer.status} token ${answer.token ?? '-'}`;
}

/** One `GET /` to a job port on `agent` (a fresh connection when absent), bounded by `limitMs`. */
export function getJob(port: number, limitMs: number, agent?: Agent): Promise<JobAnswer> {
  const sentAt = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (fields: Omit<JobAnswer, 'port' | 'sentAt' | 'receivedAt' | 'receivedWall'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ port, sentAt, receivedAt: performance.now(), receivedWall: Date.now(), ...fields });
    };
    const req = request(
      { host: '127.0.0.1', port, path: '/', method: 'GET', agent: agent ?? false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('error', (error) => finish({ status: 0, error: error.message }));
        res.on('end', () => {
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // a body that is not JSON: keep the status only
          }
          finish({
            status: res.statusCode ?? 0,
            ...(typeof body.node === 'string' ? { node: body.node } : {}),
            ...(typeof body.token === 'number' ? { token: body.token } : {}),
            ...(typeof body.served === 'number' ? { served: body.served } : {}),
          });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${limitMs} ms`));
    }, limitMs);
    req.on('error', (error) => finish({ status: 0, error: error.message }));
    req.end();
  });
}

/**
 * A client that keeps one GET in flight per port, back to back with `pauseMs` between them,
 * until stopped or `maxMs` passes. Records every answered request (status 200) in the order the
 * answers arrived, which is the client-observed order the tests reason about.
 */
export class JobClient {
  /** Answers with status 200, in arrival order. */
  readonly answers: JobAnswer[] = [];
  /** Requests that got no 200 (refused, 503, reset), by port. */
  readonly misses = new Map<number, number>();
  readonly #agents: Agent[];
  readonly #loops: Promise<void>[];
  readonly #listeners = new Set<() => void>();
  #running = true;
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly ports: readonly number[],
    options: { pauseMs?: number; maxMs?: number; requestLimitMs?: number } = {},
  ) {
    const pauseMs = options.pauseMs ?? 1;
    const limit = options.requestLimitMs ?? 2_000;
    this.#timer = setTimeout(() => {
      this.#running = false;
    }, options.maxMs ?? 120_000);
    this.#agents = ports.map(() => new Agent({ keepAlive: true, maxSockets: 1 }));
    this.#loops = ports.map(async (port, i) => {
      const agent = this.#agents[i];
      while (this.#running) {
        const answer = await getJob(port, limit, agent);
        if (answer.status === 200) {
          this.answers.push(answer);
          for (const listener of this.#listeners) listener();
        } else {
          this.misses.set(port, (this.misses.get(port) ?? 0) + 1);
        }
        if (pauseMs > 0) await pause(pauseMs);
      }
    });
  }

  /** Waits (at most `limitMs`) until `predicate` holds over the answers so far. */
  waitFor(
    predicate: (answers: readonly JobAnswer[]) => boolean,
    limitMs: number,
    what: string,
  ): Promise<void> {
    if (predicate(this.answers)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!predicate(this.answers)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`client: no ${what} within ${limitMs} ms (${this.answers.length} answers so far)`));
      }, limitMs);
      this.#listeners.add(listener);
    });
  }

  /** Stops the loops (each finishes its request in flight) and closes the connections. */
  async stop(): Promise<JobAnswer[]> {
    this.#running = false;
    clearTimeout(this.#timer);
    await Promise.all(this.#loops);
    for (const agent of this.#agents) agent.destroy();
    return this.answers;
  }
}

/** What the client saw across one change of holder. */
export interface Changeover {
  /** Index (in arrival order) of the last answer with the old token, or -1. */
  readonly lastOld: number;
  /** Index of the first answer with the new token, or -1. */
  readonly firstNew: number;
  /** Answers with the old token that arrived after the first answer with the new one. */
  readonly oldAfterNew: number;
  /** Answers with neither token. */
  readonly strangers: number;
  /** Client-observed gap between the last old answer and the first new one, ms (NaN if either is missing). */
  readonly gapMs: number;
  readonly lastOldAnswer: JobAnswer | undefined;
  readonly firstNewAnswer: JobAnswer | undefined;
}

/** Looks at the client's answers across a change from `oldToken` to `newToken`. */
export function changeover(answers: readonly JobAnswer[], oldToken: number, newToken: number): Changeover {
  let lastOld = -1;
  let firstNew = -1;
  let strangers = 0;
  answers.forEach((answer, i) => {
    if (answer.token === oldToken) lastOld = i;
    else if (answer.token === newToken) {
      if (firstNew === -1) firstNew = i;
    } else strangers++;
  });
  const oldAfterNew =
    firstNew === -1 ? 0 : answers.slice(firstNew).filter((answer) => answer.token === oldToken).length;
  const lastOldAnswer = lastOld >= 0 ? answers[lastOld] : undefined;
  const firstNewAnswer = firstNew >= 0 ? answers[firstNew] : undefined;
  const gapMs =
    lastOldAnswer !== undefined && firstNewAnswer !== undefined
      ? firstNewAnswer.receivedAt - lastOldAnswer.receivedAt
      : Number.NaN;
  return { lastOld, firstNew, oldAfterNew, strangers, gapMs, lastOldAnswer, firstNewAnswer };
}
