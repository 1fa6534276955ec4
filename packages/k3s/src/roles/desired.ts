/**
 * Which k3s process a node should run, decided from the cluster record alone (pure, so that
 * every rule is unit-tested): a listed server runs `k3s server`, any other node that runs the
 * agent role runs `k3s agent` pointed at the primary, and nobody starts anything before a
 * holder of `k3s-server` has written the record.
 */
import type { K3sClusterRecord } from './store.js';

/** What the node should run. */
export interface DesiredProcess {
  /** Nothing, `k3s server` or `k3s agent`. */
  readonly mode: 'none' | 'server' | 'agent';
  /** Server only: start with `--cluster-init`. */
  readonly bootstrap: boolean;
  /** `--server` URL (joining servers and agents). */
  readonly joinUrl: string | undefined;
  /** One line for status and logs. */
  readonly why: string;
}

/** What {@link desiredProcess} decides from. */
export interface DesiredProcessInput {
  /** This node's id. */
  readonly self: string;
  /** The record, if any. */
  readonly record: K3sClusterRecord | undefined;
  /** The agent role runs on this node. */
  readonly agent: boolean;
  /**
   * Run `k3s server` although the record does not list this node: a handoff target joining
   * before the old holder adds it (the "replacement in first" step).
   */
  readonly serverOverride: boolean;
  /** This node has etcd data (`server/db/etcd/member/wal`). */
  readonly etcdInitialized: boolean;
  /** The API server port. @defaultValue 6443 */
  readonly apiPort?: number;
}

/** The `--server` URL of a server at `address`. */
export function serverUrl(address: string, port = 6443): string {
  return `https://${address}:${port}`;
}

/** Decides what the node runs (see the module comment). */
export function desiredProcess(input: DesiredProcessInput): DesiredProcess {
  const { record, self } = input;
  const port = input.apiPort ?? 6443;
  if (record === undefined)
    return { mode: 'none', bootstrap: false, joinUrl: undefined, why: 'waiting for the k3s-server holder' };
  const listed = record.servers.some((entry) => entry.node === self);
  const others = record.servers.filter((entry) => entry.node !== self);
  // The primary first: it is the server most likely to be up and serving joins.
  others.sort((a, b) => Number(b.node === record.primary) - Number(a.node === record.primary));
  const first = others[0];
  if (listed || input.serverOverride) {
    if (input.etcdInitialized)
      return {
        mode: 'server',
        bootstrap: first === undefined,
        joinUrl: first === undefined ? undefined : serverUrl(first.address, port),
        why: 'server restarting on its etcd data',
      };
    if (!record.initialized && record.primary === self)
      return { mode: 'server', bootstrap: true, joinUrl: undefined, why: 'bootstrapping the cluster' };
    if (first === undefined)
      return record.primary === self
        ? {
            mode: 'server',
            bootstrap: true,
            joinUrl: undefined,
            why: 'no other server is listed: bootstrapping a new cluster (the old etcd data is gone)',
          }
        : { mode: 'none', bootstrap: false, joinUrl: undefined, why: 'no server to join' };
    if (!record.initialized)
      return {
        mode: 'none',
        bootstrap: false,
        joinUrl: undefined,
        why: 'waiting for the cluster to bootstrap',
      };
    return {
      mode: 'server',
      bootstrap: false,
      joinUrl: serverUrl(first.address, port),
      why: `joining ${first.node}`,
    };
  }
  if (!input.agent) return { mode: 'none', bootstrap: false, joinUrl: undefined, why: 'not a server' };
  if (first === undefined || !record.initialized)
    return { mode: 'none', bootstrap: false, joinUrl: undefined, why: 'waiting for a k3s server' };
  return {
    mode: 'agent',
    bootstrap: false,
    joinUrl: serverUrl(first.address, port),
    why: `agent of ${first.node}`,
  };
}
