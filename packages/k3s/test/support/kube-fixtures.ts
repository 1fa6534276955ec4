// Shared fixtures of the Kubernetes tests: a fake API with a KubeApi on its kubeconfig, and the
// node and pods of K3S-NOTES §5.2 (one pod of each kind kubectl drain treats differently).
import { KubeApi } from '../../src/kube/api.js';
import { FakeKubeApi, type FakeKubeApiOptions } from './fake-kube-api.js';

/** Runs `body` with a fresh fake and a KubeApi on its kubeconfig; always closes the fake. */
export async function withFakeKube(
  body: (fake: FakeKubeApi, api: KubeApi) => Promise<void>,
  options: FakeKubeApiOptions = {},
  apiOptions: { timeoutMs?: number; pageSize?: number } = {},
): Promise<void> {
  const fake = await FakeKubeApi.start(options);
  try {
    await body(fake, await KubeApi.fromKubeconfigFile(await fake.kubeconfig(), apiOptions));
  } finally {
    await fake.close();
  }
}

/**
 * K3S-NOTES §5.2's two server nodes and the pods on server-a: one of each kind kubectl drain
 * treats differently; the PDB-guarded pod is refused `guardedRefusals` times.
 */
export function addNotesCluster(fake: FakeKubeApi, guardedRefusals: number): void {
  fake.addNode({ name: 'server-a', memberName: 'server-a-1a2b3c4d', address: '100.64.0.1' });
  fake.addNode({ name: 'server-b', memberName: 'server-b-5e6f7a8b', address: '100.64.0.2' });
  fake.addPod({
    name: 'web-7d9f-abcde',
    nodeName: 'server-a',
    owner: { kind: 'ReplicaSet', name: 'web-7d9f' },
  });
  fake.addPod({
    name: 'guarded-0',
    nodeName: 'server-a',
    owner: { kind: 'StatefulSet', name: 'guarded' },
    pdbRefusals: guardedRefusals,
  });
  fake.addPod({
    name: 'svclb-abc',
    namespace: 'kube-system',
    nodeName: 'server-a',
    owner: { kind: 'DaemonSet', name: 'svclb' },
  });
  fake.addPod({ name: 'static-server-a', namespace: 'kube-system', nodeName: 'server-a', mirror: true });
  fake.addPod({
    name: 'cache-1',
    nodeName: 'server-a',
    owner: { kind: 'ReplicaSet', name: 'cache' },
    emptyDir: true,
  });
  fake.addPod({ name: 'other-1', nodeName: 'server-b' });
}

/**
 * The error `promise` rejects with, checked by `guard`: it fails the test (throws) when the
 * promise resolves or rejects with anything else. `what` names the expected error.
 */
export async function rejection<E>(
  promise: Promise<unknown>,
  guard: (error: unknown) => error is E,
  what: string,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    if (guard(error)) return error;
    throw error;
  }
  throw new Error(`expected ${what}, the call succeeded`);
}
