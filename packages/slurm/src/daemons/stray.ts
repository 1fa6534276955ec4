/**
 * Daemons this process did not start but that hold what it is about to start: a munged, slurmd
 * or slurmctld left running by an agent that crashed (they outlive it), or one an operator
 * started by hand. Their pid file is where ours would be; they are stopped before ours starts,
 * because two of them on one socket or port either refuse to start or serve with the wrong
 * settings (another munge key, an old slurm.conf).
 */
import { readFile } from 'node:fs/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the process named in `pidFile` if it runs and its command name is `comm` (so that a
 * recycled PID of another program is never signalled): SIGTERM, then SIGKILL after `graceMs`.
 * Resolves with the PID it stopped, or `undefined` when there was none.
 */
export async function stopStrayDaemon(
  pidFile: string,
  comm: string,
  graceMs = 5_000,
): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  const name = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  if (name.trim() !== comm) return undefined;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  return pid;
}
