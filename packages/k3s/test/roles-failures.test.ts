/**
 * The k3s server handoff when things go wrong, and the runtime's answer to a removed member, on
 * the lab (real etcd members inside fake k3s processes, the fake Kubernetes API):
 * - the API becomes unreachable mid-drain: the handoff fails before any member removal, abort
 *   uncordons the node, the replacement that joined for it leaves etcd again;
 * - the old holder's node crashes mid-drain: the next holder uncordons it from the retiring record;
 * - a k3s that keeps crashing is restarted with growing backoff;
 * - an etcd member removed behind k3s's back: the node wipes `server/db` and rejoins as a new
 *   member; removed again and again, it stops instead of looping.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isK3sHandoffError, isMemberOf, readClusterRecord, readRetiringRecord } from '../src/index.js';
import { K3sLab, type LabContext, type LabNode } from './support/k3s-lab.js';

function unschedulable(lab: K3sLab, node: LabNode): boolean {
  const spec = lab.api.node(node.id)?.spec as { unschedulable?: boolean } | undefined;
  return spec?.unschedulable === true;
}

async function oneServerAndAnAgent(): Promise<{ lab: K3sLab; a: LabNode; b: LabNode }> {
  const lab = await K3sLab.create(1);
  const a = lab.addNode(1);
  const b = lab.addNode(2);
  for (const n of [a, b]) await n.agent.start(lab.context(n, 'k3s-agent'));
  await a.server.start(lab.context(a, 'k3s-server', 1));
  await lab.until('b runs k3s agent', 20_000, () => (b.runtime.status().mode === 'agent' ? true : undefined));
  await lab.until('both nodes registered', 20_000, () => (lab.api.nodes().length === 2 ? true : undefined));
  return { lab, a, b };
}

/**
 * A handoff a → b that hangs in the drain: b has joined as the replacement, a is cordoned, and a
 * pod whose PodDisruptionBudget never lets go keeps the drain retrying. `prepared` settles with
 * the error prepareHandoff ends with (or undefined).
 */
async function handoffStuckInDrain(
  lab: K3sLab,
  a: LabNode,
  b: LabNode,
): Promise<{ aCtx: LabContext; prepared: Promise<Error | undefined> }> {
  lab.api.addPod({
    name: 'db-0',
    nodeName: a.id,
    owner: { kind: 'StatefulSet', name: 'db' },
    pdbRefusals: 1_000,
  });
  await b.server.warmHandoff?.(lab.context(b, 'k3s-server'));
  const aCtx = lab.context(a, 'k3s-server', 1);
  const prepared = a.server.prepareHandoff(aCtx, b.ref).then(
    () => undefined,
    (error: unknown) => error as Error,
  );
  await lab.until('a is cordoned', 20_000, () => (unschedulable(lab, a) ? true : undefined));
  return { aCtx, prepared };
}

test('API unreachable mid-drain: the handoff fails before removal; abort uncordons and the replacement leaves etcd', async () => {
  const { lab, a, b } = await oneServerAndAnAgent();
  try {
    const { aCtx, prepared } = await handoffStuckInDrain(lab, a, b);
    assert.is((await lab.members_()).filter((m) => !m.isLearner).length, 2, '1 → 2: the replacement is in');
    lab.api.setUnreachable(true);
    const failure = await prepared;
    assert.ok(failure instanceof Error, 'prepareHandoff fails');
    assert.equal(readRetiringRecord(lab.store)?.step, 'draining');
    assert.equal(lab.api.etcdRemovals, [], 'no member removal was asked for');

    lab.api.setUnreachable(false);
    await a.server.abortHandoff(aCtx);
    await b.server.stop(lab.context(b, 'k3s-server'), 'handoff-aborted');
    assert.not.ok(unschedulable(lab, a), 'a is schedulable again');
    assert.is(readRetiringRecord(lab.store), undefined);
    assert.equal(
      readClusterRecord(lab.store)?.servers.map((s) => s.node),
      ['node-a'],
    );
    // The replacement took itself out of etcd before it went back to being an agent.
    const members = await lab.until('b left etcd', 30_000, async () => {
      const now = await lab.members_();
      return now.length === 1 ? now : undefined;
    });
    assert.ok(
      isMemberOf(
        members[0] ?? { id: '', hexId: '', name: '', peerUrls: [], clientUrls: [], isLearner: false },
        a.id,
        a.ip,
      ),
    );
    await lab.until('b runs k3s agent again', 20_000, () =>
      b.runtime.status().mode === 'agent' && b.runtime.pid !== undefined ? true : undefined,
    );
    assert.ok(a.runtime.pid !== undefined, "a's server kept running");
  } finally {
    await lab.teardown();
  }
});

test('the member removal never happens: abort withdraws the request, uncordons, and the server keeps its data', async () => {
  const lab = await K3sLab.create(1);
  try {
    const a = lab.addNode(1, { removalTimeoutMs: 2_000 });
    const b = lab.addNode(2);
    for (const n of [a, b]) await n.agent.start(lab.context(n, 'k3s-agent'));
    await a.server.start(lab.context(a, 'k3s-server', 1));
    await lab.until('both nodes registered', 20_000, () => (lab.api.nodes().length === 2 ? true : undefined));
    await b.server.warmHandoff?.(lab.context(b, 'k3s-server'));
    lab.refuseRemovals = true;
    const aCtx = lab.context(a, 'k3s-server', 1);
    const failure = await a.server.prepareHandoff(aCtx, b.ref).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(isK3sHandoffError(failure), String(failure));
    assert.is(failure.reason, 'etcd');
    assert.equal(readRetiringRecord(lab.store)?.step, 'removing');

    await a.server.abortHandoff(aCtx);
    await b.server.stop(lab.context(b, 'k3s-server'), 'handoff-aborted');
    lab.refuseRemovals = false;
    const annotations = lab.api.node(a.id)?.metadata as { annotations?: Record<string, string> } | undefined;
    assert.is(
      annotations?.annotations?.['etcd.k3s.cattle.io/remove'],
      undefined,
      'the removal request is withdrawn',
    );
    assert.not.ok(unschedulable(lab, a), 'a is schedulable again');
    assert.ok(existsSync(join(a.dataDir, 'server', 'db', 'etcd')), "a's etcd data is kept");
    const members = await lab.until('b left etcd, a stayed', 30_000, async () => {
      const now = await lab.members_();
      return now.length === 1 ? now : undefined;
    });
    assert.ok(members.some((m) => isMemberOf(m, a.id, a.ip)));
    assert.ok(a.runtime.pid !== undefined, "a's k3s runs");
  } finally {
    await lab.teardown();
  }
});

test('the old holder crashes mid-drain: the next holder uncordons its node from the retiring record', async () => {
  const { lab, a, b } = await oneServerAndAnAgent();
  try {
    const { aCtx, prepared } = await handoffStuckInDrain(lab, a, b);
    // A's agent dies: its calls end where they are, no abort runs, its k3s goes down with the host.
    aCtx.controller.abort(new Error('host crashed'));
    await prepared;
    await a.runtime.hold('stopped');
    assert.equal(readRetiringRecord(lab.store)?.node, 'node-a');

    // The lease expires; B (a server since the warm-up) takes the role and cleans up.
    await b.server.start(lab.context(b, 'k3s-server', 2));
    assert.not.ok(unschedulable(lab, a), "a's node is schedulable again");
    assert.is(readRetiringRecord(lab.store), undefined);
    const record = readClusterRecord(lab.store);
    assert.is(record?.primary, 'node-b');
    assert.ok(
      record?.servers.some((s) => s.node === 'node-a'),
      'a stays a server: its member was never removed',
    );

    // A comes back on its own etcd data and is a voter again.
    await a.runtime.hold('no');
    await lab.until('a and b are voters', 30_000, async () => {
      const now = await lab.members_();
      return now.length === 2 && now.every((m) => !m.isLearner) && now.some((m) => isMemberOf(m, a.id, a.ip))
        ? true
        : undefined;
    });
  } finally {
    await lab.teardown();
  }
});

test('a member removed behind k3s: server/db wiped, rejoined as a new member; removed again and again, it stops', async () => {
  const lab = await K3sLab.create(3);
  try {
    const a = lab.addNode(1);
    const b = lab.addNode(2, { maxRemovals: 1 });
    for (const n of [a, b]) await n.agent.start(lab.context(n, 'k3s-agent'));
    await a.server.start(lab.context(a, 'k3s-server', 1));
    const first = await lab.until('b is a voter', 30_000, async () => {
      const member = (await lab.members_()).find((m) => isMemberOf(m, b.id, b.ip));
      return member !== undefined && !member.isLearner ? member : undefined;
    });
    const removeB = async (id: string) =>
      lab.until('b removed', 20_000, async () => {
        // etcd refuses reconfiguration for a few seconds after a member joins: retry.
        await a.etcd.removeMember(id);
        return true;
      });

    await removeB(first.id);
    const second = await lab.until('b rejoined as a new member', 30_000, async () => {
      const member = (await lab.members_()).find((m) => isMemberOf(m, b.id, b.ip));
      return member !== undefined && member.id !== first.id && !member.isLearner ? member : undefined;
    });
    assert.is.not(second.name, first.name, 'a new member name: server/db was wiped');
    assert.is(b.runtime.status().removals, 1);

    await removeB(second.id);
    await lab.until('b gives up', 20_000, () => (b.runtime.status().state === 'error' ? true : undefined));
    assert.match(b.runtime.status().lastError ?? '', /removed 2 times/);
    const starts = (await lab.starts(b)).length;
    assert.not.ok((await lab.members_()).some((m) => isMemberOf(m, b.id, b.ip)));
    // Still no new start a moment later: it does not loop.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.is((await lab.starts(b)).length, starts);
  } finally {
    await lab.teardown();
  }
});

test('a k3s that keeps crashing is restarted with growing backoff', async () => {
  const lab = await K3sLab.create(1);
  try {
    const a = lab.addNode(1);
    // b's k3s agent dies 300 ms after every start.
    const delays: number[] = [];
    const b = lab.addNode(2, {
      env: { FAKE_K3S_CRASH_AFTER_MS: '300' },
      onLog: (_level, _message, fields) => {
        const delay = (fields as { restartInMs?: number }).restartInMs;
        if (delay !== undefined) delays.push(delay);
      },
    });
    for (const n of [a, b]) await n.agent.start(lab.context(n, 'k3s-agent'));
    await a.server.start(lab.context(a, 'k3s-server', 1));
    const starts = await lab.until('b started four times', 30_000, async () => {
      const recorded = await lab.starts(b);
      return recorded.length >= 4 ? recorded : undefined;
    });
    // The lab's policy: 100 ms, doubling, at most 1 s.
    assert.equal(delays.slice(0, 3), [100, 200, 400], `restart delays: ${delays.join(', ')} ms`);
    // And the runtime really waits them out: start i+1 comes at least the fake's 300 ms life plus
    // the chosen pause after start i (a lower bound only; how much later depends on the machine).
    const times = starts.map((start) => Date.parse((start as unknown as { time: string }).time));
    for (let i = 0; i < 3; i++) {
      const gap = (times[i + 1] as number) - (times[i] as number);
      assert.ok(gap >= 300 + (delays[i] as number) - 20, `gap ${i}: ${gap} ms, delay ${delays[i]} ms`);
    }
    assert.ok(b.runtime.status().restarts >= 3);
    assert.ok(a.runtime.pid !== undefined, 'the server is not affected');
  } finally {
    await lab.teardown();
  }
});

test.run();
