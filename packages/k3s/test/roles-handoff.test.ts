/**
 * The k3s roles end to end on the lab (real etcd members inside fake k3s processes, one fake
 * Kubernetes API with k3s's member-removal controller): bootstrap of three servers and an agent,
 * then the server handoff A → D with A leading etcd and pods on A (one guarded by a
 * PodDisruptionBudget that refuses once): 3 → 4 → 3 voters, pods evicted, leadership moved
 * before the removal, A's member gone and its server/db wiped, D primary, A back as an agent.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  isK3sHandoffError,
  isMemberOf,
  K3S_STORE_KEYS,
  K3sStatusReader,
  readClusterRecord,
} from '../src/index.js';
import { K3sLab, type LabNode } from './support/k3s-lab.js';

let lab: K3sLab | undefined;

function node(id: string): LabNode {
  const found = lab?.nodes.get(id);
  if (found === undefined) throw new Error(`no ${id}`);
  return found;
}

test.after(async () => {
  await lab?.teardown();
});

test('bootstrap: the first holder inits etcd, listed servers join it, the fourth node is an agent', async () => {
  lab = await K3sLab.create(3);
  const [a, b, c, d] = [1, 2, 3, 4].map((n) => (lab as K3sLab).addNode(n)) as [
    LabNode,
    LabNode,
    LabNode,
    LabNode,
  ];
  for (const n of [a, b, c, d]) await n.agent.start(lab.context(n, 'k3s-agent'));
  await a.server.start(lab.context(a, 'k3s-server', 1));

  const record = readClusterRecord(lab.store);
  assert.equal(
    record?.servers.map((s) => s.node),
    ['node-a', 'node-b', 'node-c'],
  );
  assert.is(record?.primary, 'node-a');
  assert.is(record?.initialized, true);

  const voters = await lab.until('three etcd voters', 60_000, async () => {
    const members = await (lab as K3sLab).members_();
    return members.length === 3 && members.every((m) => !m.isLearner) ? members : undefined;
  });
  for (const n of [a, b, c])
    assert.ok(
      voters.some((m) => isMemberOf(m, n.id, n.ip)),
      n.id,
    );
  await lab.until('d runs k3s agent', 20_000, () =>
    d.runtime.status().mode === 'agent' && d.runtime.pid !== undefined ? true : undefined,
  );
  await lab.until('four Kubernetes nodes', 20_000, () =>
    (lab as K3sLab).api.nodes().length === 4 ? true : undefined,
  );

  const [aStart] = await lab.starts(a);
  const [bStart] = await lab.starts(b);
  const [dStart] = await lab.starts(d);
  assert.ok(aStart?.argv.includes('--cluster-init'), JSON.stringify(aStart?.argv));
  assert.equal(bStart?.argv.slice(bStart.argv.indexOf('--server'), bStart.argv.indexOf('--server') + 2), [
    '--server',
    `https://${a.ip}:6443`,
  ]);
  assert.not.ok(bStart?.argv.includes('--cluster-init'));
  assert.is(dStart?.mode, 'agent');
  // The token reaches k3s only through its 0600 file.
  const token = new TextDecoder().decode(lab.store.get(K3S_STORE_KEYS.token));
  assert.ok(token.length >= 32);
  for (const start of [aStart, bStart, dStart]) {
    assert.not.ok(JSON.stringify(start).includes(token), 'token on argv or in the environment');
    assert.ok(start?.argv.includes('--token-file'));
  }
});

test('status: server and agent state, node and Ready counts, pods by phase, etcd voters and leader', async () => {
  if (lab === undefined) throw new Error('no lab');
  const [a, d] = [node('node-a'), node('node-d')];
  lab.api.addPod({ name: 'job-1', nodeName: d.id, owner: { kind: 'Job', name: 'job' }, phase: 'Succeeded' });
  lab.api.addPod({ name: 'web-0', nodeName: d.id, owner: { kind: 'ReplicaSet', name: 'web' } });
  lab.api.setReady(d.id, false);
  const onServer = await new K3sStatusReader({
    runtime: a.runtime,
    binary: a.runtime.binary,
    cacheMs: 0,
  }).read();
  assert.equal([onServer.server, onServer.agent, onServer.pid], ['running', 'stopped', a.runtime.pid]);
  assert.equal([onServer.primary, onServer.servers], ['node-a', ['node-a', 'node-b', 'node-c']]);
  assert.equal([onServer.nodes, onServer.readyNodes, onServer.pods], [4, 3, 2]);
  assert.equal(onServer.podsByPhase, { Pending: 0, Running: 1, Succeeded: 1, Failed: 0, Unknown: 0 });
  assert.is(onServer.etcdMembers?.length, 3);
  assert.ok(onServer.etcdMembers?.every((m) => m.voter));
  assert.is(onServer.etcdMembers?.filter((m) => m.leader).length, 1);
  assert.equal(onServer.errors, []);

  // An agent node has no admin kubeconfig and no etcd: the counts are unknown, and it says why.
  const onAgent = await new K3sStatusReader({
    runtime: d.runtime,
    binary: d.runtime.binary,
    cacheMs: 0,
  }).read();
  assert.equal(
    [onAgent.server, onAgent.agent, onAgent.nodes, onAgent.etcdMembers],
    ['stopped', 'running', null, null],
  );
  assert.match(onAgent.errors.join(), /server nodes only/);
  lab.api.setReady(d.id, true);
  lab.api.removePod('default', 'job-1');
  lab.api.removePod('default', 'web-0');

  // Without the binary, both are not-installed.
  const missing = await new K3sStatusReader({
    runtime: d.runtime,
    binary: '/nonexistent/k3s',
    cacheMs: 0,
  }).read();
  assert.equal([missing.server, missing.agent], ['not-installed', 'not-installed']);
});

test('handoff A → D: replacement in first, drain, etcd leadership moved, member removed, 4 → 3', async () => {
  if (lab === undefined) throw new Error('no lab');
  const [a, b, d] = ['node-a', 'node-b', 'node-d'].map(node) as [LabNode, LabNode, LabNode];
  // A leads etcd: the handoff must move leadership before it removes A.
  const aMember = await lab.makeEtcdLeader(a);
  lab.api.addPod({ name: 'web-1', nodeName: a.id, owner: { kind: 'ReplicaSet', name: 'web' } });
  lab.api.addPod({
    name: 'db-0',
    nodeName: a.id,
    owner: { kind: 'StatefulSet', name: 'db' },
    pdbRefusals: 1,
  });
  lab.api.addPod({
    name: 'svclb-a',
    namespace: 'kube-system',
    nodeName: a.id,
    owner: { kind: 'DaemonSet', name: 'svclb' },
  });
  lab.api.addPod({ name: 'static-a', namespace: 'kube-system', nodeName: a.id, mirror: true });
  lab.api.addPod({ name: 'web-2', nodeName: b.id, owner: { kind: 'ReplicaSet', name: 'web' } });

  const dWarm = lab.context(d, 'k3s-server');
  await d.server.warmHandoff?.(dWarm);
  const four = await lab.members_();
  assert.is(
    four.filter((m) => !m.isLearner).length,
    4,
    'the replacement is a voter before anything is removed',
  );
  assert.ok(four.some((m) => isMemberOf(m, d.id, d.ip) && !m.isLearner));

  const aCtx = lab.context(a, 'k3s-server', 1);
  const state = await a.server.prepareHandoff(aCtx, d.ref);
  // Drained: the workload pods left A; the DaemonSet and mirror pods stay, as with kubectl drain.
  const left = lab.api
    .pods(a.id)
    .map((p) => {
      const meta = p.metadata as { namespace: string; name: string };
      return `${meta.namespace}/${meta.name}`;
    })
    .sort();
  assert.equal(left, ['kube-system/static-a', 'kube-system/svclb-a']);
  assert.ok(
    lab.api.requests.filter((r) => r.path.endsWith('/db-0/eviction')).length >= 2,
    'PDB refusal retried',
  );
  // The eviction requests all came after the cordon.
  const cordon = lab.api.requests.findIndex(
    (r) =>
      r.method === 'PATCH' && r.path === `/api/v1/nodes/${a.id}` && r.body.includes('"unschedulable":true'),
  );
  const firstEviction = lab.api.requests.findIndex((r) => r.path.endsWith('/eviction'));
  assert.ok(cordon >= 0 && cordon < firstEviction, 'cordon before evictions');
  // etcd leadership left A before its member was removed: three voters, one of them leading, not A.
  const three = await lab.until('a left etcd', 20_000, async () => {
    const now = await (lab as K3sLab).members_();
    return now.length === 3 && !now.some((m) => isMemberOf(m, a.id, a.ip)) ? now : undefined;
  });
  // k3s's controller removed it, on the annotation (its call may still be returning when A's
  // own k3s, which exits at the removal, ends the handoff's wait).
  await lab.until('the removal call returned', 10_000, () =>
    lab?.api.etcdRemovals.some((r) => r.ok === true) ? true : undefined,
  );
  assert.equal(
    lab.api.etcdRemovals.filter((r) => r.ok).map((r) => r.trigger),
    ['annotation'],
  );
  // When k3s removed A's member, A no longer led etcd (leadership was moved first).
  assert.equal(lab.leadersAtRemoval.length, 1);
  assert.is(lab.leadersAtRemoval[0]?.member, aMember.id);
  assert.is.not(lab.leadersAtRemoval[0]?.leaderId, aMember.id);
  const status = await d.etcd.status();
  assert.ok(three.some((m) => m.id === status.leaderId));
  assert.not.ok(existsSync(join(a.dataDir, 'server', 'db')), "A's server/db is wiped");
  assert.is(a.runtime.pid, undefined, "A's k3s stays stopped");

  const dCtx = lab.context(d, 'k3s-server', 2);
  await d.server.acceptHandoff?.(dCtx, state);
  await lab.until('node A deleted', 10_000, () => (lab?.api.node(a.id) === undefined ? true : undefined));
  await d.server.start(dCtx);
  await a.server.completeHandoff(aCtx);
  await a.server.stop(aCtx, 'handed-off');

  const record = readClusterRecord(lab.store);
  assert.is(record?.primary, 'node-d');
  assert.equal(record?.servers.map((s) => s.node).sort(), ['node-b', 'node-c', 'node-d']);
  // A holder with an older fencing token can never put its record over the new primary's.
  const stale = lab.context(a, 'k3s-server', 1);
  try {
    await a.server.start(stale);
    assert.unreachable('a stale holder started');
  } catch (error) {
    assert.ok(isK3sHandoffError(error), String(error));
    assert.match(error.message, /newer k3s-server holder \(token 2\)/);
  }
  await a.server.stop(stale, 'failed');
  assert.is(readClusterRecord(lab.store)?.primary, 'node-d');
  // A is an agent now (a new, schedulable Node), pointed at the new primary.
  await lab.until('a runs k3s agent', 20_000, () =>
    a.runtime.status().mode === 'agent' && a.runtime.pid !== undefined ? true : undefined,
  );
  const last = await lab.until('the agent start is recorded', 10_000, async () => {
    const start = (await (lab as K3sLab).starts(a)).at(-1);
    return start?.mode === 'agent' ? start : undefined;
  });
  assert.equal(last?.argv.slice(last.argv.indexOf('--server'), last.argv.indexOf('--server') + 2), [
    '--server',
    `https://${d.ip}:6443`,
  ]);
  await lab.until('node A registered again', 10_000, () =>
    lab?.api.node(a.id) !== undefined ? true : undefined,
  );
  const spec = lab.api.node(a.id)?.spec as { unschedulable?: boolean } | undefined;
  assert.is(spec?.unschedulable ?? false, false);
});

test('handing the duties to a node that already is a server is refused (3 → 2), and nothing changes', async () => {
  if (lab === undefined) throw new Error('no lab');
  const [b, d] = [node('node-b'), node('node-d')];
  const before = readClusterRecord(lab.store);
  const dCtx = lab.context(d, 'k3s-server', 2);
  try {
    await d.server.prepareHandoff(dCtx, b.ref);
    assert.unreachable('the handoff went ahead');
  } catch (error) {
    assert.ok(isK3sHandoffError(error), String(error));
    assert.is(error.reason, 'refused');
    assert.match(error.message, /would leave 2 etcd voter\(s\), fewer than 3/);
  }
  await d.server.abortHandoff(dCtx);
  assert.equal(readClusterRecord(lab.store)?.servers, before?.servers);
  const spec = lab.api.node(d.id)?.spec as { unschedulable?: boolean } | undefined;
  assert.is(spec?.unschedulable ?? false, false, 'never cordoned');
  assert.is((await lab.members_()).length, 3);
});

test.run();
