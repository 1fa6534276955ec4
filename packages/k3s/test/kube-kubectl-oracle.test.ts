// Oracle: the real kubectl (≥ 1.22, for policy/v1 eviction) against the fake kube-apiserver. If
// kubectl drains the fake the way it drains a real cluster, and our drainNode sends the same
// requests, the fake is faithful where the drain tests rely on it. Also: `kubectl delete node`
// triggers the fake's k3s-like controller, and kubectl reads what it leaves (Terminating, the
// removal annotations). Runs only when kubectl is on PATH; otherwise says why in one line.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KubeApi } from '../src/kube/api.js';
import { drainNode } from '../src/kube/drain.js';
import {
  FakeKubeApi,
  type FakeKubeApiOptions,
  type FakeRequest,
  type RemoveEtcdMemberRequest,
} from './support/fake-kube-api.js';
import { addNotesCluster } from './support/kube-fixtures.js';

/** Whether a usable kubectl is on PATH, and why not. */
function probeKubectl(): { ok: true; version: string } | { ok: false; why: string } {
  const probe = spawnSync('kubectl', ['version', '--client', '-o', 'json'], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (probe.error !== undefined) {
    const code = (probe.error as { code?: unknown }).code;
    return {
      ok: false,
      why:
        code === 'ENOENT'
          ? 'kubectl is not on PATH'
          : `kubectl did not run (${String(code ?? probe.error.message)})`,
    };
  }
  if (probe.status !== 0) return { ok: false, why: `kubectl version --client exited ${probe.status}` };
  try {
    const parsed = JSON.parse(probe.stdout) as {
      clientVersion?: { major?: string; minor?: string; gitVersion?: string };
    };
    const major = Number.parseInt(parsed.clientVersion?.major ?? '', 10);
    const minor = Number.parseInt(parsed.clientVersion?.minor ?? '', 10);
    const version = parsed.clientVersion?.gitVersion ?? `${major}.${minor}`;
    if (major !== 1 || !(minor >= 22))
      return { ok: false, why: `kubectl ${version} is older than 1.22 (no policy/v1 eviction)` };
    return { ok: true, version };
  } catch {
    return { ok: false, why: 'kubectl version --client -o json printed no JSON' };
  }
}

/** Result of one kubectl run. */
interface KubectlRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Runs kubectl with a private HOME (its discovery cache) and no KUBECONFIG from the environment;
 * killed by PID after `limitMs`.
 */
async function kubectl(home: string, args: readonly string[], limitMs = 60_000): Promise<KubectlRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.KUBECONFIG;
  const started = Date.now();
  const child = spawn('kubectl', [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => {
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, limitMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr, ms: Date.now() - started };
}

/** The parts of a drain's request log that must match between kubectl and drainNode. */
function drainShape(requests: readonly FakeRequest[]) {
  const cordon = requests
    .filter((r) => r.method === 'PATCH')
    .map((r) => ({ path: r.path, contentType: r.contentType, body: JSON.parse(r.body) as unknown }));
  const podList = requests.filter((r) => r.path === '/api/v1/pods').map((r) => r.query);
  const evictions = requests
    .filter((r) => r.method === 'POST' && r.path.endsWith('/eviction'))
    .map((r) => {
      const body = JSON.parse(r.body) as {
        kind?: string;
        apiVersion?: string;
        metadata?: { name?: string; namespace?: string };
      };
      return {
        path: r.path,
        status: r.status,
        contentType: r.contentType?.split(';')[0],
        kind: body.kind,
        apiVersion: body.apiVersion,
        name: body.metadata?.name,
        namespace: body.metadata?.namespace,
      };
    })
    .sort((a, b) => a.path.localeCompare(b.path) || a.status - b.status);
  const waits: Record<string, { gets: number; last: number | undefined; allBefore200: boolean }> = {};
  for (const r of requests) {
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(r.path);
    if (r.method !== 'GET' || match === null) continue;
    const key = `${match[1]}/${match[2]}`;
    const entry = waits[key] ?? { gets: 0, last: undefined, allBefore200: true };
    if (entry.last !== undefined && entry.last !== 200) entry.allBefore200 = false;
    entry.gets += 1;
    entry.last = r.status;
    waits[key] = entry;
  }
  return { cordon, podList, evictions, waited: Object.keys(waits).sort(), waits };
}

const probe = probeKubectl();
if (!probe.ok) {
  const statement = `kubectl oracle not run: ${probe.why}`;
  console.log(statement);
  test('kubectl oracle: not run, and the reason is stated', () => {
    assert.match(statement, /^kubectl oracle not run: \S/);
  });
} else {
  console.log(`kubectl oracle: ${probe.version}`);

  test('kubectl drain --ignore-daemonsets --delete-emptydir-data against the fake: exit 0, and drainNode sends the same requests', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kubectl-oracle-'));
    const byKubectl = await FakeKubeApi.start();
    const byUs = await FakeKubeApi.start();
    try {
      addNotesCluster(byKubectl, 1);
      addNotesCluster(byUs, 1);
      const kubeconfig = await byKubectl.kubeconfig();
      const run = await kubectl(home, [
        'drain',
        'server-a',
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout=40s',
        '--kubeconfig',
        kubeconfig,
      ]);
      assert.is(run.code, 0, `kubectl drain failed:\n${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, 'node/server-a drained');
      assert.match(run.stderr, 'will retry after 5s');
      assert.match(run.stderr, 'ignoring DaemonSet-managed Pods: kube-system/svclb-abc');
      console.log(`  kubectl drain took ${run.ms} ms`);

      const api = await KubeApi.fromKubeconfigFile(await byUs.kubeconfig());
      // kubectl's own intervals (5 s retry, 1 s poll) on the real clock would cost as much as
      // kubectl did; the shape does not depend on them.
      const report = await drainNode(api, 'server-a', {
        evictionRetryMs: 200,
        podGonePollMs: 200,
        timeoutMs: 30_000,
      });
      assert.equal([...report.evicted].sort(), [
        'default/cache-1',
        'default/guarded-0',
        'default/web-7d9f-abcde',
      ]);

      const theirs = drainShape(byKubectl.requests);
      const ours = drainShape(byUs.requests);
      assert.equal(ours.cordon, theirs.cordon, 'cordon patch');
      assert.equal(theirs.cordon, [
        {
          path: '/api/v1/nodes/server-a',
          contentType: 'application/strategic-merge-patch+json',
          body: { spec: { unschedulable: true } },
        },
      ]);
      assert.equal(ours.podList, theirs.podList, 'pod list query');
      assert.equal(ours.evictions, theirs.evictions, 'evictions');
      assert.equal(
        theirs.evictions.map((e) => `${e.name}:${e.status}`),
        ['cache-1:201', 'guarded-0:201', 'guarded-0:429', 'web-7d9f-abcde:201'],
      );
      assert.ok(
        theirs.evictions.every(
          (e) =>
            e.kind === 'Eviction' && e.apiVersion === 'policy/v1' && e.contentType === 'application/json',
        ),
      );
      assert.equal(ours.waited, theirs.waited, 'pods waited for');
      assert.equal(theirs.waited, ['default/cache-1', 'default/guarded-0', 'default/web-7d9f-abcde']);
      for (const key of theirs.waited) {
        assert.is(theirs.waits[key]?.last, 404, `kubectl polled ${key} until 404`);
        assert.is(ours.waits[key]?.last, 404, `drainNode polled ${key} until 404`);
        assert.ok(theirs.waits[key]?.allBefore200 && ours.waits[key]?.allBefore200);
      }
      // Same end state.
      for (const fake of [byKubectl, byUs]) {
        assert.equal(
          fake
            .pods()
            .map(
              (p) =>
                `${(p.metadata as { namespace: string }).namespace}/${(p.metadata as { name: string }).name}`,
            ),
          ['default/other-1', 'kube-system/static-server-a', 'kube-system/svclb-abc'],
        );
        assert.equal(
          (fake.node('server-a')?.spec as { unschedulable?: boolean } | undefined)?.unschedulable,
          true,
        );
      }
    } finally {
      await byKubectl.close();
      await byUs.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  test('kubectl delete node --wait=false triggers the k3s-like controller; kubectl sees the Node Terminating while the member removal fails', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kubectl-oracle-'));
    const calls: RemoveEtcdMemberRequest[] = [];
    let healthy = false;
    const options: FakeKubeApiOptions = {
      controllerRetryMs: 50,
      removeEtcdMember: async (request) => {
        calls.push(request);
        if (!healthy) throw new Error('etcdserver: unhealthy cluster');
      },
    };
    const fake = await FakeKubeApi.start(options);
    try {
      addNotesCluster(fake, 1);
      const server = ['--kubeconfig', '/dev/null', '--server', fake.url];
      const deleted = await kubectl(home, ['delete', 'node', 'server-a', '--wait=false', ...server]);
      assert.is(deleted.code, 0, deleted.stderr);
      assert.match(deleted.stdout, 'node "server-a" deleted');
      const del = fake.requests.find((r) => r.method === 'DELETE');
      assert.is(del?.path, '/api/v1/nodes/server-a');
      assert.equal(JSON.parse(del?.body ?? '{}'), { propagationPolicy: 'Background' });
      assert.equal(calls[0], {
        memberName: 'server-a-1a2b3c4d',
        nodeAddress: '100.64.0.1',
        nodeName: 'server-a',
      });

      // Terminating, held by the managed-etcd finalizer, as kubectl reads it.
      const got = await kubectl(home, ['get', 'node', 'server-a', '-o', 'json', ...server]);
      assert.is(got.code, 0, got.stderr);
      const node = JSON.parse(got.stdout) as {
        metadata: { deletionTimestamp?: string; finalizers?: string[] };
      };
      assert.type(node.metadata.deletionTimestamp, 'string');
      assert.equal(node.metadata.finalizers, ['wrangler.cattle.io/managed-etcd-controller']);
      const table = await kubectl(home, ['get', 'nodes', ...server]);
      assert.is(table.code, 0, table.stderr);
      console.log(`  kubectl get nodes:\n${table.stdout}${table.stderr}`);
      assert.match(table.stdout, /server-a\s+Ready\s+control-plane,etcd,master\s/);

      // The controller retries; once the member can go, the Node disappears.
      healthy = true;
      const deadline = Date.now() + 5000;
      while (fake.node('server-a') !== undefined && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.is(fake.node('server-a'), undefined);
      assert.ok(calls.length >= 2, `hook called ${calls.length} times`);
      const gone = await kubectl(home, ['get', 'node', 'server-a', ...server]);
      assert.is.not(gone.code, 0);
      assert.match(gone.stderr, 'nodes "server-a" not found');

      // The annotation route: kubectl annotate, the controller records the removed member, the Node stays.
      const annotated = await kubectl(home, [
        'annotate',
        'node',
        'server-b',
        'etcd.k3s.cattle.io/remove=true',
        ...server,
      ]);
      assert.is(annotated.code, 0, annotated.stderr);
      const removedDeadline = Date.now() + 5000;
      const removed = (): string | undefined =>
        (fake.node('server-b')?.metadata as { annotations?: Record<string, string> } | undefined)
          ?.annotations?.['etcd.k3s.cattle.io/removed-node-name'];
      while (removed() === undefined && Date.now() < removedDeadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const read = await kubectl(home, [
        'get',
        'node',
        'server-b',
        '-o',
        'jsonpath={.metadata.annotations}',
        ...server,
      ]);
      assert.is(read.code, 0, read.stderr);
      const annotations = JSON.parse(read.stdout) as Record<string, string>;
      assert.is(annotations['etcd.k3s.cattle.io/removed-node-name'], 'server-b-5e6f7a8b');
      assert.is(annotations['etcd.k3s.cattle.io/node-name'], undefined);
      assert.is(annotations['etcd.k3s.cattle.io/node-address'], undefined);
      assert.equal(calls.at(-1), {
        memberName: 'server-b-5e6f7a8b',
        nodeAddress: '100.64.0.2',
        nodeName: 'server-b',
      });
      const annotate = fake.requests.find((r) => r.method === 'PATCH' && r.path === '/api/v1/nodes/server-b');
      console.log(`  kubectl annotate sent ${annotate?.contentType} ${annotate?.body}`);
    } finally {
      await fake.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  test('kubectl cordon / uncordon and KubeApi agree on the Node state the fake keeps', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kubectl-oracle-'));
    const fake = await FakeKubeApi.start();
    try {
      fake.addNode({ name: 'server-a' });
      const api = await KubeApi.fromKubeconfigFile(await fake.kubeconfig());
      const server = ['--kubeconfig', '/dev/null', '--server', fake.url];
      assert.is((await kubectl(home, ['cordon', 'server-a', ...server])).code, 0);
      assert.is((await api.getNode('server-a'))?.unschedulable, true);
      assert.is((await kubectl(home, ['uncordon', 'server-a', ...server])).code, 0);
      assert.is((await api.getNode('server-a'))?.unschedulable, false);
      const patches = fake.requests
        .filter((r) => r.method === 'PATCH')
        .map((r) => `${r.contentType} ${r.body}`);
      console.log(`  kubectl cordon/uncordon sent: ${patches.join(' | ')}`);
      assert.is(patches[0], 'application/strategic-merge-patch+json {"spec":{"unschedulable":true}}');
      assert.match(
        patches[1] ?? '',
        /^application\/strategic-merge-patch\+json \{"spec":\{"unschedulable":(null|false)\}\}$/,
      );
    } finally {
      await fake.close();
      await rm(home, { recursive: true, force: true });
    }
  });
}

test.run();
