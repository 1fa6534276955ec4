// drainNode with kubectl drain's rules, and k3s's etcd member removal through the API, against the
// in-process fake kube-apiserver and its k3s-like controller. Waits run on an injected clock: a
// 5 s PDB retry costs a few real milliseconds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KubeApi } from '../src/kube/api.js';
import { type DrainEvent, type DrainOptions, drainNode, isDrainError } from '../src/kube/drain.js';
import { isKubeApiError } from '../src/kube/errors.js';
import { deleteNodeAndWait, isEtcdRemovalError, requestEtcdRemoval } from '../src/kube/etcd-removal.js';
import type { FakeKubeApi, FakeKubeApiOptions, RemoveEtcdMemberRequest } from './support/fake-kube-api.js';
import { addNotesCluster, rejection, withFakeKube } from './support/kube-fixtures.js';

/**
 * A virtual clock for the drain: `sleep(ms)` ends at `start + ms` on the virtual clock (concurrent
 * sleeps overlap, as real ones do) after a short real pause, so the fake server's real timers
 * (pod removal, controller retries) still progress.
 */
function virtualClock(realPauseMs = 2) {
  let t = 0;
  const sleeps: number[] = [];
  return {
    now: (): number => t,
    sleeps,
    sleep: async (ms: number, signal?: AbortSignal): Promise<void> => {
      if (signal?.aborted) throw signal.reason;
      sleeps.push(ms);
      const target = t + ms;
      await new Promise((resolve) => setTimeout(resolve, realPauseMs));
      if (signal?.aborted) throw signal.reason;
      t = Math.max(t, target);
    },
  };
}

/** A fake (evicted pods go after 30 ms) and a KubeApi on it (2 s per request); closed afterwards. */
function withFake(
  body: (fake: FakeKubeApi, api: KubeApi) => Promise<void>,
  options: FakeKubeApiOptions = {},
) {
  return withFakeKube(body, { evictionDeleteDelayMs: 30, ...options }, { timeoutMs: 2000 });
}

/** The DrainError `promise` rejects with. */
const drainError = (promise: Promise<unknown>) => rejection(promise, isDrainError, 'a DrainError');

/** The EtcdRemovalError `promise` rejects with. */
const removalError = (promise: Promise<unknown>) =>
  rejection(promise, isEtcdRemovalError, 'an EtcdRemovalError');

test('drain: cordons, skips mirror and DaemonSet pods, evicts the rest in parallel, retries the PDB every 5 s (virtual), waits until gone', async () => {
  await withFake(async (fake, api) => {
    addNotesCluster(fake, 2);
    fake.addPod({ name: 'done-job', nodeName: 'server-a', owner: null, phase: 'Succeeded' });
    fake.clearRequests();
    const clock = virtualClock();
    const events: (DrainEvent & { t: number })[] = [];
    const started = Date.now();
    const report = await drainNode(api, 'server-a', {
      sleep: clock.sleep,
      now: clock.now,
      onEvent: (e) => events.push({ ...e, t: clock.now() }),
    });
    const realMs = Date.now() - started;
    assert.ok(realMs < 3000, `real time ${realMs} ms`);

    assert.is(report.node, 'server-a');
    assert.is(report.cordoned, true);
    assert.equal([...report.evicted].sort(), [
      'default/cache-1',
      'default/done-job',
      'default/guarded-0',
      'default/web-7d9f-abcde',
    ]);
    assert.equal(
      [...report.skipped].sort((a, b) => a.pod.localeCompare(b.pod)),
      [
        { pod: 'kube-system/static-server-a', why: 'mirror' },
        { pod: 'kube-system/svclb-abc', why: 'daemonset' },
      ],
    );
    // Three attempts on the guarded pod, at least 5000 ms apart on the drain's clock (other pods'
    // 1 s polls advance the shared virtual clock too); no real 5 s waits.
    const guardedAttempts = events
      .filter((e) => e.type === 'evicting' && e.pod === 'default/guarded-0')
      .map((e) => e.t);
    assert.is(guardedAttempts.length, 3);
    assert.is(guardedAttempts[0], 0);
    assert.ok(
      (guardedAttempts[1] as number) >= 5000 &&
        (guardedAttempts[2] as number) - (guardedAttempts[1] as number) >= 5000,
    );
    const retries = events.filter((e) => e.type === 'retry');
    assert.is(retries.length, 2);
    assert.ok(
      retries.every((e) => e.type === 'retry' && e.reason === 'disruption-budget' && e.retryInMs === 5000),
    );
    assert.is(clock.sleeps.filter((ms) => ms === 5000).length, 2);
    assert.ok(
      clock.sleeps.every((ms) => ms === 5000 || ms === 1000),
      `sleeps ${clock.sleeps.join(',')}`,
    );
    assert.equal(
      events.filter((e) => e.type === 'ignored').map((e) => (e.type === 'ignored' ? e.pod : '')),
      ['kube-system/svclb-abc'],
    );
    assert.equal(events[0], { type: 'cordoned', node: 'server-a', already: false, t: 0 });

    // The wire: kubectl's cordon patch, one eviction per attempt, none for mirror/DaemonSet pods.
    const patches = fake.requests.filter((r) => r.method === 'PATCH');
    assert.equal(
      patches.map((r) => [r.path, r.contentType, r.body]),
      [
        [
          '/api/v1/nodes/server-a',
          'application/strategic-merge-patch+json',
          '{"spec":{"unschedulable":true}}',
        ],
      ],
    );
    const evictions = fake.requests.filter((r) => r.method === 'POST').map((r) => r.path);
    assert.is(evictions.filter((p) => p.endsWith('/guarded-0/eviction')).length, 3);
    for (const name of ['web-7d9f-abcde', 'cache-1', 'done-job'])
      assert.is(
        evictions.filter((p) => p === `/api/v1/namespaces/default/pods/${name}/eviction`).length,
        1,
        name,
      );
    assert.not.ok(evictions.some((p) => p.includes('svclb') || p.includes('static-server-a')));
    const list = fake.requests.find((r) => r.path === '/api/v1/pods');
    assert.equal(list?.query, { fieldSelector: 'spec.nodeName=server-a', limit: '500' });
    // Each evicted pod was read until the server said 404.
    for (const name of ['web-7d9f-abcde', 'cache-1', 'guarded-0', 'done-job']) {
      const gets = fake.requests.filter(
        (r) => r.method === 'GET' && r.path === `/api/v1/namespaces/default/pods/${name}`,
      );
      assert.ok(gets.length >= 1, name);
      assert.is(gets.at(-1)?.status, 404, name);
      assert.ok(gets.slice(0, -1).every((g) => g.status === 200));
      assert.is(fake.pod('default', name), undefined);
    }
    assert.ok(fake.pod('kube-system', 'svclb-abc'));
    assert.ok(fake.pod('kube-system', 'static-server-a'));
    assert.ok(fake.pod('default', 'other-1'));
    assert.equal(
      (fake.node('server-a')?.spec as { unschedulable?: boolean } | undefined)?.unschedulable,
      true,
    );
  });
});

test('drain retry timing on the injected clock: 429 at 0 and 5000, evicted at 10000, then polled every 1000 until gone', async () => {
  await withFake(async (fake, api) => {
    fake.addNode({ name: 'server-a' });
    fake.addPod({
      name: 'guarded-0',
      nodeName: 'server-a',
      owner: { kind: 'StatefulSet', name: 'guarded' },
      pdbRefusals: 2,
    });
    fake.addPod({
      name: 'svclb-abc',
      namespace: 'kube-system',
      nodeName: 'server-a',
      owner: { kind: 'DaemonSet', name: 'svclb' },
    });
    fake.addPod({ name: 'static-server-a', namespace: 'kube-system', nodeName: 'server-a', mirror: true });
    const clock = virtualClock();
    const events: (DrainEvent & { t: number })[] = [];
    const report = await drainNode(api, 'server-a', {
      ...clock,
      onEvent: (e) => events.push({ ...e, t: clock.now() }),
    });
    assert.equal(report.evicted, ['default/guarded-0']);
    const timeline = events
      .filter((e) => e.type !== 'cordoned' && e.type !== 'ignored')
      .map((e) => `${e.type}@${e.t}`);
    assert.equal(timeline.slice(0, 6), [
      'evicting@0',
      'retry@0',
      'evicting@5000',
      'retry@5000',
      'evicting@10000',
      'evicted@10000',
    ]);
    assert.is(timeline.at(-1)?.split('@')[0], 'gone');
    assert.equal(clock.sleeps.slice(0, 2), [5000, 5000]);
    assert.ok(clock.sleeps.slice(2).every((ms) => ms === 1000));
    const goneAt = Number(timeline.at(-1)?.split('@')[1]);
    assert.is(goneAt, 10000 + 1000 * (clock.sleeps.length - 2));
  });
});

test('drain refusals: DaemonSet, emptyDir and unmanaged pods stop the drain before any eviction; the node stays cordoned', async () => {
  await withFake(async (fake, api) => {
    addNotesCluster(fake, 0);
    fake.addPod({ name: 'bare', nodeName: 'server-a', owner: null });
    fake.clearRequests();
    const error = await drainError(
      drainNode(api, 'server-a', {
        ignoreDaemonSets: false,
        deleteEmptyDirData: false,
        ...virtualClockOptions(),
      }),
    );
    assert.is(error.reason, 'refused-pods');
    assert.equal(
      [...error.refusals].sort((a, b) => a.pod.localeCompare(b.pod)),
      [
        { pod: 'default/bare', reason: 'unmanaged' },
        { pod: 'default/cache-1', reason: 'local-storage' },
        { pod: 'kube-system/svclb-abc', reason: 'daemonset' },
      ],
    );
    assert.equal([...error.pods].sort(), ['default/bare', 'default/cache-1', 'kube-system/svclb-abc']);
    assert.match(error.message, 'cannot delete DaemonSet-managed Pods');
    assert.match(error.message, 'kube-system/svclb-abc');
    assert.not.match(error.message, 'static-server-a');
    assert.is(fake.requests.filter((r) => r.method === 'POST').length, 0, 'nothing evicted');
    assert.equal(
      (fake.node('server-a')?.spec as { unschedulable?: boolean } | undefined)?.unschedulable,
      true,
    );

    // With the defaults only the unmanaged pod refuses; force lets it go too.
    const defaults = await drainError(drainNode(api, 'server-a', virtualClockOptions()));
    assert.equal(defaults.refusals, [{ pod: 'default/bare', reason: 'unmanaged' }]);
    assert.is(fake.requests.filter((r) => r.method === 'POST').length, 0);
    const report = await drainNode(api, 'server-a', { force: true, ...virtualClockOptions() });
    assert.equal([...report.evicted].sort(), [
      'default/bare',
      'default/cache-1',
      'default/guarded-0',
      'default/web-7d9f-abcde',
    ]);
    assert.is(report.cordoned, false, 'already cordoned by the refused drains');
    assert.is(fake.requests.filter((r) => r.method === 'PATCH').length, 1, 'cordoned once');
  });
});

/** Fresh virtual-clock options. */
function virtualClockOptions(): Pick<DrainOptions, 'sleep' | 'now'> {
  const clock = virtualClock();
  return { sleep: clock.sleep, now: clock.now };
}

test('drain: a 500 eviction stops the drain (eviction-failed) and the other workers stop retrying', async () => {
  await withFake(async (fake, api) => {
    addNotesCluster(fake, 1000);
    fake.failEvictions('default', 'web-7d9f-abcde', 500);
    const error = await drainError(drainNode(api, 'server-a', virtualClockOptions()));
    assert.is(error.reason, 'eviction-failed');
    assert.equal(error.pods, ['default/web-7d9f-abcde']);
    assert.match(error.message, 'more than one PodDisruptionBudget');
    assert.ok(isKubeApiError(error.cause) && error.cause.reason === 'server-error');
    const posts = fake.requests.filter((r) => r.method === 'POST').length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.is(
      fake.requests.filter((r) => r.method === 'POST').length,
      posts,
      'no eviction after the failure',
    );
    assert.ok(fake.pod('default', 'web-7d9f-abcde'));
  });
});

test('drain waits until each evicted pod is gone: 404, or a new pod with the same name (new UID)', async () => {
  await withFake(
    async (fake, api) => {
      fake.addNode({ name: 'server-a' });
      fake.addPod({ name: 'slow-0', nodeName: 'server-a', owner: { kind: 'StatefulSet', name: 'slow' } });
      fake.addPod({ name: 'fast-1', nodeName: 'server-a' });
      const clock = virtualClock();
      const events: DrainEvent[] = [];
      let replaced = false;
      const done = drainNode(api, 'server-a', {
        ...clock,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'evicted' && e.pod === 'default/fast-1') fake.removePod('default', 'fast-1');
          if (e.type === 'evicted' && e.pod === 'default/slow-0') {
            // The StatefulSet controller replaces the pod under the same name before the old one is gone.
            setTimeout(() => {
              fake.removePod('default', 'slow-0');
              fake.addPod({
                name: 'slow-0',
                nodeName: 'server-b',
                owner: { kind: 'StatefulSet', name: 'slow' },
              });
              replaced = true;
            }, 40);
          }
        },
      });
      const report = await done;
      assert.ok(replaced);
      assert.equal([...report.evicted].sort(), ['default/fast-1', 'default/slow-0']);
      const slowGone = events.findIndex((e) => e.type === 'gone' && e.pod === 'default/slow-0');
      const slowEvicted = events.findIndex((e) => e.type === 'evicted' && e.pod === 'default/slow-0');
      assert.ok(slowEvicted >= 0 && slowGone > slowEvicted);
      const gets = fake.requests.filter(
        (r) => r.method === 'GET' && r.path === '/api/v1/namespaces/default/pods/slow-0',
      );
      assert.ok(gets.length >= 2, 'polled while terminating');
      assert.ok(
        gets.every((g) => g.status === 200),
        'the replacement answered 200 with a new UID',
      );
      assert.ok(clock.sleeps.includes(1000));
    },
    { evictionDeleteDelayMs: 60_000 },
  );
});

test('drain: the overall time limit ends a drain stuck on a PodDisruptionBudget (virtual time)', async () => {
  await withFake(
    async (fake, api) => {
      addNotesCluster(fake, 1_000_000);
      const clock = virtualClock(1);
      const started = Date.now();
      const error = await drainError(
        drainNode(api, 'server-a', { sleep: clock.sleep, now: clock.now, timeoutMs: 60_000 }),
      );
      assert.is(error.reason, 'timeout');
      assert.equal(error.pods, ['default/guarded-0']);
      assert.match(error.message, '60000 ms');
      assert.ok(clock.now() >= 60_000 && clock.now() <= 65_000, `virtual ${clock.now()}`);
      assert.ok(Date.now() - started < 3000);
      const attempts = fake.requests.filter((r) => r.path.endsWith('/guarded-0/eviction')).length;
      assert.ok(attempts >= 12 && attempts <= 13, `${attempts} attempts in 60 s at 5 s`);
    },
    { evictionDeleteDelayMs: 0 },
  );
});

test('drain: the real-clock time limit also holds (short evictionRetryMs, real sleep)', async () => {
  await withFake(async (fake, api) => {
    addNotesCluster(fake, 1_000_000);
    const started = Date.now();
    const error = await drainError(
      drainNode(api, 'server-a', { timeoutMs: 300, evictionRetryMs: 40, podGonePollMs: 20 }),
    );
    const took = Date.now() - started;
    assert.is(error.reason, 'timeout');
    assert.ok(took >= 280 && took < 1500, `took ${took} ms`);
  });
});

test('drain: an abort signal ends it with reason aborted', async () => {
  await withFake(async (fake, api) => {
    addNotesCluster(fake, 1_000_000);
    const controller = new AbortController();
    const clock = virtualClock(5);
    const started = Date.now();
    const error = await drainError(
      drainNode(api, 'server-a', {
        ...clock,
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'retry') controller.abort();
        },
      }),
    );
    assert.is(error.reason, 'aborted');
    assert.ok(error.pods.includes('default/guarded-0'));
    assert.ok(Date.now() - started < 2000);
    assert.is(
      (await drainError(drainNode(api, 'server-a', { signal: AbortSignal.abort() }))).reason,
      'aborted',
    );
  });
});

test('drain: the API going away mid-drain is a typed error (api, cause unreachable); a missing node too', async () => {
  await withFake(
    async (fake, api) => {
      addNotesCluster(fake, 0);
      const clock = virtualClock();
      const error = await drainError(
        drainNode(api, 'server-a', {
          ...clock,
          onEvent: (e) => {
            if (e.type === 'evicted') fake.setUnreachable(true);
          },
        }),
      );
      assert.is(error.reason, 'api');
      assert.ok(isKubeApiError(error.cause) && error.cause.reason === 'unreachable', String(error.cause));
      assert.ok(error.pods.length > 0);
      fake.setUnreachable(false);
      const missing = await drainError(drainNode(api, 'nope', virtualClockOptions()));
      assert.is(missing.reason, 'api');
      assert.match(missing.message, 'no such node');
    },
    { evictionDeleteDelayMs: 60_000 },
  );
});

test('requestEtcdRemoval: annotates remove=true; the k3s controller removes the member, records removed-node-name, keeps the Node', async () => {
  const calls: RemoveEtcdMemberRequest[] = [];
  await withFake(
    async (fake, api) => {
      fake.addNode({ name: 'server-a', memberName: 'server-a-1a2b3c4d', address: '100.64.0.1' });
      fake.clearRequests();
      const clock = virtualClock(5);
      const result = await requestEtcdRemoval(api, 'server-a', { timeoutMs: 60_000, pollMs: 500, ...clock });
      assert.equal(result, { memberName: 'server-a-1a2b3c4d' });
      assert.equal(calls, [
        { memberName: 'server-a-1a2b3c4d', nodeAddress: '100.64.0.1', nodeName: 'server-a' },
      ]);
      const annotations =
        (fake.node('server-a')?.metadata as { annotations?: Record<string, string> } | undefined)
          ?.annotations ?? {};
      assert.is(annotations['etcd.k3s.cattle.io/removed-node-name'], 'server-a-1a2b3c4d');
      assert.is(annotations['etcd.k3s.cattle.io/node-name'], undefined);
      assert.is(annotations['etcd.k3s.cattle.io/node-address'], undefined);
      assert.is(annotations['etcd.k3s.cattle.io/remove'], 'true');
      const patch = fake.requests.find((r) => r.method === 'PATCH');
      assert.is(patch?.contentType, 'application/strategic-merge-patch+json');
      assert.equal(JSON.parse(patch?.body ?? ''), {
        metadata: { annotations: { 'etcd.k3s.cattle.io/remove': 'true' } },
      });
      // Again: already removed, no second patch, no second hook call.
      fake.clearRequests();
      assert.equal(await requestEtcdRemoval(api, 'server-a', { timeoutMs: 1000, pollMs: 100, ...clock }), {
        memberName: 'server-a-1a2b3c4d',
      });
      assert.is(fake.requests.filter((r) => r.method === 'PATCH').length, 0);
      assert.is(calls.length, 1);
    },
    {
      removeEtcdMember: async (request) => {
        calls.push(request);
      },
    },
  );
});

test('requestEtcdRemoval: a failing k3s removal is retried by the controller; the wait ends in a typed timeout', async () => {
  let healthy = false;
  await withFake(
    async (fake, api) => {
      fake.addNode({ name: 'server-a', memberName: 'server-a-1a2b3c4d', address: '100.64.0.1' });
      const clock = virtualClock(10);
      const error = await removalError(
        requestEtcdRemoval(api, 'server-a', { timeoutMs: 3000, pollMs: 100, ...clock }),
      );
      assert.is(error.reason, 'timeout');
      assert.match(error.message, 'removed-node-name is absent');
      assert.ok(fake.etcdRemovals.length >= 2, `hook called ${fake.etcdRemovals.length} times`);
      assert.ok(
        fake.etcdRemovals.every((c) => c.trigger === 'annotation' && c.memberName === 'server-a-1a2b3c4d'),
      );
      assert.ok(fake.etcdRemovals.some((c) => c.ok === false));
      const annotations =
        (fake.node('server-a')?.metadata as { annotations?: Record<string, string> } | undefined)
          ?.annotations ?? {};
      assert.is(
        annotations['etcd.k3s.cattle.io/node-name'],
        'server-a-1a2b3c4d',
        'nothing recorded while failing',
      );
      // Once etcd lets it, the controller's retry completes the removal.
      healthy = true;
      const result = await requestEtcdRemoval(api, 'server-a', {
        timeoutMs: 60_000,
        pollMs: 100,
        ...virtualClock(20),
      });
      assert.is(result.memberName, 'server-a-1a2b3c4d');
      assert.is(fake.etcdRemovals.at(-1)?.ok, true);
    },
    {
      controllerRetryMs: 10,
      removeEtcdMember: async () => {
        if (!healthy) throw new Error('etcdserver: unhealthy cluster');
      },
    },
  );
});

test('requestEtcdRemoval refuses nodes k3s would never act on; deleteNodeAndWait waits out the finalizer', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const calls: RemoveEtcdMemberRequest[] = [];
  await withFake(
    async (fake, api) => {
      fake.addNode({ name: 'agent-c', role: 'agent' });
      fake.addNode({ name: 'server-b', memberName: 'server-b-0badf00d', address: '100.64.0.2' });
      const options = { timeoutMs: 5000, pollMs: 100, ...virtualClock(5) };
      assert.is((await removalError(requestEtcdRemoval(api, 'nope', options))).reason, 'node-not-found');
      assert.is((await removalError(requestEtcdRemoval(api, 'agent-c', options))).reason, 'not-etcd-member');

      // Node deletion: Terminating until the controller's hook has removed the member.
      const deleting = deleteNodeAndWait(api, 'server-b', {
        timeoutMs: 60_000,
        pollMs: 100,
        ...virtualClock(10),
      });
      const deadline = Date.now() + 2000;
      while (calls.length === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(calls, [
        { memberName: 'server-b-0badf00d', nodeAddress: '100.64.0.2', nodeName: 'server-b' },
      ]);
      const terminating = fake.node('server-b')?.metadata as {
        deletionTimestamp?: string;
        finalizers: string[];
      };
      assert.type(terminating.deletionTimestamp, 'string');
      assert.equal(terminating.finalizers, ['wrangler.cattle.io/managed-etcd-controller']);
      release();
      assert.is(await deleting, 'deleted');
      assert.is(fake.node('server-b'), undefined);
      // An agent Node has nothing to wait for; a missing one is already gone.
      assert.is(await deleteNodeAndWait(api, 'agent-c', options), 'deleted');
      assert.is(await deleteNodeAndWait(api, 'agent-c', options), 'gone');
      assert.is(calls.length, 1);
    },
    {
      removeEtcdMember: async (request) => {
        calls.push(request);
        await gate;
      },
    },
  );
});

test('deleteNodeAndWait: a member removal k3s keeps failing leaves the Node Terminating; the wait times out naming the finalizer', async () => {
  await withFake(
    async (fake, api) => {
      fake.addNode({ name: 'server-a' });
      const error = await removalError(
        deleteNodeAndWait(api, 'server-a', { timeoutMs: 2000, pollMs: 100, ...virtualClock(5) }),
      );
      assert.is(error.reason, 'timeout');
      assert.match(
        error.message,
        'still Terminating, finalizers: wrangler.cattle.io/managed-etcd-controller',
      );
      assert.ok(fake.node('server-a'));
      assert.ok(fake.etcdRemovals.length >= 1 && fake.etcdRemovals.every((c) => c.trigger === 'delete'));
    },
    {
      controllerRetryMs: 20,
      removeEtcdMember: async () => {
        throw new Error('etcdserver: unhealthy cluster');
      },
    },
  );
});

test.run();
