/**
 * What this node can offer the cluster: CPU cores, RAM, architecture and NVIDIA GPUs, and their
 * Serf-style string tags (the form they travel in gossip).
 *
 * Detection: `os.availableParallelism()` (the cores this process may use), `os.totalmem()`,
 * `process.arch`, and `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader` run with
 * `execFile` and a timeout. No `nvidia-smi`, a failing one, or output that does not parse all mean
 * 0 GPUs (with a debug line), never an error: most nodes have no GPU.
 *
 * Tags: `cpu_cores`, `ram_bytes`, `arch`, `gpus` (count) and `gpu_mem_bytes` (total), all decimal
 * strings except `arch`. GPU names stay local (they would not fit the gossip tag budget), so
 * `parseCapabilityTags` returns a {@link CapabilitySummary}; `summarizeCapabilities(caps)` is what
 * a round trip gives back. Parsing is strict: a missing or malformed capability tag is a
 * {@link CapabilityTagError}; unrelated tags are ignored.
 */
import { execFile } from 'node:child_process';
import { availableParallelism, totalmem } from 'node:os';
import type { NetworkLogger } from './network/provider.js';

/** One NVIDIA GPU as nvidia-smi reports it. */
export interface GpuInfo {
  /** The product name, e.g. `NVIDIA A100-SXM4-80GB`. */
  readonly name: string;
  /** Total memory in bytes, or null when the driver reports `[N/A]`. */
  readonly memoryBytes: number | null;
}

/** What this node offers, as detected. */
export interface Capabilities {
  /** CPU cores this process may use (`os.availableParallelism()`), at least 1. */
  readonly cpuCores: number;
  /** Total physical memory in bytes (`os.totalmem()`). */
  readonly ramBytes: number;
  /** Node's `process.arch` (`x64`, `arm64`, …). */
  readonly arch: string;
  /** NVIDIA GPUs found by nvidia-smi (empty when none or no nvidia-smi). */
  readonly gpus: readonly GpuInfo[];
}

/** The capabilities carried by tags: counts and totals, no GPU names. */
export interface CapabilitySummary {
  /** CPU cores. */
  readonly cpuCores: number;
  /** Total memory in bytes. */
  readonly ramBytes: number;
  /** Architecture (`process.arch` spelling). */
  readonly arch: string;
  /** Number of GPUs. */
  readonly gpus: number;
  /** Sum of the GPUs' known memory, in bytes (0 without GPUs). */
  readonly gpuMemoryBytes: number;
}

/** The tag keys capabilities use. */
export const CAPABILITY_TAG_KEYS = ['cpu_cores', 'ram_bytes', 'arch', 'gpus', 'gpu_mem_bytes'] as const;

/** Options of {@link detectCapabilities}. */
export interface DetectOptions {
  /** The nvidia-smi to run (a name looked up on PATH, or a path). Default `nvidia-smi`. */
  readonly nvidiaSmiPath?: string;
  /** Timeout of the nvidia-smi run, ms (the child is killed after it). Default 5000. */
  readonly timeoutMs?: number;
  /** Environment for nvidia-smi (its PATH is also where it is looked up). Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where the "no GPUs because …" debug line goes. */
  readonly logger?: Pick<NetworkLogger, 'debug'>;
}

/** A capability tag set is missing a key or has a malformed value. */
export class CapabilityTagError extends Error {
  /** Always `'CapabilityTagError'`. */
  static override readonly name = 'CapabilityTagError' as const;
  /** Always `'CapabilityTagError'`. */
  override readonly name = 'CapabilityTagError' as const;
  /** The offending tag key. */
  readonly key: string;
  /** Creates the error for `key`. */
  constructor(key: string, detail: string) {
    super(`invalid capability tag ${key}: ${detail}`);
    this.key = key;
  }
}

/** Whether `value` is a {@link CapabilityTagError}. */
export function isCapabilityTagError(value: unknown): value is CapabilityTagError {
  return (
    value instanceof CapabilityTagError ||
    (value instanceof Error && (value as { name?: unknown }).name === 'CapabilityTagError')
  );
}

const MIB = 1024 * 1024;
const UNITS: Record<string, number> = { KiB: 1024, MiB: MIB, GiB: 1024 * MIB, TiB: 1024 * 1024 * MIB };

/**
 * Parses `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader` output (one
 * `name, 81920 MiB` line per GPU; a unitless number counts as MiB, `[N/A]` as unknown). Returns
 * undefined when any non-empty line does not have that shape.
 */
export function parseNvidiaSmiCsv(text: string): GpuInfo[] | undefined {
  const gpus: GpuInfo[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const comma = line.lastIndexOf(',');
    if (comma <= 0) return undefined;
    const name = line.slice(0, comma).trim();
    const mem = line.slice(comma + 1).trim();
    if (name === '' || name.length > 256 || !/^[\x20-\x7e]+$/.test(name)) return undefined;
    if (mem === '[N/A]' || mem === '[Not Supported]') {
      gpus.push({ name, memoryBytes: null });
      continue;
    }
    const m = /^([0-9]{1,9})(?:\s*(KiB|MiB|GiB|TiB))?$/.exec(mem);
    if (m === null) return undefined;
    gpus.push({ name, memoryBytes: Number(m[1]) * (UNITS[m[2] ?? 'MiB'] ?? MIB) });
  }
  return gpus;
}

/** Runs nvidia-smi and returns its GPUs; never rejects (absent, failing or garbage → `[]` + a debug line). */
export function detectGpus(options: DetectOptions = {}): Promise<GpuInfo[]> {
  const bin = options.nvidiaSmiPath ?? 'nvidia-smi';
  const timeoutMs = options.timeoutMs ?? 5000;
  const debug = (fields: object, msg: string): void => options.logger?.debug(fields, msg);
  return new Promise((resolve) => {
    execFile(
      bin,
      ['--query-gpu=name,memory.total', '--format=csv,noheader'],
      {
        timeout: timeoutMs,
        maxBuffer: 1024 * 1024,
        encoding: 'utf8',
        windowsHide: true,
        ...(options.env === undefined ? {} : { env: options.env }),
      },
      (err, stdout, stderr) => {
        if (err !== null) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          const why =
            e.code === 'ENOENT'
              ? `${bin} not found`
              : e.killed === true
                ? `${bin} timed out after ${timeoutMs}ms`
                : `${bin} failed (exit ${String(e.code)}): ${stderr.trim().slice(0, 200) || e.message}`;
          debug({ nvidiaSmi: bin }, `no GPUs: ${why}`);
          resolve([]);
          return;
        }
        const gpus = parseNvidiaSmiCsv(stdout);
        if (gpus === undefined) {
          debug({ nvidiaSmi: bin, output: stdout.slice(0, 200) }, `no GPUs: unrecognised ${bin} output`);
          resolve([]);
          return;
        }
        resolve(gpus);
      },
    );
  });
}

/** Detects this node's capabilities (see the file header). Never rejects. */
export async function detectCapabilities(options: DetectOptions = {}): Promise<Capabilities> {
  return {
    cpuCores: Math.max(1, availableParallelism()),
    ramBytes: totalmem(),
    arch: process.arch,
    gpus: await detectGpus(options),
  };
}

/** The counts and totals of `caps`, i.e. what survives a trip through tags. */
export function summarizeCapabilities(caps: Capabilities): CapabilitySummary {
  return {
    cpuCores: caps.cpuCores,
    ramBytes: caps.ramBytes,
    arch: caps.arch,
    gpus: caps.gpus.length,
    gpuMemoryBytes: caps.gpus.reduce((sum, g) => sum + (g.memoryBytes ?? 0), 0),
  };
}

/** The Serf-style string tags for `caps` (keys {@link CAPABILITY_TAG_KEYS}). */
export function capabilityTags(caps: Capabilities | CapabilitySummary): Record<string, string> {
  const s = Array.isArray(caps.gpus)
    ? summarizeCapabilities(caps as Capabilities)
    : (caps as CapabilitySummary);
  return {
    cpu_cores: String(s.cpuCores),
    ram_bytes: String(s.ramBytes),
    arch: s.arch,
    gpus: String(s.gpus),
    gpu_mem_bytes: String(s.gpuMemoryBytes),
  };
}

const ARCH_RE = /^[a-z][a-z0-9_]{0,15}$/;

/**
 * Reads capabilities back from tags (other tags are ignored). Throws a {@link CapabilityTagError}
 * for a missing key, a value that is not a canonical decimal integer in range, or a bad arch.
 */
export function parseCapabilityTags(tags: Readonly<Record<string, string | undefined>>): CapabilitySummary {
  const int = (key: string, min: number): number => {
    const v = tags[key];
    if (v === undefined) throw new CapabilityTagError(key, 'missing');
    if (!/^(0|[1-9][0-9]*)$/.test(v))
      throw new CapabilityTagError(key, `expected a decimal integer, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new CapabilityTagError(
        key,
        `expected an integer from ${min} to ${Number.MAX_SAFE_INTEGER}, got ${v}`,
      );
    }
    return n;
  };
  const cpuCores = int('cpu_cores', 1);
  const ramBytes = int('ram_bytes', 1);
  const arch = tags.arch;
  if (arch === undefined) throw new CapabilityTagError('arch', 'missing');
  if (!ARCH_RE.test(arch))
    throw new CapabilityTagError('arch', `expected an architecture name, got ${JSON.stringify(arch)}`);
  const gpus = int('gpus', 0);
  const gpuMemoryBytes = int('gpu_mem_bytes', 0);
  if (gpus === 0 && gpuMemoryBytes !== 0)
    throw new CapabilityTagError('gpu_mem_bytes', 'must be 0 when gpus is 0');
  return { cpuCores, ramBytes, arch, gpus, gpuMemoryBytes };
}
