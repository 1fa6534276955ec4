// Singleton election on Raft leases in deterministic simulation, over many seeds: a holder is
// elected, a crashed holder is replaced only after its lease expired, a partitioned holder stops
// acting before anyone else starts, and clocks that drift and disagree within the documented
// bound never produce two acting holders. A failure prints the seed and the replay command.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { drive } from './support/drive.js';
import { type RolesCluster, startRolesCluster, TEST_LEASE } from './support/roles-cluster.js';

const ttl = TEST_LEASE.ttlMs ?? 3000;

async function seeds(count: number, scenario: (seed: number) => Promise<void>): Promise<void> {
  await runSeeds({ seeds: count, file: import.meta.url, scenario });
}

test('one node is elected and keeps the role while nothing fails', async () => {
  await seeds(30, async (seed) => {
    const c = await startRolesCluster(seed);
    await c.waitFor(() => c.acting().length === 1, 10_000, 'a holder acts');
    const holder = c.acting()[0];
    await c.run(4 * ttl);
    assert.equal(c.violations, []);
    assert.equal(c.acting(), [holder], 'the holder keeps the role through many renewals');
    assert.equal(c.tokens.length, 1, 'one acquisition, one token');
  });
});

test('a crashed holder is replaced, but only after its lease expired in the store', async () => {
  await seeds(30, async (seed) => {
    const c = await startRolesCluster(seed);
    await c.waitFor(() => c.acting().length === 1, 10_000, 'a holder acts');
    const [holder] = c.acting();
    assert.ok(holder !== undefined);
    const crashedAt = c.sim.clock.now();
    c.crash(holder);
    await c.waitFor(() => c.acting().length === 1, 6 * ttl, 'another node takes over');
    const took = c.sim.clock.now() - crashedAt;
    assert.equal(c.violations, []);
    assert.ok(
      took >= ttl - 2 * (TEST_LEASE.maxClockSkewMs ?? 0) - (TEST_LEASE.renewEveryMs ?? ttl / 3),
      `took over after ${took} ms: before the lease could have expired`,
    );
    assert.ok(took < 2 * ttl + 1000, `took ${took} ms`);
    await c.restart(holder);
    await c.run(2 * ttl);
    assert.equal(c.violations, []);
    assert.equal(c.acting().length, 1, 'the restarted node does not act again');
  });
});

test('a holder cut off from the majority stops acting before anyone else starts', async () => {
  await seeds(30, async (seed) => {
    const c = await startRolesCluster(seed);
    await c.waitFor(() => c.acting().length === 1, 10_000, 'a holder acts');
    const [holder] = c.acting();
    assert.ok(holder !== undefined);
    const rest = c.ids.filter((id) => id !== holder);
    c.sim.partition([[holder], rest]);
    const cutAt = c.sim.clock.now();
    let stoppedAt: number | undefined;
    await c.waitFor(
      () => {
        if (stoppedAt === undefined && !c.acting().includes(holder)) stoppedAt = c.sim.clock.now();
        return c.acting().length === 1 && !c.acting().includes(holder);
      },
      6 * ttl,
      'the majority side elects a new holder',
    );
    assert.ok(
      stoppedAt !== undefined && stoppedAt - cutAt <= ttl,
      `the cut-off holder acted ${String(stoppedAt)} - ${cutAt} ms`,
    );
    c.sim.heal();
    await c.run(3 * ttl);
    assert.equal(c.violations, []);
    assert.equal(c.acting().length, 1, 'one holder after the partition heals');
  });
});

/** A planned transfer, retried: a lossy link may time out one attempt's read or proposal. */
async function retry(c: RolesCluster, attempt: () => Promise<unknown>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await drive(c, attempt(), 10_000, 'a transfer');
      return;
    } catch (error) {
      if (i >= 5) throw error;
    }
  }
}

/**
 * The worst case for a lease: the holder n1 is also the Raft leader, so its (slow) clock stamps
 * its renewals; then it is cut off and the fastest node becomes leader, so store time jumps
 * ahead by the whole offset and the lease expires as early as it ever can. `leaseMs` is the
 * cluster's lease TTL.
 */
async function worstCaseTakeover(c: RolesCluster, fastest: string, lagMs = 0, leaseMs = ttl): Promise<void> {
  await c.waitFor(() => c.acting().length === 1, 10_000, 'a holder acts');
  const n1 = c.nodes.get('n1');
  assert.ok(n1 !== undefined);
  // Priority is a preference at election time, not a guarantee (all nodes may campaign while
  // Raft is still electing): put the role on n1 with a planned handoff if it is elsewhere.
  if (c.acting()[0] !== 'n1')
    await retry(c, () => n1.manager.coordinator.transfer(c.roleName, 'n1', { timeoutMs: 3000 }));
  assert.equal(c.acting(), ['n1']);
  if (n1.raft.leader !== 'n1')
    await retry(c, () => n1.manager.coordinator.transfer('raft', 'n1', { timeoutMs: 3000 }));
  // Store time never goes back, so a leader whose clock lags by `lagMs` stamps nothing new until
  // its clock catches up; then give it renewals of its own.
  await c.run(lagMs + leaseMs / 2);
  assert.equal(n1.raft.leader, 'n1');
  const rest = c.ids.filter((id) => id !== 'n1');
  c.sim.partition([['n1'], rest]);
  const leads = (id: string): boolean => c.nodes.get(id)?.raft.role === 'leader';
  await c.waitFor(() => rest.some(leads), 5_000, 'the majority elects a Raft leader');
  const leader = rest.find(leads);
  if (leader !== undefined && leader !== fastest)
    void c.nodes
      .get(leader)
      ?.raft.transferLeadership(fastest)
      .catch(() => {});
  await c.run(4 * leaseMs);
}

test('clocks that disagree and drift within the documented bound never give two holders', async () => {
  const skew = TEST_LEASE.maxClockSkewMs ?? 200;
  await seeds(30, async (seed) => {
    // Clocks spread over the whole bound: the holder's slowest, n3's fastest.
    const c = await startRolesCluster(seed, { offsets: [-skew / 2, 0, skew / 2], priorities: [10, 0, 0] });
    await worstCaseTakeover(c, 'n3');
    assert.equal(c.violations, []);
    assert.ok(
      c.acting().some((id) => id !== 'n1'),
      'the majority side took the role over',
    );
    c.sim.heal();
    await c.run(2 * ttl);
    assert.equal(c.violations, []);
    assert.equal(c.acting().length, 1);
  });
});

test('the checker catches clocks beyond the bound (the invariant is not vacuous)', async () => {
  // The same worst case with n1's clock a whole lease behind, far beyond maxClockSkewMs: n1
  // believes its lease is safe while the store, on n3's time, has already expired it. The
  // overlap lasts from the takeover until n1's own deadline, at least ttl - renew interval -
  // margin after the cut; a lease of 6 s keeps that (3.9 s) well above what the takeover can
  // take (an election, split votes included, then an acquisition), which with the 3 s test
  // lease and a 2 s offset was not always so (seed 20036 took 2.1 s against 1.7 s).
  const lease = { ttlMs: 6000 };
  await seeds(5, async (seed) => {
    const c = await startRolesCluster(seed, { offsets: [-6000, 0, 0], priorities: [10, 0, 0], lease });
    await worstCaseTakeover(c, 'n3', 6000, lease.ttlMs);
    assert.ok(
      c.violations.some((v) => v.includes('at once')),
      `a clock offset of a whole lease must produce two acting holders; got ${JSON.stringify(c.violations)}`,
    );
  });
});

test.run();
