/**
 * One supervised daemon process (munged, slurmctld, slurmd) run in the foreground, so that its
 * PID is the one this process started and its exit is seen at once. Output goes to a log file;
 * stopping is SIGTERM to that PID, then SIGKILL after a bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** Options of {@link SlurmDaemon.start}. */
export interface DaemonOptions {
  /** Name for messages (`munged`, `slurmctld`, `slurmd node1`). */
  readonly name: string;
  /** Program and arguments (foreground flags included). */
  readonly command: readonly [string, ...string[]];
  /** File the daemon's stdout and stderr are appended to. */
  readonly logFile: string;
  /** Extra environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A running daemon. */
export class SlurmDaemon {
  /** Its name. */
  readonly name: string;
  /** Its PID. */
  readonly pid: number;
  /** Resolves with the exit code (or signal name) when it exits. */
  readonly exited: Promise<number | string>;
  readonly #child: ChildProcess;
  #alive = true;

  private constructor(name: string, child: ChildProcess, pid: number, exited: Promise<number | string>) {
    this.name = name;
    this.#child = child;
    this.pid = pid;
    this.exited = exited.finally(() => {
      this.#alive = false;
    });
  }

  /** Starts the daemon; rejects when it cannot be spawned. */
  static async start(options: DaemonOptions): Promise<SlurmDaemon> {
    const log = createWriteStream(options.logFile, { flags: 'a', mode: 0o600 });
    const [program, ...args] = options.command;
    const child = spawn(program, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
    });
    // A log that cannot be written must never take the supervising process down with it.
    log.on('error', () => {});
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    // 'exit' can come before the last output has been read; the log ends only once both pipes
    // have closed ('close'), or output would be written after its end.
    child.once('close', () => log.end());
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', (error) => {
        log.end();
        reject(new Error(`cannot start ${options.name}: ${error.message}`));
      });
    });
    return new SlurmDaemon(options.name, child, pid, exited);
  }

  /** Whether it still runs. */
  get alive(): boolean {
    return this.#alive;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  async stop(graceMs = 15_000): Promise<number | string> {
    if (!this.#alive) return this.exited;
    this.#child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.exited,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return outcome;
    this.#child.kill('SIGKILL');
    return this.exited;
  }
}
