/**
 * N agents as separate processes on loopback, each with its own config, data dir and ports: what
 * `node-agent demo` runs, and what the agent's process tests drive (same code path).
 *
 * Layout of the working directory:
 *
 *   cluster.key              the demo cluster's auth key (random, mode 0600)
 *   dashboard.token          the dashboard token for actions (random, mode 0600)
 *   node-<i>.yaml            node i's config
 *   node-<i>/                node i's data dir
 *   node-<i>.log             node i's stdout and stderr (pino JSON lines)
 *
 * Ports of node i (1-based): dashboard `basePort + i − 1`, gossip `gossipBase + 2(i − 1)`, Raft
 * the port after its gossip port. Every node lists node 1's gossip address as its seed, so node 1
 * founds the cluster and the others join it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { findExecutable } from '../agent/catalog.js';

/**
 * The roles every demo node enables: the agent's own, and the k3s roles while k3s is not
 * installed (they show as not-installed: honest, and nothing runs). Where k3s is installed the
 * demo leaves them off, as it leaves the SLURM roles off: they run real daemons with the host's
 * data dirs and ports, and the demo's nodes share one host (the SLURM lab test runs SLURM on
 * network-namespace hosts).
 */
export const DEMO_ROLES = ['cluster-coordinator', 'k3s-server', 'k3s-agent'] as const;

/** The demo's roles on this host: {@link DEMO_ROLES} without the k3s roles where `k3s` is found. */
export async function demoRoles(
  find: (name: string) => Promise<string | null> = findExecutable,
): Promise<string[]> {
  const k3s = await find('k3s');
  return DEMO_ROLES.filter((role) => k3s === null || !role.startsWith('k3s-'));
}

/** Most nodes a local cluster runs. */
export const MAX_LOCAL_NODES = 9;

/** Options of {@link LocalCluster}. */
export interface LocalClusterOptions {
  /** Number of nodes (1 to {@link MAX_LOCAL_NODES}). */
  readonly nodes: number;
  /** Working directory (created if missing). */
  readonly dir: string;
  /** Dashboard port of node 1. */
  readonly basePort: number;
  /** Gossip port of node 1. */
  readonly gossipBase: number;
  /** The command that runs `node-agent` (e.g. `[process.execPath, '/path/to/cli.js']`). */
  readonly command: readonly string[];
  /** `--log-level` of the agents. @defaultValue 'info' */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Raft voters. @defaultValue the largest odd number ≤ min(nodes, 3) */
  readonly voters?: number;
  /** Extra environment for the agents. */
  readonly env?: Readonly<Record<string, string>>;
}

/** One agent process. */
export interface LocalNode {
  /** 1-based index. */
  readonly index: number;
  /** Node name (`node-<i>`). */
  readonly name: string;
  /** Its dashboard URL. */
  readonly url: string;
  /** Its config file. */
  readonly config: string;
  /** Its log file. */
  readonly log: string;
  /** The running process, if any. */
  process: ChildProcess | undefined;
  /** Resolves with the exit code (or signal name) of the current process. */
  exited: Promise<number | string> | undefined;
}

/** A set of agent processes on loopback (see the module comment). */
export class LocalCluster {
  /** The nodes, index 0 = node 1. */
  readonly nodes: readonly LocalNode[];
  /** The dashboard token file. */
  readonly tokenFile: string;
  readonly #options: LocalClusterOptions;
  readonly #logs = new Map<string, WriteStream>();

  /** Describes the cluster; {@link prepare} writes its files. */
  constructor(options: LocalClusterOptions) {
    if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > MAX_LOCAL_NODES)
      throw new RangeError(`nodes must be an integer from 1 to ${MAX_LOCAL_NODES}, got ${options.nodes}`);
    this.#options = options;
    this.tokenFile = join(options.dir, 'dashboard.token');
    this.nodes = Array.from({ length: options.nodes }, (_, k) => ({
      index: k + 1,
      name: `node-${k + 1}`,
      url: `http://127.0.0.1:${options.basePort + k}`,
      config: join(options.dir, `node-${k + 1}.yaml`),
      log: join(options.dir, `node-${k + 1}.log`),
      process: undefined,
      exited: undefined,
    }));
  }

  /** Node `name`. Throws for an unknown name. */
  node(name: string): LocalNode {
    const node = this.nodes.find((n) => n.name === name);
    if (node === undefined) throw new RangeError(`no node ${name}`);
    return node;
  }

  /** Writes the key, the token and every node's config. */
  async prepare(): Promise<void> {
    const { dir, nodes, basePort, gossipBase } = this.#options;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, 'cluster.key'), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    await writeFile(this.tokenFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
    const roles = await demoRoles();
    const voters = this.#options.voters ?? (Math.min(nodes, 3) % 2 === 1 ? Math.min(nodes, 3) : 1);
    for (const node of this.nodes) {
      const k = node.index - 1;
      const config = {
        cluster: { name: 'demo', auth_key_file: 'cluster.key' },
        node: { name: node.name, tags: { demo: 'true' } },
        network: {
          provider: 'static',
          bind: '127.0.0.1',
          gossip_port: gossipBase + 2 * k,
          raft_port: gossipBase + 2 * k + 1,
          seeds: [`127.0.0.1:${gossipBase}`],
        },
        roles: { enabled: roles },
        raft: { voters, election_timeout_ms: 1000, heartbeat_ms: 100 },
        dashboard: { port: basePort + k, bind: '127.0.0.1', token_file: 'dashboard.token' },
        data_dir: node.name,
      };
      await writeFile(node.config, stringify(config), { mode: 0o600 });
    }
  }

  /** Starts node `name`'s process (its log is appended to). */
  start(name: string): LocalNode {
    const node = this.node(name);
    if (node.process !== undefined && node.process.exitCode === null && node.process.signalCode === null)
      throw new Error(`${name} is already running (pid ${node.process.pid})`);
    const [program, ...args] = this.#options.command;
    if (program === undefined) throw new Error('command is empty');
    let log = this.#logs.get(name);
    if (log === undefined) {
      log = createWriteStream(node.log, { flags: 'a', mode: 0o600 });
      this.#logs.set(name, log);
    }
    const child = spawn(
      program,
      [...args, 'start', '--config', node.config, '--log-level', this.#options.logLevel ?? 'info'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...this.#options.env },
        // Its own process group: Ctrl-C in the demo's terminal reaches the demo only, which then
        // stops the agents one at a time.
        detached: true,
      },
    );
    const sink = log;
    child.stdout?.on('data', (chunk: Buffer) => sink.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => sink.write(chunk));
    node.process = child;
    node.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
      child.once('error', (error) => resolve(`spawn error: ${error.message}`));
    });
    return node;
  }

  /** Starts every node. */
  startAll(): void {
    for (const node of this.nodes) this.start(node.name);
  }

  /** Whether node `name`'s process runs. */
  running(name: string): boolean {
    const child = this.node(name).process;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Sends `signal` to node `name`'s process (by its PID) if it runs. */
  signal(name: string, signal: NodeJS.Signals): void {
    const child = this.node(name).process;
    if (child?.pid !== undefined && this.running(name)) process.kill(child.pid, signal);
  }

  /**
   * Sends SIGTERM to node `name` and waits up to `limitMs` for it to exit; SIGKILLs it after
   * that. Resolves with the exit code (or signal name).
   */
  async stop(name: string, limitMs = 70_000): Promise<number | string> {
    const node = this.node(name);
    if (node.exited === undefined) return 'not started';
    this.signal(name, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      node.exited,
      new Promise<'timeout'>((done) => {
        timer = setTimeout(() => done('timeout'), limitMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return outcome;
    this.signal(name, 'SIGKILL');
    await node.exited;
    return 'killed after timeout';
  }

  /** Stops every running node at once (SIGTERM, then SIGKILL after `limitMs`). */
  async stopAll(limitMs = 70_000): Promise<void> {
    await Promise.all(this.nodes.filter((n) => this.running(n.name)).map((n) => this.stop(n.name, limitMs)));
    for (const log of this.#logs.values()) log.end();
    this.#logs.clear();
  }
}
