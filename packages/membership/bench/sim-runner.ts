// Runs simulation jobs in worker processes (sim-worker.ts), a few at a time: shared by the
// simulation benchmark (sim-main.ts) and the Lifeguard slowness sweep (sim-sweep.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeResult, type Job } from './sim-job.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root, where workers run. */
export const REPO = resolve(HERE, '../../..');
/** The membership benchmark document every simulation benchmark writes its section of. */
export const REPORT = join(REPO, 'docs/benchmarks/membership.md');
const WORKER = join(HERE, 'sim-worker.ts');

/** Worker processes still running: killed (by PID) if this process is interrupted. */
const children = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}

/** Runs one job in a worker process; rejects when it fails or outlives `killAfterMs`. */
export function runJob<T>(job: Job, heapMiB: number, killAfterMs: number): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--conditions=@clusteros/source',
        '--import',
        'tsx',
        '--expose-gc',
        `--max-old-space-size=${heapMiB}`,
        WORKER,
        JSON.stringify(job),
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.add(child);
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, killAfterMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line !== undefined) resolvePromise(decodeResult<T>(line.slice('RESULT '.length)));
      else
        reject(
          new Error(
            signal === 'SIGKILL'
              ? `killed after ${(killAfterMs / 60_000).toFixed(0)} min of wall time`
              : `worker exited with ${signal ?? code}`,
          ),
        );
    });
  });
}

/** Runs `tasks` with at most `limit` at once, in order of submission. */
export async function pool<T>(tasks: readonly (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

/** Progress on stderr, stamped with the wall-clock time. */
export const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
};

/** A bad command line: reported with the usage text, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Runs a benchmark's `main` and exits: 0 when done, 2 on a {@link UsageError}, 1 on failure. */
export function runCli(name: string, usage: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      if (error instanceof UsageError) {
        console.error(`${name}: ${error.message}\n\n${usage}`);
        process.exit(2);
      }
      console.error(`${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}

/** Comma-separated integers in [min, max] from a flag's value, or a {@link UsageError}. */
export function numbers(flag: string, text: string | undefined, min: number, max: number): number[] {
  const values = (text ?? '').split(',').map(Number);
  if (text === undefined || values.some((v) => !Number.isInteger(v) || v < min || v > max))
    throw new UsageError(`${flag} needs integers in [${min}, ${max}], got ${text ?? 'nothing'}`);
  return values;
}

/** One integer in [min, max] from a flag's value, or a {@link UsageError}. */
export function one(flag: string, text: string | undefined, min: number, max: number): number {
  const values = numbers(flag, text, min, max);
  if (values.length !== 1) throw new UsageError(`${flag} takes one number`);
  return values[0] as number;
}

/** The machine in one line, for a section's header: CPUs, memory, Node.js. */
export function machineLine(): string {
  return `${availableParallelism()} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}`;
}

/** Prints `section` and, with `write`, puts it into the report through `splice`. */
export async function publishSection(
  section: string,
  write: boolean,
  splice: (document: string, section: string) => string,
): Promise<void> {
  console.log(section);
  if (!write) return;
  await writeFile(REPORT, splice(await readFile(REPORT, 'utf8'), section));
  log(`wrote ${REPORT}`);
}
