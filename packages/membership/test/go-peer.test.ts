// Proves the Go test peer and its harness (support/go-peer.ts): real HashiCorp memberlist 0.2.2
// processes on 127.0.0.1 form a cluster, exchange user messages, see meta updates, failures and
// leaves, and honour encryption keys. Later interop tests put TypeScript nodes beside them.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type GoNode,
  type GoPeer,
  GoPeerCommandError,
  type GoPeerEvent,
  type GoPeerOptions,
  goPeerBinary,
  NodeState,
  startGoPeer,
  stopAll,
} from './support/go-peer.js';

type PeerSettings = Omit<GoPeerOptions, 'name'>;

const FAST: PeerSettings = {
  config: 'local',
  probeIntervalMs: 200,
  probeTimeoutMs: 100,
  gossipIntervalMs: 50,
  pushPullIntervalMs: 2_000,
};

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Starts peers `names` (in parallel); on any failure stops those that started and rethrows. */
async function startPeers(peerNames: readonly string[], settings: PeerSettings): Promise<GoPeer[]> {
  const started = await Promise.allSettled(
    peerNames.map((name) => startGoPeer({ ...FAST, ...settings, name })),
  );
  const peers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await stopAll(peers);
    throw failed.reason;
  }
  return peers;
}

/** Runs `body` with the peers, stopping every one of them afterwards whatever happens. */
async function withPeers(
  peerNames: readonly string[],
  settings: PeerSettings,
  body: (peers: GoPeer[]) => Promise<void>,
): Promise<void> {
  const peers = await startPeers(peerNames, settings);
  try {
    await body(peers);
  } finally {
    await stopAll(peers);
  }
}

/** Polls `check` until it returns true, at most `limitMs`. */
async function eventually(check: () => Promise<boolean>, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const names = (members: readonly GoNode[]): string[] => members.map((m) => m.name).sort();

async function allSee(
  peers: readonly GoPeer[],
  expected: readonly string[],
  limitMs = 10_000,
): Promise<void> {
  const want = [...expected].sort().join();
  await eventually(
    async () => {
      const views = await Promise.all(peers.map((p) => p.members()));
      return views.every((view) => names(view).join() === want);
    },
    limitMs,
    `every peer seeing exactly ${want}`,
  );
}

/** Joins three peers into one cluster (b through a, c through b). */
async function formCluster(peers: readonly GoPeer[]): Promise<void> {
  const [a, b, c] = peers;
  if (a === undefined || b === undefined || c === undefined) throw new Error('need three peers');
  assert.is(await b.join([a.address]), 1);
  assert.is(await c.join([b.address]), 1);
  await allSee(peers, ['a', 'b', 'c']);
}

const messageWith =
  (payload: string) =>
  (e: GoPeerEvent): boolean =>
    e.event === 'message' && text(e.data) === payload;

test('the Go peer builds, and three peers form one cluster', async () => {
  assert.match(await goPeerBinary(), /memberlist-peer$/);
  await withPeers(['a', 'b', 'c'], { userState: 'state-of-a' }, async (peers) => {
    const [a, b, c] = peers as [GoPeer, GoPeer, GoPeer];
    assert.match(a.address, /^127\.0\.0\.1:\d+$/);
    assert.ok(a.port > 0 && a.pid > 0);
    await formCluster(peers);

    for (const peer of peers) {
      for (const member of await peer.members()) {
        assert.is(member.state, NodeState.alive, `${peer.name} sees ${member.name} alive`);
        assert.type(member.incarnation, 'number');
        assert.is(member.addr, '127.0.0.1');
      }
    }
    assert.equal(names(await c.members()), ['a', 'b', 'c']);
    assert.is(await a.numMembers(), 3);
    assert.is(await a.healthScore(), 0);

    // b joined through a: its delegate merged a's user state (push/pull, join = true).
    const merged = await b.waitForEvent((e) => e.event === 'merge_remote_state' && e.join, 5_000);
    assert.ok(merged.event === 'merge_remote_state' && text(merged.data) === 'state-of-a');
    // a learns of c only through b.
    await a.waitForNodeEvent('join', 'c', 5_000);
  });
});

test('user messages arrive: reliable, best effort and piggybacked broadcasts', async () => {
  await withPeers(['a', 'b', 'c'], {}, async (peers) => {
    const [a, b, c] = peers as [GoPeer, GoPeer, GoPeer];
    await formCluster(peers);

    await a.send('b', bytes('over tcp'), true);
    await b.waitForEvent(messageWith('over tcp'), 5_000, { what: 'the reliable message' });

    await a.send('c', bytes('over udp'), false);
    await c.waitForEvent(messageWith('over udp'), 5_000, { what: 'the best-effort message' });

    // A broadcast is sent retransmitMult × ceil(log10(N + 1)) = 2 times here and receivers do
    // not relay it, so both copies may go to the same peer. Each broadcast must reach someone,
    // and within a few of them both peers must have one.
    const reached = (peer: GoPeer, text: string): boolean =>
      peer.log.some((e) => e.event === 'message' && new TextDecoder().decode(e.data) === text);
    const heardBy = new Set<string>();
    for (let i = 0; i < 8 && heardBy.size < 2; i++) {
      const text = `to everyone #${i}`;
      assert.ok((await a.broadcast(bytes(text))) >= 1, 'the broadcast is queued');
      await Promise.any([b, c].map((peer) => peer.waitForEvent(messageWith(text), 5_000)));
      for (const peer of [b, c]) if (reached(peer, text)) heardBy.add(peer.name);
    }
    assert.equal([...heardBy].sort(), ['b', 'c'], 'every peer got a broadcast');

    try {
      await a.send('nobody', bytes('lost'), true);
      assert.unreachable('a send to an unknown node must fail');
    } catch (error) {
      assert.instance(error, GoPeerCommandError);
    }
  });
});

test('a meta update is seen by the others as an update', async () => {
  await withPeers(['a', 'b', 'c'], { meta: bytes('v1') }, async (peers) => {
    const [a, b, c] = peers as [GoPeer, GoPeer, GoPeer];
    await formCluster(peers);
    const before = await a.localNode();
    assert.is(text(before.meta), 'v1');

    await a.updateMeta(bytes('v2'));
    for (const peer of [b, c]) {
      const seen = await peer.waitForNodeEvent('update', 'a', 5_000, (n) => text(n.meta) === 'v2');
      assert.ok(
        (seen.node.incarnation ?? 0) > (before.incarnation ?? Number.POSITIVE_INFINITY),
        'the update carries a newer incarnation',
      );
    }
  });
});

test('a SIGKILLed peer is declared dead; a peer that leaves is seen as left', async () => {
  await withPeers(['a', 'b', 'c'], {}, async (peers) => {
    const [a, b, c] = peers as [GoPeer, GoPeer, GoPeer];
    await formCluster(peers);

    await c.kill('SIGKILL');
    assert.is(c.running, false);
    for (const peer of [a, b]) {
      const seen = await peer.waitForNodeEvent('leave', 'c', 15_000);
      assert.is(seen.node.state, NodeState.dead, `${peer.name} declares c dead`);
    }
    await allSee([a, b], ['a', 'b']);

    await b.leave(5_000);
    const left = await a.waitForNodeEvent('leave', 'b', 10_000);
    assert.is(left.node.state, NodeState.left);
    assert.equal(names(await a.members()), ['a']);
  });
});

test('an encrypted cluster admits only peers holding its key; keys rotate', async () => {
  const key = randomBytes(16);
  const otherKey = randomBytes(16);
  await withPeers(['a', 'b'], { key }, async (peers) => {
    const [a, b] = peers as [GoPeer, GoPeer];
    assert.is(await b.join([a.address]), 1);
    await allSee(peers, ['a', 'b']);

    const outsiders = await startPeers(['c', 'd'], { key: otherKey });
    let plain: GoPeer[] = [];
    try {
      plain = await startPeers(['e'], {});
      const [c, d] = outsiders as [GoPeer, GoPeer];
      const [e] = plain as [GoPeer];
      for (const stranger of [c, e]) {
        try {
          await stranger.join([a.address]);
          assert.unreachable(`${stranger.name} must not join without the cluster's key`);
        } catch (error) {
          assert.instance(error, GoPeerCommandError, String(error));
        }
      }
      assert.equal(names(await a.members()), ['a', 'b']);

      // Rotate a and b onto c's key (install, use, remove the old one); then c and d get in.
      for (const peer of [a, b]) assert.is(await peer.installKey(otherKey), 2);
      for (const peer of [a, b]) await peer.useKey(otherKey);
      for (const peer of [a, b]) assert.is(await peer.removeKey(key), 1);
      assert.is(await c.join([a.address]), 1);
      assert.is(await d.join([b.address]), 1);
      await allSee([a, b, c, d], ['a', 'b', 'c', 'd']);
    } finally {
      await stopAll([...outsiders, ...plain]);
    }
  });
});

test.run();
