// A leader whose disk is slow must not make committed entries wait for its next write: entries
// that were already on its disk when a batch starts are applied (and their proposals answered)
// while the batch's new entries are written. Entries of the batch itself wait for the disk.
// Deterministic simulation: the leader's saves take SLOW_SAVE_MS, the followers' are instant.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kv } from '../src/kv/kv-state-machine.js';
import { outcome, slowSaves, startKvTrio } from './support/kv-trio.js';

const SLOW_SAVE_MS = 40;

test('a leader applies committed entries while its next batch is on its way to disk', async () => {
  await runSeeds({
    seeds: 20,
    file: import.meta.url,
    scenario: async (seed) => {
      let slowId: string | null = null;
      const trio = await startKvTrio({
        seed,
        storage: (id, storage, clock) => slowSaves(storage, clock, () => (id === slowId ? SLOW_SAVE_MS : 0)),
      });
      const { sim, leader } = trio;
      slowId = leader.id;
      // Let anything written before the disk turned slow settle.
      await sim.advance(100);
      const start = sim.clock.now();
      const first = outcome(leader.propose(kv.put('a', '1')));
      // A second write a moment later: it is appended while the first one's batch is written,
      // so the leader's next batch both writes it and carries the first one's commit.
      await sim.advance(2);
      const second = outcome(leader.propose(kv.put('b', '2')));
      await sim.waitFor(() => first.settled, 1_000, 'the first write');
      const firstMs = sim.clock.now() - start;
      assert.is(first.error, undefined, `seed ${seed}: ${first.error?.message}`);
      // Its batch took one slow save; its commit (the followers answered within a few ms) is
      // applied as the next batch starts, not after that batch's slow save too.
      assert.ok(
        firstMs >= SLOW_SAVE_MS && firstMs < 2 * SLOW_SAVE_MS,
        `seed ${seed}: the first write was answered after ${firstMs} ms`,
      );
      await sim.waitFor(() => second.settled, 1_000, 'the second write');
      assert.is(second.error, undefined, `seed ${seed}: ${second.error?.message}`);
      // The second write's own entry was in that batch: it waits for the slow save.
      assert.ok(
        sim.clock.now() - start >= 2 * SLOW_SAVE_MS,
        `seed ${seed}: the second write waited for the disk`,
      );
    },
  });
});

test.run();
