/**
 * Starting munged, slurmctld and slurmd on one host and waiting, bounded, until each serves:
 * munged until a credential round-trips through its socket, slurmctld until `scontrol ping`
 * says UP, slurmd until `sinfo` shows its node in a usable state. A daemon that exits or never
 * gets there is stopped and reported with the error lines of its log, e.g. a wrong munge key
 * ("Protocol authentication error") or a host missing from slurm.conf.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseScontrolPing } from '../parse/scontrol.js';
import { parseSinfoJson } from '../parse/sinfo.js';
import { runSlurmCommand } from './command.js';
import { SlurmDaemon } from './daemon.js';
import { WaitAbortedError, waitUntil } from './wait.js';

/** A daemon did not start; the message carries the error lines of its log. */
export class SlurmDaemonError extends Error {
  /** Always `'SlurmDaemonError'`. */
  override readonly name = 'SlurmDaemonError';
  /** Which daemon. */
  readonly daemon: string;
  /** The error lines of its log (at most 20). */
  readonly logErrors: readonly string[];

  /** Creates the error. */
  constructor(daemon: string, message: string, logErrors: readonly string[]) {
    super(
      `${daemon}: ${message}${logErrors.length === 0 ? '' : ` — log: ${logErrors.slice(-3).join(' | ')}`}`,
    );
    this.daemon = daemon;
    this.logErrors = logErrors;
  }
}

/**
 * The lines of the given log files that report errors (`error:`, `fatal:`), last 20, without the
 * harmless noise every SLURM log has (SLURM-NOTES §6.9).
 */
export async function logErrors(...files: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  for (const file of files) {
    try {
      lines.push(...(await readFile(file, 'utf8')).split('\n'));
    } catch {
      // not written (yet)
    }
  }
  return lines
    .filter(
      (line) => /\b(error|fatal)\b/i.test(line) && !/pmix|Could not open .* state file|hwloc/i.test(line),
    )
    .slice(-20);
}

async function failStart(daemon: SlurmDaemon, files: readonly string[], message: string): Promise<never> {
  await daemon.stop(5_000);
  throw new SlurmDaemonError(daemon.name, message, await logErrors(...files));
}

/** Ends a wait at once when the daemon has exited. */
async function ensureAlive(daemon: SlurmDaemon): Promise<void> {
  if (!daemon.alive) throw new WaitAbortedError(`exited (${String(await daemon.exited)})`);
}

/** Where munged keeps its files. */
export interface MungedPaths {
  /** The key file (mode 0400, see `writeMungeKeyFile`). */
  readonly keyFile: string;
  /**
   * Its socket (also `AuthInfo=socket=` in slurm.conf). munged refuses to start unless every
   * directory on the way to it can be traversed by all users (mode 0755): clients of any user
   * connect to it.
   */
  readonly socket: string;
  /** Directory for its pid, log and seed files. */
  readonly dir: string;
}

/** Starts munged in the foreground and waits until a credential round-trips. */
export async function startMunged(paths: MungedPaths, limitMs = 10_000): Promise<SlurmDaemon> {
  const logFile = join(paths.dir, 'munged.log');
  const outFile = join(paths.dir, 'munged.out');
  const daemon = await SlurmDaemon.start({
    name: 'munged',
    command: [
      'munged',
      '-F',
      `--key-file=${paths.keyFile}`,
      `--socket=${paths.socket}`,
      `--pid-file=${join(paths.dir, 'munged.pid')}`,
      `--log-file=${logFile}`,
      `--seed-file=${join(paths.dir, 'munged.seed')}`,
    ],
    logFile: outFile,
  });
  try {
    await waitUntil('munged answering', limitMs, async () => {
      await ensureAlive(daemon);
      await stat(paths.socket);
      const cred = await runSlurmCommand('munge', ['-n', '-S', paths.socket], { timeoutMs: 2_000 });
      await runSlurmCommand('unmunge', ['-S', paths.socket], { timeoutMs: 2_000, input: cred.stdout });
      return true;
    });
  } catch (error) {
    return failStart(daemon, [logFile, outFile], (error as Error).message);
  }
  return daemon;
}

/** Starts slurmctld (`-D`) with `slurmConf` and waits until `scontrol ping` says UP. */
export async function startSlurmctld(
  slurmConf: string,
  logFile: string,
  outFile: string,
  limitMs = 30_000,
): Promise<SlurmDaemon> {
  const daemon = await SlurmDaemon.start({
    name: 'slurmctld',
    command: ['slurmctld', '-D', '-f', slurmConf],
    logFile: outFile,
    env: { SLURM_CONF: slurmConf },
  });
  try {
    await waitUntil('slurmctld answering scontrol ping', limitMs, async () => {
      await ensureAlive(daemon);
      const ping = await runSlurmCommand('scontrol', ['ping'], {
        slurmConf,
        timeoutMs: 5_000,
        okCodes: [0, 1],
      });
      return parseScontrolPing(ping.stdout).some((c) => c.state === 'UP') ? true : undefined;
    });
  } catch (error) {
    return failStart(daemon, [logFile, outFile], (error as Error).message);
  }
  return daemon;
}

/** Node states in which a node takes jobs. */
const USABLE = new Set(['idle', 'mixed', 'allocated', 'completing']);

/** Starts slurmd (`-D -N node`) and waits until sinfo shows the node usable. */
export async function startSlurmd(
  slurmConf: string,
  node: string,
  logFile: string,
  outFile: string,
  limitMs = 30_000,
): Promise<SlurmDaemon> {
  const daemon = await SlurmDaemon.start({
    name: `slurmd ${node}`,
    command: ['slurmd', '-D', '-f', slurmConf, '-N', node],
    logFile: outFile,
    env: { SLURM_CONF: slurmConf },
  });
  try {
    await waitUntil(`node ${node} usable`, limitMs, async () => {
      await ensureAlive(daemon);
      const sinfo = await runSlurmCommand('sinfo', ['--json'], { slurmConf, timeoutMs: 15_000 });
      const found = parseSinfoJson(sinfo.stdout).find((n) => n.name === node);
      return found !== undefined && USABLE.has(found.state) ? true : undefined;
    });
  } catch (error) {
    return failStart(daemon, [logFile, outFile], (error as Error).message);
  }
  return daemon;
}
