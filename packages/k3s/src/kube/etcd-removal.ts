/**
 * Removing a k3s server's embedded-etcd member through the Kubernetes API, the two ways k3s's
 * member controller supports (k3s `pkg/etcd/member_controller.go`):
 * - annotate the Node `etcd.k3s.cattle.io/remove=true`: the controller removes the member whose
 *   name and peer address are in the Node's annotations, records the name in
 *   `etcd.k3s.cattle.io/removed-node-name` and drops the two annotations; the Node stays;
 * - delete the Node: its `wrangler.cattle.io/managed-etcd-controller` finalizer holds it
 *   Terminating until the member is removed, then it disappears.
 *
 * Either way the caller should still verify the etcd member list; never strip the finalizers (the
 * member would then stay, and has to be removed by hand).
 */
import type { KubeApi } from './api.js';
import { isKubeApiError } from './errors.js';
import { realSleep, type Sleep } from './sleep.js';

/** The Node annotations of k3s's etcd member bookkeeping. */
export const K3S_ETCD_ANNOTATIONS = {
  /** The member name, `<node name>-<8 hex>`, set by k3s on each server's own Node. */
  nodeName: 'etcd.k3s.cattle.io/node-name',
  /** The member's peer address (the node IP), set by k3s next to `nodeName`. */
  nodeAddress: 'etcd.k3s.cattle.io/node-address',
  /** Set to `'true'` to ask k3s to remove the member (the Node stays). */
  remove: 'etcd.k3s.cattle.io/remove',
  /** Set by k3s to the removed member's name once the removal is done. */
  removedNodeName: 'etcd.k3s.cattle.io/removed-node-name',
} as const;

/** The finalizer k3s's member controller keeps on Nodes, so that deleting one removes its member first. */
export const K3S_ETCD_FINALIZER = 'wrangler.cattle.io/managed-etcd-controller';

/** The label k3s puts on servers running an etcd member; the member controller only acts on such Nodes. */
export const K3S_ETCD_ROLE_LABEL = 'node-role.kubernetes.io/etcd';

/**
 * Why an etcd member removal through the API failed:
 * - `'node-not-found'`: there is no such Node;
 * - `'not-etcd-member'`: the Node has no etcd role label or no member-name annotation, so k3s would never act;
 * - `'timeout'`: k3s did not finish within the time limit (its controller retries a failing removal; the message has the last state seen);
 * - `'aborted'`: the caller's signal fired;
 * - `'api'`: an API call failed (`cause` has the `KubeApiError`).
 */
export type EtcdRemovalErrorReason = 'node-not-found' | 'not-etcd-member' | 'timeout' | 'aborted' | 'api';

/** An etcd member removal through the Kubernetes API failed; `reason` says how. */
export class EtcdRemovalError extends Error {
  /** Always `'EtcdRemovalError'`. */
  override readonly name = 'EtcdRemovalError';
  /** What kind of failure. */
  readonly reason: EtcdRemovalErrorReason;

  /** Creates the error; `options.cause` keeps the underlying error. */
  constructor(reason: EtcdRemovalErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/** True when `error` is an {@link EtcdRemovalError} (from any copy of this package). */
export function isEtcdRemovalError(error: unknown): error is EtcdRemovalError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'EtcdRemovalError' &&
    typeof (error as { reason?: unknown }).reason === 'string'
  );
}

/** What {@link requestEtcdRemoval} resolves with. */
export interface EtcdRemovalResult {
  /** The removed member's name (`<node>-<8 hex>`), as k3s recorded it in `removed-node-name`. */
  readonly memberName: string;
}

/** How long and how often the removal waits poll the Node. */
export interface EtcdRemovalOptions {
  /** Time limit, in ms (k3s gives one member removal 1 min; allow for its controller's retries). */
  readonly timeoutMs: number;
  /** Pause between reads of the Node, in ms. */
  readonly pollMs: number;
  /** Waits; injected by tests to run on a fake clock (default: a real timer). */
  readonly sleep?: Sleep;
  /** The clock the time limit is measured on (default `Date.now`). */
  readonly now?: () => number;
  /** Stops the wait: it rejects with {@link EtcdRemovalError} `'aborted'`. */
  readonly signal?: AbortSignal;
}

/**
 * API failures a removal wait rides out: the API server answering these may be the departing
 * server's own, which k3s stops once its member is gone.
 */
const TRANSIENT = new Set(['unreachable', 'timeout', 'server-error', 'too-many-requests']);

/**
 * Runs `poll` until it yields a value, pausing `pollMs` between tries, bounded by `timeoutMs` on
 * the injected clock. Transient API failures are retried; the last one is reported on timeout.
 */
async function pollUntil<T>(
  what: string,
  options: EtcdRemovalOptions,
  poll: () => Promise<T | undefined>,
  lastState: () => string,
): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  let lastError: string | undefined;
  try {
    for (;;) {
      if (options.signal?.aborted) throw options.signal.reason;
      try {
        const value = await poll();
        if (value !== undefined) return value;
        lastError = undefined;
      } catch (error) {
        if (!isKubeApiError(error) || !TRANSIENT.has(error.reason)) throw error;
        lastError = error.message;
      }
      const remaining = deadline - now();
      if (remaining <= 0) {
        const state = lastError === undefined ? lastState() : `${lastState()}; last API error: ${lastError}`;
        throw new EtcdRemovalError('timeout', `${what}: not done within ${options.timeoutMs} ms (${state})`);
      }
      await sleep(Math.min(options.pollMs, remaining), options.signal);
    }
  } catch (error) {
    if (isEtcdRemovalError(error)) throw error;
    if (options.signal?.aborted) throw new EtcdRemovalError('aborted', `${what}: aborted`, { cause: error });
    const message = error instanceof Error ? error.message : String(error);
    throw new EtcdRemovalError('api', `${what}: ${message}`, { cause: error });
  }
}

/**
 * Asks k3s to remove the etcd member of server Node `nodeName` without deleting the Node: annotates
 * `etcd.k3s.cattle.io/remove=true`, then polls until `etcd.k3s.cattle.io/removed-node-name` names
 * the member that was in `etcd.k3s.cattle.io/node-name`, and resolves with that member name.
 * Already removed (only `removed-node-name` left) resolves at once without a patch. A Node that
 * disappears meanwhile counts as done (its deletion removed the member). Delete the Node promptly
 * afterwards (k3s issue #12920). Rejects with {@link EtcdRemovalError}.
 */
export async function requestEtcdRemoval(
  api: KubeApi,
  nodeName: string,
  options: EtcdRemovalOptions,
): Promise<EtcdRemovalResult> {
  const what = `remove the etcd member of ${nodeName}`;
  let node: Awaited<ReturnType<KubeApi['getNode']>>;
  try {
    node = await api.getNode(nodeName, options.signal);
  } catch (error) {
    const aborted = isKubeApiError(error) && error.reason === 'aborted';
    const message = error instanceof Error ? error.message : String(error);
    throw new EtcdRemovalError(aborted ? 'aborted' : 'api', `${what}: ${message}`, { cause: error });
  }
  if (node === undefined) throw new EtcdRemovalError('node-not-found', `${what}: no such node`);
  const memberName = node.annotations[K3S_ETCD_ANNOTATIONS.nodeName];
  const removed = node.annotations[K3S_ETCD_ANNOTATIONS.removedNodeName];
  if (memberName === undefined) {
    if (removed !== undefined) return { memberName: removed };
    throw new EtcdRemovalError(
      'not-etcd-member',
      `${what}: the node has no ${K3S_ETCD_ANNOTATIONS.nodeName} annotation (not a k3s server with embedded etcd?)`,
    );
  }
  if (removed === memberName) return { memberName };
  if (node.labels[K3S_ETCD_ROLE_LABEL] !== 'true')
    throw new EtcdRemovalError(
      'not-etcd-member',
      `${what}: the node has no ${K3S_ETCD_ROLE_LABEL}=true label`,
    );

  let last = 'not yet annotated';
  let annotated = false;
  return pollUntil(
    what,
    options,
    async () => {
      if (!annotated) {
        await api.annotateNode(nodeName, { [K3S_ETCD_ANNOTATIONS.remove]: 'true' }, options.signal);
        annotated = true;
        last = `annotated ${K3S_ETCD_ANNOTATIONS.remove}=true, waiting for k3s`;
      }
      const current = await api.getNode(nodeName, options.signal);
      if (current === undefined) return { memberName };
      const done = current.annotations[K3S_ETCD_ANNOTATIONS.removedNodeName];
      if (done === memberName) return { memberName };
      last = `${K3S_ETCD_ANNOTATIONS.removedNodeName} is ${done === undefined ? 'absent' : JSON.stringify(done)}, member ${memberName}`;
      return undefined;
    },
    () => last,
  );
}

/**
 * Deletes Node `nodeName` and waits until it is gone (or replaced by a new Node of the same name).
 * On a k3s server Node the finalizer makes k3s remove its etcd member first, so this also waits for
 * that; a removal k3s keeps failing ends in {@link EtcdRemovalError} `'timeout'`, the message naming
 * the finalizers still present. Resolves `'gone'` when there was no such Node.
 */
export async function deleteNodeAndWait(
  api: KubeApi,
  nodeName: string,
  options: EtcdRemovalOptions,
): Promise<'deleted' | 'gone'> {
  const what = `delete node ${nodeName}`;
  let uid: string | undefined;
  let result: 'deleted' | 'gone' | undefined;
  let last = 'not yet deleted';
  return pollUntil(
    what,
    options,
    async () => {
      if (result === undefined) {
        uid = (await api.getNode(nodeName, options.signal))?.uid;
        result = uid === undefined ? 'gone' : await api.deleteNode(nodeName, options.signal);
        if (result === 'gone') return result;
      }
      const current = await api.getNode(nodeName, options.signal);
      if (current === undefined || current.uid !== uid) return result;
      last = current.deleting
        ? `still Terminating, finalizers: ${current.finalizers.join(', ') || 'none'}`
        : 'not marked for deletion';
      return undefined;
    },
    () => last,
  );
}
