// A follower forwards proposals to the leader it knows. When that leader dies, what it was sent
// dies with it: with `retryForwardedProposals` the follower sends its waiting proposals again to
// the next leader, so the caller gets its answer right after the election instead of a timeout,
// and a client session keeps a command that the old leader had already replicated from being
// applied twice. Deterministic simulation over many seeds.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../src/core/types.js';
import type { KvPutResult, KvRangeResult } from '../src/kv/commands.js';
import { type KvStateMachine, kv } from '../src/kv/kv-state-machine.js';
import type { RaftTransport } from '../src/transport/transport.js';
import { type KvNode, type KvTrio, observeInbound, outcome, startKvTrio } from './support/kv-trio.js';

const REQUEST_TIMEOUT_MS = 3_000;

async function startCluster(seed: number, retryForwardedProposals: boolean) {
  const trio = await startKvTrio({
    seed,
    node: { requestTimeoutMs: REQUEST_TIMEOUT_MS, stampCommand: kv.stamp, retryForwardedProposals },
  });
  return { ...trio, followers: [...trio.nodes.values()].filter((n) => n !== trio.leader) };
}

function versionOn(machine: KvStateMachine, key: string): number | undefined {
  const result = machine.query({ type: 'range', key: new TextEncoder().encode(key) }) as KvRangeResult;
  return result.kvs[0]?.version;
}

/** Waits until every member has applied the write to `k`, and checks that each applied it once. */
async function appliedOnceEverywhere(cluster: Pick<KvTrio, 'sim' | 'machines'>, seed: number) {
  for (const [id, machine] of cluster.machines) {
    await cluster.sim.waitFor(() => versionOn(machine, 'k') !== undefined, 2_000, `${id} applies the write`);
    assert.is(versionOn(machine, 'k'), 1, `seed ${seed}: ${id} applied the write once`);
  }
}

// The leader dies; a follower that has not noticed yet forwards a write to it.
async function lostForward(
  seed: number,
  retry: boolean,
): Promise<{ settledAfterMs: number; afterElectionMs: number; error?: Error }> {
  const cluster = await startCluster(seed, retry);
  const { sim, leader } = cluster;
  const follower = cluster.followers[seed % 2] as KvNode;
  cluster.crash(leader.id);
  assert.is(follower.leader, leader.id, `seed ${seed}: the follower still names the dead leader`);
  const crashedAt = sim.clock.now();
  // When the follower first hears of a new leader (elections may take more than one round).
  let electedAt = Number.NaN;
  follower.on('leader', (id) => {
    if (id !== null && id !== leader.id && Number.isNaN(electedAt)) electedAt = sim.clock.now();
  });
  const write = outcome(follower.propose(kv.put('k', 'v', { client: 'c1', seq: 1 })));
  await sim.waitFor(() => write.settled, REQUEST_TIMEOUT_MS + 1_000, 'the write settles');
  const settledAfterMs = sim.clock.now() - crashedAt;
  const afterElectionMs = sim.clock.now() - electedAt;
  if (write.error !== undefined) return { settledAfterMs, afterElectionMs, error: write.error };
  assert.is((write.value as KvPutResult).type, 'put', `seed ${seed}: a put result`);
  await appliedOnceEverywhere(cluster, seed);
  return { settledAfterMs, afterElectionMs };
}

test('retryForwardedProposals: a write forwarded to a leader that died completes after the election', async () => {
  await runSeeds({
    seeds: 40,
    file: import.meta.url,
    scenario: async (seed) => {
      const { settledAfterMs, afterElectionMs, error } = await lostForward(seed, true);
      assert.is(error, undefined, `seed ${seed}: ${error?.message}`);
      // Answered once the next leader is known: sent to it, committed, applied (a few one-way
      // trips of 1–5 ms), not at the request timeout. The election itself takes 300–600 ms
      // after the last heartbeat, more when the two survivors split their votes (rarely, twice
      // in a row), so the time since the crash is only bounded by the timeout.
      assert.ok(afterElectionMs < 100, `seed ${seed}: answered ${afterElectionMs} ms after the election`);
      assert.ok(
        settledAfterMs < REQUEST_TIMEOUT_MS,
        `seed ${seed}: answered ${settledAfterMs} ms after the crash`,
      );
    },
  });
});

test('without retryForwardedProposals the same write waits for its timeout', async () => {
  await runSeeds({
    seeds: 5,
    file: import.meta.url,
    scenario: async (seed) => {
      const { settledAfterMs, error } = await lostForward(seed, false);
      assert.is(error?.name, 'RaftTimeoutError', `seed ${seed}: ${error?.message}`);
      assert.ok(settledAfterMs >= REQUEST_TIMEOUT_MS, `seed ${seed}: ${settledAfterMs} ms`);
    },
  });
});

// The old leader appends the forwarded write and replicates it to one follower, but no ack comes
// back before it dies: the new leader commits that copy, and the proposer sends its own again.
async function replicatedThenLost(seed: number, session: boolean): Promise<number[]> {
  const cluster = await startCluster(seed, true);
  const { sim, bus, leader } = cluster;
  const [proposer, keeper] = (seed % 2 === 0 ? cluster.followers : [...cluster.followers].reverse()) as [
    KvNode,
    KvNode,
  ];
  bus.setLink(leader.id, proposer.id, { loss: 1 });
  bus.setLink(keeper.id, leader.id, { loss: 1 });
  const keeperLog = () => keeper.status().lastIndex;
  const before = keeperLog();
  const write = outcome(proposer.propose(kv.put('k', 'v', session ? { client: 'c1', seq: 1 } : {})));
  await sim.waitFor(() => keeperLog() > before, 1_000, 'the keeper has the write');
  assert.is(keeper.status().commitIndex < keeperLog(), true, `seed ${seed}: not committed yet`);
  cluster.crash(leader.id);
  bus.resetLink(leader.id, proposer.id);
  bus.resetLink(keeper.id, leader.id);
  await sim.waitFor(() => write.settled, REQUEST_TIMEOUT_MS + 1_000, 'the write settles');
  assert.is(write.error, undefined, `seed ${seed}: ${write.error?.message}`);
  assert.is(keeper.role, 'leader', `seed ${seed}: the member with the longer log leads`);
  // Both copies are committed: wait until every member has applied the new leader's whole log.
  const last = keeper.status().lastIndex;
  await sim.waitFor(
    () => [...cluster.nodes.values()].every((n) => n.status().appliedIndex >= last),
    2_000,
    'both copies applied',
  );
  return [...cluster.machines.values()].map((machine) => versionOn(machine, 'k') ?? 0);
}

/**
 * A transport wrapper that, once armed, drops the next message of `type` that any member
 * receives (a dropped connection loses what was in flight), and counts what it dropped.
 */
function loseNext(type: Message['type']) {
  const state = { armed: false, dropped: 0 };
  const transport = (_id: string, inner: RaftTransport): RaftTransport =>
    observeInbound(inner, (message) => {
      if (!state.armed || message.type !== type) return true;
      state.armed = false;
      state.dropped++;
      return false;
    });
  return { state, transport };
}

// The leader stays; the follower's forwarded write is lost on the way to it.
async function forwardLostToLiveLeader(seed: number, retry: boolean) {
  const losing = loseNext('propose');
  const cluster = await startKvTrio({
    seed,
    transport: losing.transport,
    node: { requestTimeoutMs: REQUEST_TIMEOUT_MS, stampCommand: kv.stamp, retryForwardedProposals: retry },
  });
  const follower = [...cluster.nodes.values()].find((n) => n !== cluster.leader) as KvNode;
  losing.state.armed = true;
  const sentAt = cluster.sim.clock.now();
  const write = outcome(follower.propose(kv.put('k', 'v', { client: 'c1', seq: 1 })));
  await cluster.sim.waitFor(() => write.settled, REQUEST_TIMEOUT_MS + 1_000, 'the write settles');
  assert.is(losing.state.dropped, 1, `seed ${seed}: the forwarded write was dropped once`);
  assert.is(cluster.leaderNow(), cluster.leader, `seed ${seed}: the leader did not change`);
  return { ...write, afterMs: cluster.sim.clock.now() - sentAt, cluster };
}

test('retryForwardedProposals: a write lost on the way to a live leader is sent again after an election timeout', async () => {
  await runSeeds({
    seeds: 20,
    file: import.meta.url,
    scenario: async (seed) => {
      const { error, afterMs, cluster } = await forwardLostToLiveLeader(seed, true);
      assert.is(error, undefined, `seed ${seed}: ${error?.message}`);
      // Sent again at the first tick one election timeout (300 ms) after the loss.
      assert.ok(afterMs >= 300 && afterMs < 500, `seed ${seed}: answered after ${afterMs} ms`);
      await appliedOnceEverywhere(cluster, seed);
    },
  });
});

test('without retryForwardedProposals the lost write waits for its timeout', async () => {
  await runSeeds({
    seeds: 3,
    file: import.meta.url,
    scenario: async (seed) => {
      const { error, afterMs } = await forwardLostToLiveLeader(seed, false);
      assert.is(error?.name, 'RaftTimeoutError', `seed ${seed}: ${String(error)}`);
      assert.ok(afterMs >= REQUEST_TIMEOUT_MS, `seed ${seed}: settled after ${afterMs} ms`);
    },
  });
});

test('a follower asks again for a read whose request was lost on the way to a live leader', async () => {
  await runSeeds({
    seeds: 20,
    file: import.meta.url,
    scenario: async (seed) => {
      const losing = loseNext('readIndex');
      const cluster = await startKvTrio({
        seed,
        transport: losing.transport,
        node: { requestTimeoutMs: REQUEST_TIMEOUT_MS },
      });
      const follower = [...cluster.nodes.values()].find((n) => n !== cluster.leader) as KvNode;
      const written = outcome(cluster.leader.propose(kv.put('k', 'v')));
      await cluster.sim.waitFor(() => written.settled, 1_000, 'the write is applied on the leader');
      losing.state.armed = true;
      const sentAt = cluster.sim.clock.now();
      const read = outcome(follower.read(kv.range('k')));
      await cluster.sim.waitFor(() => read.settled, REQUEST_TIMEOUT_MS + 1_000, 'the read settles');
      const afterMs = cluster.sim.clock.now() - sentAt;
      assert.is(losing.state.dropped, 1, `seed ${seed}: the forwarded read was dropped once`);
      assert.is(read.error, undefined, `seed ${seed}: ${read.error?.message}`);
      assert.is((read.value as KvRangeResult).kvs[0]?.version, 1, `seed ${seed}: the read sees the write`);
      // Asked again at the first tick one election timeout (300 ms) after the loss.
      assert.ok(afterMs >= 300 && afterMs < 500, `seed ${seed}: answered after ${afterMs} ms`);
      assert.is(cluster.leaderNow(), cluster.leader, `seed ${seed}: the leader did not change`);
    },
  });
});

test('retryForwardedProposals: a copy committed twice is applied once under a client session', async () => {
  await runSeeds({
    seeds: 40,
    file: import.meta.url,
    scenario: async (seed) => {
      assert.equal(await replicatedThenLost(seed, true), [1, 1], `seed ${seed}: versions`);
    },
  });
});

test('the same scenario without a session commits the command twice (why the option needs one)', async () => {
  await runSeeds({
    seeds: 5,
    file: import.meta.url,
    scenario: async (seed) => {
      assert.equal(await replicatedThenLost(seed, false), [2, 2], `seed ${seed}: versions`);
    },
  });
});

test.run();
