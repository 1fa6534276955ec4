// The multi-host case: etcd members in network namespaces made by this test, each on the standard
// ports 2379/2380 of its own `tailscale0` (100.64.x.i) and its own 127.0.0.1, as on k3s servers on a
// tailnet. Membership calls go through node 1's own loopback gateway, made from inside node 1's
// namespace: a fourth node joins as a learner and is promoted, leadership moves, and cutting node 3's
// link makes etcd refuse a member add as 'unhealthy-cluster' while removing node 3 stays allowed.
// Needs root (`ip netns`). Cleanup always: processes killed by PID, then the namespaces deleted.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hasPeerHost, isEtcdGatewayError, isMemberOf, leaderOf } from '../src/etcd/index.js';
import { EtcdCluster, GiveUp, pollUntil, retryWhileUnhealthy } from './support/etcd-cluster.js';
import {
  createNetnsLab,
  destroyNetnsLab,
  NetnsGatewayRunner,
  type NetnsLab,
  type RemoteEtcdGateway,
  setTailscaleLink,
} from './support/etcd-netns.js';

/** k3s-style member names: `<node-name>-<8 hex>`. */
const nodeNames = ['node1', 'node2', 'node3', 'node4'];
const memberNames = nodeNames.map((node) => `${node}-${randomBytes(4).toString('hex')}`);

function memberName(index: number): string {
  const name = memberNames[index - 1];
  if (name === undefined) throw new Error(`no node ${index}`);
  return name;
}

test('three hosts in network namespaces: the cluster forms, membership works from node 1, a partition is refused', async () => {
  const started = Date.now();
  let lab: NetnsLab | undefined;
  let runner: NetnsGatewayRunner | undefined;
  let cluster: EtcdCluster | undefined;
  try {
    lab = await createNetnsLab(4);
    const l = lab;
    // Node 1's view: its own 127.0.0.1:2379, and the other nodes' client URLs across the bridge.
    runner = await NetnsGatewayRunner.start(l.nodes[0] as string);
    const from1 = runner;
    const local: RemoteEtcdGateway = from1.gateway('http://127.0.0.1:2379');
    const clientUrl = (index: number): string => `http://${l.address(index)}:2379`;
    const indexOf = (name: string): number => memberNames.indexOf(name) + 1;

    cluster = await EtcdCluster.start({
      names: memberNames.slice(0, 3),
      place: (name) => {
        const index = indexOf(name);
        return {
          clientUrl: clientUrl(index),
          peerUrl: `http://${l.address(index)}:2380`,
          listenClientUrls: [clientUrl(index), 'http://127.0.0.1:2379'],
          netns: l.nodes[index - 1] as string,
        };
      },
      probe: async (_name, placement) =>
        from1
          .gateway(placement.clientUrl, 500)
          .health()
          .catch(() => false),
      control: local,
    });
    const c = cluster;
    const formed = Date.now() - started;

    // The cluster formed across the bridge; each member is its node's by k3s's name and address rule.
    const members = await local.listMembers();
    assert.is(members.length, 3);
    for (const index of [1, 2, 3]) {
      const member = members.find((m) => m.name === memberName(index));
      assert.ok(member, memberName(index));
      assert.ok(isMemberOf(member, nodeNames[index - 1] as string, l.address(index)));
      assert.not.ok(isMemberOf(member, nodeNames[index - 1] as string, l.address(index === 3 ? 1 : 3)));
      assert.equal(member.peerUrls, [`http://${l.address(index)}:2380`]);
      assert.equal(member.clientUrls, [clientUrl(index)]);
    }
    // Node 1's 127.0.0.1:2379 is node 1's etcd, not anyone else's.
    const own = members.find((m) => m.name === memberName(1));
    assert.is((await local.status()).memberId, own?.id);

    // A fourth host joins the way k3s joins servers: learner first (after etcd's ~5 s start-up
    // refusal), started with --initial-cluster-state existing, then promoted once it has caught up.
    const { member: joining } = await c.addMember(memberName(4), { learner: true, start: false });
    assert.is(joining.isLearner, true);
    await c.startMember(memberName(4), { waitReady: false });
    await pollUntil(
      'promote node 4',
      10_000,
      async () => {
        try {
          await local.promoteMember(joining.id);
          return true;
        } catch (error) {
          if (isEtcdGatewayError(error) && error.reason === 'learner-not-in-sync') return undefined;
          throw error;
        }
      },
      50,
    );
    await c.waitReady(memberName(4));
    const four = await local.listMembers();
    assert.is(four.filter((m) => !m.isLearner).length, 4);
    assert.ok(four.some((m) => isMemberOf(m, 'node4', l.address(4))));

    // Leadership moves to node 1: asked of the leader through its client URL across the bridge.
    const leader = leaderOf(four, await local.status());
    assert.ok(leader, 'node 1 knows a leader');
    if (own === undefined) throw new Error('node 1 is not listed');
    if (leader.id !== own.id) {
      const follower = four.find((m) => m.id !== leader.id && m.id !== own.id);
      if (follower === undefined) throw new Error('no follower');
      const refused = await from1
        .gateway(clientUrl(indexOf(follower.name)))
        .transferLeadership(own.id)
        .catch((error: unknown) => error);
      assert.ok(isEtcdGatewayError(refused) && refused.reason === 'not-leader', String(refused));
      await from1.gateway(clientUrl(indexOf(leader.name))).transferLeadership(own.id);
    }
    await pollUntil('node 1 leads', 5000, async () =>
      (await local.status()).leaderId === own.id ? true : undefined,
    );

    // Before the partition, wait until etcd takes membership changes again (node 4 joined < 5 s ago),
    // so that the refusal below is the partition's doing. A learner is always removable.
    // Probe members get a fresh peer URL each: etcd derives a member id from the URLs and the current
    // second, so re-adding URLs within the second they were removed is refused as "member not found".
    let probes = 0;
    const probeUrl = (): string => `http://${l.address(200)}:${2400 + probes++}`;
    const probe = await retryWhileUnhealthy('add while healthy', () =>
      local.addMember([probeUrl()], { learner: true }),
    );
    await local.removeMember(probe.id);

    // Cut node 3 off. Node 1's etcd notices when its peer streams time out (rafthttp, ~5 s); until
    // then an add may still pass, so such a learner is removed again and the add retried.
    await setTailscaleLink(l, 3, false);
    const cutAt = Date.now();
    const refusal = await pollUntil(
      'member add refused while node 3 is cut off',
      15_000,
      async () => {
        try {
          const added = await local.addMember([probeUrl()], { learner: true });
          await local.removeMember(added.id);
          return undefined;
        } catch (error) {
          if (isEtcdGatewayError(error) && error.reason === 'unhealthy-cluster') return error;
          throw new GiveUp(String(error));
        }
      },
      200,
    );
    const noticedMs = Date.now() - cutAt;
    assert.is(refusal.status, 503);
    assert.is(refusal.serverMessage, 'etcdserver: unhealthy cluster');
    const voterAdd = await local.addMember([probeUrl()], { learner: false }).catch((error: unknown) => error);
    assert.ok(isEtcdGatewayError(voterAdd) && voterAdd.reason === 'unhealthy-cluster', String(voterAdd));

    // Removing the cut-off member is allowed (3 of 3 remaining voters are up).
    const node3 = four.find((m) => m.name === memberName(3));
    if (node3 === undefined) throw new Error('node 3 is not listed');
    await local.removeMember(node3.id);
    const left = await local.listMembers();
    assert.is(left.length, 3);
    assert.not.ok(left.some((m) => hasPeerHost(m, l.address(3))));
    // Without node 3, membership changes are accepted again.
    const after = await retryWhileUnhealthy('add after removing node 3', () =>
      local.addMember([probeUrl()], { learner: true }),
    );
    await local.removeMember(after.id);
    // Node 3 never heard it was removed: it is still running, alone behind its cut link.
    assert.ok(c.alive(memberName(3)));
    console.log(
      `  formed in ${formed} ms; partition noticed after ${noticedMs} ms; total ${Date.now() - started} ms`,
    );
  } finally {
    await cluster?.teardown();
    await runner?.stop();
    if (lab !== undefined) await destroyNetnsLab(lab);
  }
});

test.run();
