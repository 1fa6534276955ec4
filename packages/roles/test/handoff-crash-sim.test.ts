// Coordinated handoff under crashes and partitions, enumerated step by step: the old holder, the target, the
// coordinator, or holder and target together crash at every step of a handoff (inside each role
// call and right after each record change reaches them). After the crashed nodes restart, the
// cluster must settle by itself with exactly one acting holder and a final handoff record, and
// at no instant may two nodes act as the role's leader. The same steps are replayed with the
// nodes cut off by a partition instead of crashed, healed later. Each point runs over several seeds; a
// failure prints the seed and the replay command.
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeHandoff, type HandoffPhase, handoffKey } from '../src/index.js';
import type { RoleCall } from './support/recording-role.js';
import { type RolesCluster, startRolesCluster, TEST_LEASE } from './support/roles-cluster.js';

const SEEDS_PER_POINT = Number(process.env.HANDOFF_SEEDS ?? 8);
const ttl = TEST_LEASE.ttlMs ?? 3000;
const HANDOFF_TIMEOUT_MS = 2_000;

type Who = 'holder' | 'target' | 'coordinator';
type Trigger =
  | { readonly call: RoleCall; readonly moment: 'enter' | 'exit' }
  | { readonly record: HandoffPhase };

interface CrashPoint {
  readonly name: string;
  readonly who: readonly Who[];
  readonly when: Trigger;
  /** `crash` (the default) kills the nodes; `partition` cuts them off from the others until healed. */
  readonly fault?: 'crash' | 'partition';
}

const POINTS: readonly CrashPoint[] = [
  {
    name: 'holder inside prepareHandoff',
    who: ['holder'],
    when: { call: 'prepareHandoff', moment: 'enter' },
  },
  {
    name: 'holder after prepareHandoff, before recording',
    who: ['holder'],
    when: { call: 'prepareHandoff', moment: 'exit' },
  },
  { name: 'holder once prepared is recorded', who: ['holder'], when: { record: 'prepared' } },
  { name: 'holder once the lease moved', who: ['holder'], when: { record: 'moved' } },
  {
    name: 'holder inside completeHandoff',
    who: ['holder'],
    when: { call: 'completeHandoff', moment: 'enter' },
  },
  {
    name: 'holder after completeHandoff',
    who: ['holder'],
    when: { call: 'completeHandoff', moment: 'exit' },
  },
  { name: 'holder once completed is recorded', who: ['holder'], when: { record: 'completed' } },
  { name: 'target once intent is recorded', who: ['target'], when: { record: 'intent' } },
  { name: 'target inside warmHandoff', who: ['target'], when: { call: 'warmHandoff', moment: 'enter' } },
  {
    name: 'target after warmHandoff, before recording ready',
    who: ['target'],
    when: { call: 'warmHandoff', moment: 'exit' },
  },
  { name: 'target once ready is recorded', who: ['target'], when: { record: 'ready' } },
  { name: 'holder once ready is recorded', who: ['holder'], when: { record: 'ready' } },
  { name: 'target inside acceptHandoff', who: ['target'], when: { call: 'acceptHandoff', moment: 'enter' } },
  { name: 'target after acceptHandoff', who: ['target'], when: { call: 'acceptHandoff', moment: 'exit' } },
  {
    name: 'target inside its warm-up health check',
    who: ['target'],
    when: { call: 'health', moment: 'enter' },
  },
  { name: 'target once the lease moved', who: ['target'], when: { record: 'moved' } },
  { name: 'target inside start as new holder', who: ['target'], when: { call: 'start', moment: 'enter' } },
  { name: 'target after start as new holder', who: ['target'], when: { call: 'start', moment: 'exit' } },
  { name: 'coordinator once intent is recorded', who: ['coordinator'], when: { record: 'intent' } },
  { name: 'coordinator once prepared is recorded', who: ['coordinator'], when: { record: 'prepared' } },
  {
    name: 'holder and target once prepared is recorded',
    who: ['holder', 'target'],
    when: { record: 'prepared' },
  },
  { name: 'holder and target once the lease moved', who: ['holder', 'target'], when: { record: 'moved' } },
];

/** Partitions during a handoff: the nodes named are cut off together (from the rest) at that step. */
const PARTITIONS: readonly CrashPoint[] = [
  {
    name: 'holder cut off once ready is recorded',
    who: ['holder'],
    when: { record: 'ready' },
    fault: 'partition',
  },
  {
    name: 'holder cut off once intent is recorded',
    who: ['holder'],
    when: { record: 'intent' },
    fault: 'partition',
  },
  {
    name: 'holder cut off once prepared is recorded',
    who: ['holder'],
    when: { record: 'prepared' },
    fault: 'partition',
  },
  {
    name: 'holder cut off once the lease moved',
    who: ['holder'],
    when: { record: 'moved' },
    fault: 'partition',
  },
  {
    name: 'target cut off once prepared is recorded',
    who: ['target'],
    when: { record: 'prepared' },
    fault: 'partition',
  },
  {
    name: 'target cut off inside acceptHandoff',
    who: ['target'],
    when: { call: 'acceptHandoff', moment: 'enter' },
    fault: 'partition',
  },
  {
    name: 'target cut off once the lease moved',
    who: ['target'],
    when: { record: 'moved' },
    fault: 'partition',
  },
  {
    name: 'coordinator cut off once intent is recorded',
    who: ['coordinator'],
    when: { record: 'intent' },
    fault: 'partition',
  },
  {
    name: 'holder and target cut off together once prepared is recorded',
    who: ['holder', 'target'],
    when: { record: 'prepared' },
    fault: 'partition',
  },
];

/** The role's handoff record as node `id`'s replica has it. */
function recordOn(c: RolesCluster, id: string) {
  const entry = c.nodes.get(id)?.machine.get(handoffKey('/clusteros/', c.roleName));
  return entry === undefined ? undefined : decodeHandoff(entry.value, 'handoff');
}

async function scenario(seed: number, point: CrashPoint): Promise<void> {
  const roles: { holder?: string; target?: string; coordinator?: string } = {};
  const crashed = new Set<string>();
  let armed = false;
  const reached = (): boolean => !armed;
  let cluster: RolesCluster | undefined;

  const crashSoon = (id: string): void => {
    const c = cluster;
    if (c === undefined || crashed.has(id)) return;
    crashed.add(id);
    // At the next event, not inside the caller's stack: a crash is instantaneous for the node.
    c.sim.clock.setTimeout(() => c.crash(id), 0);
  };
  let partitioned = false;
  const fire = (): void => {
    if (!armed) return;
    armed = false;
    const victims = point.who.map((who) => roles[who]).filter((id): id is string => id !== undefined);
    if (point.fault === 'partition') {
      const c = cluster;
      if (c === undefined) return;
      partitioned = true;
      c.sim.clock.setTimeout(
        () => c.sim.partition([victims, c.ids.filter((id) => !victims.includes(id))]),
        0,
      );
      return;
    }
    for (const id of victims) crashSoon(id);
  };
  const isVictim = (id: string): boolean => point.who.some((who) => roles[who] === id);
  const firstVictim = (): string | undefined => roles[point.who[0] ?? 'holder'];

  const c = await startRolesCluster(seed, {
    size: 5,
    handoffTimeoutMs: HANDOFF_TIMEOUT_MS,
    role: {
      hookFor: (id) => (call, moment) => {
        const when = point.when;
        if (!armed || 'record' in when || when.call !== call || when.moment !== moment) return undefined;
        if (id !== firstVictim()) return undefined;
        fire();
        return point.fault === 'partition' ? undefined : 'freeze';
      },
    },
  });
  cluster = c;

  await c.waitFor(() => c.acting().length === 1, 10_000, 'a holder acts');
  // The handoff starts on a settled store: every node follows the same Raft leader (a holder can
  // act while Raft is still electing, since its lease is valid).
  const leaderOf = (id: string) => c.nodes.get(id)?.raft.leader ?? null;
  await c.waitFor(
    () => {
      const first = leaderOf(c.ids[0] ?? 'n1');
      return first !== null && c.ids.every((id) => leaderOf(id) === first);
    },
    10_000,
    'every node follows one Raft leader',
  );
  const holder = c.acting()[0];
  assert.ok(holder !== undefined);
  const others = c.ids.filter((id) => id !== holder);
  const pick = c.sim.random.fork('pick');
  const target = others[pick.int(0, others.length)] ?? 'n1';
  const rest = others.filter((id) => id !== target);
  const coordinator = rest[pick.int(0, rest.length)] ?? 'n1';
  Object.assign(roles, { holder, target, coordinator });

  if ('record' in point.when) {
    const phase = point.when.record;
    for (const who of point.who) {
      const id = roles[who];
      const node = id === undefined ? undefined : c.nodes.get(id);
      // Checked after every applied entry: a batch can carry `moved` and `completed` together.
      node?.machine.onEntry(() => {
        if (id !== undefined && armed && isVictim(id) && recordOn(c, id)?.phase === phase) fire();
      });
    }
  }

  armed = true;
  const before = c.tokens.at(-1) ?? 0;
  let outcome: 'resolved' | 'rejected' | undefined;
  const coordinatorNode = c.nodes.get(coordinator);
  assert.ok(coordinatorNode !== undefined);
  // The links lose up to 2% of messages and a proposal forwarded to the leader is not sent
  // again while the leader stays: a handoff whose intent proposal was lost times out before it
  // wrote anything (seed 40026) and never reaches the crash point. The coordinator's caller (an
  // operator, the agent) tries again then, and so does this test: at most three attempts, and
  // only while nothing of the handoff is recorded.
  let attempts = 0;
  const begin = (): void => {
    attempts++;
    coordinatorNode.manager.coordinator.transfer(c.roleName, target, { timeoutMs: HANDOFF_TIMEOUT_MS }).then(
      () => {
        outcome = 'resolved';
      },
      () => {
        const untouched = c.ids.every((id) => recordOn(c, id) === undefined);
        if (armed && untouched && attempts < 3 && !crashed.has(coordinator)) begin();
        else outcome = 'rejected';
      },
    );
  };
  begin();

  // Let the handoff run into the crash and past its deadline, then bring the dead back.
  await c.run(HANDOFF_TIMEOUT_MS + ttl + pick.int(0, 1000));
  assert.equal(c.violations, [], `violations while crashing (${point.name})`);
  for (const id of crashed) await c.restart(id);
  if (partitioned) c.sim.heal();

  // Settle: one acting holder, a final record everywhere, and it stays so.
  const settled = (): boolean => {
    if (c.acting().length !== 1) return false;
    return c.ids.every((id) => {
      const phase = recordOn(c, id)?.phase;
      return phase === 'completed' || phase === 'aborted';
    });
  };
  await c.waitFor(settled, 12 * ttl, `the cluster settles after "${point.name}"`);
  await c.run(2 * ttl);
  assert.equal(c.violations, [], `violations after restart (${point.name})`);
  assert.equal(c.acting().length, 1, 'exactly one holder once faults healed');
  assert.ok(reached(), `the crash point "${point.name}" was never reached`);

  const final = recordOn(c, holder);
  assert.ok(final !== undefined);
  // Resume or abort, never both: the record and the old holder's calls agree.
  const oldRole = c.nodes.get(holder)?.role;
  if (oldRole !== undefined && !crashed.has(holder)) {
    const aborted = oldRole.count('abortHandoff') > 0;
    const completed = oldRole.count('completeHandoff') > 0;
    assert.ok(!(aborted && completed), 'the old holder both resumed and completed');
    if (final.phase === 'aborted') assert.not.ok(completed, 'aborted, yet the old holder completed');
    if (final.phase === 'completed') assert.not.ok(aborted, 'completed, yet the old holder resumed');
  }
  if (outcome === 'resolved') assert.equal(final.phase, 'completed', 'the coordinator reported success');
  assert.ok((c.tokens.at(-1) ?? 0) >= before, 'tokens never go back');
}

for (const point of POINTS) {
  test(`crash: ${point.name}`, async () => {
    await runSeeds({
      seeds: SEEDS_PER_POINT,
      file: import.meta.url,
      scenario: (seed) => scenario(seed, point),
    });
  });
}

for (const point of PARTITIONS) {
  test(`partition: ${point.name}`, async () => {
    await runSeeds({
      seeds: SEEDS_PER_POINT,
      file: import.meta.url,
      scenario: (seed) => scenario(seed, point),
    });
  });
}

test.run();
