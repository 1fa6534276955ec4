/**
 * A `k3s` left running by an agent that crashed: k3s is started without tying its life to the
 * agent (pods must survive an agent restart), so after a crash the old process may still hold
 * the ports. The runtime keeps the PID it started in a file and, before starting a new one,
 * stops that PID if it still is a k3s of this data dir. Nothing else is ever signalled.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';

/** Whether `pid` runs a command line that names `binary` and `dataDir`. */
async function isOurK3s(pid: number, binary: string, dataDir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return false;
  const argv = cmdline.split('\0');
  const base = binary.split('/').pop() ?? binary;
  const named = argv.some((arg) => arg === binary || arg.endsWith(`/${base}`) || arg === base);
  const index = argv.indexOf('--data-dir');
  return named && index >= 0 && argv[index + 1] === dataDir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !alive(pid);
}

/**
 * Stops the k3s recorded in `pidFile` if it still runs for `dataDir` (SIGTERM, then SIGKILL
 * after `timeoutMs`). Resolves with the PID stopped, or `undefined`.
 */
export async function stopStrayK3s(
  pidFile: string,
  binary: string,
  dataDir: string,
  timeoutMs = 30_000,
): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  if (!(await isOurK3s(pid, binary, dataDir))) {
    await rm(pidFile, { force: true });
    return undefined;
  }
  process.kill(pid, 'SIGTERM');
  if (!(await waitGone(pid, timeoutMs))) {
    if (await isOurK3s(pid, binary, dataDir)) process.kill(pid, 'SIGKILL');
    await waitGone(pid, 5_000);
  }
  await rm(pidFile, { force: true });
  return pid;
}

/** Records the PID of the k3s just started. */
export async function writePidFile(pidFile: string, pid: number): Promise<void> {
  await writeFile(pidFile, `${pid}\n`, { mode: 0o644 });
}
