// `restartRefutedSuspicions`: a suspect message at a newer incarnation than a running suspicion's
// means the node refuted that suspicion (this member missed the refutation) and was accused
// again. With the setting (the default) the old suspicion ends and a new one starts with its own
// full timeout; memberlist counts the message as a confirmation of the old suspicion, whose timer
// has been running since the first accusation.
//
// Two nodes, so that no third member's accusations take part (and k = 0: the timeout is the
// minimum, 3 s at this size on localConfig). n1 crashes, so nothing refutes; n0 takes up an
// accusation at incarnation 1, and 2 s later one at incarnation 2.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { localConfig, suspicionTimeout } from '../src/index.js';
import { SimCluster } from './support/sim-cluster.js';

const file = import.meta.url;
const { suspicionMult, probeIntervalMs } = localConfig();
/** The suspicion timeout of a two-node cluster on the test cluster's settings (localConfig). */
const MIN = suspicionTimeout(suspicionMult, 2, probeIntervalMs);
const AGAIN_AFTER_MS = MIN - 1_000;

interface Outcome {
  /** When n0 declared n1 dead, ms after the first accusation. */
  readonly deadAfterMs: number;
  /** The incarnation n0 declared dead. */
  readonly incarnation: number;
  /** `suspect` events n0 emitted about n1. */
  readonly suspectEvents: number;
}

async function accusedAgain(seed: number, restartRefutedSuspicions: boolean): Promise<Outcome> {
  const cluster = await SimCluster.start({ seed, size: 2, tuning: { restartRefutedSuspicions } });
  await cluster.join(1, 0);
  await cluster.waitConverged(() => cluster.allRunningAlive(), 30_000, 'convergence');
  const n0 = cluster.ml(0);
  cluster.crash(1);
  const since = cluster.events.length;
  const start = cluster.now();
  n0.suspectNode({ incarnation: 1, node: 'n1', from: 'x' });
  await cluster.sim.advance(AGAIN_AFTER_MS);
  n0.suspectNode({ incarnation: 2, node: 'n1', from: 'y' });
  assert.is(cluster.stateIn(0, 'n1'), 'suspect');
  await cluster.converged(() => cluster.deathsOf('n1', since).length > 0, 20_000, 1);
  const death = cluster.deathsOf('n1', since)[0];
  return {
    deadAfterMs: (death?.at ?? Number.NaN) - start,
    incarnation: death?.incarnation ?? -1,
    suspectEvents: cluster.eventsAbout('n1', 'suspect', 'n0', since).length,
  };
}

test('an accusation at a newer incarnation starts a new suspicion with its own timeout', async () => {
  await runSeeds({
    seeds: 5,
    file,
    scenario: async (seed) => {
      const outcome = await accusedAgain(seed, true);
      assert.is(outcome.deadAfterMs, AGAIN_AFTER_MS + MIN, 'the new suspicion runs its full timeout');
      assert.is(outcome.incarnation, 2, 'the newer incarnation is the one declared dead');
      assert.is(outcome.suspectEvents, 2, 'each suspicion is announced');
    },
  });
});

test('control: with the setting off (memberlist), it only confirms the old suspicion', async () => {
  await runSeeds({
    seeds: 5,
    file,
    scenario: async (seed) => {
      const outcome = await accusedAgain(seed, false);
      assert.is(outcome.deadAfterMs, MIN, 'the old timer runs out');
      assert.is(outcome.incarnation, 1);
      assert.is(outcome.suspectEvents, 1);
    },
  });
});

test.run();
