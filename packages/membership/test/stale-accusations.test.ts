// A member that missed a refutation keeps suspecting the old incarnation; memberlist then lets
// its suspicion timer run out and it declares a live node dead. With `answerStaleAccusations`
// (the default) the accused node answers whoever accuses it at an incarnation it has already
// refuted, so the member learns the refutation in time. Tested in simulation over many seeds,
// with the extension off as the control (memberlist's behaviour: the live node is declared dead).
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Memberlist, suspicionTimeout } from '../src/index.js';
import { StaleAccusationAnswers } from '../src/runtime/stale-accusations.js';
import { hostOf, SimCluster, seedOf } from './support/sim-cluster.js';

const file = import.meta.url;

// ------------------------------------------------------------------------------ rate limit

test('one answer per sender per interval; senders are answered independently', () => {
  let now = 0;
  const answers = new StaleAccusationAnswers(() => now, 1_000);
  assert.ok(answers.take('10.0.0.1:7946'));
  assert.not.ok(answers.take('10.0.0.1:7946'), 'same sender within the interval');
  assert.ok(answers.take('10.0.0.2:7946'), 'another sender');
  now = 999;
  assert.not.ok(answers.take('10.0.0.1:7946'));
  now = 1_000;
  assert.ok(answers.take('10.0.0.1:7946'), 'a full interval later');
  assert.not.ok(answers.take('10.0.0.1:7946'));
});

test('remembers a bounded number of senders, forgetting the oldest answers first', () => {
  let now = 0;
  const answers = new StaleAccusationAnswers(() => now, 1_000, 3);
  for (const sender of ['a', 'b', 'c']) assert.ok(answers.take(sender));
  now = 10;
  // Full with recent answers: the oldest (a) is forgotten to make room for d.
  assert.ok(answers.take('d'));
  assert.ok(answers.take('a'), 'a was forgotten, so it may be answered again');
  assert.not.ok(answers.take('d'), 'd is still remembered');
  // Thousands of distinct senders (forged addresses) never grow it past its bound.
  for (let i = 0; i < 5_000; i++) answers.take(`forged-${i}`);
  now = 2_000;
  assert.ok(answers.take('d'), 'everything older than the interval is gone');
});

// ------------------------------------------------------------------------------ simulation

interface Outcome {
  /** n0 took up n1's refutation (alive at incarnation 2 or more) and nobody declared n1 dead. */
  readonly repaired: boolean;
  /** Members that declared n1 dead (n0, and n2 when it missed the refutation too). */
  readonly declaredDead: string[];
  /** Answers n1 sent. */
  readonly answers: number;
}

/**
 * Waits until the gossip queues of `members` are empty and stay so for a second: nothing they
 * sent is still on its way to be taken up and passed on. A message taken up stays queued for at
 * least a gossip interval, so checking every simulated millisecond sees it.
 */
async function gossipQuiet(
  cluster: SimCluster,
  members: readonly Memberlist[],
  limitMs: number,
): Promise<void> {
  const empty = () => members.every((ml) => ml.broadcasts.length === 0);
  const end = cluster.now() + limitMs;
  while (cluster.now() < end) {
    await cluster.waitConverged(empty, end - cluster.now(), 'gossip queues drained');
    if (!(await cluster.converged(() => !empty(), 1_000, 1))) return;
  }
  throw new Error(`gossip did not go quiet within ${limitMs} simulated ms`);
}

/**
 * Three nodes; n0 hears nothing while it suspects n1 and n1 refutes, so n0 alone keeps the
 * suspicion at incarnation 1 after the network heals. No indirect or TCP probes (a probe
 * through n2 would succeed) and no periodic push/pull (it would carry the refutation): only
 * gossip and probes remain. Long suspicion timeouts keep n0's own short deafness from getting
 * it declared dead by the others before it hears their accusations.
 */
async function missedRefutation(seed: number, answerStaleAccusations: boolean): Promise<Outcome> {
  const tuning = {
    indirectChecks: 0,
    disableTcpPings: true,
    pushPullIntervalMs: 0,
    suspicionMult: 10,
    answerStaleAccusations,
  };
  const cluster = await SimCluster.start({ seed, size: 3, tuning });
  const [n0, n1, n2] = [cluster.ml(0), cluster.ml(1), cluster.ml(2)];
  // Without periodic push/pull a join missed by gossip is never repaired: n2 exchanges state
  // with both others, so every view is complete without gossip.
  await cluster.join(1, 0);
  await cluster.settle(n2.join([seedOf(0), seedOf(1)]), 20_000, 'n2 joining');
  await cluster.waitConverged(() => cluster.allRunningAlive(), 30_000, 'convergence');
  const incarnationIn = (observer: Memberlist, name: string) =>
    observer.allNodes().find((m) => m.name === name)?.incarnation ?? 0;

  cluster.sim.network.cut(hostOf(1), hostOf(0));
  cluster.sim.network.cut(hostOf(2), hostOf(0));
  await cluster.waitConverged(() => cluster.stateIn(0, 'n1') === 'suspect', 20_000, 'n0 suspects n1');
  await cluster.waitConverged(() => n1.localNode.incarnation >= 2, 5_000, 'n1 refutes');
  // Every copy of the refutation has been sent (and lost on the way to n0). n2 has taken it up,
  // or, now and then, missed it as well (it gossiped n0's accusation too).
  await gossipQuiet(cluster, [n1, n2], 10_000);
  cluster.sim.network.uncut(hostOf(1), hostOf(0));
  cluster.sim.network.uncut(hostOf(2), hostOf(0));
  assert.is(cluster.stateIn(0, 'n1'), 'suspect', 'n0 missed the refutation');
  assert.is(incarnationIn(n0, 'n1'), 1);

  const since = cluster.events.length;
  const max = 6 * suspicionTimeout(tuning.suspicionMult, 3, 1_000);
  const deaths = () => cluster.deathsOf('n1', since);
  // The whole of n0's longest suspicion (and then some), unless somebody declares n1 dead first.
  await cluster.converged(() => deaths().length > 0, max + 5_000);
  return {
    repaired: incarnationIn(n0, 'n1') >= 2 && deaths().length === 0,
    declaredDead: deaths().map((e) => e.observer),
    answers: n1.stats().staleAccusationsAnswered,
  };
}

test('a member that missed a refutation is answered by the accused node before its timer runs out', async () => {
  await runSeeds({
    seeds: 20,
    file,
    scenario: async (seed) => {
      const outcome = await missedRefutation(seed, true);
      assert.equal(outcome.declaredDead, [], 'nobody declares the live node dead');
      assert.ok(outcome.repaired, 'n0 took up the refutation');
      assert.ok(outcome.answers >= 1, 'n1 answered the stale accusation');
    },
  });
});

test('control: with answerStaleAccusations off (memberlist), the member declares the live node dead', async () => {
  await runSeeds({
    seeds: 10,
    file,
    scenario: async (seed) => {
      const outcome = await missedRefutation(seed, false);
      assert.ok(outcome.declaredDead.includes('n0'), 'n0 declares n1 dead');
      assert.is(outcome.answers, 0);
    },
  });
});

test.run();
