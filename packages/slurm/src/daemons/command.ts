/**
 * Runs one SLURM or munge client command (`scontrol`, `sinfo`, `squeue`, `sbatch`, `scancel`,
 * `munge`…) with a bounded time and bounded output, and the environment that points it at this
 * cluster's `slurm.conf`. Clients retry for ~10 s when no controller answers (SLURM-NOTES §6.7),
 * so every call has a timeout and a failure is a typed {@link SlurmCommandError}.
 */
import { execFile } from 'node:child_process';
import { SLURM_OUTPUT_MAX_CHARS } from '../parse/limits.js';

/** A client command failed, timed out, or could not be started. */
export class SlurmCommandError extends Error {
  /** Always `'SlurmCommandError'`. */
  override readonly name = 'SlurmCommandError';
  /** The command and its arguments. */
  readonly command: readonly string[];
  /** Its exit code, or null when it did not exit by itself (timeout, signal, not found). */
  readonly code: number | null;
  /** Its standard error (cut to 2,000 characters). */
  readonly stderr: string;

  /** Creates the error; the message names the command and the first line of its complaint. */
  constructor(command: readonly string[], code: number | null, stderr: string, why: string) {
    const first = stderr.trim().split('\n')[0] ?? '';
    super(`${command.join(' ')}: ${why}${first === '' ? '' : `: ${first.slice(0, 300)}`}`);
    this.command = command;
    this.code = code;
    this.stderr = stderr.slice(0, 2_000);
  }
}

/** Options of {@link runSlurmCommand}. */
export interface SlurmCommandOptions {
  /** Path of the `slurm.conf` clients read (`SLURM_CONF`). */
  readonly slurmConf?: string;
  /** Bound on the whole run. @defaultValue 20000 (longer than the clients' own ~10 s retry) */
  readonly timeoutMs?: number;
  /** Standard input. */
  readonly input?: string | Uint8Array;
  /** Exit codes that are answers, not failures (e.g. `scontrol ping` exits 1 when a controller is down). @defaultValue [0] */
  readonly okCodes?: readonly number[];
}

/** What a command printed. */
export interface SlurmCommandResult {
  /** Its exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

/** Runs `program args…`; rejects with {@link SlurmCommandError}. */
export function runSlurmCommand(
  program: string,
  args: readonly string[],
  options: SlurmCommandOptions = {},
): Promise<SlurmCommandResult> {
  const command = [program, ...args];
  const okCodes = options.okCodes ?? [0];
  return new Promise((resolve, reject) => {
    const child = execFile(
      program,
      [...args],
      {
        timeout: options.timeoutMs ?? 20_000,
        killSignal: 'SIGKILL',
        maxBuffer: SLURM_OUTPUT_MAX_CHARS,
        encoding: 'utf8',
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ...(options.slurmConf === undefined ? {} : { SLURM_CONF: options.slurmConf }),
        },
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const code = typeof error.code === 'number' ? error.code : null;
        if (code !== null && okCodes.includes(code)) {
          resolve({ code, stdout, stderr });
          return;
        }
        const why =
          error.killed === true
            ? `no answer within ${options.timeoutMs ?? 20_000} ms`
            : code === null
              ? `could not run (${typeof error.code === 'string' ? error.code : (error.signal ?? 'error')})`
              : `exit ${code}`;
        reject(new SlurmCommandError(command, code, stderr, why));
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}
