/**
 * What the k3s roles keep in the cluster's replicated store (the Raft KV in ClusterOS) and the
 * small store interface they need. The roles never see Raft: the agent adapts its KV to
 * {@link K3sStore}. Every value read back is untrusted (another node, another version of this
 * package or a damaged entry may have written it) and is decoded with checks.
 *
 * Keys (all under `/clusteros/`):
 * - `secrets/k3s.token`: the k3s join token, created once (create-only) by the first holder of
 *   `k3s-server` or by the agent's coordinator, whichever comes first; never logged or served;
 * - `k3s/cluster`: the {@link K3sClusterRecord}: which node holds the primary duties, which nodes
 *   run `k3s server` (the embedded-etcd voters) and whether the cluster was ever bootstrapped;
 * - `k3s/retiring`: a {@link K3sRetiringRecord} while a server is being taken out (cordoned,
 *   drained, its etcd member removed), so that a crash half-way is cleaned up by whoever holds
 *   the role next.
 */
import { isIPv4 } from 'node:net';

/**
 * The replicated store the k3s roles use. `get` reads this member's applied state (it may lag
 * the leader by a little); writes resolve once committed. The shape is the same as the SLURM
 * roles' store, so one adapter over the Raft KV serves both.
 */
export interface K3sStore {
  /** The value of `key` in this member's applied state, or `undefined`. */
  get(key: string): Uint8Array | undefined;
  /** Writes `key`; resolves once the write is committed. */
  put(key: string, value: Uint8Array): Promise<void>;
  /** Writes `key` only if it does not exist; resolves with whether this call created it. */
  create(key: string, value: Uint8Array): Promise<boolean>;
}

/** The store keys of the k3s roles. */
export const K3S_STORE_KEYS = {
  /** The k3s join token (shared with the agent's coordinator, which may create it first). */
  token: '/clusteros/secrets/k3s.token',
  /** The cluster record ({@link K3sClusterRecord}). */
  cluster: '/clusteros/k3s/cluster',
  /** The server being retired, if any ({@link K3sRetiringRecord}). */
  retiring: '/clusteros/k3s/retiring',
} as const;

/** The largest record accepted from the store. */
export const MAX_K3S_RECORD_BYTES = 64 * 1024;

/** A node that runs `k3s server`. */
export interface K3sServerEntry {
  /** The ClusterOS node id (also its Kubernetes node name). */
  readonly node: string;
  /** Its cluster address (Tailscale IPv4): where the others reach its API server and etcd. */
  readonly address: string;
}

/**
 * The k3s cluster as ClusterOS runs it. Written by the holder of `k3s-server`; every node
 * follows it: a node listed in `servers` runs `k3s server`, every other node with the agent role
 * runs `k3s agent` pointed at the primary.
 */
export interface K3sClusterRecord {
  /** The writer's fencing token: a record with a smaller token is from an older holder. */
  readonly token: number;
  /** Bumped on each change within one holder's tenure. */
  readonly seq: number;
  /** The node holding the primary duties (the `k3s-server` role). */
  readonly primary: string;
  /** The nodes that run `k3s server`, the primary first. */
  readonly servers: readonly K3sServerEntry[];
  /**
   * Whether some server has ever come up with this cluster's etcd. Until then the primary
   * bootstraps with `--cluster-init`; afterwards a server without etcd data always joins.
   */
  readonly initialized: boolean;
}

/** The steps of retiring a server, in order. Up to `draining` the retirement can be undone. */
export type K3sRetiringStep = 'cordoned' | 'draining' | 'removing' | 'removed';

/** A server being taken out of the cluster. */
export interface K3sRetiringRecord {
  /** The node being retired. */
  readonly node: string;
  /** How far it got. */
  readonly step: K3sRetiringStep;
  /** When the step began (wall-clock ms). */
  readonly at: number;
}

/** Thrown by the decoders for a malformed value. */
export class K3sRecordError extends Error {
  /** Discriminates this error class. */
  override readonly name = 'K3sRecordError';
}

/** Whether `value` is a {@link K3sRecordError}. */
export function isK3sRecordError(value: unknown): value is K3sRecordError {
  return value instanceof K3sRecordError;
}

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

/** Whether `name` can be a Kubernetes node name that k3s also uses to prefix its etcd member. */
export function isValidK3sNodeName(name: string): boolean {
  return NODE_NAME.test(name) && !name.includes('..');
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  if (bytes.byteLength > MAX_K3S_RECORD_BYTES)
    throw new K3sRecordError(`${what} is over ${MAX_K3S_RECORD_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new K3sRecordError(`${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new K3sRecordError(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function counter(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new K3sRecordError(`${field} must be a non-negative integer`);
  return value;
}

function nodeName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isValidK3sNodeName(value))
    throw new K3sRecordError(`${field} must be a Kubernetes node name`);
  return value;
}

function server(value: unknown, index: number): K3sServerEntry {
  if (typeof value !== 'object' || value === null)
    throw new K3sRecordError(`servers[${index}] is not an object`);
  const entry = value as Record<string, unknown>;
  const address = entry.address;
  if (typeof address !== 'string' || !isIPv4(address))
    throw new K3sRecordError(`servers[${index}].address must be an IPv4 address`);
  return { node: nodeName(entry.node, `servers[${index}].node`), address };
}

/** The bytes of a cluster record. */
export function encodeClusterRecord(record: K3sClusterRecord): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      token: record.token,
      seq: record.seq,
      primary: record.primary,
      servers: record.servers.map((entry) => ({ node: entry.node, address: entry.address })),
      initialized: record.initialized,
    }),
  );
}

/** Decodes and checks a cluster record; throws {@link K3sRecordError}. */
export function decodeClusterRecord(bytes: Uint8Array): K3sClusterRecord {
  const raw = parseJson(bytes, 'the k3s cluster record');
  if (!Array.isArray(raw.servers)) throw new K3sRecordError('servers must be a list');
  if (raw.servers.length > 99) throw new K3sRecordError('servers lists more than 99 nodes');
  const servers = raw.servers.map(server);
  if (new Set(servers.map((entry) => entry.node)).size !== servers.length)
    throw new K3sRecordError('servers lists a node twice');
  if (typeof raw.initialized !== 'boolean') throw new K3sRecordError('initialized must be a boolean');
  return {
    token: counter(raw.token, 'token'),
    seq: counter(raw.seq, 'seq'),
    primary: nodeName(raw.primary, 'primary'),
    servers,
    initialized: raw.initialized,
  };
}

/** Whether `candidate` supersedes `current` (a newer holder, or a later change of the same one). */
export function isNewerClusterRecord(
  candidate: K3sClusterRecord,
  current: K3sClusterRecord | undefined,
): boolean {
  if (current === undefined) return true;
  if (candidate.token !== current.token) return candidate.token > current.token;
  return candidate.seq > current.seq;
}

const STEPS: readonly K3sRetiringStep[] = ['cordoned', 'draining', 'removing', 'removed'];

/** The bytes of a retiring record. */
export function encodeRetiringRecord(record: K3sRetiringRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ node: record.node, step: record.step, at: record.at }));
}

/** Decodes and checks a retiring record; throws {@link K3sRecordError}. */
export function decodeRetiringRecord(bytes: Uint8Array): K3sRetiringRecord {
  const raw = parseJson(bytes, 'the k3s retiring record');
  const step = raw.step;
  if (typeof step !== 'string' || !(STEPS as readonly string[]).includes(step))
    throw new K3sRecordError(`step must be one of ${STEPS.join(', ')}`);
  return { node: nodeName(raw.node, 'node'), step: step as K3sRetiringStep, at: counter(raw.at, 'at') };
}

/** Reads and decodes the cluster record; `undefined` when absent, {@link K3sRecordError} when bad. */
export function readClusterRecord(store: K3sStore): K3sClusterRecord | undefined {
  const bytes = store.get(K3S_STORE_KEYS.cluster);
  return bytes === undefined || bytes.byteLength === 0 ? undefined : decodeClusterRecord(bytes);
}

/** Reads the retiring record; `undefined` when absent or cleared (an empty value). */
export function readRetiringRecord(store: K3sStore): K3sRetiringRecord | undefined {
  const bytes = store.get(K3S_STORE_KEYS.retiring);
  return bytes === undefined || bytes.byteLength === 0 ? undefined : decodeRetiringRecord(bytes);
}
