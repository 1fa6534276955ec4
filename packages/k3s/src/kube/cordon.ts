/** Cordon and uncordon: `spec.unschedulable` on the Node, set the way kubectl does it. */
import type { KubeApi } from './api.js';

/**
 * Marks the Node unschedulable (`kubectl cordon`): one strategic-merge patch
 * `{"spec":{"unschedulable":true}}`. New pods are no longer scheduled there; DaemonSet pods ignore it.
 * Rejects with a `KubeApiError` (`'not-found'` when there is no such Node).
 */
export async function cordonNode(api: KubeApi, name: string, signal?: AbortSignal): Promise<void> {
  await api.setUnschedulable(name, true, signal);
}

/** Makes the Node schedulable again (`kubectl uncordon`): `{"spec":{"unschedulable":false}}`. */
export async function uncordonNode(api: KubeApi, name: string, signal?: AbortSignal): Promise<void> {
  await api.setUnschedulable(name, false, signal);
}
