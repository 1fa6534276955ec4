// Every process and temporary folder the benchmark creates is registered here, so that it is
// cleaned up whatever happens: on normal completion, on an exception, on Ctrl-C, and (for
// processes) even when Node exits abruptly. Processes are stopped only by their own PID.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How long a process gets after SIGTERM before it is SIGKILLed (etcd's last member can take ~5 s). */
const TERM_GRACE_MS = 10_000;
/** After SIGKILL the kernel reaps at once; this bound only guards against a missing 'exit' event. */
const KILL_WAIT_MS = 5_000;

/** A child process started by the benchmark, with its output going to a log file (not a pipe). */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  readonly logFile: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<void>;
  /** True once the process has exited. */
  isRunning(): boolean;
}

const children = new Set<Child>();
const folders = new Set<string>();

/** A fresh folder under os.tmpdir(), removed by {@link cleanupAll} if not removed earlier. */
export async function tempFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  folders.add(dir);
  return dir;
}

export async function removeFolder(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  folders.delete(dir);
}

/**
 * Spawns `command args` with stdout and stderr appended to `logFile`. Output goes to a file
 * rather than a pipe so that reading a chatty child's logs costs the benchmark process (which is
 * also the load generator) no CPU.
 */
export function spawnChild(name: string, command: string, args: readonly string[], logFile: string): Child {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env: process.env });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name} (${command})`);
  let running = true;
  const exited = new Promise<void>((done) => {
    child.once('exit', () => {
      running = false;
      done();
    });
    child.once('error', () => {
      running = false;
      done();
    });
  });
  const entry: Child = { name, pid, process: child, logFile, exited, isRunning: () => running };
  children.add(entry);
  void exited.then(() => children.delete(entry));
  return entry;
}

/** The last `bytes` of a child's log, for error messages. */
export function logTail(child: Child, bytes = 2_000): string {
  try {
    const text = readFileSync(child.logFile, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

const wait = (ms: number): Promise<'timeout'> =>
  new Promise((done) => setTimeout(() => done('timeout'), ms).unref());

/** SIGKILL by PID and wait (bounded) for the exit. */
export async function killChild(child: Child): Promise<void> {
  if (!child.isRunning()) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  await Promise.race([child.exited, wait(KILL_WAIT_MS)]);
}

/** SIGTERM by PID, wait up to {@link TERM_GRACE_MS}, then SIGKILL. */
export async function stopChild(child: Child): Promise<void> {
  if (!child.isRunning()) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  const outcome = await Promise.race([child.exited.then(() => 'exited' as const), wait(TERM_GRACE_MS)]);
  if (outcome === 'timeout') await killChild(child);
}

/** Stops every registered child and removes every registered folder. Safe to call twice. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child).catch(() => undefined)));
  await Promise.all([...folders].map((dir) => removeFolder(dir).catch(() => undefined)));
}

/**
 * Last-resort cleanup when the process is exiting without having run {@link cleanupAll}
 * (an uncaught exception, process.exit): only synchronous work is possible here.
 */
function cleanupSync(): void {
  for (const child of children) {
    if (!child.isRunning()) continue;
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of folders) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort: nothing else can be done while exiting
    }
  }
}

let installed = false;

/** Installs the exit and signal handlers once. */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping children and removing temp folders...\n`);
      cleanupAll().finally(() => process.exit(130));
    });
  }
}
