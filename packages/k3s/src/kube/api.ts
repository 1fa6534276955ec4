/**
 * The Kubernetes API calls the k3s adapter needs, over `@kubernetes/client-node` 1.4.0's
 * `CoreV1Api` (object-parameter style). Every call has a time limit and takes an `AbortSignal`;
 * every failure is a {@link KubeApiError}; objects come back as the small views of `views.ts`.
 */
import {
  type ConfigurationOptions,
  CoreV1Api,
  Health,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  PatchStrategy,
  type RequestContext,
  type ResponseContext,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { isKubeApiError, KubeApiError, toKubeApiError } from './errors.js';
import { kubeConfigProblem, loadKubeConfigFile, serverOf } from './kubeconfig.js';
import { decodeNode, decodePod, type KubeNode, type KubePod } from './views.js';

/** Options of a {@link KubeApi}. */
export interface KubeApiOptions {
  /** Time limit of each request, in ms (default 10000). A paged list applies it per page. */
  readonly timeoutMs?: number;
  /** Items per page of list calls (default 500, kubectl's `--chunk-size`). */
  readonly pageSize?: number;
}

/** Options of {@link KubeApi.listPods}. */
export interface ListPodsOptions {
  /** Only pods bound to this node (`fieldSelector=spec.nodeName=<name>`, as kubectl drain lists them). */
  readonly nodeName?: string;
  /** Items per page for this call; defaults to the API's `pageSize`. */
  readonly pageSize?: number;
}

/** Default time limit of one request. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Default page size of list calls: kubectl's `--chunk-size`. */
const DEFAULT_PAGE_SIZE = 500;
/** A list that needs more pages than this is not a list the server is serving correctly. */
const MAX_PAGES = 10_000;

/** A client-node middleware that puts `signal` on the request (client-node has no per-call signal option). */
function signalMiddleware(signal: AbortSignal): ObservableMiddleware {
  return {
    pre(context: RequestContext): Observable<RequestContext> {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post(context: ResponseContext): Observable<ResponseContext> {
      return new Observable(Promise.resolve(context));
    },
  };
}

/** One page of a list answer, as client-node deserializes it. */
interface ListPage {
  readonly items: readonly unknown[];
  readonly metadata?: { readonly _continue?: string | undefined } | undefined;
}

/**
 * The adapter's view of a Kubernetes API server (k3s's apiserver on 127.0.0.1:6443).
 * Create it with {@link KubeApi.fromKubeconfigFile} (the file k3s writes) or
 * {@link KubeApi.fromKubeConfig}.
 */
export class KubeApi {
  /** The API server URL (from the kubeconfig; never credentials). */
  readonly server: string;
  /** Time limit of each request, in ms. */
  readonly timeoutMs: number;
  /** Items per page of list calls. */
  readonly pageSize: number;
  readonly #core: CoreV1Api;
  readonly #health: Health;

  private constructor(kc: KubeConfig, options: KubeApiOptions) {
    this.server = serverOf(kc);
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs');
    this.pageSize = positive(options.pageSize, DEFAULT_PAGE_SIZE, 'pageSize');
    try {
      this.#core = kc.makeApiClient(CoreV1Api);
    } catch {
      throw new KubeApiError('kubeconfig', 'kubeconfig has no current cluster');
    }
    this.#health = new Health(kc);
  }

  /**
   * Reads the kubeconfig at `path` (k3s writes it with mode 0600, so the caller needs to be its
   * owner) and returns an API for its current context. A missing, unreadable or invalid file
   * rejects with {@link KubeApiError} reason `'kubeconfig'`, naming the path and never the
   * credentials inside.
   */
  static async fromKubeconfigFile(path: string, options: KubeApiOptions = {}): Promise<KubeApi> {
    return new KubeApi(await loadKubeConfigFile(path), options);
  }

  /**
   * An API for `kc`'s current context. Throws {@link KubeApiError} `'kubeconfig'` when that context
   * has no cluster with an http(s) server or no user.
   */
  static fromKubeConfig(kc: KubeConfig, options: KubeApiOptions = {}): KubeApi {
    const problem = kubeConfigProblem(kc);
    if (problem !== undefined) throw new KubeApiError('kubeconfig', `kubeconfig: ${problem}`);
    return new KubeApi(kc, options);
  }

  /** All Nodes (paged). */
  async listNodes(signal?: AbortSignal): Promise<KubeNode[]> {
    const items = await this.#listAll('list nodes', this.pageSize, signal, (limit, cont, options) =>
      this.#core.listNode({ limit, ...(cont === undefined ? {} : { _continue: cont }) }, options),
    );
    return items.map(decodeNode);
  }

  /** The Node called `name`, or `undefined` when there is none. */
  async getNode(name: string, signal?: AbortSignal): Promise<KubeNode | undefined> {
    try {
      return decodeNode(
        await this.#call(`get node ${name}`, signal, (o) => this.#core.readNode({ name }, o)),
      );
    } catch (error) {
      if (isKubeApiError(error) && error.reason === 'not-found') return undefined;
      throw error;
    }
  }

  /** Pods of all namespaces, or of one node; paged with `limit` and `continue` like kubectl. */
  async listPods(options: ListPodsOptions = {}, signal?: AbortSignal): Promise<KubePod[]> {
    const pageSize = positive(options.pageSize, this.pageSize, 'pageSize');
    const fieldSelector = options.nodeName === undefined ? undefined : `spec.nodeName=${options.nodeName}`;
    const what = options.nodeName === undefined ? 'list pods' : `list pods on ${options.nodeName}`;
    const items = await this.#listAll(what, pageSize, signal, (limit, cont, o) =>
      this.#core.listPodForAllNamespaces(
        {
          limit,
          ...(fieldSelector === undefined ? {} : { fieldSelector }),
          ...(cont === undefined ? {} : { _continue: cont }),
        },
        o,
      ),
    );
    return items.map(decodePod);
  }

  /** The pod `namespace/name`, or `undefined` when there is none. */
  async getPod(namespace: string, name: string, signal?: AbortSignal): Promise<KubePod | undefined> {
    try {
      const pod = await this.#call(`get pod ${namespace}/${name}`, signal, (o) =>
        this.#core.readNamespacedPod({ namespace, name }, o),
      );
      return decodePod(pod);
    } catch (error) {
      if (isKubeApiError(error) && error.reason === 'not-found') return undefined;
      throw error;
    }
  }

  /**
   * Sets `spec.unschedulable` (cordon / uncordon) with the strategic-merge patch kubectl sends:
   * `Content-Type: application/strategic-merge-patch+json`, body `{"spec":{"unschedulable":<value>}}`.
   */
  async setUnschedulable(name: string, value: boolean, signal?: AbortSignal): Promise<void> {
    await this.#patchNode(
      `${value ? 'cordon' : 'uncordon'} node ${name}`,
      name,
      { spec: { unschedulable: value } },
      signal,
    );
  }

  /**
   * Asks for the eviction of a pod (`POST .../pods/<name>/eviction`, a `policy/v1` Eviction), which
   * honours PodDisruptionBudgets. Resolves `'evicted'` when accepted and `'gone'` when the pod does
   * not exist; a refusal rejects with {@link KubeApiError} `'disruption-budget'` (429, retry later),
   * `'too-many-requests'` or `'server-error'` (500: e.g. several budgets select the pod).
   */
  async evictPod(namespace: string, name: string, signal?: AbortSignal): Promise<'evicted' | 'gone'> {
    try {
      await this.#call(`evict pod ${namespace}/${name}`, signal, (o) =>
        this.#core.createNamespacedPodEviction(
          {
            namespace,
            name,
            body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
          },
          o,
        ),
      );
      return 'evicted';
    } catch (error) {
      if (isKubeApiError(error) && error.reason === 'not-found') return 'gone';
      throw error;
    }
  }

  /** Sets annotations on a Node (strategic-merge patch); a `null` value deletes that annotation. */
  async annotateNode(
    name: string,
    annotations: Readonly<Record<string, string | null>>,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.#patchNode(
      `annotate node ${name}`,
      name,
      { metadata: { annotations: { ...annotations } } },
      signal,
    );
  }

  /**
   * Deletes a Node. `'deleted'` means the API server accepted the delete: on k3s a server's Node then
   * stays Terminating until its finalizers (the etcd member removal) are done. `'gone'`: there was none.
   */
  async deleteNode(name: string, signal?: AbortSignal): Promise<'deleted' | 'gone'> {
    try {
      await this.#call(`delete node ${name}`, signal, (o) => this.#core.deleteNode({ name }, o));
      return 'deleted';
    } catch (error) {
      if (isKubeApiError(error) && error.reason === 'not-found') return 'gone';
      throw error;
    }
  }

  /**
   * `GET /readyz`: true when the API server answers 200. Resolves false when it answers anything
   * else (not ready, 401...); rejects with {@link KubeApiError} when it cannot be reached
   * (`'unreachable'`), does not answer in time (`'timeout'`) or the caller aborts (`'aborted'`).
   */
  async readyz(signal?: AbortSignal): Promise<boolean> {
    return this.#call('readyz', signal, async (_options, combined) => {
      try {
        return await this.#health.readyz({ signal: combined });
      } catch (error) {
        if ((error as { name?: unknown }).name === 'AbortError') throw error;
        // client-node's Health replaces network errors with a generic one: the cause is lost.
        throw new KubeApiError('unreachable', `readyz: cannot reach ${this.server}`, {}, { cause: error });
      }
    });
  }

  /** A strategic-merge patch of a Node (client-node's default patch type is json-patch: set it explicitly). */
  async #patchNode(what: string, name: string, body: object, signal: AbortSignal | undefined): Promise<void> {
    await this.#call(what, signal, (o) =>
      this.#core.patchNode(
        { name, body },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, o),
      ),
    );
  }

  /** Fetches every page of a list, following `continue` tokens; each page is one bounded call. */
  async #listAll(
    what: string,
    pageSize: number,
    signal: AbortSignal | undefined,
    page: (limit: number, cont: string | undefined, options: ConfigurationOptions) => Promise<ListPage>,
  ): Promise<unknown[]> {
    const items: unknown[] = [];
    const seen = new Set<string>();
    let cont: string | undefined;
    for (let pages = 0; pages < MAX_PAGES; pages++) {
      const answer = await this.#call(what, signal, (o) => page(pageSize, cont, o));
      if (!Array.isArray(answer?.items))
        throw new KubeApiError('bad-response', `${what}: the answer has no items`);
      items.push(...answer.items);
      const next = answer.metadata?._continue;
      if (typeof next !== 'string' || next === '') return items;
      if (seen.has(next))
        throw new KubeApiError('bad-response', `${what}: the server repeated a continue token`);
      seen.add(next);
      cont = next;
    }
    throw new KubeApiError('bad-response', `${what}: more than ${MAX_PAGES} pages`);
  }

  /**
   * Runs one client-node call with the caller's signal and this API's time limit, mapping whatever
   * it throws to a {@link KubeApiError}.
   */
  async #call<T>(
    what: string,
    signal: AbortSignal | undefined,
    run: (options: ConfigurationOptions, combined: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const context = { what, server: this.server, timeoutMs: this.timeoutMs };
    if (signal?.aborted)
      throw toKubeApiError(signal.reason, {
        ...context,
        callerAborted: true,
        callerReason: signal.reason,
        timedOut: false,
      });
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.timeoutMs);
    const combined = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal]);
    try {
      return await run(
        { middleware: [signalMiddleware(combined)], middlewareMergeStrategy: 'append' },
        combined,
      );
    } catch (error) {
      throw toKubeApiError(error, {
        ...context,
        callerAborted: signal?.aborted === true,
        callerReason: signal?.reason,
        timedOut: timeout.signal.aborted,
      });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** `value` when it is a positive finite number, `fallback` when undefined; throws otherwise. */
function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}
