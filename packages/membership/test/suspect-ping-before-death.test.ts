// `pingSuspectBeforeDeath` (Lifeguard's buddy system, extended): shortly before a member's
// suspicion of a node runs out, it pings the node once with the suspicion attached, so a live
// node that has not heard of the suspicion (or refuted it long ago, unheard) answers in time.
// memberlist tells a suspect only when it happens to probe it; a member that took the suspicion
// up from gossip and does not probe the node before its timer ends declares a live node dead.
//
// The scenario isolates that: periodic gossip and push/pull are off, so the suspicion injected
// at n0 reaches n1 only on n0's own packets to n1, and n0 probes one of 11 others per second
// while its suspicion (two accusers: the minimum timeout, 3.2 s) lasts. Tested over many seeds,
// with the extension off as the control.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { localConfig, suspicionTimeout } from '../src/index.js';
import { SimCluster, seedOf } from './support/sim-cluster.js';

const file = import.meta.url;
const SIZE = 12;
const SUSPICION_MULT = 3;
/** The suspicion's timeout with its one confirmation: the minimum (the test cluster runs localConfig). */
const MIN = suspicionTimeout(SUSPICION_MULT, SIZE, localConfig().probeIntervalMs);

interface Outcome {
  /** Members that declared n1 dead. */
  readonly declaredDead: string[];
  /** n0's pings of the suspect before its suspicion ran out. */
  readonly pings: number;
  /** n1 refuted the suspicion. */
  readonly refuted: boolean;
  /** When n0 declared n1 dead, ms after the suspicion started (NaN if it did not). */
  readonly deadAfterMs: number;
}

async function rumouredSuspicion(
  seed: number,
  pingSuspectBeforeDeath: boolean,
  n1Crashes = false,
): Promise<Outcome> {
  const tuning = {
    gossipIntervalMs: 0,
    pushPullIntervalMs: 0,
    indirectChecks: 0,
    disableTcpPings: true,
    suspicionMult: SUSPICION_MULT,
    pingSuspectBeforeDeath,
  };
  const cluster = await SimCluster.start({ seed, size: SIZE, tuning });
  // Without gossip, news of a join travels only on probes: each node joins every earlier one
  // instead, and a join's push/pull tells both sides everything.
  for (let i = 1; i < SIZE; i++) {
    const seeds = Array.from({ length: i }, (_, j) => seedOf(j));
    await cluster.settle(cluster.ml(i).join(seeds), 20_000, `n${i} joining`);
  }
  await cluster.waitConverged(() => cluster.allRunningAlive(), 120_000, 'convergence');
  const n0 = cluster.ml(0);
  const n1 = cluster.ml(1);
  // Let every queued piece of news run out, so nothing but the suspicion below travels.
  await cluster.waitConverged(
    () => cluster.indexes.every((i) => cluster.ml(i).broadcasts.length === 0),
    120_000,
    'gossip queues drained',
  );
  const incarnation = n1.localNode.incarnation;
  const refutesBefore = n1.stats().refutes;
  if (n1Crashes) cluster.crash(1);
  const since = cluster.events.length;
  const start = cluster.now();
  // Two members' accusations, as gossip would bring them: one confirmation, the minimum timeout.
  n0.suspectNode({ incarnation, node: 'n1', from: 'n5' });
  n0.suspectNode({ incarnation, node: 'n1', from: 'n6' });
  assert.is(cluster.stateIn(0, 'n1'), 'suspect');
  const deaths = () => cluster.deathsOf('n1', since);
  await cluster.converged(() => deaths().length > 0, MIN + 5_000, 1);
  const first = deaths()[0];
  return {
    declaredDead: deaths().map((e) => e.observer),
    pings: n0.stats().suspectPingsBeforeDeath,
    refuted: !n1Crashes && n1.stats().refutes > refutesBefore,
    deadAfterMs: first === undefined ? Number.NaN : first.at - start,
  };
}

test('a live node suspected by rumour is pinged before the suspicion runs out and refutes in time', async () => {
  let savedByThePing = 0;
  await runSeeds({
    seeds: 20,
    file,
    scenario: async (seed) => {
      const outcome = await rumouredSuspicion(seed, true);
      assert.equal(outcome.declaredDead, [], 'nobody declares the live node dead');
      assert.ok(outcome.refuted, 'n1 refuted');
      assert.ok(outcome.pings <= 1, 'at most one ping per suspicion');
      if (outcome.pings === 1) savedByThePing++;
    },
  });

  // In about half the seeds nothing else has told n1 when the ping goes (12 of 20 as written).
  assert.ok(savedByThePing >= 10, `the suspicion still stood at the ping in ${savedByThePing} of 20 seeds`);
});

test('control: without the ping (memberlist), the member often declares the live node dead', async () => {
  let dead = 0;
  await runSeeds({
    seeds: 20,
    file,
    scenario: async (seed) => {
      const outcome = await rumouredSuspicion(seed, false);
      assert.is(outcome.pings, 0);
      if (outcome.declaredDead.includes('n0')) dead++;
    },
  });

  // 6 of 20 as written: those where n0 neither probed n1 nor heard a refutation by other ways.
  assert.ok(dead >= 5, `n0 declared n1 dead in ${dead} of 20 seeds`);
});

test('a crashed node is declared dead exactly when the timer runs out, ping or not', async () => {
  await runSeeds({
    seeds: 10,
    file,
    scenario: async (seed) => {
      const withPing = await rumouredSuspicion(seed, true, true);
      const without = await rumouredSuspicion(seed, false, true);
      assert.equal(withPing.declaredDead, ['n0']);
      assert.equal(without.declaredDead, ['n0']);
      assert.is(withPing.pings, 1, 'the silent suspect was pinged once');
      assert.is(withPing.deadAfterMs, MIN, 'no later than without the ping');
      assert.is(without.deadAfterMs, MIN);
    },
  });
});

test.run();
