/**
 * What the SLURM roles keep in the cluster's replicated store (the Raft KV in ClusterOS), and the
 * small store interface they need. The roles never see Raft: the agent adapts its KV to
 * {@link SlurmStore}. Every value read back is treated as untrusted (another node, another
 * version of this package, or a corrupted entry may have written it) and decoded with checks.
 *
 * Keys (all under `/clusteros/`):
 * - `secrets/munge.key`: the munge key, 1,024 random bytes, created once by the first holder of
 *   `slurm-controller` (or by anyone else first, e.g. the agent's coordinator) and never changed
 *   except by the documented rotation;
 * - `slurm/controller`: the {@link SlurmControllerRecord}: who runs slurmctld, at which address
 *   the stable controller name must point, and the static node list every `slurm.conf` carries;
 * - `slurm/acks/<node>`: each node's "I have pointed the alias and written slurm.conf for record
 *   `<token>.<seq>`" so that a new controller starts only once the nodes follow it;
 * - `slurm/state`: the controller's state, shipped every few seconds while it runs (crash
 *   recovery) and at a handoff;
 * - `slurm/leaving/<node>`: set by a worker that drained its node before shutting down.
 */
import type { SlurmNodeSpec } from '../conf/model.js';
import { resolveNodeResources, resolveSlurmNodeName } from '../conf/validate.js';

/**
 * The replicated store the SLURM roles use. `get` reads this member's applied state (it may lag
 * the leader by a little); writes resolve once committed. `@clusteros/raft`'s `RaftNode` with a
 * `KvStateMachine` can be adapted to it in a few lines (the agent does).
 */
export interface SlurmStore {
  /** The value of `key` in this member's applied state, or `undefined`. */
  get(key: string): Uint8Array | undefined;
  /** Writes `key`; resolves once the write is committed. */
  put(key: string, value: Uint8Array): Promise<void>;
  /**
   * Writes `key` only if it does not exist; resolves with whether this call created it. Used for
   * the munge key, so that two first controllers in a row never replace each other's key.
   */
  create(key: string, value: Uint8Array): Promise<boolean>;
}

/** The store keys of the SLURM roles. */
export const SLURM_STORE_KEYS = {
  /** The munge key (shared with the agent's coordinator, which may create it first). */
  mungeKey: '/clusteros/secrets/munge.key',
  /** The controller record ({@link SlurmControllerRecord}). */
  controller: '/clusteros/slurm/controller',
  /** Prefix of the per-node acknowledgements: `<prefix><node id>`. */
  ackPrefix: '/clusteros/slurm/acks/',
  /** The shipped controller state. */
  state: '/clusteros/slurm/state',
  /**
   * Prefix of the leaving marks: `<prefix><node id>` holds a non-empty value while the node's
   * worker has drained it for a shutdown (the controller then removes it once it runs no job),
   * and an empty value once the worker runs again.
   */
  leavingPrefix: '/clusteros/slurm/leaving/',
} as const;

/** The largest controller record accepted from the store. */
export const MAX_CONTROLLER_RECORD_BYTES = 256 * 1024;

/**
 * Who runs slurmctld and what every node's `slurm.conf` says. Written by the holder of
 * `slurm-controller` whenever it starts or the node list changes; every node follows it.
 */
export interface SlurmControllerRecord {
  /** The holder's fencing token: a record with a smaller token is from an older holder. */
  readonly token: number;
  /** Bumped by the holder on each change within its tenure. */
  readonly seq: number;
  /** The holder's node id. */
  readonly node: string;
  /** The holder's short host name (`hostname -s`), written as the `SlurmctldHost` name. */
  readonly host: string;
  /** The holder's cluster address: where the stable controller name must point. */
  readonly address: string;
  /** The static SLURM nodes, sorted by name. */
  readonly nodes: readonly SlurmNodeSpec[];
}

/** A record's version as one comparable string, `<token>.<seq>` (what acknowledgements carry). */
export function recordVersion(record: Pick<SlurmControllerRecord, 'token' | 'seq'>): string {
  return `${record.token}.${record.seq}`;
}

/** Whether record `a` is newer than `b` (higher token, or same token and higher seq). */
export function isNewerRecord(
  a: Pick<SlurmControllerRecord, 'token' | 'seq'>,
  b: Pick<SlurmControllerRecord, 'token' | 'seq'> | undefined,
): boolean {
  return b === undefined || a.token > b.token || (a.token === b.token && a.seq > b.seq);
}

/** Encodes a record for the store. */
export function encodeControllerRecord(record: SlurmControllerRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, ...record }));
}

/** A value in the store that is not a valid record. */
export class SlurmRecordError extends Error {
  /** Always `'SlurmRecordError'`. */
  override readonly name = 'SlurmRecordError';
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOST = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Decodes and checks a record read from the store.
 * @throws {@link SlurmRecordError} naming what is wrong.
 */
export function decodeControllerRecord(bytes: Uint8Array): SlurmControllerRecord {
  if (bytes.byteLength > MAX_CONTROLLER_RECORD_BYTES)
    throw new SlurmRecordError(`controller record of ${bytes.byteLength} bytes is too large`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new SlurmRecordError('controller record is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new SlurmRecordError('controller record is not an object');
  const r = raw as Record<string, unknown>;
  if (r.v !== 1) throw new SlurmRecordError(`controller record version ${String(r.v)} is not 1`);
  const count = (field: string): number => {
    const value = r[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
      throw new SlurmRecordError(`controller record ${field} is not a non-negative integer`);
    return value;
  };
  const text = (field: string, pattern: RegExp): string => {
    const value = r[field];
    if (typeof value !== 'string' || !pattern.test(value))
      throw new SlurmRecordError(`controller record ${field} is not valid`);
    return value;
  };
  if (!Array.isArray(r.nodes) || r.nodes.length === 0 || r.nodes.length > 10_000)
    throw new SlurmRecordError('controller record nodes is not a list of 1 to 10000 nodes');
  const nodes = r.nodes.map((n: unknown, i: number): SlurmNodeSpec => {
    if (typeof n !== 'object' || n === null)
      throw new SlurmRecordError(`controller record nodes[${i}] is not an object`);
    const node = n as Record<string, unknown>;
    try {
      const name = resolveSlurmNodeName(`nodes[${i}].name`, node.name);
      const { cpus, memoryBytes } = resolveNodeResources(`nodes[${i}]`, node);
      if (typeof node.address !== 'string' || !(IPV4.test(node.address) || HOST.test(node.address)))
        throw new SlurmRecordError(`controller record nodes[${i}].address is not valid`);
      const gpus = node.gpus as { count?: unknown; files?: unknown; type?: unknown } | undefined;
      return {
        name,
        address: node.address,
        cpus,
        memoryBytes,
        ...(gpus === undefined
          ? {}
          : {
              gpus: {
                count: gpus.count as number,
                files: gpus.files as string[],
                ...(gpus.type === undefined ? {} : { type: gpus.type as string }),
              },
            }),
      };
    } catch (error) {
      if (error instanceof SlurmRecordError) throw error;
      throw new SlurmRecordError(`controller record ${(error as Error).message}`);
    }
  });
  return {
    token: count('token'),
    seq: count('seq'),
    node: text('node', /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
    host: text('host', HOST),
    address: text('address', IPV4),
    nodes,
  };
}
