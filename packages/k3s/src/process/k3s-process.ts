/**
 * One supervised `k3s server` or `k3s agent` process, run in the foreground so that its PID is
 * the one this process started and its exit is seen at once. Output is read line by line: every
 * line is emitted, appended to an optional log file and kept in a bounded ring for error
 * messages, and a line saying that this node's etcd member was removed sets a flag (and emits
 * `removed`) so that the caller wipes `server/db` instead of restarting into the same failure.
 *
 * Restarting is the caller's decision (with backoff): this class starts once and reports how the
 * process ended.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { K3sMode } from './args.js';
import { K3sConfigError, K3sProcessError, systemErrorCode } from './errors.js';
import { checkSecretFlag } from './extra-args.js';
import { LineRing, splitLines } from './lines.js';
import { isRemovedMemberLine } from './messages.js';

/** Default wait between SIGTERM and SIGKILL: k3s stops its controllers and etcd on SIGTERM. */
export const DEFAULT_K3S_STOP_TIMEOUT_MS = 30_000;
/** How long to wait for the exit after SIGKILL before giving up. */
const KILL_WAIT_MS = 10_000;
/** How long to wait, after the exit, for the last output still in the pipes. */
const DRAIN_WAIT_MS = 2_000;
/** Default number of recent lines kept. */
export const DEFAULT_K3S_RECENT_LINES = 200;

/** The logger the supervisor writes to (pino-compatible; silent by default). Never gets env values or the token. */
export interface K3sProcessLogger {
  /** Informational. */
  info(fields: object, message: string): void;
  /** Something went wrong but supervision carries on. */
  warn(fields: object, message: string): void;
}

const SILENT: K3sProcessLogger = { info: () => {}, warn: () => {} };

/** How a k3s process ended. */
export interface K3sExitInfo {
  /** The exit code, or null when it was ended by a signal. */
  readonly code: number | null;
  /** The signal that ended it (`SIGTERM`, `SIGKILL`), or null. */
  readonly signal: string | null;
  /** Whether it printed a line saying its etcd member was removed ({@link K3S_REMOVED_MEMBER_MESSAGES}). */
  readonly removed: boolean;
  /** Whether {@link K3sProcess.stop} had been called: false means it exited by itself. */
  readonly expected: boolean;
}

/** Options of {@link K3sProcess.start}. */
export interface K3sProcessOptions {
  /** The k3s binary: a path, or a name looked up in PATH (`k3s`). */
  readonly binary: string;
  /** The arguments, from {@link buildK3sArgs}; `args[0]` is the mode. */
  readonly args: readonly string[];
  /**
   * k3s's environment; default this process's. `K3S_*` variables are dropped: k3s reads them as
   * flags (`K3S_TOKEN`, `K3S_URL`, `K3S_CLUSTER_RESET`, …), and the adapter's flags must be the
   * whole configuration.
   */
  readonly env?: NodeJS.ProcessEnv;
  /** File k3s's output is appended to (created 0600). */
  readonly logFile?: string;
  /** Wait after SIGTERM before SIGKILL; default {@link DEFAULT_K3S_STOP_TIMEOUT_MS}. */
  readonly stopTimeoutMs?: number;
  /** How many recent lines {@link K3sProcess.recentLines} keeps; default {@link DEFAULT_K3S_RECENT_LINES}. */
  readonly recentLines?: number;
  /** Where supervision events go. */
  readonly logger?: K3sProcessLogger;
}

/** Events of {@link K3sProcess}. */
export type K3sProcessEvents = {
  /** The process ended (emitted once, after its last output line). */
  exit: [info: K3sExitInfo];
  /** A line said this node's etcd member was removed (emitted once). */
  removed: [];
  /** One line of its output (stdout or stderr). */
  line: [line: string];
};

/** A running (or ended) k3s process. */
export class K3sProcess extends EventEmitter<K3sProcessEvents> {
  /** Its PID. */
  readonly pid: number;
  /** `server` or `agent`. */
  readonly mode: K3sMode;
  /** Resolves with how it ended (never rejects). */
  readonly exited: Promise<K3sExitInfo>;
  readonly #child: ChildProcess;
  readonly #ring: LineRing;
  readonly #stopTimeoutMs: number;
  readonly #logger: K3sProcessLogger;
  #running = true;
  #removed = false;
  #expected = false;
  #stopping: Promise<K3sExitInfo> | undefined;

  private constructor(
    child: ChildProcess,
    pid: number,
    mode: K3sMode,
    options: K3sProcessOptions,
    log: WriteStream | undefined,
  ) {
    super();
    this.#child = child;
    this.pid = pid;
    this.mode = mode;
    this.#ring = new LineRing(options.recentLines ?? DEFAULT_K3S_RECENT_LINES);
    this.#stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_K3S_STOP_TIMEOUT_MS;
    this.#logger = options.logger ?? SILENT;

    const onLine = (line: string): void => {
      this.#ring.push(line);
      log?.write(`${line}\n`);
      this.emit('line', line);
      if (!this.#removed && isRemovedMemberLine(line)) {
        this.#removed = true;
        this.#logger.warn({ pid }, 'k3s reports that its etcd member was removed from the cluster');
        this.emit('removed');
      }
    };
    // Errors after the spawn (a failed kill) are reported, never thrown as unhandled events.
    child.on('error', (error) => {
      this.#logger.warn({ pid, code: systemErrorCode(error) }, 'k3s process error');
    });
    if (child.stdout) splitLines(child.stdout, onLine);
    if (child.stderr) splitLines(child.stderr, onLine);

    let closed = false;
    const pipesClosed = new Promise<void>((resolve) =>
      child.once('close', () => {
        closed = true;
        resolve();
      }),
    );
    this.exited = new Promise<K3sExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#running = false;
        // The last lines (e.g. the removed-member ones printed just before exiting) may still be
        // in the pipes; wait for them, bounded: a grandchild that inherited a pipe could keep it
        // open for ever.
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<void>((done) => {
          timer = setTimeout(done, DRAIN_WAIT_MS);
        });
        void Promise.race([pipesClosed, bound]).then(() => {
          clearTimeout(timer);
          if (!closed) {
            child.stdout?.destroy();
            child.stderr?.destroy();
          }
          log?.end();
          const info: K3sExitInfo = {
            code,
            signal,
            removed: this.#removed,
            expected: this.#expected,
          };
          this.#logger.info({ pid, ...info }, 'k3s exited');
          resolve(info);
          this.emit('exit', info);
        });
      });
    });
  }

  /**
   * Starts k3s. Resolves once it has been spawned (its PID is known); rejects with
   * {@link K3sProcessError} `not-installed` when the binary does not exist, `spawn-failed` when
   * it cannot be run, and with {@link K3sConfigError} when `args` would put a secret on the
   * command line or do not start with `server`/`agent`.
   */
  static async start(options: K3sProcessOptions): Promise<K3sProcess> {
    const args = [...options.args];
    const mode = args[0];
    if (mode !== 'server' && mode !== 'agent')
      throw new K3sConfigError('invalid-value', 'args[0]', "must be the mode, 'server' or 'agent'");
    // Last guard: whatever built these arguments, no token goes on the command line.
    args.forEach((arg, i) => {
      checkSecretFlag(arg, `args[${i}]`);
    });
    const logger = options.logger ?? SILENT;
    const { env, dropped } = k3sEnvironment(options.env ?? process.env);
    if (dropped.length > 0)
      logger.warn(
        { variables: dropped },
        'K3S_* variables not passed to k3s: its flags are set by the adapter',
      );

    let log: WriteStream | undefined;
    if (options.logFile !== undefined) {
      log = createWriteStream(options.logFile, { flags: 'a', mode: 0o600 });
      // A log that cannot be written must never take the supervisor down with it.
      log.on('error', () => {});
    }
    let child: ChildProcess;
    try {
      child = spawn(options.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    } catch (error) {
      // Thrown at once for arguments spawn refuses (an empty binary, a NUL byte).
      log?.end();
      const code = systemErrorCode(error);
      throw new K3sProcessError(
        'spawn-failed',
        `cannot start ${JSON.stringify(options.binary)}: ${code ?? 'invalid arguments'}`,
        code,
      );
    }
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', (error) => {
        log?.end();
        const code = systemErrorCode(error);
        reject(
          code === 'ENOENT'
            ? new K3sProcessError('not-installed', `k3s is not installed: ${options.binary} not found`, code)
            : new K3sProcessError('spawn-failed', `cannot start ${options.binary}: ${code ?? 'error'}`, code),
        );
      });
    });
    logger.info({ pid, binary: options.binary, args }, `k3s ${mode} started`);
    return new K3sProcess(child, pid, mode, options, log);
  }

  /** Whether it still runs (no exit seen yet). */
  running(): boolean {
    return this.#running;
  }

  /** Whether it printed a line saying its etcd member was removed. */
  removedFromEtcd(): boolean {
    return this.#removed;
  }

  /** Its last output lines, oldest first (bounded), for error messages. */
  recentLines(): string[] {
    return this.#ring.lines();
  }

  /**
   * Stops it: SIGTERM, then SIGKILL after `stopTimeoutMs`; resolves with how it ended
   * (`expected: true`). Idempotent; after an exit of its own it resolves with that exit
   * (`expected: false`). Rejects with {@link K3sProcessError} `stop-timeout` only when the
   * process outlives SIGKILL by 10 s.
   *
   * Only the k3s PID is signalled, never its process group. Real k3s runs under systemd with
   * `KillMode=process` for the same reason: the containerd shims it started, and so the pods,
   * must survive a k3s stop or restart; only k3s itself (with its embedded etcd, apiserver and
   * kubelet) goes.
   */
  stop(): Promise<K3sExitInfo> {
    if (this.#stopping !== undefined) return this.#stopping;
    this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<K3sExitInfo> {
    if (!this.#running) return this.exited;
    this.#expected = true;
    this.#child.kill('SIGTERM');
    const ended = await within(this.exited, this.#stopTimeoutMs);
    if (ended !== undefined) return ended;
    this.#logger.warn(
      { pid: this.pid, stopTimeoutMs: this.#stopTimeoutMs },
      'k3s did not stop after SIGTERM; sending SIGKILL',
    );
    this.#child.kill('SIGKILL');
    const killed = await within(this.exited, KILL_WAIT_MS + DRAIN_WAIT_MS);
    if (killed !== undefined) return killed;
    throw new K3sProcessError('stop-timeout', `k3s (pid ${this.pid}) did not exit after SIGKILL`);
  }
}

/** `promise`'s value if it settles within `ms`, else undefined. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `env` without `K3S_*` variables, and the names dropped (names only: values can be secrets). */
export function k3sEnvironment(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; dropped: string[] } {
  const kept: NodeJS.ProcessEnv = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (name.startsWith('K3S_')) dropped.push(name);
    else kept[name] = value;
  }
  return { env: kept, dropped: dropped.sort() };
}
