// Clusters of TypeScript memberlist processes (test/ts-peer/main.ts, driven by the harness in
// support/go-peer.ts): each node is its own Node.js process on 127.0.0.1 with real UDP and TCP
// sockets. Join, failure (SIGKILL by PID), graceful leave, meta updates, reliable, best-effort
// and broadcast user messages, each in clear and encrypted; then a key rotation under way in a
// live cluster without anyone being suspected. Every wait is bounded (events or bounded polls);
// every process is stopped by PID in `finally`.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NodeState,
  type Peer,
  PeerCommandError,
  type PeerEvent,
  type PeerNode,
  type PeerOptions,
  startTsPeer,
  stopAll,
} from './support/go-peer.js';

type Settings = Omit<PeerOptions, 'name'>;

const PROBE_INTERVAL_MS = 200;
const FAST: Settings = {
  config: 'local',
  probeIntervalMs: PROBE_INTERVAL_MS,
  probeTimeoutMs: 100,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 2_000,
};
/** Bound on a membership change spreading (join, update, leave, broadcast gossip). */
const SPREAD_MS = 10_000;
/** Bound on a failure being detected and declared dead (suspicion timeout included). */
const FAILURE_MS = 15_000;
/** Bound on one user message arriving. */
const MESSAGE_MS = 5_000;

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const names = (members: readonly PeerNode[]): string[] => members.map((m) => m.name).sort();

/** Starts one peer per name (in parallel); if any fails, stops those that started and rethrows. */
async function startPeers(
  peerNames: readonly string[],
  settings: (name: string) => Settings,
): Promise<Peer[]> {
  const started = await Promise.allSettled(
    peerNames.map((name) => startTsPeer({ ...FAST, ...settings(name), name })),
  );
  const peers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await stopAll(peers);
    throw failed.reason;
  }
  return peers;
}

/** Polls `check` every 25 ms until it returns true, at most `limitMs`. */
async function eventually(check: () => Promise<boolean>, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits until every peer lists exactly `expected` as its live members, all of them alive. */
async function allSee(
  peers: readonly Peer[],
  expected: readonly string[],
  limitMs = SPREAD_MS,
): Promise<void> {
  const want = [...expected].sort().join();
  await eventually(
    async () => {
      const views = await Promise.all(peers.map((p) => p.members()));
      return views.every(
        (view) => names(view).join() === want && view.every((m) => m.state === NodeState.alive),
      );
    },
    limitMs,
    `every peer seeing exactly ${want}, all alive`,
  );
}

/** Joins the peers into one cluster, each through one that is already in it (a tree, not a star). */
async function formCluster(peers: readonly Peer[]): Promise<void> {
  for (let i = 1; i < peers.length; i++) {
    const peer = peers[i];
    const seed = peers[Math.floor((i - 1) / 2)];
    if (peer === undefined || seed === undefined) throw new Error('unreachable');
    assert.is(await peer.join([seed.address]), 1, `${peer.name} joins through ${seed.name}`);
  }
  await allSee(
    peers,
    peers.map((p) => p.name),
  );
}

const messageWith =
  (payload: string) =>
  (e: PeerEvent): boolean =>
    e.event === 'message' && text(e.data) === payload;

/** Leave events (dead or left) about anyone, seen by `peer` from log index `from` on. */
const leavesSince = (peer: Peer, from: number): string[] =>
  peer.log
    .slice(from)
    .flatMap((e) =>
      e.event === 'leave' ? [`${peer.name} saw ${e.node.name} in state ${e.node.state}`] : [],
    );

const MODES = [
  { label: 'in clear', key: undefined },
  { label: 'encrypted (16-byte key)', key: randomBytes(16) },
] as const;

for (const mode of MODES) {
  const keyed: Settings = mode.key === undefined ? {} : { key: mode.key };

  test(`${mode.label}: five processes join and all see all; meta updates and user messages reach everyone`, async () => {
    const started = Date.now();
    const peerNames = ['a', 'b', 'c', 'd', 'e'];
    const peers = await startPeers(peerNames, (name) => ({
      ...keyed,
      meta: bytes(`${name}-v1`),
      userState: `state-of-${name}`,
    }));
    let stranger: Peer[] = [];
    try {
      const [a, b, c, d, e] = peers as [Peer, Peer, Peer, Peer, Peer];
      for (const peer of peers) {
        assert.match(peer.address, /^127\.0\.0\.1:\d+$/);
        assert.ok(peer.port > 0 && peer.pid > 0 && peer.pid !== process.pid);
        // Like Go's memberlist, a peer reports its own join before it is ready.
        const [first, second] = peer.log;
        assert.ok(first?.event === 'join' && first.node.name === peer.name, `${peer.name}: own join first`);
        assert.is(second?.event, 'ready');
      }
      assert.is(new Set(peers.map((p) => p.pid)).size, peers.length, 'one process per peer');

      await formCluster(peers);
      for (const peer of peers) {
        const view = await peer.members();
        assert.equal(names(view), peerNames);
        for (const member of view) {
          const owner = peers.find((p) => p.name === member.name);
          assert.is(member.state, NodeState.alive, `${peer.name} sees ${member.name} alive`);
          assert.is(member.addr, '127.0.0.1');
          assert.is(member.port, owner?.port, `${peer.name} knows ${member.name}'s port`);
          assert.is(text(member.meta), `${member.name}-v1`);
          assert.type(member.incarnation, 'number');
          assert.equal(member.vsn, [1, 5, 2, 0, 0, 0]);
        }
        assert.is(await peer.numMembers(), peerNames.length);
        // Everyone got a join event for everyone else (directly or through gossip).
        for (const other of peerNames) await peer.waitForNodeEvent('join', other, SPREAD_MS);
      }
      // b joined through a: its delegate merged a's push/pull user state (join = true).
      const merged = await b.waitForEvent((ev) => ev.event === 'merge_remote_state' && ev.join, MESSAGE_MS);
      assert.ok(merged.event === 'merge_remote_state' && text(merged.data) === 'state-of-a');

      if (mode.key !== undefined) {
        // A node without the cluster's key cannot get in.
        stranger = await startPeers(['outsider'], () => ({}));
        const [outsider] = stranger as [Peer];
        try {
          await outsider.join([a.address]);
          assert.unreachable('a node without the key must not join');
        } catch (error) {
          assert.instance(error, PeerCommandError, String(error));
        }
        assert.equal(names(await a.members()), peerNames);
      }

      // Meta update: every other node sees an update event with the new meta and a newer incarnation.
      const before = await c.localNode();
      await c.updateMeta(bytes('c-v2'));
      for (const peer of [a, b, d, e]) {
        const seen = await peer.waitForNodeEvent('update', 'c', SPREAD_MS, (n) => text(n.meta) === 'c-v2');
        assert.ok((seen.node.incarnation ?? 0) > (before.incarnation ?? Number.POSITIVE_INFINITY));
      }
      assert.is(text((await c.localNode()).meta), 'c-v2');

      // User messages: every peer sends to the next one reliably (TCP) and to the one after that
      // best effort (UDP).
      const tag = mode.key === undefined ? 'clear' : 'sealed';
      for (const [i, from] of peers.entries()) {
        const next = peers[(i + 1) % peers.length] as Peer;
        const after = peers[(i + 2) % peers.length] as Peer;
        const reliable = `${tag}: reliable ${from.name}->${next.name}`;
        const bestEffort = `${tag}: best effort ${from.name}->${after.name}`;
        await from.send(next.name, bytes(reliable), true);
        await from.send(after.name, bytes(bestEffort), false);
        await next.waitForEvent(messageWith(reliable), MESSAGE_MS, { what: reliable });
        await after.waitForEvent(messageWith(bestEffort), MESSAGE_MS, { what: bestEffort });
      }
      try {
        await a.send('nobody', bytes('lost'), true);
        assert.unreachable('a send to an unknown node must fail');
      } catch (error) {
        assert.instance(error, PeerCommandError);
      }
      for (const peer of peers) assert.equal(leavesSince(peer, 0), [], 'nobody left or failed');
      console.log(`  ${mode.label}: five processes, join/meta/messages in ${Date.now() - started} ms`);
    } finally {
      await stopAll([...peers, ...stranger]);
    }
  });

  test(`${mode.label}: broadcasts reach everyone; a SIGKILLed process is declared dead; a leave is seen as left`, async () => {
    // memberlist sends a user broadcast retransmitMult × ceil(log10(n + 1)) times in all and
    // receivers do not pass it on: with the LAN multiplier (4) a three-node cluster is one where
    // a broadcast is certain to reach every member (the first gossip round covers both others).
    const peers = await startPeers(['a', 'b', 'c', 'd'], () => ({ ...keyed, config: 'lan' }));
    try {
      const [a, b, c, d] = peers as [Peer, Peer, Peer, Peer];
      await formCluster([a, b, c]);
      const tag = mode.key === undefined ? 'clear' : 'sealed';
      for (const [i, from] of [a, b, c].entries()) {
        const payload = `${tag}: broadcast ${i + 1} from ${from.name}`;
        assert.is(await from.broadcast(bytes(payload)), 1, 'the first broadcast of this peer');
        for (const peer of [a, b, c].filter((p) => p !== from))
          await peer.waitForEvent(messageWith(payload), SPREAD_MS, { what: `${payload} at ${peer.name}` });
      }
      assert.is(await d.join([c.address]), 1);
      await allSee(peers, ['a', 'b', 'c', 'd']);

      const killedAt = Date.now();
      process.kill(d.pid, 'SIGKILL');
      const exit = await Promise.race([
        d.exited,
        new Promise<null>((done) => setTimeout(() => done(null), 5_000).unref()),
      ]);
      assert.equal(exit, { code: null, signal: 'SIGKILL' }, 'd died of SIGKILL');
      for (const peer of [a, b, c]) {
        const seen = await peer.waitForNodeEvent('leave', 'd', FAILURE_MS);
        assert.is(seen.node.state, NodeState.dead, `${peer.name} declares d dead`);
      }
      const detectedMs = Date.now() - killedAt;
      await allSee([a, b, c], ['a', 'b', 'c']);

      const logStart = a.log.length;
      await c.leave(5_000);
      for (const peer of [a, b]) {
        const left = await peer.waitForNodeEvent('leave', 'c', SPREAD_MS);
        assert.is(left.node.state, NodeState.left, `${peer.name} sees c left, not failed`);
      }
      assert.is((await c.localNode()).state, NodeState.left, 'c sees itself as left');
      await allSee([a, b], ['a', 'b']);
      assert.equal(
        leavesSince(a, logStart),
        [`a saw c in state ${NodeState.left}`],
        'c was seen leaving once and never declared dead',
      );
      console.log(`  ${mode.label}: failure of d declared everywhere ${detectedMs} ms after SIGKILL`);
    } finally {
      await stopAll(peers);
    }
  });
}

test('keys rotate in a live encrypted cluster without a partition; a node with only the new key joins', async () => {
  const oldKey = randomBytes(16);
  const newKey = randomBytes(16);
  const memberNames = ['a', 'b', 'c', 'd'];
  // Everyone starts at once, so that no process start-up competes for CPU during the rotation.
  const peers = await startPeers([...memberNames, 'fresh', 'stale'], (name) => ({
    key: name === 'fresh' ? newKey : oldKey,
  }));
  let monitoring = true;
  let monitor: Promise<void> = Promise.resolve();
  try {
    const members = peers.slice(0, memberNames.length);
    const [a, b, c, d] = members as [Peer, Peer, Peer, Peer];
    const fresh = peers.find((p) => p.name === 'fresh') as Peer;
    const stale = peers.find((p) => p.name === 'stale') as Peer;
    await formCluster(members);

    // Before the rotation: the fresh node (new key only) cannot join.
    try {
      await fresh.join([a.address]);
      assert.unreachable('a node with only the new key must not join before the rotation');
    } catch (error) {
      assert.instance(error, PeerCommandError, String(error));
    }

    const logStart = new Map(members.map((p) => [p.name, p.log.length]));
    const incarnations = new Map<string, number | null>();
    for (const peer of members) incarnations.set(peer.name, (await peer.localNode()).incarnation);
    // Watch every member's view throughout: any member not alive is a partition.
    const problems: string[] = [];
    let polls = 0;
    monitor = (async () => {
      while (monitoring) {
        const views = await Promise.all(members.map((p) => p.members()));
        polls++;
        views.forEach((view, i) => {
          const viewer = members[i]?.name;
          if (names(view).join() !== memberNames.join())
            problems.push(`${viewer} saw members ${names(view).join()}`);
          for (const m of view)
            if (m.state !== NodeState.alive) problems.push(`${viewer} saw ${m.name} in state ${m.state}`);
        });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const rotationStart = Date.now();
    for (const peer of members) assert.is(await peer.installKey(newKey), 2, `${peer.name} installs`);
    // Traffic keeps flowing while some nodes already encrypt with the new key.
    await a.useKey(newKey);
    await b.useKey(newKey);
    await a.send('c', bytes('mid-rotation a->c'), true);
    await c.waitForEvent(messageWith('mid-rotation a->c'), MESSAGE_MS, { what: 'a mid-rotation message' });
    await c.useKey(newKey);
    await d.useKey(newKey);
    for (const peer of members) assert.is(await peer.removeKey(oldKey), 1, `${peer.name} removes`);

    // With only the new key left: messages, gossip, probes and push/pull still work.
    for (const [i, from] of members.entries()) {
      const to = members[(i + 1) % members.length] as Peer;
      for (const reliable of [true, false]) {
        const payload = `after rotation ${from.name}->${to.name} ${reliable ? 'reliable' : 'best effort'}`;
        await from.send(to.name, bytes(payload), reliable);
        await to.waitForEvent(messageWith(payload), MESSAGE_MS, { what: payload });
      }
    }
    // A meta update is gossiped (and compared by incarnation) on the new key alone too.
    await d.updateMeta(bytes('rotated'));
    for (const peer of [a, b, c])
      await peer.waitForNodeEvent('update', 'd', SPREAD_MS, (n) => text(n.meta) === 'rotated');
    await eventually(
      async () => polls >= 20 && Date.now() - rotationStart >= 5 * PROBE_INTERVAL_MS,
      SPREAD_MS,
      'the monitor covering several probe rounds',
    );
    monitoring = false;
    await monitor;

    assert.equal(problems, [], 'nobody was suspected, declared dead or lost during the rotation');
    for (const peer of members) {
      assert.equal(leavesSince(peer, logStart.get(peer.name) ?? 0), [], `${peer.name} saw no leave`);
      const now = (await peer.localNode()).incarnation;
      const expected = peer === d ? (incarnations.get('d') ?? 0) + 1 : incarnations.get(peer.name);
      // A suspected node refutes by raising its incarnation; only d's meta update may raise one.
      assert.is(now, expected, `${peer.name} never had to refute a suspicion`);
      assert.is(await peer.healthScore(), 0, `${peer.name} is healthy`);
    }

    // After the rotation: a node with only the old key is shut out, one with the new key joins.
    try {
      await stale.join([b.address]);
      assert.unreachable('a node with only the old key must not join after the rotation');
    } catch (error) {
      assert.instance(error, PeerCommandError, String(error));
    }
    assert.is(await fresh.join([c.address]), 1);
    await allSee([...members, fresh], [...memberNames, 'fresh']);
    console.log(`  rotation checked with ${polls} polls of every member's view`);
  } finally {
    monitoring = false;
    await monitor.catch(() => {});
    await stopAll(peers);
  }
});

test.run();
