/**
 * Checks every value of a {@link SlurmClusterModel} before anything is rendered.
 *
 * SLURM's config parser splits a line into `Key=Value` pairs at white space, ends the line at a
 * newline, starts a comment at `#`, continues a line after a trailing `\`, reads `"…"` as a
 * quoted value and treats a line starting with `Include` as a directive. An unknown key, or a
 * syntax error, makes slurmctld exit at the next `scontrol reconfigure`. So nothing from the
 * model reaches a file unless it matches a narrow pattern that contains none of those
 * characters: names, addresses and paths are whitelisted, numbers are integers in range. The
 * first violation throws a {@link SlurmConfigError} naming the field.
 */
import { realMemoryMiB } from './memory.js';
import {
  DEFAULT_PARTITION_NAME,
  DEFAULT_SLURM_DEBUG_LEVEL,
  DEFAULT_SLURM_PORTS,
  DEFAULT_SLURM_USERS,
  DEFAULT_SLURMCTLD_TIMEOUT_SECONDS,
  DEFAULT_SLURMD_TIMEOUT_SECONDS,
  DEFAULT_SLURMDBD_PORT,
  SLURM_DEBUG_LEVELS,
  type SlurmClusterModel,
  type SlurmDebugLevel,
  type SlurmPaths,
  type SlurmPorts,
  type SlurmProcessTracking,
  type SlurmUsers,
} from './model.js';

/** A model value that cannot be written into a SLURM configuration file; `field` says which. */
export class SlurmConfigError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'SlurmConfigError' as const;
  /** Always `'SlurmConfigError'`. */
  override readonly name = 'SlurmConfigError' as const;
  /** The offending field as a path into the model, e.g. `nodes[2].address` or `paths.spoolDir`. */
  readonly field: string;
  /** Creates the error for `field`; `detail` says what is wrong with it. */
  constructor(field: string, detail: string) {
    super(`invalid SLURM config field ${field}: ${detail}`);
    this.field = field;
  }
}

/** Whether `error` is a {@link SlurmConfigError} (also one from another copy of the package). */
export const isSlurmConfigError = (error: unknown): error is SlurmConfigError =>
  typeof error === 'object' &&
  error !== null &&
  (error as { name?: unknown }).name === SlurmConfigError.name &&
  typeof (error as { field?: unknown }).field === 'string';

/** Longest SLURM node, partition, cluster and controller name accepted. */
export const MAX_SLURM_NAME_LENGTH = 63;

// Letters, digits, '-' and '_', not starting with '-'. No '.', ',', '[', ':' or '=': those are
// hostlist, GRES or key syntax.
const SLURM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
// ClusterName: SLURM lower-cases it silently, and slurmctld compares it with the name saved in
// StateSaveLocation, so only lower case is accepted.
const CLUSTER_NAME = /^[a-z0-9_][a-z0-9_-]*$/;
// POSIX-style user names.
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
// A GRES type is one field of `gpu:<type>:<count>`: no ':' or ','.
const GPU_TYPE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
// No leading zeros: inet_aton would read 010 as octal.
const IPV4 = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const PATH_CHARS = /^[A-Za-z0-9._+@/-]+$/;
// Names with a meaning of their own in slurm.conf (`NodeName=DEFAULT`, `Nodes=ALL`).
const RESERVED_NODE_NAMES = new Set(['all', 'default']);
const RESERVED_PARTITION_NAMES = new Set(['default']);

const MAX_PATH_LENGTH = 1024;
// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH_LENGTH = 107;
const MAX_UINT16 = 65_535;
const MAX_INT32 = 2_147_483_647;

/** Whether `name` is accepted as a SLURM node, partition or controller name. */
export function isSlurmName(name: string): boolean {
  return name.length <= MAX_SLURM_NAME_LENGTH && SLURM_NAME.test(name);
}

/** A GPU spec after validation. */
export interface ResolvedGpus {
  readonly type?: string;
  readonly count: number;
  readonly files: readonly string[];
}

/** A node after validation, with its `RealMemory`. */
export interface ResolvedNode {
  readonly name: string;
  readonly address: string;
  readonly cpus: number;
  readonly realMemoryMiB: number;
  readonly gpus?: ResolvedGpus;
}

/** A partition after validation, with the default flag settled. */
export interface ResolvedPartition {
  readonly name: string;
  readonly nodes: 'ALL' | readonly string[];
  readonly isDefault: boolean;
  readonly maxTimeMinutes?: number;
}

/**
 * A validated model with every default filled in and the nodes sorted by name: what the
 * renderers write. Internal to this folder.
 */
export interface ResolvedSlurmModel {
  readonly clusterName: string;
  readonly controller: { readonly host: string; readonly address: string };
  readonly nodes: readonly ResolvedNode[];
  readonly partitions: readonly ResolvedPartition[];
  readonly ports: SlurmPorts;
  readonly paths: SlurmPaths;
  readonly processTracking: SlurmProcessTracking;
  readonly users: SlurmUsers;
  readonly maxNodeCount?: number;
  readonly configless: boolean;
  readonly defaultMemoryPerCpuMiB: number;
  readonly debug: { readonly slurmctld: SlurmDebugLevel; readonly slurmd: SlurmDebugLevel };
  readonly timeouts: { readonly slurmdSeconds: number; readonly slurmctldSeconds: number };
  readonly accounting?: { readonly host: string; readonly port: number };
}

/**
 * Checks `model` completely; throws a {@link SlurmConfigError} naming the first field that
 * cannot be rendered safely. The renderers call this themselves; call it to check a model early.
 */
export function validateSlurmClusterModel(model: SlurmClusterModel): void {
  resolveSlurmClusterModel(model);
}

/** Validates `model` and fills in the defaults (see {@link ResolvedSlurmModel}). */
export function resolveSlurmClusterModel(model: SlurmClusterModel): ResolvedSlurmModel {
  const m = record('model', model);
  const clusterName = clusterNameField('clusterName', m.clusterName);

  const controllerIn = record('controller', m.controller);
  const controller = {
    host: slurmName('controller.host', controllerIn.host),
    address: address('controller.address', controllerIn.address),
  };

  const nodesIn = list('nodes', m.nodes);
  // slurmctld 22.05: "read_slurm_conf: no nodes configured." and it does not start.
  if (nodesIn.length === 0)
    fail('nodes', 'at least one static node is needed (slurmctld 22.05 does not start without one)');
  const nodes = nodesIn.map((node, i) => resolveNode(`nodes[${i}]`, node));
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  nodes.forEach((node, i) => {
    const key = node.name.toLowerCase();
    const earlier = names.get(key);
    if (earlier !== undefined)
      fail(`nodes[${i}].name`, `${show(node.name)} is already the name of nodes[${earlier}]`);
    names.set(key, i);
    const addr = node.address.toLowerCase();
    const sameAddress = addresses.get(addr);
    if (sameAddress !== undefined)
      fail(`nodes[${i}].address`, `${show(node.address)} is already the address of nodes[${sameAddress}]`);
    addresses.set(addr, i);
  });
  // The controller's host is usually a node too (in ClusterOS the role's holder is a member that
  // also runs slurmd), so `controller.host` may equal a node name: SLURM allows it.

  const partitions = resolvePartitions(m.partitions, new Set(nodes.map((n) => n.name)));
  const ports = resolvePorts(m.ports);
  const paths = resolveSlurmPaths(m.paths);

  const processTracking = m.processTracking;
  if (processTracking !== 'cgroup' && processTracking !== 'linuxproc')
    fail('processTracking', `must be 'cgroup' or 'linuxproc', got ${show(processTracking)}`);

  const users = resolveUsers(m.users);

  let maxNodeCount: number | undefined;
  if (m.maxNodeCount !== undefined) {
    maxNodeCount = positiveInteger('maxNodeCount', m.maxNodeCount, MAX_INT32);
    // SLURM ignores a MaxNodeCount below the static node count: refuse it instead.
    if (maxNodeCount < nodes.length)
      fail(
        'maxNodeCount',
        `must be at least the number of static nodes (${nodes.length}), got ${maxNodeCount}`,
      );
  }

  let configless = false;
  if (m.configless !== undefined) {
    if (typeof m.configless !== 'boolean') fail('configless', `must be a boolean, got ${show(m.configless)}`);
    configless = m.configless;
  }

  const defaultMemoryPerCpuMiB =
    m.defaultMemoryPerCpuMiB === undefined
      ? Math.max(1, Math.min(...nodes.map((n) => Math.floor(n.realMemoryMiB / n.cpus))))
      : positiveInteger('defaultMemoryPerCpuMiB', m.defaultMemoryPerCpuMiB, MAX_INT32);

  const debugIn = m.debug === undefined ? {} : record('debug', m.debug);
  const debug = {
    slurmctld: debugLevel('debug.slurmctld', debugIn.slurmctld),
    slurmd: debugLevel('debug.slurmd', debugIn.slurmd),
  };

  const timeoutsIn = m.timeouts === undefined ? {} : record('timeouts', m.timeouts);
  const timeouts = {
    slurmdSeconds:
      timeoutsIn.slurmdSeconds === undefined
        ? DEFAULT_SLURMD_TIMEOUT_SECONDS
        : positiveInteger('timeouts.slurmdSeconds', timeoutsIn.slurmdSeconds, MAX_UINT16),
    slurmctldSeconds:
      timeoutsIn.slurmctldSeconds === undefined
        ? DEFAULT_SLURMCTLD_TIMEOUT_SECONDS
        : positiveInteger('timeouts.slurmctldSeconds', timeoutsIn.slurmctldSeconds, MAX_UINT16),
  };

  let accounting: { host: string; port: number } | undefined;
  if (m.accounting !== undefined) {
    const a = record('accounting', m.accounting);
    accounting = {
      host: address('accounting.host', a.host),
      port: a.port === undefined ? DEFAULT_SLURMDBD_PORT : port('accounting.port', a.port),
    };
  }

  return {
    clusterName,
    controller,
    nodes: [...nodes].sort((a, b) => compareNames(a.name, b.name)),
    partitions,
    ports,
    paths,
    processTracking,
    users,
    ...(maxNodeCount === undefined ? {} : { maxNodeCount }),
    configless,
    defaultMemoryPerCpuMiB,
    debug,
    timeouts,
    ...(accounting === undefined ? {} : { accounting }),
  };
}

/** Code-unit order: the same on every machine and locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function resolveNode(field: string, value: unknown): ResolvedNode {
  const n = record(field, value);
  const name = nodeName(`${field}.name`, n.name);
  const addr = address(`${field}.address`, n.address);
  const { cpus, memoryBytes } = resolveNodeResources(field, n);
  const node = { name, address: addr, cpus, realMemoryMiB: realMemoryMiB(memoryBytes) };
  if (n.gpus === undefined) return node;
  return { ...node, gpus: resolveGpus(`${field}.gpus`, n.gpus) };
}

/** Validates the `cpus` and `memoryBytes` of a node spec at `field`. */
export function resolveNodeResources(field: string, value: unknown): { cpus: number; memoryBytes: number } {
  const n = record(field, value);
  return {
    cpus: positiveInteger(`${field}.cpus`, n.cpus, MAX_UINT16),
    memoryBytes: positiveInteger(`${field}.memoryBytes`, n.memoryBytes, Number.MAX_SAFE_INTEGER),
  };
}

/** Validates a node name given on its own (`field` names it in the error). */
export function resolveSlurmNodeName(field: string, value: unknown): string {
  return nodeName(field, value);
}

function resolveGpus(field: string, value: unknown): ResolvedGpus {
  const g = record(field, value);
  const count = positiveInteger(`${field}.count`, g.count, MAX_UINT16);
  let type: string | undefined;
  if (g.type !== undefined) {
    type = string(`${field}.type`, g.type);
    if (type.length > MAX_SLURM_NAME_LENGTH || !GPU_TYPE.test(type))
      fail(
        `${field}.type`,
        `must be 1 to ${MAX_SLURM_NAME_LENGTH} letters, digits, '.', '-' or '_' (not starting with '.' or '-'), got ${show(type)}`,
      );
  }
  // slurmd 22.05 drops GPUs without a device file and the node is then drained as `inval`.
  if (g.files === undefined)
    fail(`${field}.files`, 'GPUs need their device files (slurmd 22.05 does not register file-less GPUs)');
  const filesIn = list(`${field}.files`, g.files);
  if (filesIn.length !== count)
    fail(`${field}.files`, `must list exactly count (${count}) device files, got ${filesIn.length}`);
  const files = filesIn.map((f, i) => absolutePath(`${field}.files[${i}]`, f, MAX_PATH_LENGTH));
  const seen = new Set<string>();
  files.forEach((f, i) => {
    if (seen.has(f)) fail(`${field}.files[${i}]`, `${show(f)} is listed twice`);
    seen.add(f);
  });
  return { count, files, ...(type === undefined ? {} : { type }) };
}

function resolvePartitions(value: unknown, nodeNames: ReadonlySet<string>): ResolvedPartition[] {
  if (value === undefined) return [{ name: DEFAULT_PARTITION_NAME, nodes: 'ALL', isDefault: true }];
  const parts = list('partitions', value);
  if (parts.length === 0)
    fail('partitions', 'must hold at least one partition (omit it for the default one)');
  const names = new Map<string, number>();
  let defaultIndex: number | undefined;
  const resolved = parts.map((part, i): ResolvedPartition => {
    const field = `partitions[${i}]`;
    const p = record(field, part);
    const name = slurmName(`${field}.name`, p.name);
    if (RESERVED_PARTITION_NAMES.has(name.toLowerCase()))
      fail(`${field}.name`, `${show(name)} has a special meaning in slurm.conf`);
    const earlier = names.get(name.toLowerCase());
    if (earlier !== undefined)
      fail(`${field}.name`, `${show(name)} is already the name of partitions[${earlier}]`);
    names.set(name.toLowerCase(), i);

    let nodes: 'ALL' | string[];
    if (p.nodes === 'ALL') nodes = 'ALL';
    else {
      const refs = list(`${field}.nodes`, p.nodes);
      if (refs.length === 0) fail(`${field}.nodes`, "must name at least one node, or be 'ALL'");
      const seen = new Set<string>();
      nodes = refs.map((ref, j) => {
        const refField = `${field}.nodes[${j}]`;
        if (typeof ref !== 'string' || !nodeNames.has(ref))
          fail(refField, `${show(ref)} is not the name of a static node`);
        if (seen.has(ref)) fail(refField, `${show(ref)} is listed twice`);
        seen.add(ref);
        return ref;
      });
    }

    let isDefault = false;
    if (p.default !== undefined) {
      if (typeof p.default !== 'boolean')
        fail(`${field}.default`, `must be a boolean, got ${show(p.default)}`);
      isDefault = p.default;
    }
    if (isDefault) {
      if (defaultIndex !== undefined)
        fail(`${field}.default`, `partitions[${defaultIndex}] is already the default partition`);
      defaultIndex = i;
    }
    const maxTimeMinutes =
      p.maxTimeMinutes === undefined
        ? undefined
        : positiveInteger(`${field}.maxTimeMinutes`, p.maxTimeMinutes, MAX_INT32);
    return { name, nodes, isDefault, ...(maxTimeMinutes === undefined ? {} : { maxTimeMinutes }) };
  });
  // No partition marked as the default: the first one is (slurmctld only logs an error without one,
  // and jobs that name no partition are then refused).
  if (defaultIndex === undefined) return resolved.map((p, i) => (i === 0 ? { ...p, isDefault: true } : p));
  return resolved;
}

function resolvePorts(value: unknown): SlurmPorts {
  if (value === undefined) return DEFAULT_SLURM_PORTS;
  const p = record('ports', value);
  const slurmctld = port('ports.slurmctld', p.slurmctld);
  const slurmd = port('ports.slurmd', p.slurmd);
  // A controller host is usually a node too: both daemons cannot listen on one port.
  if (slurmctld === slurmd) fail('ports.slurmd', `must differ from ports.slurmctld (${slurmctld})`);
  return { slurmctld, slurmd };
}

/** Validates the `paths` of a model. */
export function resolveSlurmPaths(value: unknown): SlurmPaths {
  const p = record('paths', value);
  return {
    stateSaveLocation: absolutePath('paths.stateSaveLocation', p.stateSaveLocation, MAX_PATH_LENGTH),
    spoolDir: absolutePath('paths.spoolDir', p.spoolDir, MAX_PATH_LENGTH, true),
    logDir: absolutePath('paths.logDir', p.logDir, MAX_PATH_LENGTH),
    runDir: absolutePath('paths.runDir', p.runDir, MAX_PATH_LENGTH),
    mungeSocket: absolutePath('paths.mungeSocket', p.mungeSocket, MAX_SOCKET_PATH_LENGTH),
  };
}

function resolveUsers(value: unknown): SlurmUsers {
  if (value === undefined) return DEFAULT_SLURM_USERS;
  const u = record('users', value);
  return {
    slurmUser: userName('users.slurmUser', u.slurmUser),
    slurmdUser: userName('users.slurmdUser', u.slurmdUser),
  };
}

function fail(field: string, detail: string): never {
  throw new SlurmConfigError(field, detail);
}

/** A short, single-line rendering of a rejected value for the error message. */
function show(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    text = String(value);
  else if (value === null) text = 'null';
  else if (Array.isArray(value)) text = 'an array';
  else text = `a value of type ${typeof value}`;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function record(field: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(field, `must be an object, got ${show(value)}`);
  return value as Record<string, unknown>;
}

function list(field: string, value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) fail(field, `must be an array, got ${show(value)}`);
  // A copy without holes: map() would skip a hole instead of checking it.
  return Array.from(value as readonly unknown[]);
}

function string(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, `must be a string, got ${show(value)}`);
  return value;
}

function slurmName(field: string, value: unknown): string {
  const name = string(field, value);
  if (!isSlurmName(name))
    fail(
      field,
      `must be 1 to ${MAX_SLURM_NAME_LENGTH} letters, digits, '-' or '_', not starting with '-', got ${show(name)}`,
    );
  return name;
}

function nodeName(field: string, value: unknown): string {
  const name = slurmName(field, value);
  if (RESERVED_NODE_NAMES.has(name.toLowerCase()))
    fail(field, `${show(name)} has a special meaning in slurm.conf`);
  return name;
}

function clusterNameField(field: string, value: unknown): string {
  const name = string(field, value);
  if (name.length > MAX_SLURM_NAME_LENGTH || !CLUSTER_NAME.test(name))
    fail(
      field,
      `must be 1 to ${MAX_SLURM_NAME_LENGTH} lower-case letters, digits, '-' or '_', not starting with '-', got ${show(name)}`,
    );
  return name;
}

function userName(field: string, value: unknown): string {
  const name = string(field, value);
  if (!USER_NAME.test(name))
    fail(
      field,
      `must be a user name (1 to 32 letters, digits, '_', '.', '-', starting with a letter or '_'), got ${show(name)}`,
    );
  return name;
}

/** An IPv4 literal or a host name (RFC 1123 labels, at most 253 characters). */
function address(field: string, value: unknown): string {
  const addr = string(field, value);
  if (addr.includes(':'))
    fail(
      field,
      `IPv6 literals are not supported (SLURM 22.05 needs extra settings for IPv6); got ${show(addr)}`,
    );
  if (/^[0-9.]+$/.test(addr)) {
    if (!IPV4.test(addr))
      fail(field, `must be a dotted-quad IPv4 address without leading zeros, got ${show(addr)}`);
    return addr;
  }
  const labels = addr.split('.');
  const last = labels[labels.length - 1] ?? '';
  if (addr.length > 253 || !labels.every((label) => HOST_LABEL.test(label)) || /^[0-9]+$/.test(last))
    fail(field, `must be an IPv4 address or a host name, got ${show(addr)}`);
  return addr;
}

/**
 * An absolute, normalised path of letters, digits and `. _ + @ - /`; `allowNodeName` also allows
 * one `%n` (SlurmdSpoolDir, replaced by the node name).
 */
function absolutePath(field: string, value: unknown, maxLength: number, allowNodeName = false): string {
  const path = string(field, value);
  if (path.length > maxLength) fail(field, `must be at most ${maxLength} characters, got ${path.length}`);
  if (!path.startsWith('/')) fail(field, `must be an absolute path, got ${show(path)}`);
  const placeholders = path.split('%n').length - 1;
  if (placeholders > (allowNodeName ? 1 : 0))
    fail(field, allowNodeName ? "may contain '%n' at most once" : `must not contain '%n', got ${show(path)}`);
  const plain = path.replace('%n', 'n');
  if (!PATH_CHARS.test(plain))
    fail(
      field,
      `may only contain letters, digits and '. _ + @ - /'${allowNodeName ? " (and one '%n')" : ''}, got ${show(path)}`,
    );
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..'))
    fail(
      field,
      `must be normalised (not '/', no '//', '.' or '..' segments, no trailing '/'), got ${show(path)}`,
    );
  return path;
}

function positiveInteger(field: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max)
    fail(field, `must be an integer from 1 to ${max}, got ${show(value)}`);
  return value;
}

function port(field: string, value: unknown): number {
  return positiveInteger(field, value, MAX_UINT16);
}

function debugLevel(field: string, value: unknown): SlurmDebugLevel {
  if (value === undefined) return DEFAULT_SLURM_DEBUG_LEVEL;
  const level = SLURM_DEBUG_LEVELS.find((l) => l === value);
  if (level === undefined) fail(field, `must be one of ${SLURM_DEBUG_LEVELS.join(', ')}; got ${show(value)}`);
  return level;
}
