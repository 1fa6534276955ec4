// How soon a freshly started cluster has a leader that every member knows, with and without
// `initialElectionTickAdvance` (etcd's initial election tick advance). Deterministic simulation
// over many seeds: three RaftNodes, election timeout 300 ms, heartbeat 50 ms, links of 1–5 ms.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startKvTrio } from './support/kv-trio.js';

const SEEDS = Array.from({ length: 30 }, (_, i) => i + 1);
const ELECTION_TIMEOUT_MS = 300;

/** Simulated ms from start until every member knows one leader, per seed. */
async function leaderKnownAfter(initialElectionTickAdvance: boolean): Promise<Map<number, number>> {
  const times = new Map<number, number>();
  for (const seed of SEEDS) {
    const trio = await startKvTrio({ seed, node: { initialElectionTickAdvance } });
    times.set(seed, trio.sim.clock.now());
  }
  return times;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const show = (times: Map<number, number>): string =>
  [...times].map(([seed, ms]) => `seed ${seed}: ${ms} ms`).join(', ');

test('without the advance no member campaigns before a whole election timeout', async () => {
  const times = await leaderKnownAfter(false);
  for (const [seed, ms] of times) {
    assert.ok(ms >= ELECTION_TIMEOUT_MS, `seed ${seed}: a leader was known after ${ms} ms`);
  }
});

test('with initialElectionTickAdvance a leader is known about one election timeout sooner', async () => {
  const advanced = await leaderKnownAfter(true);
  const plain = await leaderKnownAfter(false);
  // The first campaign comes 1 to 6 heartbeats (50–300 ms) after start instead of 300–550 ms.
  assert.ok(median([...advanced.values()]) < ELECTION_TIMEOUT_MS, show(advanced));
  const sooner = SEEDS.filter((seed) => (advanced.get(seed) ?? 0) < (plain.get(seed) ?? 0)).length;
  assert.ok(
    sooner >= SEEDS.length * 0.8,
    `sooner in only ${sooner} of ${SEEDS.length} seeds: ${show(advanced)}`,
  );
  assert.ok(
    median([...plain.values()]) - median([...advanced.values()]) >= ELECTION_TIMEOUT_MS / 2,
    `medians ${median([...plain.values()])} and ${median([...advanced.values()])} ms`,
  );
});

test.run();
