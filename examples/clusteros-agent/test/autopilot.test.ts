// Raft autopilot: the pure planner (`planStep`) step by step, and `RaftAutopilot` driving a small
// fake Raft member (acts only as leader, one change per round, a refused change is logged and
// retried, stop ends the rounds). Every wait polls a condition with a deadline; "nothing happens"
// is checked against a witness that counts rounds, never against a fixed sleep.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type AutopilotInput,
  type AutopilotRaft,
  type AutopilotStep,
  CAUGHT_UP_SLACK,
  type Candidate,
  type ConfMember,
  planStep,
  RaftAutopilot,
} from '../src/agent/autopilot.js';

// ---------------------------------------------------------------------------------------------
// planStep

const LAST = 1_000;
const voter = (id: string, match = LAST): ConfMember => ({ id, voter: true, match });
const learner = (id: string, match = LAST): ConfMember => ({ id, voter: false, match });
const cand = (id: string, state: Candidate['state'] = 'alive'): Candidate => ({
  id,
  raftAddress: `${id}.example:7000`,
  state,
});

function plan(over: Partial<AutopilotInput>): AutopilotStep | null {
  return planStep({
    self: 'a',
    members: [voter('a')],
    lastIndex: LAST,
    candidates: [cand('a')],
    leaving: new Set(),
    targetVoters: 3,
    ...over,
  });
}

test('planStep: nothing to do for a lone leader with no other candidates', () => {
  assert.is(plan({}), null);
});

test('planStep: a new alive member is added as a learner, smallest id first, with its Raft address', () => {
  const step = plan({ candidates: [cand('a'), cand('d'), cand('c'), cand('b')] });
  assert.equal(step, { kind: 'add-learner', id: 'b', address: 'b.example:7000' });
  const next = plan({
    members: [voter('a'), learner('b', 0)],
    candidates: [cand('a'), cand('d'), cand('c'), cand('b')],
  });
  assert.equal(next, { kind: 'add-learner', id: 'c', address: 'c.example:7000' });
});

test('planStep: suspect, dead and left gossip members are not added', () => {
  for (const state of ['suspect', 'dead', 'left'] as const)
    assert.is(plan({ candidates: [cand('a'), cand('b', state)] }), null, state);
  // An alive one next to them is still added, even though its id sorts last.
  assert.equal(plan({ candidates: [cand('a'), cand('b', 'dead'), cand('c', 'suspect'), cand('z')] }), {
    kind: 'add-learner',
    id: 'z',
    address: 'z.example:7000',
  });
});

test('planStep: a member with a leave record is never added as a learner', () => {
  const step = plan({ candidates: [cand('a'), cand('b')], leaving: new Set(['b']) });
  assert.is.not(step?.kind, 'add-learner');
  // While b is still alive in gossip (finishing its shutdown) its record stays and nothing happens;
  // once the record is stale (b came back) it is cleared, and then b can be added again.
  assert.is(step, null);
  assert.equal(
    plan({ candidates: [cand('a'), cand('b')], leaving: new Set(['b']), staleLeaves: new Set(['b']) }),
    {
      kind: 'clear-leave',
      id: 'b',
    },
  );
  assert.equal(plan({ candidates: [cand('a'), cand('b', 'left')], leaving: new Set(['b']) }), {
    kind: 'clear-leave',
    id: 'b',
  });
});

test('planStep: a caught-up learner is promoted while voters are below the target', () => {
  const step = plan({
    members: [voter('a'), voter('b'), learner('c', LAST - CAUGHT_UP_SLACK)],
    candidates: [cand('a'), cand('b'), cand('c')],
  });
  assert.equal(step, { kind: 'promote', id: 'c' });
});

test('planStep: a lagging learner is not promoted', () => {
  const step = plan({
    members: [voter('a'), voter('b'), learner('c', LAST - CAUGHT_UP_SLACK - 1)],
    candidates: [cand('a'), cand('b'), cand('c')],
  });
  assert.is(step, null);
});

test('planStep: a caught-up learner that gossip does not see alive is not promoted', () => {
  for (const candidates of [
    [cand('a'), cand('b'), cand('c', 'suspect')],
    [cand('a'), cand('b')],
  ])
    assert.is(plan({ members: [voter('a'), voter('b'), learner('c')], candidates }), null);
});

test('planStep: the voter count stays odd — 1 voter + 1 learner waits for a second learner (target 3)', () => {
  assert.is(plan({ members: [voter('a'), learner('b')], candidates: [cand('a'), cand('b')] }), null);
  // A second learner that is still behind does not count.
  assert.is(
    plan({
      members: [voter('a'), learner('b'), learner('c', 0)],
      candidates: [cand('a'), cand('b'), cand('c')],
    }),
    null,
  );
  assert.equal(
    plan({
      members: [voter('a'), learner('c'), learner('b')],
      candidates: [cand('a'), cand('b'), cand('c')],
    }),
    { kind: 'promote', id: 'b' },
  );
});

test('planStep: 2 voters + 1 caught-up learner (target 3) promote it', () => {
  assert.equal(
    plan({ members: [voter('a'), voter('b'), learner('c')], candidates: [cand('a'), cand('b'), cand('c')] }),
    { kind: 'promote', id: 'c' },
  );
});

test('planStep: 3 voters + 1 learner with target 5 wait (4 would be even), 3 + 2 promote', () => {
  const members = [voter('a'), voter('b'), voter('c')];
  assert.is(
    plan({
      members: [...members, learner('d')],
      candidates: ['a', 'b', 'c', 'd'].map((id) => cand(id)),
      targetVoters: 5,
    }),
    null,
  );
  const candidates = ['a', 'b', 'c', 'd', 'e'].map((id) => cand(id));
  assert.equal(plan({ members: [...members, learner('d'), learner('e')], candidates, targetVoters: 5 }), {
    kind: 'promote',
    id: 'd',
  });
});

test('planStep: never promotes beyond the target', () => {
  const candidates = ['a', 'b', 'c', 'd', 'e'].map((id) => cand(id));
  assert.is(
    plan({
      members: [voter('a'), voter('b'), voter('c'), learner('d'), learner('e')],
      candidates,
      targetVoters: 3,
    }),
    null,
  );
  assert.is(
    plan({
      members: [voter('a'), learner('b'), learner('c')],
      candidates: ['a', 'b', 'c'].map((id) => cand(id)),
      targetVoters: 1,
    }),
    null,
  );
});

test('planStep: a departing learner is removed (leave record or gossip state left)', () => {
  const members = [voter('a'), voter('b'), voter('c'), learner('d')];
  assert.equal(
    plan({ members, candidates: ['a', 'b', 'c', 'd'].map((id) => cand(id)), leaving: new Set(['d']) }),
    { kind: 'remove', id: 'd' },
  );
  assert.equal(plan({ members, candidates: [cand('a'), cand('b'), cand('c'), cand('d', 'left')] }), {
    kind: 'remove',
    id: 'd',
  });
  // A departing learner is removed even before new members are added.
  assert.equal(
    plan({
      members,
      candidates: [cand('a'), cand('b'), cand('c'), cand('d', 'left'), cand('e')],
    }),
    { kind: 'remove', id: 'd' },
  );
});

test('planStep: a departing voter without a replacement stays a voter', () => {
  const members = [voter('a'), voter('b'), voter('c')];
  const candidates = [cand('a'), cand('b'), cand('c')];
  assert.is(plan({ members, candidates, leaving: new Set(['c']) }), null);
  assert.is(plan({ members, candidates: [cand('a'), cand('b'), cand('c', 'left')] }), null);
  // Only a lagging learner: still no removal (other steps may happen, but never removing c).
  const lagging = plan({
    members: [...members, learner('d', 0)],
    candidates: [...candidates, cand('d')],
    leaving: new Set(['c']),
  });
  assert.is(lagging, null);
  // A new member can still be added meanwhile; c is not removed.
  const other = plan({ members, candidates: [...candidates, cand('e')], leaving: new Set(['c']) });
  assert.equal(other, { kind: 'add-learner', id: 'e', address: 'e.example:7000' });
});

test('planStep: a departing voter gets a caught-up replacement promoted first, then is removed', () => {
  const candidates = ['a', 'b', 'c', 'd'].map((id) => cand(id));
  const leaving = new Set(['c']);
  const first = plan({ members: [voter('a'), voter('b'), voter('c'), learner('d')], candidates, leaving });
  assert.equal(first, { kind: 'promote', id: 'd' });
  // Now 4 voters (above the target of 3): c goes.
  const second = plan({ members: [voter('a'), voter('b'), voter('c'), voter('d')], candidates, leaving });
  assert.equal(second, { kind: 'remove', id: 'c' });
  // Out of the configuration but still alive in gossip (finishing its shutdown): c is neither
  // re-added nor its record cleared; once it has left gossip the record is cleared, then nothing
  // remains to do.
  const third = plan({ members: [voter('a'), voter('b'), voter('d')], candidates, leaving });
  assert.is(third, null);
  const gone = [cand('a'), cand('b'), cand('c', 'left'), cand('d')];
  assert.equal(plan({ members: [voter('a'), voter('b'), voter('d')], candidates: gone, leaving }), {
    kind: 'clear-leave',
    id: 'c',
  });
  assert.is(
    plan({ members: [voter('a'), voter('b'), voter('d')], candidates: gone, leaving: new Set<string>() }),
    null,
  );
});

test('planStep: the leader never removes itself, even with a leave record and a replacement', () => {
  const candidates = ['a', 'b', 'c', 'd'].map((id) => cand(id));
  const members = [voter('a'), voter('b'), voter('c'), voter('d')];
  const step = plan({ members, candidates, leaving: new Set(['a']) });
  assert.is.not(step?.kind, 'remove');
  assert.is(step, null);
  // Gossip state left for the leader itself: still not removed.
  const left = plan({ members, candidates: [cand('a', 'left'), cand('b'), cand('c'), cand('d')] });
  assert.is(left, null);
});

test('planStep: a leave record for an id outside the configuration is cleared (smallest first)', () => {
  assert.equal(plan({ leaving: new Set(['zed', 'gone']) }), { kind: 'clear-leave', id: 'gone' });
  // Clearing comes before any other change.
  assert.equal(plan({ candidates: [cand('a'), cand('b')], leaving: new Set(['x']) }), {
    kind: 'clear-leave',
    id: 'x',
  });
});

test('planStep: crashed (dead) voters are kept', () => {
  const members = [voter('a'), voter('b'), voter('c')];
  for (const state of ['dead', 'suspect'] as const)
    assert.is(plan({ members, candidates: [cand('a'), cand('b'), cand('c', state)] }), null, state);
  // Not even when a caught-up learner could replace it.
  const step = plan({
    members: [...members, learner('d'), learner('e')],
    candidates: [cand('a'), cand('b'), cand('c', 'dead'), cand('d'), cand('e')],
  });
  assert.is(step, null);
  // A dead voter missing from gossip altogether is kept too.
  assert.is(plan({ members, candidates: [cand('a'), cand('b')] }), null);
});

// ---------------------------------------------------------------------------------------------
// RaftAutopilot

interface Call {
  readonly op: 'addLearner' | 'promote' | 'removeServer' | 'propose';
  readonly id: string;
  /** The round (role reads) during which the call was made. */
  readonly round: number;
}

/** A fake Raft member whose configuration follows the changes it accepts. */
class FakeRaft implements AutopilotRaft {
  readonly id = 'a';
  currentRole = 'leader';
  /** Reads of `role`: exactly one per round. */
  roleReads = 0;
  lastIndex = 100;
  members: ConfMember[] = [{ id: 'a', voter: true, match: 100 }];
  readonly calls: Call[] = [];
  /** When set, the next call of that op rejects once. */
  failOnce: Call['op'] | undefined;
  /** When set, calls wait for it. */
  gate: Promise<void> | undefined;

  get role(): string {
    this.roleReads++;
    return this.currentRole;
  }

  status() {
    return { lastIndex: this.lastIndex, members: this.members.map((m) => ({ ...m })) };
  }

  async #call(op: Call['op'], id: string, change: () => void): Promise<unknown> {
    this.calls.push({ op, id, round: this.roleReads });
    if (this.gate !== undefined) await this.gate;
    if (this.failOnce === op) {
      this.failOnce = undefined;
      throw new Error(`${op} refused: a change is pending`);
    }
    change();
    return undefined;
  }

  addLearner(id: string, _address: string): Promise<unknown> {
    // A learner that has received everything at once (caught up).
    return this.#call('addLearner', id, () => this.members.push({ id, voter: false, match: this.lastIndex }));
  }

  promote(id: string): Promise<unknown> {
    return this.#call('promote', id, () => {
      this.members = this.members.map((m) => (m.id === id ? { ...m, voter: true } : m));
    });
  }

  removeServer(id: string): Promise<unknown> {
    return this.#call('removeServer', id, () => {
      this.members = this.members.filter((m) => m.id !== id);
    });
  }

  propose(command: Uint8Array): Promise<unknown> {
    return this.#call('propose', new TextDecoder().decode(command), () => {});
  }
}

interface LogLine {
  readonly level: 'info' | 'warn';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

function recordingLogger() {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj: object, msg: string) =>
      lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) =>
      lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
}

async function until(condition: () => boolean, what: string, limitMs = 3_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function autopilot(
  raft: FakeRaft,
  over: {
    candidates?: () => readonly Candidate[];
    leaving?: () => ReadonlySet<string>;
    targetVoters?: number;
  } = {},
) {
  const logger = recordingLogger();
  const pilot = new RaftAutopilot({
    raft,
    leaving: over.leaving ?? (() => new Set<string>()),
    candidates: over.candidates ?? (() => [cand('a')]),
    targetVoters: over.targetVoters ?? 3,
    clearLeave: (id) => raft.propose(new TextEncoder().encode(`clear:${id}`)),
    intervalMs: 5,
    logger,
  });
  return { pilot, logger };
}

/**
 * Runs the autopilot until it has made `changes` changes and then five more rounds with nothing
 * to do (so an extra change would have happened by then), and stops it.
 */
async function runUntilSettled(pilot: RaftAutopilot, raft: FakeRaft, changes: number): Promise<void> {
  pilot.start();
  try {
    await until(() => pilot.changes === changes, `${changes} changes`);
    const reads = raft.roleReads;
    await until(() => raft.roleReads >= reads + 5, 'five idle rounds');
  } finally {
    await pilot.stop();
  }
}

test('RaftAutopilot: grows a lone leader to 3 voters, one change per round, then stays put', async () => {
  const raft = new FakeRaft();
  const { pilot, logger } = autopilot(raft, { candidates: () => ['a', 'b', 'c'].map((id) => cand(id)) });
  await runUntilSettled(pilot, raft, 4);
  assert.equal(
    raft.calls.map((c) => `${c.op} ${c.id}`),
    ['addLearner b', 'addLearner c', 'promote b', 'promote c'],
  );
  const rounds = raft.calls.map((c) => c.round);
  assert.is(new Set(rounds).size, rounds.length, `one change per round, got rounds ${rounds.join(',')}`);
  assert.equal(
    raft.members.map((m) => `${m.id}:${m.voter ? 'voter' : 'learner'}`),
    ['a:voter', 'b:voter', 'c:voter'],
  );
  assert.is(pilot.changes, 4);
  assert.equal(
    logger.lines.map((l) => [l.level, l.obj.step, l.obj.member, l.msg]),
    [
      ['info', 'add-learner', 'b', 'raft autopilot changed the membership'],
      ['info', 'add-learner', 'c', 'raft autopilot changed the membership'],
      ['info', 'promote', 'b', 'raft autopilot changed the membership'],
      ['info', 'promote', 'c', 'raft autopilot changed the membership'],
    ],
  );
});

test('RaftAutopilot: does nothing unless this member leads, and starts once it does', async () => {
  const raft = new FakeRaft();
  raft.currentRole = 'follower';
  let candidateReads = 0;
  const { pilot } = autopilot(raft, {
    candidates: () => {
      candidateReads++;
      return [cand('a'), cand('b')];
    },
  });
  pilot.start();
  try {
    await until(() => raft.roleReads >= 5, 'five rounds as follower');
    assert.equal(raft.calls, []);
    assert.is(candidateReads, 0, 'a follower does not even plan');
    raft.currentRole = 'candidate';
    const reads = raft.roleReads;
    await until(() => raft.roleReads >= reads + 5, 'five rounds as candidate');
    assert.equal(raft.calls, []);
    raft.currentRole = 'leader';
    await until(() => pilot.changes === 1, 'the first change as leader');
  } finally {
    await pilot.stop();
  }
  assert.equal(
    raft.calls.map((c) => `${c.op} ${c.id}`),
    ['addLearner b'],
  );
});

test('RaftAutopilot: a refused change is logged as a warning and retried next round', async () => {
  const raft = new FakeRaft();
  raft.failOnce = 'addLearner';
  const { pilot, logger } = autopilot(raft, { candidates: () => [cand('a'), cand('b')] });
  pilot.start();
  try {
    await until(() => pilot.changes === 1, 'the retried change');
  } finally {
    await pilot.stop();
  }
  const adds = raft.calls.filter((c) => c.op === 'addLearner');
  assert.is(adds.length, 2);
  assert.ok((adds[1]?.round ?? 0) > (adds[0]?.round ?? 0), 'the retry happened in a later round');
  const warn = logger.lines.find((l) => l.level === 'warn');
  assert.ok(warn !== undefined, 'a warning was logged');
  assert.is(warn.msg, 'raft autopilot step failed');
  assert.equal(warn.obj, {
    step: 'add-learner',
    member: 'b',
    error: 'addLearner refused: a change is pending',
  });
  assert.equal(
    logger.lines.map((l) => l.level),
    ['warn', 'info'],
  );
  assert.equal(
    raft.members.map((m) => m.id),
    ['a', 'b'],
  );
});

test('RaftAutopilot: removes a departing voter after promoting its replacement, then clears the record', async () => {
  const raft = new FakeRaft();
  raft.members = [
    { id: 'a', voter: true, match: 100 },
    { id: 'b', voter: true, match: 100 },
    { id: 'c', voter: true, match: 100 },
    { id: 'd', voter: false, match: 100 },
  ];
  const leaving = new Set(['c']);
  // c leaves the gossip pool once it is out of the configuration (as its agent does).
  const { pilot } = autopilot(raft, {
    candidates: () =>
      ['a', 'b', 'c', 'd'].map((id) =>
        cand(id, id === 'c' && !raft.members.some((m) => m.id === 'c') ? 'left' : 'alive'),
      ),
    leaving: () => leaving,
  });
  // The fake's propose stands for the KV delete of the leave record.
  const propose = raft.propose.bind(raft);
  raft.propose = async (command) => {
    const result = await propose(command);
    leaving.delete(new TextDecoder().decode(command).replace(/^clear:/, ''));
    return result;
  };
  await runUntilSettled(pilot, raft, 3);
  assert.equal(
    raft.calls.map((c) => `${c.op} ${c.id}`),
    ['promote d', 'removeServer c', 'propose clear:c'],
  );
  assert.equal(
    raft.members.map((m) => `${m.id}:${m.voter ? 'voter' : 'learner'}`),
    ['a:voter', 'b:voter', 'd:voter'],
  );
  assert.is(leaving.size, 0);
});

test('RaftAutopilot: stop() ends the rounds and waits for the change in progress', async () => {
  const raft = new FakeRaft();
  let release: () => void = () => {};
  raft.gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const { pilot } = autopilot(raft, { candidates: () => [cand('a'), cand('b'), cand('c')] });
  pilot.start();
  await until(() => raft.calls.length === 1, 'a change in progress');
  let stopped = false;
  const stopping = pilot.stop().then(() => {
    stopped = true;
  });
  // Let pending callbacks run: stop must still be waiting for the change.
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(stopped, false, 'stop waits for the round in progress');
  release();
  await stopping;
  assert.is(pilot.changes, 1, 'the change in progress completed before stop resolved');
  const readsAtStop = raft.roleReads;

  // A witness with the same interval runs many rounds; the stopped autopilot runs none.
  const witnessRaft = new FakeRaft();
  witnessRaft.currentRole = 'follower';
  const { pilot: witness } = autopilot(witnessRaft);
  witness.start();
  try {
    await until(() => witnessRaft.roleReads >= 10, 'ten witness rounds');
  } finally {
    await witness.stop();
  }
  assert.is(raft.roleReads, readsAtStop, 'no round after stop');
  assert.equal(
    raft.calls.map((c) => `${c.op} ${c.id}`),
    ['addLearner b'],
  );
});

test('RaftAutopilot: stop() before the first round means no round at all', async () => {
  const raft = new FakeRaft();
  const { pilot } = autopilot(raft, { candidates: () => [cand('a'), cand('b')] });
  pilot.start();
  await pilot.stop();
  const witnessRaft = new FakeRaft();
  witnessRaft.currentRole = 'follower';
  const { pilot: witness } = autopilot(witnessRaft);
  witness.start();
  try {
    await until(() => witnessRaft.roleReads >= 5, 'five witness rounds');
  } finally {
    await witness.stop();
  }
  assert.is(raft.roleReads, 0);
  assert.equal(raft.calls, []);
});

test('planStep: with two voters, a voter that asked to leave is replaced by the learner and then removed', () => {
  const candidates = ['a', 'b', 'd'].map((id) => cand(id));
  const leaving = new Set(['b']);
  // b asked when there were two voters.
  const votersAtLeave = new Map([['b', 2]]);
  assert.equal(
    plan({ members: [voter('a'), voter('b'), learner('d')], candidates, leaving, votersAtLeave }),
    {
      kind: 'promote',
      id: 'd',
    },
  );
  // Two voters stay (a and d), as many as before: b goes.
  assert.equal(plan({ members: [voter('a'), voter('b'), voter('d')], candidates, leaving, votersAtLeave }), {
    kind: 'remove',
    id: 'b',
  });
  // Without the recorded count the rule is the current count (3): b would stay.
  assert.is(plan({ members: [voter('a'), voter('b'), voter('d')], candidates, leaving }), null);
  // Control: b only left gossip (no request) and no learner exists: it stays a voter.
  assert.is(plan({ members: [voter('a'), voter('b')], candidates: [cand('a'), cand('b', 'left')] }), null);
});

test.run();
