/**
 * Randomized safety and liveness of the Raft core: each seed builds a cluster and runs it through
 * random partitions, message loss, duplication and reordering, crashes and restarts, log
 * compaction, random proposals and (in the second test) random membership changes, checking
 * the safety properties after every step:
 * - at most one leader per term;
 * - the committed entries every node stores agree, and so do the applied sequences;
 * - applied entries never change.
 * At the end the network heals and the members of the final configuration must converge on
 * one log that holds every entry that was ever applied anywhere.
 *
 * Replay one seed: `SIM_SEED=<n> npm test -- packages/raft/test/raft-random.test.ts`.
 */
import { type Random, runSeeds, SeededRandom } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { membersOf } from '../src/core/confchange.js';
import type { ConfChange, ConfChangeStep, ConfState } from '../src/core/types.js';
import { type CoreOptions, Network, text } from './harness/network.js';

const SEEDS = 1_000;
const MEMBERSHIP_SEEDS = 150;
const STEPS = 1500;

function randomCoreOptions(r: Random): CoreOptions {
  const checkQuorum = r.chance(0.7);
  return {
    electionTicks: r.int(4, 9),
    heartbeatTicks: 1,
    preVote: r.chance(0.7),
    checkQuorum,
    maxInflightMsgs: r.int(1, 5),
    maxSizePerMsg: r.pick([1, 8, 64, 1024]),
    readMode: checkQuorum && r.chance(0.3) ? 'lease' : 'safe',
  };
}

function randomPartition(r: Random, ids: readonly string[]): string[][] {
  const shuffled = r.shuffle([...ids]);
  const cut = r.int(1, ids.length);
  return [shuffled.slice(0, cut), shuffled.slice(cut)];
}

/** A random (possibly invalid: the core must refuse those) change from `conf` within `universe`. */
function randomChange(r: Random, conf: ConfState, universe: readonly string[]): ConfChange {
  const pick = r.next();
  if (conf.votersOutgoing.length > 0 && pick < 0.5) return { mode: 'leaveJoint', steps: [] };
  if (pick < 0.6) {
    const voters = r.shuffle([...universe]).slice(0, r.int(1, universe.length + 1));
    const steps: ConfChangeStep[] = [];
    for (const id of universe) {
      if (voters.includes(id)) steps.push({ type: 'addVoter', id });
      else if (conf.voters.includes(id)) steps.push({ type: r.chance(0.5) ? 'addLearner' : 'remove', id });
    }
    return { mode: 'joint', steps, autoLeave: r.chance(0.7) };
  }
  const type = r.pick(['addVoter', 'addLearner', 'remove'] as const);
  return { mode: 'simple', steps: [{ type, id: r.pick(universe) }] };
}

async function scenario(seed: number, membership: boolean): Promise<void> {
  const r = new SeededRandom(seed).fork(membership ? 'membership' : 'scenario');
  const size = membership ? 3 : r.pick([3, 3, 5]);
  const voters = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const spare = membership ? ['n4', 'n5'] : [];
  const ids = [...voters, ...spare];
  const net = new Network({ voters, spare, seed, core: randomCoreOptions(r) });
  net.checkEveryStep = true;
  net.dropRate = r.pick([0, 0.05, 0.2]);
  net.duplicateRate = r.pick([0, 0.05]);
  net.reorder = r.chance(0.5);
  let proposals = 0;
  const everApplied = new Set<string>();
  net.onApply = (_id, entry) => {
    if (entry.kind === 'normal' && entry.data.byteLength > 0) everApplied.add(text(entry.data));
  };
  const down = new Set<string>();
  const maxDown = membership ? 1 : Math.floor((size - 1) / 2);

  for (let step = 0; step < STEPS; step++) {
    const action = r.next();
    const at = r.pick(ids);
    const live = !down.has(at);
    if (action < 0.2) {
      net.tick(r.chance(0.7) ? undefined : at);
    } else if (action < 0.6) {
      for (let i = r.int(1, 10); i > 0 && net.deliverOne(); i--) {
        // deliver a few
      }
    } else if (action < 0.8) {
      for (const id of ids) if (!down.has(id)) await net.processReady(id);
    } else if (action < 0.92) {
      try {
        if (live) net.core(at).propose(new TextEncoder().encode(`p${seed}.${proposals++}`));
      } catch {
        // NotLeaderError / ProposalDroppedError are expected under faults
      }
    } else if (action < 0.94) {
      net.recover();
      net.dropRate = r.pick([0, 0.05, 0.2]);
      net.duplicateRate = r.pick([0, 0.05]);
      net.reorder = r.chance(0.5);
      if (r.chance(0.6)) net.partition(...randomPartition(r, ids));
    } else if (action < 0.955) {
      if (down.has(at)) {
        net.restart(at, r.chance(0.5));
        down.delete(at);
      } else if (down.size < maxDown) {
        await net.processReady(at);
        net.crash(at);
        down.add(at);
      }
    } else if (action < 0.975) {
      if (live) await net.compact(at, r.int(0, 3));
    } else if (action < 0.98) {
      if (live) net.core(at).campaign();
    } else if (action < 0.99 || !membership) {
      // A transfer asked of a random member (only a leader takes it) to a random member: the
      // old leader's vote rides with timeoutNow, under the same loss and crashes.
      try {
        if (live) net.core(at).transferLeadership(r.pick(ids));
      } catch {
        // not the leader, or a target that is not a voter
      }
    } else if (live) {
      try {
        net.core(at).proposeConfChange(randomChange(r, net.status(at).conf, ids));
      } catch {
        // not the leader, a change pending, or an invalid change: all refused up front
      }
    }
  }

  // Heal: restart everyone, then converge. Members removed for good are shut down, as a
  // driver would do once it applies its own removal.
  for (const id of down) net.restart(id, r.chance(0.5));
  net.recover();
  let members: string[] = ids;
  let converged = false;
  for (let round = 0; round < 300 && !converged; round++) {
    await net.tickAndStabilize(1);
    const leader = net.leader();
    if (leader === null) continue;
    const conf = net.status(leader).conf;
    if (conf.votersOutgoing.length > 0 && !conf.autoLeave) {
      try {
        net.core(leader).proposeConfChange({ mode: 'leaveJoint', steps: [] });
      } catch {
        // already proposed and not applied yet
      }
    }
    members = membersOf(conf);
    for (const id of ids) {
      if (!members.includes(id) && !net.node(id).down) net.crash(id);
      if (members.includes(id) && net.node(id).down) net.restart(id);
    }
    const { commitIndex, lastIndex } = net.status(leader);
    converged =
      conf.votersOutgoing.length === 0 &&
      members.every((id) => {
        const s = net.status(id);
        return s.commitIndex === commitIndex && s.lastIndex === lastIndex && s.leader === leader;
      });
  }
  if (!converged) {
    const state = ids.map((id) => {
      const st = net.status(id);
      const down = net.node(id).down ? ' (down)' : '';
      return `${id}${down}: ${st.role} t${st.term} leader=${st.leader} commit=${st.commitIndex} last=${st.lastIndex} conf=${JSON.stringify(st.conf)} dropped=${JSON.stringify(net.core(id).stats().dropped)}`;
    });
    assert.unreachable(`seed ${seed}: the cluster did not converge after healing\n${state.join('\n')}`);
  }
  net.checkSafety(true);
  const leader = net.leader() ?? '';
  const reference = net.appliedData(leader);
  for (const id of members) assert.equal(net.appliedData(id), reference, `seed ${seed}: ${id} diverged`);
  const final = new Set(reference);
  for (const p of everApplied) assert.ok(final.has(p), `seed ${seed}: committed proposal ${p} lost`);
  if (process.env.RAFT_DEBUG !== undefined) {
    const stats = ids.map((id) => net.core(id).stats());
    const sum = (f: (s: (typeof stats)[number]) => number) => stats.reduce((a, s) => a + f(s), 0);
    console.log(
      `seed ${seed}: ${proposals} proposed, ${reference.length} applied, term ${net.status(leader).term},`,
      `members ${members.join(',')}, snapshots ${sum((s) => s.snapshotsSent)}, elections ${sum((s) => s.elections)}`,
    );
  }
}

test(`random faults keep Raft safe and live (${SEEDS} seeds)`, async () => {
  await runSeeds({ seeds: SEEDS, file: import.meta.url, scenario: (seed) => scenario(seed, false) });
});

test(`random membership changes under faults stay safe and live (${MEMBERSHIP_SEEDS} seeds)`, async () => {
  await runSeeds({
    seeds: MEMBERSHIP_SEEDS,
    firstSeed: 100_001,
    file: import.meta.url,
    scenario: (seed) => scenario(seed, true),
  });
});

test.run();
