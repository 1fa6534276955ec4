/**
 * Raft leadership as a pseudo-role. Only the leader can hand leadership over, so a coordinator on
 * another member writes a request record (`<prefix>handoffs/raft`) and whichever member leads
 * when it applies the request carries it out. The coordinator then waits until the target leads.
 */
import { kv } from '@clusteros/raft';
import { decode, encode } from '@msgpack/msgpack';
import type { Logger } from './logger.js';
import { handoffKey } from './records.js';
import type { RoleStore } from './store.js';

/** The pseudo-role that stands for Raft leadership. */
export const RAFT_ROLE = 'raft';

/** A request to move Raft leadership. */
export interface RaftTransferRequest {
  /** Request id. */
  readonly id: string;
  /** The member that should lead. */
  readonly to: string;
  /** Store time after which the request is void. */
  readonly deadline: number;
}

/** Command bytes that record a Raft transfer request. */
export function raftTransferCommand(keyPrefix: string, request: RaftTransferRequest): Uint8Array {
  return kv.put(handoffKey(keyPrefix, RAFT_ROLE), encode({ v: 1, ...request }));
}

/** The pending request in the local replica, if any and well formed. */
export function readRaftTransfer(store: RoleStore, keyPrefix: string): RaftTransferRequest | undefined {
  const entry = store.view.get(handoffKey(keyPrefix, RAFT_ROLE));
  if (entry === undefined) return undefined;
  try {
    const value = decode(entry.value) as Record<string, unknown>;
    if (typeof value !== 'object' || value === null || value.v !== 1) return undefined;
    const { id, to, deadline } = value;
    if (typeof id !== 'string' || typeof to !== 'string' || typeof deadline !== 'number') return undefined;
    if (id.length > 256 || to.length > 256) return undefined;
    return { id, to, deadline };
  } catch {
    return undefined;
  }
}

/** Carries out pending Raft transfer requests when this member leads. */
export class RaftTransferExecutor {
  readonly #store: RoleStore;
  readonly #keyPrefix: string;
  readonly #nodeId: string;
  readonly #logger: Logger;
  readonly #done = new Set<string>();

  /** Creates the executor for member `nodeId`. */
  constructor(store: RoleStore, keyPrefix: string, nodeId: string, logger: Logger) {
    this.#store = store;
    this.#keyPrefix = keyPrefix;
    this.#nodeId = nodeId;
    this.#logger = logger;
  }

  /** Looks for a request this member should carry out now. */
  evaluate(): void {
    const raft = this.#store.raft;
    if (raft === undefined || raft.leader !== this.#nodeId) return;
    const request = readRaftTransfer(this.#store, this.#keyPrefix);
    if (request === undefined || this.#done.has(request.id)) return;
    if (request.to === this.#nodeId || this.#store.view.now > request.deadline) return;
    this.#done.add(request.id);
    if (this.#done.size > 256) this.#done.delete(this.#done.values().next().value as string);
    this.#logger.info({ to: request.to, id: request.id }, 'transferring Raft leadership on request');
    raft.transferLeadership(request.to).catch((error: unknown) => {
      this.#logger.warn({ to: request.to, err: (error as Error).message }, 'Raft leadership transfer failed');
    });
  }
}
