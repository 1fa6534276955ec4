// How soon a freshly started cluster has a leader that every member knows, with and without
// `initialElectionTickAdvance` (etcd's initial election tick advance), and how soon after a
// leader dies: a candidate's vote requests do not wait for its own fsync, and members started
// in the same instant do not tick in lockstep (which made equal draws split votes). Deterministic
// simulation over many seeds: three RaftNodes, election timeout 300 ms, heartbeat 50 ms, links
// of 1–5 ms.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RaftTransport } from '../src/transport/transport.js';
import { observeInbound, slowSaves, startKvTrio } from './support/kv-trio.js';

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

// Saves take 60 ms once the leader is gone. A candidate asks for votes while its new term and its
// vote for itself are still being written: each vote request reaches the other survivor before
// the candidate's save of that term and vote has finished. The election still ends with one
// leader that both survivors know.
async function earlyVoteScenario(seed: number): Promise<void> {
  const SLOW_SAVE_MS = 60;
  let slow = false;
  let now = () => 0;
  const requests: { from: string; term: number; at: number }[] = [];
  const ownVotesDurable: { id: string; term: number; at: number }[] = [];
  const recording = (_id: string, transport: RaftTransport): RaftTransport =>
    observeInbound(transport, (message) => {
      if (message.type === 'vote' && !message.preVote)
        requests.push({ from: message.from, term: message.term, at: now() });
    });
  const trio = await startKvTrio({
    seed,
    transport: recording,
    storage: (id, storage, clock) => {
      const slowed = slowSaves(storage, clock, () => (slow ? SLOW_SAVE_MS : 0));
      return new Proxy(slowed, {
        get(target, property) {
          if (property !== 'save') return Reflect.get(target, property, target);
          return async (update: Parameters<typeof storage.save>[0]) => {
            await target.save(update);
            const hard = update.hardState;
            if (hard !== undefined && hard.vote === id)
              ownVotesDurable.push({ id, term: hard.term, at: now() });
          };
        },
      });
    },
  });
  const { sim, leader, nodes } = trio;
  now = () => sim.clock.now();
  slow = true;
  const termBefore = leader.status().term;
  trio.crash(leader.id);
  const survivors = [...nodes.values()].filter((n) => n.id !== leader.id);
  await sim.waitFor(
    () =>
      survivors.every(
        (n) => n.leader !== null && n.leader !== leader.id && n.leader === survivors[0]?.leader,
      ),
    5_000,
    'a new leader both survivors know',
  );
  // Campaigns after the crash are in later terms (a request of an earlier one may still be on
  // its way).
  const campaigns = requests.filter((r) => r.term > termBefore);
  assert.ok(campaigns.length > 0, `seed ${seed}: a survivor asked for votes`);
  for (const request of campaigns) {
    const durable = ownVotesDurable.find((v) => v.id === request.from && v.term === request.term);
    // A request may even arrive before the save is done at all (`durable` still undefined).
    assert.ok(
      durable === undefined || request.at < durable.at,
      `seed ${seed}: ${request.from}'s vote request for term ${request.term} arrived at ${request.at}, after its own vote was durable at ${durable?.at}`,
    );
  }
}

test('a candidate asks for votes while its own term and vote are still being written', async () => {
  await runSeeds({ seeds: 20, file: import.meta.url, scenario: earlyVoteScenario });
});

test('members started together do not split their votes in lockstep after the leader dies', async () => {
  // Two survivors draw their election timeouts in whole ticks, 6 to 11 at 300/50 ms: in
  // lockstep every equal draw (1 in 6) is a split vote costing a whole round; with their ticks
  // at random phases they campaign apart and the first one wins. Count the rounds lost.
  const SPLIT_SEEDS = 200;
  let lostRounds = 0;
  const lost: string[] = [];
  for (let seed = 1; seed <= SPLIT_SEEDS; seed++) {
    const trio = await startKvTrio({ seed });
    const { sim, leader } = trio;
    const termBefore = leader.status().term;
    trio.crash(leader.id);
    const survivors = [...trio.nodes.values()];
    await sim.waitFor(() => survivors.some((n) => n.role === 'leader'), 10_000, `seed ${seed}: a new leader`);
    const extra = Math.max(...survivors.map((n) => n.status().term)) - termBefore - 1;
    if (extra > 0) lost.push(`seed ${seed}: ${extra}`);
    lostRounds += extra;
  }
  // In lockstep these seeds lost 47 rounds (about 1 in 5 elections, a draw in 6 plus repeats);
  // apart, a round is lost only when both campaign within a link's latency: 7.
  assert.ok(
    lostRounds <= SPLIT_SEEDS / 10,
    `split-vote rounds over ${SPLIT_SEEDS} seeds: ${lostRounds} (${lost.join(', ')})`,
  );
});

test.run();
