// Facts about the machine and the software under test, recorded with the results: numbers from
// a benchmark mean little without the hardware, versions and filesystem they came from.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { ETCD_BINARY } from './etcd.js';
import { RAFT_KV_BUILD, RAFT_KV_SOURCES, REPO } from './raft-kv.js';

export interface MachineFacts {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly etcd: string;
  /** `df -T` of the folder the data directories are created in. */
  readonly dataDir: string;
  readonly filesystem: string;
  readonly loadAverage: string;
  /** When the raft-kv build was made, and whether any of its sources changed after. */
  readonly build: { readonly builtAt: string; readonly sourcesNewer: readonly string[] };
}

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function filesystemOf(dir: string): string {
  // `df -T DIR`: a header line, then "device type blocks used available use% mountpoint".
  const line = run('df', ['-T', dir]).split('\n')[1] ?? '';
  const [device, type, , , , , mount] = line.trim().split(/\s+/);
  return type === undefined ? 'unknown' : `${type} (${device ?? '?'} mounted on ${mount ?? '?'})`;
}

function newestFiles(dir: string, after: number, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) newestFiles(path, after, out);
    else if (stat.mtimeMs > after) out.push(path);
  }
  return out;
}

function buildFacts(): MachineFacts['build'] {
  const builtAtMs = Math.min(...RAFT_KV_BUILD.map((file) => statSync(file).mtimeMs));
  const newer: string[] = [];
  for (const dir of RAFT_KV_SOURCES) newestFiles(dir, builtAtMs, newer);
  return {
    builtAt: new Date(builtAtMs).toISOString(),
    sourcesNewer: newer.map((file) => relative(REPO, file)),
  };
}

export function machineFacts(): MachineFacts {
  return {
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    etcd: run(ETCD_BINARY, ['--version']).split('\n')[0]?.replace('etcd Version: ', '') ?? 'unknown',
    dataDir: tmpdir(),
    filesystem: filesystemOf(tmpdir()),
    loadAverage: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    build: buildFacts(),
  };
}
