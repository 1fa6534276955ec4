/**
 * An in-process fake kube-apiserver (node:http on 127.0.0.1, port 0) faithful to what kubectl
 * v1.32 and @kubernetes/client-node 1.4.0 send (recorded in K3S-NOTES §5.2/§5.3), with a k3s-like
 * etcd member controller (K3S-NOTES §3).
 *
 * ```ts
 * const api = await FakeKubeApi.start({ removeEtcdMember: async ({ memberName, nodeAddress }) => {...} });
 * api.addNode({ name: 'server-a' });                       // a k3s server Node (labels, annotations, finalizers, Ready)
 * api.addPod({ name: 'web-1', nodeName: 'server-a' });     // a ReplicaSet pod
 * const kubeconfig = await api.kubeconfig();               // a 0600 kubeconfig file pointing at api.url
 * ... api.requests, api.node('server-a'), api.pods() ...
 * await api.close();
 * ```
 *
 * State API: `addNode`, `addPod`, `setReady`, `removePod`, `refuseEvictions` / `failEvictions`
 * (or `pdbRefusals` / `evictionStatus` in `addPod`), `node`, `nodes`, `pod`, `pods`, `requests`
 * (method, url, path, query, contentType, body, accept, status, at) and `clearRequests`,
 * `etcdRemovals` (every hook call and its outcome), `setUnreachable` (connections reset),
 * `setStalled` (requests never answered), `evictionDeleteDelayMs` (settable), `close`.
 * A Node POSTed by a client (how a fake k3s process registers) gets k3s's two wrangler finalizers
 * (unless `k3sFinalizersOnCreate: false`) and goes through the same controller. Server-side `Table`s are served for Nodes and Pods when asked
 * (`kubectl get`).
 *
 * Served: discovery (`/version`, `/api`, `/apis`, `/api/v1`, `/apis/policy/v1`, `/apis/apps/v1`),
 * `/readyz` `/livez` `/healthz`; nodes list (limit/continue) / get / create (POST, 409
 * AlreadyExists) / patch (strategic-merge, merge, json-patch) / delete (finalizers keep it
 * Terminating); pods list (all namespaces or one; `fieldSelector=spec.nodeName=`; limit/continue) /
 * get / delete; `POST .../pods/<name>/eviction` (PDB refusals → 429, injected failures, else 201 and
 * the pod is removed after `evictionDeleteDelayMs`); `GET /apis/apps/v1/namespaces/<ns>/daemonsets/<name>`
 * for DaemonSets that own a pod. Errors are `Status` documents shaped like the real ones.
 *
 * The k3s-like controller: deleting a Node that carries `wrangler.cattle.io/managed-etcd-controller`
 * and the etcd role label leaves it Terminating and calls `removeEtcdMember({ memberName,
 * nodeAddress, nodeName })` (from its `etcd.k3s.cattle.io/node-name` / `node-address`
 * annotations); on success the finalizers go and so does the Node, on failure it stays Terminating
 * and the hook is retried every `controllerRetryMs` until `close()`. The annotation
 * `etcd.k3s.cattle.io/remove=true` calls the same hook, then sets
 * `etcd.k3s.cattle.io/removed-node-name` and drops the two annotations, keeping the Node.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A JSON object as the fake stores Kubernetes objects. */
export type Json = Record<string, unknown>;

/** What the controller passes to the `removeEtcdMember` hook. */
export interface RemoveEtcdMemberRequest {
  /** Value of `etcd.k3s.cattle.io/node-name` (the member name, `<node>-<8 hex>`). */
  readonly memberName: string;
  /** Value of `etcd.k3s.cattle.io/node-address` (the member's peer host). */
  readonly nodeAddress: string;
  /** The Node's name. */
  readonly nodeName: string;
}

/** Options of {@link FakeKubeApi.start}. */
export interface FakeKubeApiOptions {
  /** The k3s controller's member removal; rejecting keeps the Node Terminating (retried). Default: succeeds at once. */
  readonly removeEtcdMember?: (request: RemoveEtcdMemberRequest) => Promise<void>;
  /** Require `Authorization: Bearer <token>`: `true` accepts any token, a string only that one. Default: no auth. */
  readonly requireToken?: boolean | string;
  /** Delay between an accepted eviction (or pod DELETE) and the pod's disappearance, in ms (default 300). */
  readonly evictionDeleteDelayMs?: number;
  /** Retry interval of a failed `removeEtcdMember`, in ms (default 200). */
  readonly controllerRetryMs?: number;
  /**
   * Give Nodes created by POST k3s's two wrangler finalizers when they lack them, as k3s's
   * controllers do right after a node registers (default true).
   */
  readonly k3sFinalizersOnCreate?: boolean;
  /** `gitVersion` served on `/version` (default `v1.31.0+k3s1`; kubectl's dispatcher picks its binary from it). */
  readonly gitVersion?: string;
}

/** How {@link FakeKubeApi.addNode} builds a Node. */
export interface FakeNodeSpec {
  /** Node name. */
  readonly name: string;
  /** `'server'` (default): k3s server labels and etcd annotations; `'agent'`: neither. Both get k3s's finalizers. */
  readonly role?: 'server' | 'agent';
  /** etcd member name (default `<name>-<8 hex derived from the name>`). */
  readonly memberName?: string;
  /** Node IP, also the etcd node-address annotation (default `100.64.0.<n>`). */
  readonly address?: string;
  /** `Ready` condition (default true). */
  readonly ready?: boolean;
  /** `spec.unschedulable` (default false). */
  readonly unschedulable?: boolean;
  /** Extra labels (override the defaults). */
  readonly labels?: Record<string, string>;
  /** Extra annotations (override the defaults). */
  readonly annotations?: Record<string, string>;
  /** Finalizers (default k3s's two wrangler finalizers). */
  readonly finalizers?: readonly string[];
}

/** How {@link FakeKubeApi.addPod} builds a Pod. */
export interface FakePodSpec {
  /** Pod name. */
  readonly name: string;
  /** Namespace (default `'default'`). */
  readonly namespace?: string;
  /** `spec.nodeName`. */
  readonly nodeName: string;
  /** Controller owner (default a ReplicaSet named after the pod); `null`: an unmanaged pod. Ignored for mirror pods. */
  readonly owner?: { readonly kind: string; readonly name: string } | null;
  /** Has an `emptyDir` volume. */
  readonly emptyDir?: boolean;
  /** A static pod's mirror: owner Node + annotation `kubernetes.io/config.mirror`. */
  readonly mirror?: boolean;
  /** `status.phase` (default `'Running'`). */
  readonly phase?: string;
  /** Evictions refused with 429 (a PodDisruptionBudget) before one is allowed. */
  readonly pdbRefusals?: number;
  /** Every eviction of this pod fails with this status (e.g. 500: several PDBs select it). */
  readonly evictionStatus?: number;
  /** Labels. */
  readonly labels?: Record<string, string>;
}

/** One request the fake received (bodies as text; the log keeps everything until {@link FakeKubeApi.clearRequests}). */
export interface FakeRequest {
  /** HTTP method. */
  readonly method: string;
  /** Path and query as sent, e.g. `/api/v1/pods?fieldSelector=spec.nodeName%3Da&limit=500`. */
  readonly url: string;
  /** The path without the query. */
  readonly path: string;
  /** Query parameters (decoded). */
  readonly query: Readonly<Record<string, string>>;
  /** `Content-Type` header, if any. */
  readonly contentType: string | undefined;
  /** Request body text (`''` when none). */
  readonly body: string;
  /** `User-Agent` header, if any. */
  readonly userAgent: string | undefined;
  /** `Accept` header, if any (kubectl get asks for server-side `Table`s). */
  readonly accept: string | undefined;
  /** The response status (0 while unanswered or when the connection was dropped). */
  status: number;
  /** ms since the fake started. */
  readonly at: number;
}

/** A call of the `removeEtcdMember` hook and how it ended. */
export interface FakeEtcdRemoval extends RemoveEtcdMemberRequest {
  /** Why it was called: Node deletion (finalizer) or the remove annotation. */
  readonly trigger: 'delete' | 'annotation';
  /** Resolved (true) or rejected (false); undefined while running. */
  ok: boolean | undefined;
}

const MANAGED_ETCD_FINALIZER = 'wrangler.cattle.io/managed-etcd-controller';
const NODE_FINALIZER = 'wrangler.cattle.io/node';
const ETCD_LABEL = 'node-role.kubernetes.io/etcd';
const ANN_NODE_NAME = 'etcd.k3s.cattle.io/node-name';
const ANN_NODE_ADDRESS = 'etcd.k3s.cattle.io/node-address';
const ANN_REMOVE = 'etcd.k3s.cattle.io/remove';
const ANN_REMOVED = 'etcd.k3s.cattle.io/removed-node-name';
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

/** RFC 3339 with seconds, as the API server writes timestamps. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `value` as a JSON object, or undefined. */
function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** The `metadata` object of a stored object (always present). */
function meta(object: Json): Json {
  let metadata = asObject(object.metadata);
  if (metadata === undefined) {
    metadata = {};
    object.metadata = metadata;
  }
  return metadata;
}

/** A string map field of `metadata` (labels, annotations), created when missing. */
function metaMap(object: Json, field: 'labels' | 'annotations'): Record<string, string> {
  const metadata = meta(object);
  let map = asObject(metadata[field]);
  if (map === undefined) {
    map = {};
    metadata[field] = map;
  }
  return map as Record<string, string>;
}

/** `metadata.finalizers` as a string list. */
function finalizersOf(object: Json): string[] {
  const list = meta(object).finalizers;
  return Array.isArray(list) ? list.filter((f): f is string => typeof f === 'string') : [];
}

/** A Kubernetes `Status` failure document. */
function statusDoc(code: number, reason: string, message: string, details?: Json): Json {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  };
}

/** An error answer inside the request handler. */
class HttpFailure extends Error {
  constructor(
    readonly code: number,
    readonly doc: Json,
  ) {
    super(String(doc.message));
  }
}

/** 404 NotFound for a named object, as the API server words it. */
function notFound(kind: string, name: string): HttpFailure {
  return new HttpFailure(404, statusDoc(404, 'NotFound', `${kind} "${name}" not found`, { name, kind }));
}

/** 400 BadRequest. */
function badRequest(message: string): HttpFailure {
  return new HttpFailure(400, statusDoc(400, 'BadRequest', message));
}

/** 422 Invalid (what the API server answers for a patch that does not apply). */
function invalid(message: string): HttpFailure {
  return new HttpFailure(422, statusDoc(422, 'Invalid', message));
}

/** Strategic-merge list fields merged by a key instead of replaced (the ones Nodes and Pods use). */
const MERGE_KEYS: Record<string, string> = {
  'status.conditions': 'type',
  'status.addresses': 'type',
  'spec.taints': 'key',
  'metadata.ownerReferences': 'uid',
};
/** Strategic-merge primitive lists merged as sets. */
const SET_LISTS = new Set(['metadata.finalizers']);

/**
 * Applies a JSON merge patch (RFC 7386), or with `strategic` the strategic-merge rules for the
 * fields above (`$patch: delete` in keyed lists, `$deleteFromPrimitiveList/<field>`; other `$`
 * directives are ignored).
 */
function mergePatch(target: unknown, patch: unknown, strategic: boolean, path = ''): unknown {
  const patchObject = asObject(patch);
  if (patchObject === undefined) return structuredClone(patch);
  const result: Json = { ...(asObject(target) ?? {}) };
  for (const [key, value] of Object.entries(patchObject)) {
    const field = path === '' ? key : `${path}.${key}`;
    if (strategic && key.startsWith('$deleteFromPrimitiveList/')) {
      const listName = key.slice('$deleteFromPrimitiveList/'.length);
      const current = result[listName];
      if (Array.isArray(current) && Array.isArray(value))
        result[listName] = current.filter((item) => !value.includes(item));
      continue;
    }
    if (strategic && key.startsWith('$')) continue;
    if (value === null) {
      delete result[key];
      continue;
    }
    const mergeKey = MERGE_KEYS[field];
    if (strategic && Array.isArray(value) && mergeKey !== undefined) {
      const current = Array.isArray(result[key]) ? [...(result[key] as unknown[])] : [];
      for (const item of value) {
        const itemObject = asObject(item);
        const id = itemObject?.[mergeKey];
        const at = current.findIndex((c) => asObject(c)?.[mergeKey] === id);
        if (itemObject?.$patch === 'delete') {
          if (at >= 0) current.splice(at, 1);
        } else if (at >= 0) current[at] = mergePatch(current[at], item, strategic, field);
        else current.push(mergePatch({}, item, strategic, field));
      }
      result[key] = current;
      continue;
    }
    if (strategic && Array.isArray(value) && SET_LISTS.has(field)) {
      const current = Array.isArray(result[key]) ? (result[key] as unknown[]) : [];
      result[key] = [...current, ...value.filter((v) => !current.includes(v))];
      continue;
    }
    result[key] = mergePatch(result[key], value, strategic, field);
  }
  return result;
}

/** Splits an RFC 6901 JSON pointer. */
function pointer(path: unknown): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/')))
    throw invalid(`invalid JSON pointer ${String(path)}`);
  return path === ''
    ? []
    : path
        .slice(1)
        .split('/')
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Applies an RFC 6902 JSON patch (add, remove, replace, test, copy, move) to a copy of `doc`. */
function jsonPatch(doc: Json, ops: unknown[]): Json {
  const root: Json = structuredClone(doc);
  const parentOf = (parts: string[]): { parent: Json | unknown[]; key: string } => {
    let node: unknown = root;
    for (const part of parts.slice(0, -1)) {
      const next: unknown = Array.isArray(node) ? node[Number(part)] : asObject(node)?.[part];
      if (typeof next !== 'object' || next === null)
        throw invalid(`doc is missing path: /${parts.join('/')}`);
      node = next;
    }
    const key = parts.at(-1);
    if (key === undefined || typeof node !== 'object' || node === null)
      throw invalid('cannot patch the document root');
    return { parent: node as Json | unknown[], key };
  };
  const get = (parts: string[]): unknown => {
    const { parent, key } = parentOf(parts);
    const value = Array.isArray(parent) ? parent[Number(key)] : parent[key];
    if (value === undefined) throw invalid(`doc is missing key: /${parts.join('/')}`);
    return value;
  };
  const remove = (parts: string[]): void => {
    get(parts);
    const { parent, key } = parentOf(parts);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  };
  const add = (parts: string[], value: unknown): void => {
    const { parent, key } = parentOf(parts);
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > parent.length)
        throw invalid(`bad array index ${key}`);
      parent.splice(index, 0, structuredClone(value));
    } else parent[key] = structuredClone(value);
  };
  for (const raw of ops) {
    const op = asObject(raw);
    if (op === undefined) throw badRequest('json patch: an operation is not an object');
    const parts = pointer(op.path);
    switch (op.op) {
      case 'add':
        add(parts, op.value);
        break;
      case 'remove':
        remove(parts);
        break;
      case 'replace':
        remove(parts);
        add(parts, op.value);
        break;
      case 'test':
        if (JSON.stringify(get(parts)) !== JSON.stringify(op.value))
          throw invalid(`testing value /${parts.join('/')} failed`);
        break;
      case 'copy':
        add(parts, get(pointer(op.from)));
        break;
      case 'move': {
        const from = pointer(op.from);
        const value = get(from);
        remove(from);
        add(parts, value);
        break;
      }
      default:
        throw badRequest(`json patch: unsupported operation ${String(op.op)}`);
    }
  }
  return root;
}

/** A continue token: the sort key after which the next page starts. */
function encodeContinue(key: string): string {
  return Buffer.from(JSON.stringify({ after: key })).toString('base64url');
}

/** Reads a continue token; a bad one is a 400 like the real server's. */
function decodeContinue(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string') return parsed.after;
  } catch {
    // fall through
  }
  throw badRequest('continue key is not valid: illegal base64 data');
}

/** Parses `fieldSelector` into `[field, value]` equality terms (`=`, `==`; `!=` is refused). */
function fieldTerms(selector: string | undefined): [string, string][] {
  if (selector === undefined || selector === '') return [];
  return selector.split(',').map((term) => {
    const match = /^([\w.]+)(==|=)(.*)$/.exec(term);
    if (match === null) throw badRequest(`invalid field selector: ${term}`);
    const [, field, , value] = match as unknown as [string, string, string, string];
    return [field, value];
  });
}

/** The value of a pod field a field selector may name. */
function podField(pod: Json, field: string): string {
  switch (field) {
    case 'spec.nodeName':
      return String(asObject(pod.spec)?.nodeName ?? '');
    case 'metadata.name':
      return String(meta(pod).name ?? '');
    case 'metadata.namespace':
      return String(meta(pod).namespace ?? '');
    case 'status.phase':
      return String(asObject(pod.status)?.phase ?? '');
    default:
      throw badRequest(
        `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"`,
      );
  }
}

/** Discovery documents (what kubectl reads before it acts). */
const API_V1_RESOURCES = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    {
      name: 'nodes',
      singularName: 'node',
      namespaced: false,
      kind: 'Node',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['no'],
    },
    {
      name: 'nodes/status',
      singularName: '',
      namespaced: false,
      kind: 'Node',
      verbs: ['get', 'patch', 'update'],
    },
    {
      name: 'pods',
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['po'],
      categories: ['all'],
    },
    {
      name: 'pods/eviction',
      singularName: '',
      namespaced: true,
      group: 'policy',
      version: 'v1',
      kind: 'Eviction',
      verbs: ['create'],
    },
    {
      name: 'pods/status',
      singularName: '',
      namespaced: true,
      kind: 'Pod',
      verbs: ['get', 'patch', 'update'],
    },
  ],
};
const API_GROUPS = {
  kind: 'APIGroupList',
  apiVersion: 'v1',
  groups: [
    {
      name: 'apps',
      versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
    },
    {
      name: 'policy',
      versions: [{ groupVersion: 'policy/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'policy/v1', version: 'v1' },
    },
  ],
};
const POLICY_V1_RESOURCES = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'policy/v1',
  resources: [
    {
      name: 'poddisruptionbudgets',
      singularName: 'poddisruptionbudget',
      namespaced: true,
      kind: 'PodDisruptionBudget',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['pdb'],
    },
    {
      name: 'poddisruptionbudgets/status',
      singularName: '',
      namespaced: true,
      kind: 'PodDisruptionBudget',
      verbs: ['get', 'patch', 'update'],
    },
  ],
};
const APPS_V1_RESOURCES = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: 'apps/v1',
  resources: [
    {
      name: 'daemonsets',
      singularName: 'daemonset',
      namespaced: true,
      kind: 'DaemonSet',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['ds'],
      categories: ['all'],
    },
  ],
};

/** Age as kubectl prints it (`45s`, `3m`, `5h`, `2d`). */
function age(object: Json): string {
  const created = Date.parse(String(meta(object).creationTimestamp ?? ''));
  const seconds = Number.isNaN(created) ? 0 : Math.max(0, Math.floor((Date.now() - created) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** The columns the API server prints for Nodes and Pods, and one row's cells. */
const TABLE_COLUMNS: Record<'Node' | 'Pod', { columns: string[]; cells: (object: Json) => unknown[] }> = {
  Node: {
    columns: ['Name', 'Status', 'Roles', 'Age', 'Version'],
    cells: (node) => {
      const ready = (asObject(node.status)?.conditions as Json[] | undefined)?.find(
        (c) => c.type === 'Ready',
      );
      const status = [ready?.status === 'True' ? 'Ready' : ready === undefined ? 'Unknown' : 'NotReady'];
      if (asObject(node.spec)?.unschedulable === true) status.push('SchedulingDisabled');
      const roles = Object.keys(metaMap(node, 'labels'))
        .filter((l) => l.startsWith('node-role.kubernetes.io/'))
        .map((l) => l.slice('node-role.kubernetes.io/'.length))
        .sort();
      const version = asObject(asObject(node.status)?.nodeInfo)?.kubeletVersion ?? '';
      return [meta(node).name, status.join(','), roles.join(',') || '<none>', age(node), version];
    },
  },
  Pod: {
    columns: ['Name', 'Ready', 'Status', 'Restarts', 'Age'],
    cells: (pod) => {
      const containers = Array.isArray(asObject(pod.spec)?.containers)
        ? (asObject(pod.spec)?.containers as unknown[])
        : [];
      const phase = String(asObject(pod.status)?.phase ?? 'Unknown');
      const status = meta(pod).deletionTimestamp === undefined ? phase : 'Terminating';
      const ready = phase === 'Running' ? containers.length : 0;
      return [meta(pod).name, `${ready}/${containers.length}`, status, 0, age(pod)];
    },
  },
};

/**
 * The server-side `Table` kubectl get asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`),
 * with each row's object as PartialObjectMetadata; other clients get `answer` unchanged.
 */
function asTable(entry: FakeRequest, answer: Json): Json {
  if (!/as=Table/.test(entry.accept ?? '')) return answer;
  const items = Array.isArray(answer.items) ? (answer.items as Json[]) : [answer];
  const kind = answer.kind === 'PodList' || answer.kind === 'Pod' ? 'Pod' : 'Node';
  const table = TABLE_COLUMNS[kind];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { ...(asObject(answer.kind?.toString().endsWith('List') ? answer.metadata : undefined) ?? {}) },
    columnDefinitions: table.columns.map((name, i) => ({
      name,
      type: name === 'Restarts' ? 'integer' : 'string',
      format: i === 0 ? 'name' : '',
      description: name,
      priority: 0,
    })),
    rows: items.map((item) => ({
      cells: table.cells(item),
      object: {
        kind: 'PartialObjectMetadata',
        apiVersion: 'meta.k8s.io/v1',
        metadata: structuredClone(meta(item)),
      },
    })),
  };
}

/** Per-pod eviction behaviour. */
interface EvictionRule {
  refusals: number;
  status: number | undefined;
}

/** The fake API server. Create it with {@link FakeKubeApi.start}. */
export class FakeKubeApi {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: FakeRequest[] = [];
  /** Every call of the `removeEtcdMember` hook, in order. */
  readonly etcdRemovals: FakeEtcdRemoval[] = [];
  /** Delay between an accepted eviction and the pod's disappearance, in ms (may be changed at any time). */
  evictionDeleteDelayMs: number;

  readonly #server: Server;
  readonly #options: FakeKubeApiOptions;
  readonly #startedAt = Date.now();
  readonly #nodes = new Map<string, Json>();
  readonly #pods = new Map<string, Json>();
  readonly #evictions = new Map<string, EvictionRule>();
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #stalled = new Set<ServerResponse>();
  readonly #busy = new Set<string>();
  readonly #retrying = new Set<string>();
  readonly #tempDirs: string[] = [];
  #resourceVersion = 1000;
  #unreachable = false;
  #stall = false;
  #closed = false;

  private constructor(server: Server, options: FakeKubeApiOptions) {
    this.#server = server;
    this.#options = options;
    this.evictionDeleteDelayMs = options.evictionDeleteDelayMs ?? 300;
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  /** Starts a fake on 127.0.0.1 with a free port. */
  static async start(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const api = new FakeKubeApi(server, options);
    server.on('connection', (socket: Socket) => {
      if (api.#unreachable) {
        socket.destroy();
        return;
      }
      api.#sockets.add(socket);
      socket.once('close', () => api.#sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      api.#receive(req, res);
    });
    return api;
  }

  /**
   * Writes a kubeconfig (mode 0600) like the one k3s writes, pointing at this fake (plain http, so
   * `insecure-skip-tls-verify: true`), with a bearer token. Default path: a new temp dir removed by
   * {@link close}. Returns the path.
   */
  async kubeconfig(path?: string, options: { token?: string } = {}): Promise<string> {
    let file = path;
    if (file === undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'fake-kube-'));
      this.#tempDirs.push(dir);
      file = join(dir, 'k3s.yaml');
    }
    const token = options.token ?? 'fake-admin-token';
    const yaml = [
      'apiVersion: v1',
      'clusters:',
      '- cluster:',
      '    insecure-skip-tls-verify: true',
      `    server: ${this.url}`,
      '  name: default',
      'contexts:',
      '- context:',
      '    cluster: default',
      '    user: default',
      '  name: default',
      'current-context: default',
      'kind: Config',
      'preferences: {}',
      'users:',
      '- name: default',
      '  user:',
      `    token: ${token}`,
      '',
    ].join('\n');
    await writeFile(file, yaml, { mode: 0o600 });
    return file;
  }

  /** Adds a Node (see {@link FakeNodeSpec} for the k3s shape) and returns a copy of it. */
  addNode(spec: FakeNodeSpec): Json {
    if (this.#nodes.has(spec.name)) throw new Error(`fake: node ${spec.name} exists`);
    const server = (spec.role ?? 'server') === 'server';
    const address = spec.address ?? `100.64.0.${this.#nodes.size + 1}`;
    const memberName =
      spec.memberName ?? `${spec.name}-${createHash('sha256').update(spec.name).digest('hex').slice(0, 8)}`;
    const labels: Record<string, string> = {
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': spec.name,
      'kubernetes.io/os': 'linux',
      'node.kubernetes.io/instance-type': 'k3s',
      ...(server
        ? {
            'node-role.kubernetes.io/control-plane': 'true',
            'node-role.kubernetes.io/etcd': 'true',
            'node-role.kubernetes.io/master': 'true',
          }
        : {}),
      ...spec.labels,
    };
    const annotations: Record<string, string> = {
      'k3s.io/internal-ip': address,
      'node.alpha.kubernetes.io/ttl': '0',
      ...(server ? { [ANN_NODE_NAME]: memberName, [ANN_NODE_ADDRESS]: address } : {}),
      ...spec.annotations,
    };
    const node: Json = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: spec.name,
        labels,
        annotations,
        finalizers: [...(spec.finalizers ?? [MANAGED_ETCD_FINALIZER, NODE_FINALIZER])],
      },
      spec: {
        podCIDR: '10.42.0.0/24',
        podCIDRs: ['10.42.0.0/24'],
        providerID: `k3s://${spec.name}`,
        ...(spec.unschedulable ? { unschedulable: true } : {}),
      },
      status: {
        addresses: [
          { type: 'InternalIP', address },
          { type: 'Hostname', address: spec.name },
        ],
        conditions: [this.#readyCondition(spec.ready ?? true)],
        nodeInfo: {
          kubeletVersion: this.#gitVersion(),
          containerRuntimeVersion: 'containerd://1.7.20-k3s1',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      },
    };
    this.#stamp(node);
    this.#nodes.set(spec.name, node);
    this.#reconcile(spec.name);
    return structuredClone(node);
  }

  /** Adds a Pod (see {@link FakePodSpec}) and returns a copy of it. */
  addPod(spec: FakePodSpec): Json {
    const namespace = spec.namespace ?? 'default';
    const key = `${namespace}/${spec.name}`;
    if (this.#pods.has(key)) throw new Error(`fake: pod ${key} exists`);
    const owner = spec.mirror
      ? { kind: 'Node', name: spec.nodeName, apiVersion: 'v1' }
      : spec.owner === null
        ? undefined
        : {
            kind: spec.owner?.kind ?? 'ReplicaSet',
            name: spec.owner?.name ?? `${spec.name}-rs`,
            apiVersion: (spec.owner?.kind ?? 'ReplicaSet') === 'Job' ? 'batch/v1' : 'apps/v1',
          };
    const pod: Json = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: spec.name,
        namespace,
        labels: { ...spec.labels },
        annotations: spec.mirror
          ? {
              [MIRROR_ANNOTATION]: createHash('sha256').update(key).digest('hex').slice(0, 32),
              'kubernetes.io/config.source': 'file',
            }
          : {},
        ...(owner === undefined
          ? {}
          : {
              ownerReferences: [{ ...owner, uid: randomUUID(), controller: true, blockOwnerDeletion: true }],
            }),
      },
      spec: {
        nodeName: spec.nodeName,
        containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9' }],
        ...(spec.emptyDir ? { volumes: [{ name: 'cache', emptyDir: {} }] } : {}),
        terminationGracePeriodSeconds: 30,
      },
      status: { phase: spec.phase ?? 'Running' },
    };
    this.#stamp(pod);
    this.#pods.set(key, pod);
    if (spec.pdbRefusals !== undefined || spec.evictionStatus !== undefined)
      this.#evictions.set(key, { refusals: spec.pdbRefusals ?? 0, status: spec.evictionStatus });
    return structuredClone(pod);
  }

  /** Makes the next `times` evictions of a pod fail with 429 (a PodDisruptionBudget refusal). */
  refuseEvictions(namespace: string, name: string, times: number): void {
    const rule = this.#evictions.get(`${namespace}/${name}`) ?? { refusals: 0, status: undefined };
    rule.refusals = times;
    this.#evictions.set(`${namespace}/${name}`, rule);
  }

  /** Makes every eviction of a pod fail with `status` (e.g. 500); `undefined` clears it. */
  failEvictions(namespace: string, name: string, status: number | undefined): void {
    const rule = this.#evictions.get(`${namespace}/${name}`) ?? { refusals: 0, status: undefined };
    rule.status = status;
    this.#evictions.set(`${namespace}/${name}`, rule);
  }

  /** Sets a Node's `Ready` condition. */
  setReady(name: string, ready: boolean): void {
    const node = this.#nodes.get(name);
    if (node === undefined) throw new Error(`fake: no node ${name}`);
    const status = asObject(node.status) ?? {};
    const conditions = Array.isArray(status.conditions) ? (status.conditions as unknown[]) : [];
    status.conditions = [
      ...conditions.filter((c) => asObject(c)?.type !== 'Ready'),
      this.#readyCondition(ready),
    ];
    node.status = status;
    this.#bump(node);
  }

  /** Removes a pod at once (as if its kubelet had finished it). */
  removePod(namespace: string, name: string): void {
    this.#pods.delete(`${namespace}/${name}`);
  }

  /** A copy of the Node, or undefined. */
  node(name: string): Json | undefined {
    const node = this.#nodes.get(name);
    return node === undefined ? undefined : structuredClone(node);
  }

  /** Copies of all Nodes, by name. */
  nodes(): Json[] {
    return [...this.#nodes.keys()].sort().map((name) => structuredClone(this.#nodes.get(name) as Json));
  }

  /** A copy of the pod, or undefined. */
  pod(namespace: string, name: string): Json | undefined {
    const pod = this.#pods.get(`${namespace}/${name}`);
    return pod === undefined ? undefined : structuredClone(pod);
  }

  /** Copies of all pods (optionally of one node), by namespace/name. */
  pods(nodeName?: string): Json[] {
    return [...this.#pods.keys()]
      .sort()
      .map((key) => this.#pods.get(key) as Json)
      .filter((pod) => nodeName === undefined || asObject(pod.spec)?.nodeName === nodeName)
      .map((pod) => structuredClone(pod));
  }

  /** Forgets the request log. */
  clearRequests(): void {
    this.requests.length = 0;
  }

  /**
   * `true`: every open connection is destroyed and new ones are reset on accept (clients see
   * ECONNRESET, like an API server that went away). `false` serves again.
   */
  setUnreachable(unreachable = true): void {
    this.#unreachable = unreachable;
    if (unreachable) for (const socket of this.#sockets) socket.destroy();
  }

  /** `true`: requests are accepted but never answered (clients time out). `false` answers new ones again. */
  setStalled(stalled = true): void {
    this.#stall = stalled;
  }

  /** Stops the server, the controller's retries and pending pod removals; removes temp kubeconfigs. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const res of this.#stalled) res.destroy();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const dir of this.#tempDirs) await rm(dir, { recursive: true, force: true });
  }

  // ---- internals ------------------------------------------------------------------------------

  #gitVersion(): string {
    return this.#options.gitVersion ?? 'v1.31.0+k3s1';
  }

  #readyCondition(ready: boolean): Json {
    const now = timestamp();
    return {
      type: 'Ready',
      status: ready ? 'True' : 'False',
      reason: ready ? 'KubeletReady' : 'KubeletNotReady',
      message: ready ? 'kubelet is posting ready status' : 'container runtime network not ready',
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    };
  }

  /** Sets uid, creationTimestamp and a fresh resourceVersion on a new object. */
  #stamp(object: Json): void {
    const metadata = meta(object);
    metadata.uid = randomUUID();
    metadata.creationTimestamp = timestamp();
    delete metadata.deletionTimestamp;
    this.#bump(object);
  }

  #bump(object: Json): void {
    this.#resourceVersion += 1;
    meta(object).resourceVersion = String(this.#resourceVersion);
  }

  #later(ms: number, run: () => void): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) run();
    }, ms);
    this.#timers.add(timer);
  }

  #receive(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const entry: FakeRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
        userAgent: req.headers['user-agent'],
        accept: req.headers.accept,
        status: 0,
        at: Date.now() - this.#startedAt,
      };
      this.requests.push(entry);
      if (this.#unreachable) {
        res.destroy();
        return;
      }
      if (this.#stall) {
        this.#stalled.add(res);
        res.once('close', () => this.#stalled.delete(res));
        return;
      }
      let code: number;
      let body: Json | string;
      try {
        [code, body] = this.#handle(entry, req.headers.authorization);
      } catch (error) {
        if (error instanceof HttpFailure) [code, body] = [error.code, error.doc];
        else {
          const message = error instanceof Error ? error.message : String(error);
          [code, body] = [500, statusDoc(500, 'InternalError', `Internal error occurred: ${message}`)];
        }
      }
      entry.status = code;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(code, {
        'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-cache, private',
      });
      res.end(text);
    });
  }

  /** Routes one request; returns [status, body]. Throws {@link HttpFailure} for error answers. */
  #handle(entry: FakeRequest, authorization: string | undefined): [number, Json | string] {
    const required = this.#options.requireToken;
    if (required !== undefined && required !== false) {
      const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
      if (token === undefined || (typeof required === 'string' && token !== required))
        throw new HttpFailure(401, statusDoc(401, 'Unauthorized', 'Unauthorized'));
    }
    const { method, path } = entry;
    const parts = path.split('/').filter((p) => p !== '');
    const route = `${method} ${path}`;

    if (method === 'GET') {
      switch (path) {
        case '/version':
          return [200, this.#version()];
        case '/api':
          return [
            200,
            {
              kind: 'APIVersions',
              versions: ['v1'],
              serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }],
            },
          ];
        case '/apis':
          return [200, API_GROUPS];
        case '/api/v1':
          return [200, API_V1_RESOURCES];
        case '/apis/policy/v1':
          return [200, POLICY_V1_RESOURCES];
        case '/apis/apps/v1':
          return [200, APPS_V1_RESOURCES];
        case '/readyz':
        case '/livez':
        case '/healthz':
          return [200, 'ok'];
      }
    }

    // /api/v1/nodes[/name[/status]]
    if (parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'nodes') {
      const name = parts[3];
      if (name === undefined) {
        if (method === 'GET')
          return [
            200,
            asTable(
              entry,
              this.#list('NodeList', [...this.#nodes.values()], (n) => String(meta(n).name), entry.query, []),
            ),
          ];
        if (method === 'POST') return this.#createNode(entry);
      } else if (parts.length === 4 || (parts.length === 5 && parts[4] === 'status')) {
        if (method === 'GET') return [200, asTable(entry, structuredClone(this.#getNode(name)))];
        if (method === 'PATCH') return [200, this.#patchNode(name, entry)];
        if (method === 'DELETE' && parts.length === 4) return this.#deleteNode(name);
      }
      return this.#methodNotAllowed(route);
    }

    // /api/v1/pods  and  /api/v1/namespaces/{ns}/pods[/name[/eviction]]
    if (parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'pods' && parts.length === 3) {
      if (method === 'GET') return [200, asTable(entry, this.#listPods(undefined, entry.query))];
      return this.#methodNotAllowed(route);
    }
    if (parts[0] === 'api' && parts[1] === 'v1' && parts[2] === 'namespaces' && parts[4] === 'pods') {
      const namespace = parts[3] as string;
      const name = parts[5];
      if (name === undefined) {
        if (method === 'GET') return [200, asTable(entry, this.#listPods(namespace, entry.query))];
        return this.#methodNotAllowed(route);
      }
      if (parts.length === 6) {
        if (method === 'GET') return [200, asTable(entry, structuredClone(this.#getPod(namespace, name)))];
        if (method === 'DELETE') return [200, this.#deletePod(namespace, name)];
        return this.#methodNotAllowed(route);
      }
      if (parts.length === 7 && parts[6] === 'eviction') {
        if (method === 'POST') return this.#evict(namespace, name, entry);
        return this.#methodNotAllowed(route);
      }
    }

    // /apis/apps/v1/namespaces/{ns}/daemonsets/{name}
    if (
      parts[0] === 'apis' &&
      parts[1] === 'apps' &&
      parts[2] === 'v1' &&
      parts[3] === 'namespaces' &&
      parts[5] === 'daemonsets' &&
      parts.length === 7 &&
      method === 'GET'
    ) {
      return [200, this.#daemonSet(parts[4] as string, parts[6] as string)];
    }

    throw new HttpFailure(
      404,
      statusDoc(404, 'NotFound', 'the server could not find the requested resource', {
        causes: [{ reason: 'UnexpectedServerResponse', message: '404 page not found' }],
      }),
    );
  }

  #methodNotAllowed(route: string): never {
    throw new HttpFailure(
      405,
      statusDoc(
        405,
        'MethodNotAllowed',
        `the server does not allow this method on the requested resource (${route})`,
      ),
    );
  }

  #version(): Json {
    const gitVersion = this.#gitVersion();
    const match = /^v(\d+)\.(\d+)/.exec(gitVersion);
    return {
      major: match?.[1] ?? '1',
      minor: match?.[2] ?? '31',
      gitVersion,
      gitCommit: '0000000000000000000000000000000000000000',
      gitTreeState: 'clean',
      buildDate: '2024-08-01T00:00:00Z',
      goVersion: 'go1.22.5',
      compiler: 'gc',
      platform: 'linux/amd64',
    };
  }

  /** A list answer with limit/continue paging over `items` sorted by `keyOf`. */
  #list(
    kind: string,
    items: Json[],
    keyOf: (item: Json) => string,
    query: Readonly<Record<string, string>>,
    terms: [string, string][],
  ): Json {
    const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    const after =
      query.continue === undefined || query.continue === '' ? undefined : decodeContinue(query.continue);
    const remaining = after === undefined ? sorted : sorted.filter((item) => keyOf(item) > after);
    const limit = query.limit === undefined ? 0 : Number.parseInt(query.limit, 10);
    const page = limit > 0 ? remaining.slice(0, limit) : remaining;
    const more = limit > 0 && remaining.length > page.length;
    const last = page.at(-1);
    return {
      kind,
      apiVersion: 'v1',
      metadata: {
        resourceVersion: String(this.#resourceVersion),
        ...(more && last !== undefined ? { continue: encodeContinue(keyOf(last)) } : {}),
        // The real server leaves remainingItemCount out when a selector filtered the list.
        ...(more && terms.length === 0 ? { remainingItemCount: remaining.length - page.length } : {}),
      },
      items: page.map((item) => structuredClone(item)),
    };
  }

  #listPods(namespace: string | undefined, query: Readonly<Record<string, string>>): Json {
    const terms = fieldTerms(query.fieldSelector);
    const pods = [...this.#pods.values()].filter(
      (pod) =>
        (namespace === undefined || meta(pod).namespace === namespace) &&
        terms.every(([field, value]) => podField(pod, field) === value),
    );
    return this.#list(
      'PodList',
      pods,
      (p) => `${String(meta(p).namespace)}/${String(meta(p).name)}`,
      query,
      terms,
    );
  }

  #getNode(name: string): Json {
    const node = this.#nodes.get(name);
    if (node === undefined) throw notFound('nodes', name);
    return node;
  }

  #getPod(namespace: string, name: string): Json {
    const pod = this.#pods.get(`${namespace}/${name}`);
    if (pod === undefined) throw notFound('pods', name);
    return pod;
  }

  /** Parses a JSON request body; a bad one is a 400. */
  #json(entry: FakeRequest): unknown {
    try {
      return JSON.parse(entry.body);
    } catch {
      throw badRequest(
        `the body of the request was in an unknown format - accepted media types include: application/json`,
      );
    }
  }

  /** POST /api/v1/nodes: how a (fake) k3s process registers its Node. */
  #createNode(entry: FakeRequest): [number, Json] {
    const node = asObject(this.#json(entry));
    if (node === undefined || (node.kind !== undefined && node.kind !== 'Node'))
      throw badRequest('the body is not a Node');
    const name = asObject(node.metadata)?.name;
    if (typeof name !== 'string' || name === '')
      throw invalid('Node "" is invalid: metadata.name: Required value: name or generateName is required');
    if (this.#nodes.has(name))
      throw new HttpFailure(
        409,
        statusDoc(409, 'AlreadyExists', `nodes "${name}" already exists`, { name, kind: 'nodes' }),
      );
    // The real server always serializes the spec and status structs, even when empty.
    const stored: Json = { spec: {}, status: {}, ...structuredClone(node), apiVersion: 'v1', kind: 'Node' };
    this.#stamp(stored);
    if (this.#options.k3sFinalizersOnCreate ?? true) {
      const finalizers = finalizersOf(stored);
      for (const f of [MANAGED_ETCD_FINALIZER, NODE_FINALIZER])
        if (!finalizers.includes(f)) finalizers.push(f);
      meta(stored).finalizers = finalizers;
    }
    this.#nodes.set(name, stored);
    this.#reconcile(name);
    return [201, structuredClone(stored)];
  }

  #patchNode(name: string, entry: FakeRequest): Json {
    const node = this.#getNode(name);
    const type = (entry.contentType ?? '').split(';')[0]?.trim();
    let patched: Json;
    if (type === 'application/strategic-merge-patch+json' || type === 'application/merge-patch+json') {
      const patch = asObject(this.#json(entry));
      if (patch === undefined) throw badRequest('a merge patch must be a JSON object');
      patched = mergePatch(node, patch, type === 'application/strategic-merge-patch+json') as Json;
    } else if (type === 'application/json-patch+json') {
      const ops = this.#json(entry);
      if (!Array.isArray(ops)) throw badRequest('a json patch must be a JSON array of operations');
      patched = jsonPatch(node, ops);
    } else {
      throw new HttpFailure(
        415,
        statusDoc(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
        ),
      );
    }
    // What a patch cannot change.
    const before = meta(node);
    const after = meta(patched);
    for (const field of ['name', 'uid', 'creationTimestamp', 'deletionTimestamp'] as const) {
      if (before[field] === undefined) delete after[field];
      else after[field] = before[field];
    }
    patched.apiVersion = 'v1';
    patched.kind = 'Node';
    this.#bump(patched);
    this.#nodes.set(name, patched);
    this.#reconcile(name);
    return structuredClone(this.#nodes.get(name) ?? patched);
  }

  #deleteNode(name: string): [number, Json] {
    const node = this.#getNode(name);
    const uid = meta(node).uid;
    if (finalizersOf(node).length === 0) {
      this.#nodes.delete(name);
      return [
        200,
        {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, kind: 'nodes', uid },
        },
      ];
    }
    if (meta(node).deletionTimestamp === undefined) {
      meta(node).deletionTimestamp = timestamp();
      meta(node).deletionGracePeriodSeconds = 0;
      this.#bump(node);
    }
    const answer = structuredClone(node);
    this.#reconcile(name);
    return [200, answer];
  }

  /** Marks a pod terminating and removes it after the eviction delay (graceful deletion). */
  #terminate(key: string, pod: Json): void {
    if (meta(pod).deletionTimestamp !== undefined) return;
    meta(pod).deletionTimestamp = timestamp();
    meta(pod).deletionGracePeriodSeconds = 30;
    this.#bump(pod);
    const uid = meta(pod).uid;
    this.#later(this.evictionDeleteDelayMs, () => {
      const current = this.#pods.get(key);
      if (current !== undefined && meta(current).uid === uid) this.#pods.delete(key);
    });
  }

  #deletePod(namespace: string, name: string): Json {
    const pod = this.#getPod(namespace, name);
    this.#terminate(`${namespace}/${name}`, pod);
    return structuredClone(pod);
  }

  #evict(namespace: string, name: string, entry: FakeRequest): [number, Json] {
    const body = asObject(this.#json(entry));
    const apiVersion = body?.apiVersion;
    if (
      body === undefined ||
      body.kind !== 'Eviction' ||
      (apiVersion !== 'policy/v1' && apiVersion !== 'policy/v1beta1')
    )
      throw badRequest('the body is not a policy/v1 Eviction');
    const bodyName = asObject(body.metadata)?.name;
    if (bodyName !== undefined && bodyName !== name)
      throw badRequest('name in URL does not match name in Eviction object');
    const key = `${namespace}/${name}`;
    const pod = this.#getPod(namespace, name);
    const rule = this.#evictions.get(key);
    if (rule?.status !== undefined) {
      const message =
        rule.status === 500
          ? 'Internal error occurred: This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.'
          : `eviction failed with status ${rule.status}`;
      throw new HttpFailure(
        rule.status,
        statusDoc(rule.status, rule.status === 500 ? 'InternalError' : 'BadRequest', message, {
          causes: [{ message }],
        }),
      );
    }
    if (rule !== undefined && rule.refusals > 0 && meta(pod).deletionTimestamp === undefined) {
      rule.refusals -= 1;
      throw new HttpFailure(
        429,
        statusDoc(
          429,
          'TooManyRequests',
          "Cannot evict pod as it would violate the pod's disruption budget.",
          {
            causes: [
              {
                reason: 'DisruptionBudget',
                message: `The disruption budget ${name}-pdb needs 1 healthy pods and has 1 currently`,
              },
            ],
          },
        ),
      );
    }
    this.#terminate(key, pod);
    return [201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }];
  }

  /** A DaemonSet exists when some pod names it as its controller. */
  #daemonSet(namespace: string, name: string): Json {
    const owned = [...this.#pods.values()].some(
      (pod) =>
        meta(pod).namespace === namespace &&
        Array.isArray(meta(pod).ownerReferences) &&
        (meta(pod).ownerReferences as Json[]).some((o) => o.kind === 'DaemonSet' && o.name === name),
    );
    if (!owned)
      throw new HttpFailure(
        404,
        statusDoc(404, 'NotFound', `daemonsets.apps "${name}" not found`, {
          name,
          group: 'apps',
          kind: 'daemonsets',
        }),
      );
    return {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: {
        name,
        namespace,
        uid: createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 32),
        resourceVersion: String(this.#resourceVersion),
      },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9' }] },
        },
      },
      status: { currentNumberScheduled: 1, desiredNumberScheduled: 1, numberMisscheduled: 0, numberReady: 1 },
    };
  }

  // ---- the k3s-like controller ------------------------------------------------------------------

  /** Reacts to a Node change like k3s's member controller (OnRemove via the finalizer, OnChange via the annotation). */
  #reconcile(name: string): void {
    const node = this.#nodes.get(name);
    if (node === undefined || this.#closed) return;
    const metadata = meta(node);
    const finalizers = finalizersOf(node);
    if (metadata.deletionTimestamp !== undefined) {
      // The wrangler node handler lets go at once; the managed-etcd handler only after the member is gone.
      if (finalizers.includes(NODE_FINALIZER)) {
        metadata.finalizers = finalizers.filter((f) => f !== NODE_FINALIZER);
        this.#bump(node);
      }
      if (finalizersOf(node).length === 0) {
        this.#nodes.delete(name);
        return;
      }
      if (!finalizersOf(node).includes(MANAGED_ETCD_FINALIZER)) return;
      // k3s's onRemove skips a Node whose member the remove annotation already took out
      // (removed-node-name set and not empty): the deletion goes through at once.
      const removed = metaMap(node, 'annotations')[ANN_REMOVED];
      if (metaMap(node, 'labels')[ETCD_LABEL] !== 'true' || (removed !== undefined && removed !== '')) {
        this.#dropFinalizer(name, MANAGED_ETCD_FINALIZER);
        return;
      }
      this.#removeMember(name, 'delete');
      return;
    }
    const annotations = metaMap(node, 'annotations');
    if (
      metaMap(node, 'labels')[ETCD_LABEL] !== undefined &&
      annotations[ANN_REMOVE]?.toLowerCase() === 'true' &&
      annotations[ANN_NODE_NAME] !== undefined &&
      annotations[ANN_REMOVED] !== annotations[ANN_NODE_NAME]
    )
      this.#removeMember(name, 'annotation');
  }

  #dropFinalizer(name: string, finalizer: string): void {
    const node = this.#nodes.get(name);
    if (node === undefined) return;
    meta(node).finalizers = finalizersOf(node).filter((f) => f !== finalizer);
    this.#bump(node);
    if (meta(node).deletionTimestamp !== undefined && finalizersOf(node).length === 0)
      this.#nodes.delete(name);
  }

  /** Reconciles Node `name` again after `controllerRetryMs` (one pending retry per Node). */
  #retry(name: string): void {
    if (this.#retrying.has(name)) return;
    this.#retrying.add(name);
    this.#later(this.#options.controllerRetryMs ?? 200, () => {
      this.#retrying.delete(name);
      this.#reconcile(name);
    });
  }

  /** Calls the hook for Node `name` (one call at a time per Node); retries a failure while still wanted. */
  #removeMember(name: string, trigger: 'delete' | 'annotation'): void {
    if (this.#busy.has(name)) return;
    const node = this.#nodes.get(name);
    if (node === undefined) return;
    const annotations = metaMap(node, 'annotations');
    const memberName = annotations[ANN_NODE_NAME];
    const nodeAddress = annotations[ANN_NODE_ADDRESS];
    if (memberName === undefined || nodeAddress === undefined) {
      // k3s errors ("node name annotation ... not found") and retries; the Node stays as it is.
      this.#retry(name);
      return;
    }
    const uid = meta(node).uid;
    const call: FakeEtcdRemoval = { memberName, nodeAddress, nodeName: name, trigger, ok: undefined };
    this.etcdRemovals.push(call);
    this.#busy.add(name);
    const hook = this.#options.removeEtcdMember ?? (async () => {});
    Promise.resolve()
      .then(() => hook({ memberName, nodeAddress, nodeName: name }))
      .then(
        () => {
          call.ok = true;
          this.#busy.delete(name);
          const current = this.#nodes.get(name);
          if (this.#closed || current === undefined || meta(current).uid !== uid) return;
          if (trigger === 'delete') {
            this.#dropFinalizer(name, MANAGED_ETCD_FINALIZER);
            return;
          }
          const currentAnnotations = metaMap(current, 'annotations');
          currentAnnotations[ANN_REMOVED] = memberName;
          delete currentAnnotations[ANN_NODE_NAME];
          delete currentAnnotations[ANN_NODE_ADDRESS];
          this.#bump(current);
          this.#reconcile(name);
        },
        () => {
          call.ok = false;
          this.#busy.delete(name);
          this.#retry(name);
        },
      );
  }
}
