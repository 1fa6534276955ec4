/**
 * Draining a node the way `kubectl drain --ignore-daemonsets --delete-emptydir-data` does
 * (k8s.io/kubectl/pkg/drain, v1.32): cordon, list the node's pods, refuse before evicting anything
 * if a pod may not be evicted, evict the rest in parallel through the Eviction API (which honours
 * PodDisruptionBudgets), retry budget refusals, and wait until every evicted pod is gone.
 *
 * Differences from kubectl, on purpose: a DaemonSet pod is never evicted even when its DaemonSet
 * no longer exists (kubectl deletes such orphans with `--force`; the node is leaving anyway, and
 * it saves a request per DaemonSet), and the time limit covers the whole drain, not only the
 * eviction phase.
 */
import type { KubeApi } from './api.js';
import { isKubeApiError, type KubeApiErrorReason } from './errors.js';
import { realSleep, type Sleep } from './sleep.js';
import { type KubePod, podKey } from './views.js';

/** The node is unschedulable. */
export interface DrainCordonedEvent {
  /** Event kind. */
  readonly type: 'cordoned';
  /** The node being drained. */
  readonly node: string;
  /** It was cordoned before this drain (no patch was sent). */
  readonly already: boolean;
}

/** A DaemonSet pod left in place (`ignoreDaemonSets`); kubectl prints this as a warning. Mirror pods get no event. */
export interface DrainIgnoredEvent {
  /** Event kind. */
  readonly type: 'ignored';
  /** `namespace/name`. */
  readonly pod: string;
  /** Why it stays. */
  readonly why: 'daemonset';
}

/** An eviction request is about to be sent. */
export interface DrainEvictingEvent {
  /** Event kind. */
  readonly type: 'evicting';
  /** `namespace/name`. */
  readonly pod: string;
  /** Attempt number, from 1. */
  readonly attempt: number;
}

/** The eviction was refused for now (a PodDisruptionBudget, rate limiting); it is retried after `retryInMs`. */
export interface DrainRetryEvent {
  /** Event kind. */
  readonly type: 'retry';
  /** `namespace/name`. */
  readonly pod: string;
  /** The attempt that was refused. */
  readonly attempt: number;
  /** How it was refused: `'disruption-budget'`, `'too-many-requests'` or `'forbidden'` (namespace terminating). */
  readonly reason: KubeApiErrorReason;
  /** Pause before the next attempt, in ms. */
  readonly retryInMs: number;
  /** The refusal's message (the API server's words). */
  readonly message: string;
}

/** The eviction was accepted; the pod is terminating. */
export interface DrainEvictedEvent {
  /** Event kind. */
  readonly type: 'evicted';
  /** `namespace/name`. */
  readonly pod: string;
}

/** The pod no longer exists (or a new pod with the same name replaced it). */
export interface DrainGoneEvent {
  /** Event kind. */
  readonly type: 'gone';
  /** `namespace/name`. */
  readonly pod: string;
}

/** Progress of a drain, in the order it happens (per pod: evicting → [retry → evicting]* → evicted → gone). */
export type DrainEvent =
  | DrainCordonedEvent
  | DrainIgnoredEvent
  | DrainEvictingEvent
  | DrainRetryEvent
  | DrainEvictedEvent
  | DrainGoneEvent;

/** Options of {@link drainNode}. */
export interface DrainOptions {
  /** Leave DaemonSet-managed pods in place (kubectl `--ignore-daemonsets`); false: they stop the drain. Default true. */
  readonly ignoreDaemonSets?: boolean;
  /** Evict pods with `emptyDir` volumes, losing that data (kubectl `--delete-emptydir-data`); false: they stop the drain. Default true. */
  readonly deleteEmptyDirData?: boolean;
  /** Evict pods no controller manages (kubectl `--force`); false: they stop the drain. Default false. */
  readonly force?: boolean;
  /** Time limit of the whole drain, in ms (default 300000). */
  readonly timeoutMs?: number;
  /** Pause between eviction attempts refused with 429, in ms (default 5000, kubectl's fixed interval). */
  readonly evictionRetryMs?: number;
  /** Pause between checks whether an evicted pod is gone, in ms (default 1000, kubectl's interval). */
  readonly podGonePollMs?: number;
  /** Waits; injected by tests to run on a fake clock (default: a real timer). */
  readonly sleep?: Sleep;
  /** The clock the time limit is measured on (default `Date.now`). */
  readonly now?: () => number;
  /** Progress callback; an exception it throws is ignored. */
  readonly onEvent?: (event: DrainEvent) => void;
  /** Stops the drain: it rejects with {@link DrainError} `'aborted'` (the node stays cordoned). */
  readonly signal?: AbortSignal;
}

/** Why one pod stops a drain, in kubectl's words. */
export type DrainRefusalReason = 'daemonset' | 'local-storage' | 'unmanaged';

/** A pod that stops the drain before anything is evicted. */
export interface DrainRefusal {
  /** `namespace/name`. */
  readonly pod: string;
  /** Which rule refused it. */
  readonly reason: DrainRefusalReason;
}

/** A pod a drain leaves in place. */
export interface DrainSkip {
  /** `namespace/name`. */
  readonly pod: string;
  /** A mirror pod (the API's copy of a static pod) or a DaemonSet pod. */
  readonly why: 'mirror' | 'daemonset';
}

/** What a finished drain did. */
export interface DrainReport {
  /** The drained node. */
  readonly node: string;
  /** False when the node was already cordoned before the drain. */
  readonly cordoned: boolean;
  /** Pods evicted and gone (`namespace/name`), in the order they went. */
  readonly evicted: readonly string[];
  /** Pods left in place: mirror pods (static pods) and, with `ignoreDaemonSets`, DaemonSet pods. */
  readonly skipped: readonly DrainSkip[];
  /** Duration on the drain's clock, in ms. */
  readonly elapsedMs: number;
}

/**
 * Why a drain failed:
 * - `'refused-pods'`: some pods may not be evicted under the options (`refusals` says which and why); nothing was evicted;
 * - `'eviction-failed'`: the API server rejected an eviction with an error that is not retried (500, 403...);
 * - `'timeout'`: the time limit passed (`pods` lists those not yet gone);
 * - `'aborted'`: the caller's signal fired;
 * - `'api'`: the node could not be read, cordoned or listed, or the API failed mid-drain (`cause` has the `KubeApiError`).
 *
 * The node stays cordoned in every case; the caller decides whether to uncordon.
 */
export type DrainErrorReason = 'refused-pods' | 'eviction-failed' | 'timeout' | 'aborted' | 'api';

/** A drain failed; `reason` says how and `pods` which pods (`namespace/name`) were involved. */
export class DrainError extends Error {
  /** Always `'DrainError'`. */
  override readonly name = 'DrainError';
  /** What kind of failure. */
  readonly reason: DrainErrorReason;
  /** The pods concerned: refused, failed, or not gone in time. */
  readonly pods: string[];
  /** With `'refused-pods'`: each refused pod and the rule that refused it. */
  readonly refusals: readonly DrainRefusal[];

  /** Creates the error; `options.cause` keeps the underlying error. */
  constructor(
    reason: DrainErrorReason,
    message: string,
    pods: string[] = [],
    refusals: readonly DrainRefusal[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.reason = reason;
    this.pods = pods;
    this.refusals = refusals;
  }
}

/** True when `error` is a {@link DrainError} (from any copy of this package). */
export function isDrainError(error: unknown): error is DrainError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'DrainError' &&
    typeof (error as { reason?: unknown }).reason === 'string' &&
    Array.isArray((error as { pods?: unknown }).pods)
  );
}

/** kubectl's messages for each refusal, so an operator recognises them. */
const REFUSAL_TEXT: Record<DrainRefusalReason, string> = {
  daemonset: 'cannot delete DaemonSet-managed Pods (use ignoreDaemonSets)',
  'local-storage': 'cannot delete Pods with local storage (use deleteEmptyDirData)',
  unmanaged: 'cannot delete Pods that declare no controller (use force)',
};

/** The verdict of kubectl's pod filters on one pod. */
type Verdict =
  | { readonly kind: 'evict' }
  | { readonly kind: 'skip'; readonly why: 'mirror' | 'daemonset' }
  | { readonly kind: 'refuse'; readonly reason: DrainRefusalReason };

/**
 * kubectl's filters in kubectl's order (daemonSet, mirror, localStorage, unreplicated); the first
 * that does not allow deletion decides. A finished pod (Succeeded/Failed) passes every filter but
 * the mirror one.
 */
function verdictFor(
  pod: KubePod,
  options: Required<Pick<DrainOptions, 'ignoreDaemonSets' | 'deleteEmptyDirData' | 'force'>>,
): Verdict {
  const finished = pod.phase === 'Succeeded' || pod.phase === 'Failed';
  if (pod.controller?.kind === 'DaemonSet' && !finished) {
    return options.ignoreDaemonSets
      ? { kind: 'skip', why: 'daemonset' }
      : { kind: 'refuse', reason: 'daemonset' };
  }
  if (pod.mirror) return { kind: 'skip', why: 'mirror' };
  if (pod.emptyDir && !finished && !options.deleteEmptyDirData)
    return { kind: 'refuse', reason: 'local-storage' };
  if (pod.controller === undefined && !finished && !options.force)
    return { kind: 'refuse', reason: 'unmanaged' };
  return { kind: 'evict' };
}

/** Thrown inside the drain when its own clock passes the deadline. */
class DeadlinePassed extends Error {}

/** Eviction refusals that kubectl retries every 5 s. */
const RETRIED: ReadonlySet<KubeApiErrorReason> = new Set(['disruption-budget', 'too-many-requests']);

/**
 * Drains `nodeName` with kubectl drain's rules:
 * 1. reads the Node and cordons it (one strategic-merge patch, skipped when already cordoned);
 * 2. lists its pods (`fieldSelector=spec.nodeName=<node>`, paged) and sorts them: mirror pods are
 *    skipped silently; DaemonSet pods are left alone with `ignoreDaemonSets` (default) or refused;
 *    pods with `emptyDir` volumes are refused unless `deleteEmptyDirData` (default true); pods
 *    without a controller are refused unless `force`; finished pods are always evictable;
 * 3. with any refusal, rejects with {@link DrainError} `'refused-pods'` before evicting anything;
 * 4. evicts all the others in parallel (policy/v1 Eviction): 429 is retried every
 *    `evictionRetryMs` until the time limit, 404 means already gone, 500 (or any other error
 *    answer) stops the drain with `'eviction-failed'`;
 * 5. polls each evicted pod every `podGonePollMs` until it is gone (404, or a new UID).
 */
export async function drainNode(
  api: KubeApi,
  nodeName: string,
  options: DrainOptions = {},
): Promise<DrainReport> {
  const rules = {
    ignoreDaemonSets: options.ignoreDaemonSets ?? true,
    deleteEmptyDirData: options.deleteEmptyDirData ?? true,
    force: options.force ?? false,
  };
  const timeoutMs = options.timeoutMs ?? 300_000;
  const evictionRetryMs = options.evictionRetryMs ?? 5_000;
  const podGonePollMs = options.podGonePollMs ?? 1_000;
  const sleep = options.sleep ?? realSleep;
  const now = options.now ?? Date.now;
  const emit = (event: DrainEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // A progress listener must not be able to break the drain.
    }
  };

  const startedAt = now();
  const deadline = startedAt + timeoutMs;
  const stop = new AbortController();
  const signal = stop.signal;
  let timedOut = false;
  const onCallerAbort = (): void => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  // Backstop on the real clock, so that a request in flight cannot outlive the limit; with an
  // injected clock the checks below usually fire first.
  const backstop = setTimeout(() => {
    timedOut = true;
    stop.abort(new DeadlinePassed());
  }, timeoutMs);

  const checkDeadline = (): void => {
    if (now() >= deadline) {
      timedOut = true;
      throw new DeadlinePassed();
    }
  };
  /** Sleeps `ms`, but never past the deadline. */
  const pause = async (ms: number): Promise<void> => {
    checkDeadline();
    await sleep(Math.min(ms, Math.max(0, deadline - now())), signal);
    checkDeadline();
  };

  const notGone = new Set<string>();
  /** Turns whatever ended the drain into a {@link DrainError}. */
  const failure = (error: unknown, phase: string): DrainError => {
    if (error instanceof DrainError) return error;
    if (options.signal?.aborted)
      return new DrainError('aborted', `drain ${nodeName}: aborted`, [...notGone], [], { cause: error });
    if (timedOut || error instanceof DeadlinePassed)
      return new DrainError(
        'timeout',
        `drain ${nodeName}: not done within ${timeoutMs} ms; pods not gone: ${[...notGone].join(', ') || 'none'}`,
        [...notGone],
      );
    const message = error instanceof Error ? error.message : String(error);
    return new DrainError('api', `drain ${nodeName}: ${phase}: ${message}`, [...notGone], [], {
      cause: error,
    });
  };

  try {
    if (options.signal?.aborted) throw options.signal.reason;
    let node: Awaited<ReturnType<KubeApi['getNode']>>;
    let pods: KubePod[];
    try {
      checkDeadline();
      node = await api.getNode(nodeName, signal);
      if (node === undefined) throw new DrainError('api', `drain ${nodeName}: no such node`);
      if (!node.unschedulable) await api.setUnschedulable(nodeName, true, signal);
      emit({ type: 'cordoned', node: nodeName, already: node.unschedulable });
      checkDeadline();
      pods = await api.listPods({ nodeName }, signal);
    } catch (error) {
      throw failure(error, 'cordon and list pods');
    }

    const skipped: DrainSkip[] = [];
    const refusals: DrainRefusal[] = [];
    const toEvict: KubePod[] = [];
    for (const pod of pods) {
      const verdict = verdictFor(pod, rules);
      if (verdict.kind === 'evict') toEvict.push(pod);
      else if (verdict.kind === 'skip') skipped.push({ pod: podKey(pod), why: verdict.why });
      else refusals.push({ pod: podKey(pod), reason: verdict.reason });
    }
    if (refusals.length > 0) {
      const byReason = (Object.keys(REFUSAL_TEXT) as DrainRefusalReason[])
        .map((reason) => {
          const named = refusals.filter((r) => r.reason === reason).map((r) => r.pod);
          return named.length === 0 ? '' : `${REFUSAL_TEXT[reason]}: ${named.join(', ')}`;
        })
        .filter((s) => s !== '');
      throw new DrainError(
        'refused-pods',
        `drain ${nodeName}: nothing evicted; ${byReason.join('; ')}`,
        refusals.map((r) => r.pod),
        refusals,
      );
    }
    for (const s of skipped)
      if (s.why === 'daemonset') emit({ type: 'ignored', pod: s.pod, why: 'daemonset' });

    for (const pod of toEvict) notGone.add(podKey(pod));
    const evicted: string[] = [];
    const failures: { pod: string; error: unknown; evicting: boolean }[] = [];

    /** Evicts one pod and waits until it is gone; `state.evicting` tells a failed eviction from a failed wait. */
    const evictOne = async (pod: KubePod, state: { evicting: boolean }): Promise<void> => {
      const key = podKey(pod);
      for (let attempt = 1; ; attempt++) {
        checkDeadline();
        emit({ type: 'evicting', pod: key, attempt });
        let result: 'evicted' | 'gone';
        try {
          result = await api.evictPod(pod.namespace, pod.name, signal);
        } catch (error) {
          if (!isKubeApiError(error)) throw error;
          // An eviction in a terminating namespace is forbidden; kubectl waits for an already
          // terminating pod and retries the others.
          const terminating = error.reason === 'forbidden' && error.causes.includes('NamespaceTerminating');
          if (RETRIED.has(error.reason) || terminating) {
            if (terminating && pod.deleting) break;
            emit({
              type: 'retry',
              pod: key,
              attempt,
              reason: error.reason,
              retryInMs: evictionRetryMs,
              message: error.message,
            });
            await pause(evictionRetryMs);
            continue;
          }
          throw error;
        }
        if (result === 'gone') {
          notGone.delete(key);
          evicted.push(key);
          emit({ type: 'gone', pod: key });
          return;
        }
        break;
      }
      emit({ type: 'evicted', pod: key });
      state.evicting = false;
      for (;;) {
        checkDeadline();
        const current = await api.getPod(pod.namespace, pod.name, signal);
        if (current === undefined || current.uid !== pod.uid) break;
        await pause(podGonePollMs);
      }
      notGone.delete(key);
      evicted.push(key);
      emit({ type: 'gone', pod: key });
    };

    await Promise.all(
      toEvict.map((pod) => {
        const state = { evicting: true };
        return evictOne(pod, state).catch((error: unknown) => {
          // The first real failure stops every other worker; their abort errors are consequences.
          if (!signal.aborted && !(error instanceof DeadlinePassed))
            failures.push({ pod: podKey(pod), error, evicting: state.evicting });
          if (error instanceof DeadlinePassed) timedOut = true;
          if (!signal.aborted) stop.abort(error);
        });
      }),
    );

    if (options.signal?.aborted || timedOut) throw failure(undefined, 'evict');
    const firstFailure = failures[0];
    if (firstFailure !== undefined) {
      const { pod, error, evicting } = firstFailure;
      // An answer to the eviction (500, 403, 400...) fails the eviction; no answer, or refused
      // credentials, is a failure of the API itself.
      if (evicting && isKubeApiError(error) && error.status !== undefined && error.reason !== 'unauthorized')
        throw new DrainError(
          'eviction-failed',
          `drain ${nodeName}: eviction of ${pod} failed: ${error.message}`,
          [pod],
          [],
          {
            cause: error,
          },
        );
      throw failure(error, `${evicting ? 'evict' : 'wait for'} ${pod}`);
    }
    return { node: nodeName, cordoned: !node.unschedulable, evicted, skipped, elapsedMs: now() - startedAt };
  } catch (error) {
    throw failure(error, 'drain');
  } finally {
    clearTimeout(backstop);
    options.signal?.removeEventListener('abort', onCallerAbort);
  }
}
