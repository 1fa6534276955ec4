/**
 * The Kubernetes API the k3s adapter needs, over `@kubernetes/client-node` 1.4.0: node and pod
 * views, cluster counts, cordon, a kubectl-compatible drain, and k3s's etcd member removal through
 * Node annotations or Node deletion.
 */
export { KubeApi, type KubeApiOptions, type ListPodsOptions } from './api.js';
export { cordonNode, uncordonNode } from './cordon.js';
export { type ClusterCounts, countCluster } from './counts.js';
export {
  type DrainCordonedEvent,
  DrainError,
  type DrainErrorReason,
  type DrainEvent,
  type DrainEvictedEvent,
  type DrainEvictingEvent,
  type DrainGoneEvent,
  type DrainIgnoredEvent,
  type DrainOptions,
  type DrainRefusal,
  type DrainRefusalReason,
  type DrainReport,
  type DrainRetryEvent,
  type DrainSkip,
  drainNode,
  isDrainError,
} from './drain.js';
export { isKubeApiError, KubeApiError, type KubeApiErrorReason } from './errors.js';
export {
  deleteNodeAndWait,
  EtcdRemovalError,
  type EtcdRemovalErrorReason,
  type EtcdRemovalOptions,
  type EtcdRemovalResult,
  isEtcdRemovalError,
  K3S_ETCD_ANNOTATIONS,
  K3S_ETCD_FINALIZER,
  K3S_ETCD_ROLE_LABEL,
  requestEtcdRemoval,
} from './etcd-removal.js';
export { realSleep, type Sleep } from './sleep.js';
export {
  KUBE_POD_PHASES,
  type KubeNode,
  type KubeNodeCondition,
  type KubeOwnerRef,
  type KubePod,
  type KubePodPhase,
  MIRROR_POD_ANNOTATION,
} from './views.js';
