// KubeApi over @kubernetes/client-node 1.4.0 against the in-process fake kube-apiserver: views,
// paged counts, the exact cordon patch, 404s, error mapping (unreachable, timeout, aborted,
// unauthorized) and loading the kubeconfig file k3s writes.
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeApi } from '../src/kube/api.js';
import { cordonNode, uncordonNode } from '../src/kube/cordon.js';
import { countCluster } from '../src/kube/counts.js';
import { isKubeApiError } from '../src/kube/errors.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { rejection, withFakeKube } from './support/kube-fixtures.js';

const withFake = withFakeKube;

/** The KubeApiError `promise` rejects with (fails the test when it resolves or throws something else). */
const kubeError = (promise: Promise<unknown>) => rejection(promise, isKubeApiError, 'a KubeApiError');

test('counts nodes, ready nodes and pods by phase, paging pods 500 at a time like kubectl', async () => {
  await withFake(async (fake, api) => {
    fake.addNode({ name: 'server-a' });
    fake.addNode({ name: 'server-b' });
    fake.addNode({ name: 'agent-c', role: 'agent', ready: false });
    const phases = ['Running', 'Pending', 'Succeeded', 'Failed', 'Weird'] as const;
    for (let i = 0; i < 1203; i++) {
      fake.addPod({
        name: `p-${String(i).padStart(4, '0')}`,
        namespace: i % 2 === 0 ? 'default' : 'kube-system',
        nodeName: ['server-a', 'server-b', 'agent-c'][i % 3] as string,
        phase: phases[i % 5] as string,
      });
    }
    fake.clearRequests();
    const counts = await countCluster(api);
    assert.equal(counts.nodes, 3);
    assert.equal(counts.readyNodes, 2);
    assert.equal(counts.pods, 1203);
    assert.equal(counts.podsByPhase, {
      Pending: 241,
      Running: 241,
      Succeeded: 241,
      Failed: 240,
      Unknown: 240,
    });
    const podPages = fake.requests.filter((r) => r.path === '/api/v1/pods');
    assert.equal(podPages.length, 3, 'three pages of at most 500');
    assert.ok(podPages.every((r) => r.query.limit === '500'));
    assert.equal(podPages[0]?.query.continue, undefined);
    assert.type(podPages[1]?.query.continue, 'string');
    const nodeLists = fake.requests.filter((r) => r.path === '/api/v1/nodes');
    assert.equal(nodeLists.length, 1);
    assert.equal(nodeLists[0]?.query.limit, '500');
  });
});

test('a small page size pages nodes and a node-selected pod list, and every page is fetched', async () => {
  await withFake(
    async (fake, api) => {
      for (const name of ['n1', 'n2', 'n3', 'n4', 'n5']) fake.addNode({ name, role: 'agent' });
      for (let i = 0; i < 7; i++) fake.addPod({ name: `a-${i}`, nodeName: 'n1' });
      for (let i = 0; i < 4; i++) fake.addPod({ name: `b-${i}`, nodeName: 'n2' });
      fake.clearRequests();
      const nodes = await api.listNodes();
      assert.equal(
        nodes.map((n) => n.name),
        ['n1', 'n2', 'n3', 'n4', 'n5'],
      );
      assert.equal(fake.requests.filter((r) => r.path === '/api/v1/nodes').length, 3);
      fake.clearRequests();
      const pods = await api.listPods({ nodeName: 'n1', pageSize: 3 });
      assert.equal(pods.length, 7);
      assert.ok(pods.every((p) => p.nodeName === 'n1'));
      const pages = fake.requests.filter((r) => r.path === '/api/v1/pods');
      assert.equal(pages.length, 3);
      assert.ok(pages.every((r) => r.query.fieldSelector === 'spec.nodeName=n1' && r.query.limit === '3'));
      assert.match(pages[0]?.url ?? '', 'fieldSelector=spec.nodeName%3Dn1');
    },
    {},
    { pageSize: 2 },
  );
});

test('node and pod views: k3s server labels, etcd annotations, finalizers, owners, mirror, emptyDir, terminating', async () => {
  await withFake(
    async (fake, api) => {
      fake.addNode({ name: 'server-a', memberName: 'server-a-1a2b3c4d', address: '100.64.0.1' });
      fake.addPod({ name: 'web-1', nodeName: 'server-a' });
      fake.addPod({
        name: 'svclb-abc',
        namespace: 'kube-system',
        nodeName: 'server-a',
        owner: { kind: 'DaemonSet', name: 'svclb' },
      });
      fake.addPod({ name: 'static-server-a', namespace: 'kube-system', nodeName: 'server-a', mirror: true });
      fake.addPod({ name: 'cache-1', nodeName: 'server-a', emptyDir: true });
      fake.addPod({ name: 'bare', nodeName: 'server-a', owner: null, phase: 'Pending' });
      const node = await api.getNode('server-a');
      assert.ok(node);
      assert.equal(node.ready, true);
      assert.equal(node.unschedulable, false);
      assert.equal(node.deleting, false);
      assert.equal(node.labels['node-role.kubernetes.io/etcd'], 'true');
      assert.equal(node.labels['node-role.kubernetes.io/control-plane'], 'true');
      assert.equal(node.labels['node-role.kubernetes.io/master'], 'true');
      assert.equal(node.annotations['etcd.k3s.cattle.io/node-name'], 'server-a-1a2b3c4d');
      assert.equal(node.annotations['etcd.k3s.cattle.io/node-address'], '100.64.0.1');
      assert.equal(node.finalizers, [
        'wrangler.cattle.io/managed-etcd-controller',
        'wrangler.cattle.io/node',
      ]);
      assert.equal(node.conditions, [{ type: 'Ready', status: 'True' }]);
      assert.is.not(node.uid, '');

      const pods = new Map(
        (await api.listPods({ nodeName: 'server-a' })).map((p) => [`${p.namespace}/${p.name}`, p]),
      );
      assert.equal(pods.size, 5);
      const web = pods.get('default/web-1');
      assert.equal(web?.ownerKinds, ['ReplicaSet']);
      assert.equal(web?.controller?.kind, 'ReplicaSet');
      assert.equal(web?.phase, 'Running');
      assert.equal(web?.mirror, false);
      assert.equal(pods.get('kube-system/svclb-abc')?.controller, {
        kind: 'DaemonSet',
        name: 'svclb',
        controller: true,
      });
      assert.equal(pods.get('kube-system/static-server-a')?.mirror, true);
      assert.equal(pods.get('kube-system/static-server-a')?.ownerKinds, ['Node']);
      assert.equal(pods.get('default/cache-1')?.emptyDir, true);
      assert.equal(pods.get('default/web-1')?.emptyDir, false);
      assert.equal(pods.get('default/bare')?.controller, undefined);
      assert.equal(pods.get('default/bare')?.phase, 'Pending');

      assert.equal(await api.evictPod('default', 'web-1'), 'evicted');
      const terminating = await api.getPod('default', 'web-1');
      assert.equal(terminating?.deleting, true);
      assert.equal(terminating?.uid, web?.uid);
      fake.setReady('server-a', false);
      assert.equal((await api.getNode('server-a'))?.ready, false);
    },
    { evictionDeleteDelayMs: 5000 },
  );
});

test("cordon and uncordon send kubectl's strategic-merge patch of spec.unschedulable", async () => {
  await withFake(async (fake, api) => {
    fake.addNode({ name: 'server-a' });
    fake.clearRequests();
    await cordonNode(api, 'server-a');
    assert.equal((await api.getNode('server-a'))?.unschedulable, true);
    await uncordonNode(api, 'server-a');
    assert.equal((await api.getNode('server-a'))?.unschedulable, false);
    const patches = fake.requests.filter((r) => r.method === 'PATCH');
    assert.equal(
      patches.map((r) => [r.path, r.contentType, r.body]),
      [
        [
          '/api/v1/nodes/server-a',
          'application/strategic-merge-patch+json',
          '{"spec":{"unschedulable":true}}',
        ],
        [
          '/api/v1/nodes/server-a',
          'application/strategic-merge-patch+json',
          '{"spec":{"unschedulable":false}}',
        ],
      ],
    );
    const missing = await kubeError(cordonNode(api, 'nope'));
    assert.is(missing.reason, 'not-found');
    assert.is(missing.status, 404);
    assert.is(missing.statusReason, 'NotFound');
  });
});

test('annotateNode sets and (with null) deletes annotations through a strategic-merge patch', async () => {
  await withFake(async (fake, api) => {
    fake.addNode({ name: 'server-a', annotations: { 'example.com/a': '1', 'example.com/b': '2' } });
    fake.clearRequests();
    await api.annotateNode('server-a', { 'example.com/a': null, 'example.com/c': '3' });
    const node = await api.getNode('server-a');
    assert.equal(node?.annotations['example.com/a'], undefined);
    assert.equal(node?.annotations['example.com/b'], '2');
    assert.equal(node?.annotations['example.com/c'], '3');
    const patch = fake.requests.find((r) => r.method === 'PATCH');
    assert.is(patch?.contentType, 'application/strategic-merge-patch+json');
    assert.equal(JSON.parse(patch?.body ?? ''), {
      metadata: { annotations: { 'example.com/a': null, 'example.com/c': '3' } },
    });
  });
});

test('getPod / getNode of a missing object resolve undefined; evictPod and deleteNode of one resolve gone', async () => {
  await withFake(async (fake, api) => {
    fake.addNode({ name: 'agent-a', role: 'agent', finalizers: [] });
    assert.is(await api.getPod('default', 'nope'), undefined);
    assert.is(await api.getNode('nope'), undefined);
    assert.is(await api.evictPod('default', 'nope'), 'gone');
    assert.is(await api.deleteNode('nope'), 'gone');
    assert.is(await api.deleteNode('agent-a'), 'deleted');
    assert.is(await api.getNode('agent-a'), undefined);
    const gets = fake.requests.filter((r) => r.path === '/api/v1/namespaces/default/pods/nope');
    assert.equal(
      gets.map((r) => r.status),
      [404],
    );
  });
});

test('eviction refusals map to typed errors: 429 disruption budget, 500 server error', async () => {
  await withFake(async (fake, api) => {
    fake.addNode({ name: 'server-a' });
    fake.addPod({
      name: 'guarded-0',
      nodeName: 'server-a',
      owner: { kind: 'StatefulSet', name: 'guarded' },
      pdbRefusals: 1,
    });
    fake.addPod({ name: 'multi-pdb', nodeName: 'server-a', evictionStatus: 500 });
    const refused = await kubeError(api.evictPod('default', 'guarded-0'));
    assert.is(refused.reason, 'disruption-budget');
    assert.is(refused.status, 429);
    assert.equal(refused.causes, ['DisruptionBudget']);
    assert.match(refused.message, 'disruption budget');
    assert.is(await api.evictPod('default', 'guarded-0'), 'evicted');
    const failed = await kubeError(api.evictPod('default', 'multi-pdb'));
    assert.is(failed.reason, 'server-error');
    assert.is(failed.status, 500);
    const posts = fake.requests.filter((r) => r.method === 'POST');
    assert.equal(JSON.parse(posts[0]?.body ?? ''), {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'guarded-0', namespace: 'default' },
    });
    assert.is(posts[0]?.contentType, 'application/json');
  });
});

test('an unreachable API server fails fast with reason unreachable (reset and refused connections)', async () => {
  await withFake(async (fake, api) => {
    fake.addNode({ name: 'server-a' });
    assert.is((await api.listNodes()).length, 1);
    fake.setUnreachable(true);
    let started = Date.now();
    const reset = await kubeError(api.listNodes());
    assert.is(reset.reason, 'unreachable');
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.match(reset.message, fake.url);
    const readyz = await kubeError(api.readyz());
    assert.is(readyz.reason, 'unreachable');
    fake.setUnreachable(false);
    assert.is(await api.readyz(), true);
    await fake.close();
    started = Date.now();
    const refused = await kubeError(api.getNode('server-a'));
    assert.is(refused.reason, 'unreachable');
    assert.match(refused.message, 'ECONNREFUSED');
    assert.ok(Date.now() - started < 2000);
  });
});

test('a stalled API server times out per call; an aborted signal gives reason aborted', async () => {
  await withFake(
    async (fake, api) => {
      fake.addNode({ name: 'server-a' });
      fake.setStalled(true);
      const started = Date.now();
      const slow = await kubeError(api.listNodes());
      assert.is(slow.reason, 'timeout');
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
      const controller = new AbortController();
      const pending = kubeError(api.getNode('server-a', controller.signal));
      setTimeout(() => controller.abort(), 20);
      assert.is((await pending).reason, 'aborted');
      assert.is((await kubeError(api.getNode('server-a', AbortSignal.abort()))).reason, 'aborted');
      // A caller's AbortSignal.timeout reads as a timeout, not an abort.
      assert.is((await kubeError(api.getNode('server-a', AbortSignal.timeout(50)))).reason, 'timeout');
      fake.setStalled(false);
      assert.is((await api.getNode('server-a'))?.name, 'server-a');
    },
    {},
    { timeoutMs: 300 },
  );
});

test('a refused token maps to unauthorized; a configured token is accepted', async () => {
  const fake = await FakeKubeApi.start({ requireToken: 'right-token' });
  try {
    fake.addNode({ name: 'server-a' });
    const wrong = await KubeApi.fromKubeconfigFile(
      await fake.kubeconfig(undefined, { token: 'wrong-token' }),
    );
    const error = await kubeError(wrong.listNodes());
    assert.is(error.reason, 'unauthorized');
    assert.is(error.status, 401);
    assert.not.match(error.message, 'wrong-token');
    assert.is(await wrong.readyz(), false);
    const right = await KubeApi.fromKubeconfigFile(
      await fake.kubeconfig(undefined, { token: 'right-token' }),
    );
    assert.is((await right.listNodes()).length, 1);
  } finally {
    await fake.close();
  }
});

test('kubeconfig: the file the fake writes like k3s (0600, token) loads; bad files fail naming the path, not the secret', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-api-test-'));
  const fake = await FakeKubeApi.start();
  try {
    fake.addNode({ name: 'server-a' });
    const path = await fake.kubeconfig(join(dir, 'k3s.yaml'), { token: 'K10secret::server:abc' });
    assert.is((await stat(path)).mode & 0o777, 0o600);
    const api = await KubeApi.fromKubeconfigFile(path);
    assert.is(api.server, fake.url);
    assert.is((await api.getNode('server-a'))?.name, 'server-a');

    const missing = await kubeError(KubeApi.fromKubeconfigFile(join(dir, 'absent.yaml')));
    assert.is(missing.reason, 'kubeconfig');
    assert.match(missing.message, join(dir, 'absent.yaml'));

    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'users:\n- name: x\n  user:\n    token: K10secret::leak\n   bad: [unclosed\n', {
      mode: 0o600,
    });
    const invalid = await kubeError(KubeApi.fromKubeconfigFile(broken));
    assert.is(invalid.reason, 'kubeconfig');
    assert.match(invalid.message, broken);
    assert.not.match(invalid.message, 'K10secret');
    assert.not.match(String((invalid as { cause?: unknown }).cause ?? ''), 'K10secret');

    const noContext = join(dir, 'no-context.yaml');
    await writeFile(
      noContext,
      'apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: K10secret::x\n',
      { mode: 0o600 },
    );
    const contextless = await kubeError(KubeApi.fromKubeconfigFile(noContext));
    assert.is(contextless.reason, 'kubeconfig');
    assert.match(contextless.message, 'current-context');

    const plainHttp = join(dir, 'plain-http.yaml');
    const text = (await import('node:fs/promises')).readFile;
    await writeFile(
      plainHttp,
      (await text(path, 'utf8')).replace('    insecure-skip-tls-verify: true\n', ''),
      { mode: 0o600 },
    );
    const refused = await kubeError(KubeApi.fromKubeconfigFile(plainHttp));
    assert.is(refused.reason, 'kubeconfig');
    assert.match(refused.message, 'insecure-skip-tls-verify');

    if (process.getuid?.() !== 0) {
      await chmod(path, 0o000);
      const denied = await kubeError(KubeApi.fromKubeconfigFile(path));
      assert.is(denied.reason, 'kubeconfig');
      assert.match(denied.message, 'permission denied');
    }

    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: fake.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    assert.is((await KubeApi.fromKubeConfig(kc).listNodes()).length, 1);
    const empty = new KubeConfig();
    assert.throws(
      () => KubeApi.fromKubeConfig(empty),
      (e: unknown) => isKubeApiError(e) && e.reason === 'kubeconfig',
    );
  } finally {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the fake registers Nodes by POST (201, then 409 AlreadyExists) and serves them to the client', async () => {
  await withFake(async (fake, api) => {
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'server-x', labels: { 'node-role.kubernetes.io/etcd': 'true' } },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    const post = () =>
      fetch(`${fake.url}/api/v1/nodes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const created = await post();
    assert.is(created.status, 201);
    const again = await post();
    assert.is(again.status, 409);
    const status = (await again.json()) as { kind: string; reason: string; code: number };
    assert.equal([status.kind, status.reason, status.code], ['Status', 'AlreadyExists', 409]);
    const node = await api.getNode('server-x');
    assert.is(node?.ready, true);
    assert.equal(node?.finalizers, ['wrangler.cattle.io/managed-etcd-controller', 'wrangler.cattle.io/node']);
    assert.is(node?.labels['node-role.kubernetes.io/etcd'], 'true');
    // json-patch and merge-patch also apply (what other clients send).
    const jsonPatch = await fetch(`${fake.url}/api/v1/nodes/server-x`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'add', path: '/spec/unschedulable', value: true }]),
    });
    assert.is(jsonPatch.status, 200);
    assert.is((await api.getNode('server-x'))?.unschedulable, true);
    const mergePatch = await fetch(`${fake.url}/api/v1/nodes/server-x`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({
        spec: { unschedulable: null },
        status: { conditions: [{ type: 'Ready', status: 'False' }] },
      }),
    });
    assert.is(mergePatch.status, 200);
    const patched = await api.getNode('server-x');
    assert.equal([patched?.unschedulable, patched?.ready], [false, false]);
  });
});

test('the fake answers like the API server: Status 404s, 415 for an unknown patch type, pod DELETE, DaemonSets, token checks', async () => {
  const fake = await FakeKubeApi.start({ requireToken: true, evictionDeleteDelayMs: 20 });
  try {
    fake.addNode({ name: 'server-a' });
    fake.addPod({ name: 'web-1', nodeName: 'server-a' });
    fake.addPod({
      name: 'svclb-abc',
      namespace: 'kube-system',
      nodeName: 'server-a',
      owner: { kind: 'DaemonSet', name: 'svclb' },
    });
    const auth = { authorization: 'Bearer anything' };
    const call = async (
      method: string,
      path: string,
      headers: Record<string, string> = auth,
      body?: string,
    ) => {
      const response = await fetch(`${fake.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      return { status: response.status, json: JSON.parse(text) as Record<string, unknown> };
    };
    const anonymous = await call('GET', '/api/v1/nodes', {});
    assert.equal(
      [anonymous.status, anonymous.json.kind, anonymous.json.reason],
      [401, 'Status', 'Unauthorized'],
    );
    const missingPod = await call('GET', '/api/v1/namespaces/default/pods/nope');
    assert.equal(missingPod.json, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'pods' },
      code: 404,
    });
    assert.is((await call('GET', '/api/v1/widgets')).status, 404);
    const apply = await call(
      'PATCH',
      '/api/v1/nodes/server-a',
      { ...auth, 'content-type': 'application/apply-patch+yaml' },
      '{}',
    );
    assert.equal([apply.status, apply.json.reason], [415, 'UnsupportedMediaType']);
    const inNamespace = await call('GET', '/api/v1/namespaces/kube-system/pods');
    assert.equal(
      (inNamespace.json.items as { metadata: { name: string } }[]).map((p) => p.metadata.name),
      ['svclb-abc'],
    );
    const ds = await call('GET', '/apis/apps/v1/namespaces/kube-system/daemonsets/svclb');
    assert.equal([ds.status, ds.json.kind], [200, 'DaemonSet']);
    assert.is((await call('GET', '/apis/apps/v1/namespaces/kube-system/daemonsets/other')).status, 404);
    const deleted = await call('DELETE', '/api/v1/namespaces/default/pods/web-1');
    assert.is(deleted.status, 200);
    assert.type((deleted.json.metadata as { deletionTimestamp?: unknown }).deletionTimestamp, 'string');
    const deadline = Date.now() + 2000;
    while (fake.pod('default', 'web-1') !== undefined && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    assert.is(fake.pod('default', 'web-1'), undefined);
    const eviction = fake.requests.filter((r) => r.path.startsWith('/api/v1/namespaces/default/pods/web-1'));
    assert.equal(
      eviction.map((r) => r.method),
      ['DELETE'],
    );
  } finally {
    await fake.close();
  }
});

test.run();
