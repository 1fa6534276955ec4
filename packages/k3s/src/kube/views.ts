/**
 * Node and Pod views: the few fields the adapter decides on, read defensively from whatever
 * client-node deserialized (class instances with `Date` timestamps, or plain JSON). A field of the
 * wrong type reads as absent; only a missing name (or a pod's namespace) rejects the object.
 */
import { KubeApiError } from './errors.js';

/** One condition of a Node (`Ready`, `MemoryPressure`, `EtcdIsVoter`, ...). */
export interface KubeNodeCondition {
  /** Condition type, e.g. `'Ready'`. */
  readonly type: string;
  /** `'True'`, `'False'` or `'Unknown'`, as the API spells them. */
  readonly status: string;
}

/** What the adapter needs to know about a Node. */
export interface KubeNode {
  /** `metadata.name`. */
  readonly name: string;
  /** `metadata.uid` (`''` when the server sent none). */
  readonly uid: string;
  /** The `Ready` condition is `'True'`. */
  readonly ready: boolean;
  /** `spec.unschedulable`: the node is cordoned. */
  readonly unschedulable: boolean;
  /** `metadata.labels` (string values only). */
  readonly labels: Readonly<Record<string, string>>;
  /** `metadata.annotations` (string values only). */
  readonly annotations: Readonly<Record<string, string>>;
  /** `metadata.finalizers`, e.g. `wrangler.cattle.io/managed-etcd-controller` on k3s. */
  readonly finalizers: readonly string[];
  /** `status.conditions`. */
  readonly conditions: readonly KubeNodeCondition[];
  /** `metadata.deletionTimestamp` is set: the Node is Terminating (held by a finalizer). */
  readonly deleting: boolean;
}

/** The phases a Pod reports; anything else reads as `'Unknown'`. */
export type KubePodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** Every {@link KubePodPhase}, in the API's order. */
export const KUBE_POD_PHASES: readonly KubePodPhase[] = [
  'Pending',
  'Running',
  'Succeeded',
  'Failed',
  'Unknown',
];

/** One `metadata.ownerReferences` entry of a Pod. */
export interface KubeOwnerRef {
  /** Owner kind: `'ReplicaSet'`, `'DaemonSet'`, `'StatefulSet'`, `'Job'`, `'Node'` (mirror pods), ... */
  readonly kind: string;
  /** Owner name. */
  readonly name: string;
  /** `controller: true`: this owner manages the pod (what kubectl drain looks at). */
  readonly controller: boolean;
}

/** The annotation the kubelet puts on a static pod's mirror in the API. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/** What the adapter needs to know about a Pod. */
export interface KubePod {
  /** `metadata.namespace`. */
  readonly namespace: string;
  /** `metadata.name`. */
  readonly name: string;
  /** `metadata.uid` (`''` when the server sent none); a new pod with the same name has a new UID. */
  readonly uid: string;
  /** `status.phase`. */
  readonly phase: KubePodPhase;
  /** `spec.nodeName` (`''` while unscheduled). */
  readonly nodeName: string;
  /** Kinds of all owner references, in order. */
  readonly ownerKinds: readonly string[];
  /** All owner references. */
  readonly ownerRefs: readonly KubeOwnerRef[];
  /** The owner reference with `controller: true`, if any. */
  readonly controller: KubeOwnerRef | undefined;
  /** Carries the {@link MIRROR_POD_ANNOTATION}: the API's copy of a static pod, which eviction cannot remove. */
  readonly mirror: boolean;
  /** Has an `emptyDir` volume (local data that eviction destroys). */
  readonly emptyDir: boolean;
  /** `metadata.deletionTimestamp` is set: the pod is terminating. */
  readonly deleting: boolean;
}

/** `value` as an object to read fields from, or an empty one. */
function fields(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** `value` if it is a string, else `fallback`. */
function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

/** The string-valued entries of a label or annotation map. */
function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(fields(value))) if (typeof v === 'string') out[key] = v;
  return out;
}

/** The elements of `value` if it is an array, else none. */
function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A timestamp field is set (client-node gives a `Date`, plain JSON a string). */
function isSet(value: unknown): boolean {
  return value instanceof Date || (typeof value === 'string' && value !== '');
}

/** Decodes a Node; throws {@link KubeApiError} `'bad-response'` when it has no name. */
export function decodeNode(raw: unknown): KubeNode {
  const node = fields(raw);
  const metadata = fields(node.metadata);
  const name = text(metadata.name);
  if (name === '') throw new KubeApiError('bad-response', 'the API server sent a Node without metadata.name');
  const conditions = list(fields(node.status).conditions).map((c) => ({
    type: text(fields(c).type),
    status: text(fields(c).status),
  }));
  return {
    name,
    uid: text(metadata.uid),
    ready: conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    unschedulable: fields(node.spec).unschedulable === true,
    labels: stringMap(metadata.labels),
    annotations: stringMap(metadata.annotations),
    finalizers: list(metadata.finalizers).filter((f): f is string => typeof f === 'string'),
    conditions,
    deleting: isSet(metadata.deletionTimestamp),
  };
}

/** Decodes a Pod; throws {@link KubeApiError} `'bad-response'` when it has no name or namespace. */
export function decodePod(raw: unknown): KubePod {
  const pod = fields(raw);
  const metadata = fields(pod.metadata);
  const name = text(metadata.name);
  const namespace = text(metadata.namespace);
  if (name === '' || namespace === '')
    throw new KubeApiError(
      'bad-response',
      'the API server sent a Pod without metadata.name or metadata.namespace',
    );
  const ownerRefs = list(metadata.ownerReferences).map((o) => {
    const ref = fields(o);
    return { kind: text(ref.kind), name: text(ref.name), controller: ref.controller === true };
  });
  const phase = text(fields(pod.status).phase);
  const spec = fields(pod.spec);
  return {
    namespace,
    name,
    uid: text(metadata.uid),
    phase: (KUBE_POD_PHASES as readonly string[]).includes(phase) ? (phase as KubePodPhase) : 'Unknown',
    nodeName: text(spec.nodeName),
    ownerKinds: ownerRefs.map((o) => o.kind),
    ownerRefs,
    controller: ownerRefs.find((o) => o.controller),
    mirror: Object.hasOwn(stringMap(metadata.annotations), MIRROR_POD_ANNOTATION),
    emptyDir: list(spec.volumes).some((v) => {
      const source = fields(v).emptyDir;
      return typeof source === 'object' && source !== null;
    }),
    deleting: isSet(metadata.deletionTimestamp),
  };
}

/** `namespace/name` of a pod, the way kubectl prints it. */
export function podKey(pod: { readonly namespace: string; readonly name: string }): string {
  return `${pod.namespace}/${pod.name}`;
}
