/**
 * What the SLURM and k3s roles share from the agent: the Raft KV as their three-method store
 * (`get` from this member's applied state; `put` and create-only `create` through Raft, resolved
 * once committed) and each member's cluster address.
 */
import { type KvResult, type KvStateMachine, kv } from '@clusteros/raft';
import type { NodeRef } from '@clusteros/roles';
import { TAG } from '../dashboard-sources.js';
import { AGENT_TAG } from './tags.js';

/** The store interface both role packages declare (`SlurmStore`, `K3sStore`: the same three methods). */
export interface RoleStore {
  /** The value of `key` in this member's applied state, or `undefined`. */
  get(key: string): Uint8Array | undefined;
  /** Writes `key`; resolves once committed. */
  put(key: string, value: Uint8Array): Promise<void>;
  /** Writes `key` only if it does not exist; resolves with whether this call created it. */
  create(key: string, value: Uint8Array): Promise<boolean>;
}

/** What the store adapter needs of Raft: a `RaftNode` has it. */
export interface RoleStoreRaft {
  /** Proposes a KV command (forwarded to the leader) and resolves with its result. */
  propose(command: Uint8Array): Promise<KvResult>;
}

/** Raises a KV error result as an error (the roles only see committed writes). */
function committed(result: KvResult, key: string): KvResult {
  if (result.type === 'error')
    throw new Error(`cluster store write of ${key} failed: ${result.error.message}`);
  return result;
}

/** The Raft KV as the roles' store. */
export function roleStoreOf(raft: RoleStoreRaft, machine: Pick<KvStateMachine, 'get'>): RoleStore {
  return {
    get: (key) => machine.get(key)?.value,
    put: async (key, value) => {
      committed(await raft.propose(kv.put(key, value)), key);
    },
    create: async (key, value) => {
      const result = committed(
        await raft.propose(
          kv.txn({ compare: [kv.compare(key, 'createRevision', '=', 0)], success: [kv.op.put(key, value)] }),
        ),
        key,
      );
      return result.type === 'txn' && result.succeeded;
    },
  };
}

/** A member's cluster address: its Tailscale IPv4, else the host of its Raft address. */
export function clusterAddressOf(node: NodeRef): string | undefined {
  const tailscale = node.tags?.[TAG.tailscaleIp];
  if (tailscale !== undefined && tailscale !== '') return tailscale;
  const raft = node.tags?.[AGENT_TAG.raft];
  if (raft === undefined) return undefined;
  const host = raft.startsWith('[') ? raft.slice(1, raft.indexOf(']')) : raft.slice(0, raft.lastIndexOf(':'));
  return host === '' ? undefined : host;
}
