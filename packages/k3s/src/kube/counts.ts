/** Node and pod counts for the adapter's status: one node list and one (paged) pod list. */
import type { KubeApi } from './api.js';
import { KUBE_POD_PHASES, type KubePodPhase } from './views.js';

/** What {@link countCluster} reports. */
export interface ClusterCounts {
  /** Nodes registered in the API (including Terminating ones). */
  readonly nodes: number;
  /** Nodes whose `Ready` condition is `'True'`. */
  readonly readyNodes: number;
  /** Pods of all namespaces by `status.phase`. */
  readonly podsByPhase: Readonly<Record<KubePodPhase, number>>;
  /** Pods of all namespaces. */
  readonly pods: number;
}

/** Counts nodes, ready nodes and pods by phase. Rejects with a `KubeApiError` like the calls it makes. */
export async function countCluster(api: KubeApi, signal?: AbortSignal): Promise<ClusterCounts> {
  const [nodes, pods] = await Promise.all([api.listNodes(signal), api.listPods({}, signal)]);
  const podsByPhase = Object.fromEntries(KUBE_POD_PHASES.map((phase) => [phase, 0])) as Record<
    KubePodPhase,
    number
  >;
  for (const pod of pods) podsByPhase[pod.phase] += 1;
  return {
    nodes: nodes.length,
    readyNodes: nodes.filter((node) => node.ready).length,
    podsByPhase,
    pods: pods.length,
  };
}
