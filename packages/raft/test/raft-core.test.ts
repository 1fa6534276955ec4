/**
 * Feature tests of the deterministic Raft core: the Raft paper's properties and every feature
 * of RaftCore, on the in-process harness (test/harness/network.ts) or on one core driven by
 * hand with crafted messages.
 */
import { SeededRandom } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RaftCoreConfig } from '../src/core/config.js';
import { RaftCore } from '../src/core/raft-core.js';
import { RaftLog } from '../src/core/raft-log.js';
import type { Entry, HardState, Message, NodeId, Ready } from '../src/core/types.js';
import {
  isConfChangeError,
  isInvariantError,
  isNotLeaderError,
  isProposalDroppedError,
  isRaftConfigError,
  type NotLeaderError,
} from '../src/errors.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import {
  bytes,
  type CoreOptions,
  confChangeOf,
  confEntryData,
  confOf,
  encodeApplied,
  Network,
  text,
} from './harness/network.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const ids3 = ['n1', 'n2', 'n3'];
const ids5 = ['n1', 'n2', 'n3', 'n4', 'n5'];

function cluster(
  voters: string[],
  core: CoreOptions = {},
  extra: { learners?: string[]; spare?: string[]; seed?: number } = {},
) {
  return new Network({
    voters,
    core,
    seed: extra.seed ?? 7,
    learners: extra.learners ?? [],
    spare: extra.spare ?? [],
  });
}

async function withLeader(
  voters: string[],
  core: CoreOptions = {},
  extra: { learners?: string[]; spare?: string[] } = {},
) {
  const net = cluster(voters, core, extra);
  net.checkEveryStep = true;
  await net.elect(voters[0] ?? 'n1');
  assert.is(net.leader(), voters[0]);
  return net;
}

function entry(index: number, term: number, data = ''): Entry {
  return { index, term, kind: 'normal', data: bytes(data) };
}

/** A storage bootstrapped like the driver does (snapshot at 1, term 1), optionally with entries. */
function bootStorage(
  voters: string[],
  entries: Entry[] = [],
  hardState?: HardState,
  learners: string[] = [],
): MemoryStorage {
  return new MemoryStorage({
    snapshot: {
      meta: { index: 1, term: 1, conf: confOf(voters, learners), addresses: {} },
      data: encodeApplied([]),
    },
    hardState: hardState ?? { term: 1, vote: null, commit: 1 },
    entries,
  });
}

function makeCore(id: string, storage: MemoryStorage, options: CoreOptions = {}): RaftCore {
  return new RaftCore({ id, storage, random: new SeededRandom(3).fork(id), ...options });
}

/** Persists and applies one Ready of a hand-driven core; returns it. */
async function drain(core: RaftCore, storage: MemoryStorage): Promise<Ready> {
  const rd = core.ready();
  if (rd.snapshot !== undefined) await storage.installSnapshot(rd.snapshot);
  await storage.save({
    entries: rd.entries,
    ...(rd.hardState === undefined ? {} : { hardState: rd.hardState }),
  });
  core.advance(rd);
  return rd;
}

function messagesOf(rd: Ready, type: Message['type']): Message[] {
  return rd.messages.filter((m) => m.type === type);
}

function expectThrows(fn: () => void, guard: (e: unknown) => boolean, what: string): unknown {
  try {
    fn();
  } catch (error) {
    assert.ok(guard(error), `expected ${what}, got ${String(error)}`);
    return error;
  }
  assert.unreachable(`expected ${what}`);
  return undefined;
}

const leaderAgreed = (net: Network, ids: string[]) => {
  const leader = net.leader();
  return leader !== null && ids.every((id) => net.status(id).leader === leader);
};

/**
 * With the old leader cut off, ticks `candidates` until one of them leads (followers ignore
 * candidates until their election timeout passes: leader stickiness). Returns the new leader.
 */
async function electAmong(net: Network, candidates: string[]): Promise<string> {
  await tickUntil(
    net,
    () => {
      const leader = net.leader();
      return (
        leader !== null &&
        candidates.includes(leader) &&
        candidates.every((id) => net.status(id).leader === leader)
      );
    },
    300,
    candidates,
  );
  return net.leader() ?? '';
}

async function tickUntil(net: Network, done: () => boolean, max = 200, ids?: string[]): Promise<number> {
  for (let i = 0; i < max; i++) {
    if (done()) return i;
    await net.tickAndStabilize(1, ids);
  }
  assert.ok(done(), 'condition not reached in time');
  return max;
}

// ---------------------------------------------------------------------------------------------
// Configuration

test('config: defaults apply and invalid options throw RaftConfigError', () => {
  const storage = bootStorage(ids3);
  const random = new SeededRandom(1);
  const base: RaftCoreConfig = { id: 'n1', storage, random };
  assert.ok(new RaftCore(base));
  const bad: Partial<RaftCoreConfig>[] = [
    { electionTicks: 0 },
    { electionTicks: 3, heartbeatTicks: 3 },
    { maxInflightMsgs: 0 },
    { maxSizePerMsg: -1 },
    { maxUncommittedBytes: 0 },
    { readMode: 'lease', checkQuorum: false },
    { applied: -1 },
    { id: '' },
  ];
  for (const override of bad) {
    expectThrows(
      () => new RaftCore({ ...base, ...override }),
      isRaftConfigError,
      `RaftConfigError for ${JSON.stringify(override)}`,
    );
  }
  expectThrows(() => new RaftCore({ ...base, applied: 5 }), isRaftConfigError, 'applied beyond commit');
});

// ---------------------------------------------------------------------------------------------
// Elections

test('election: a lone voter elects itself at once on campaign', async () => {
  const net = cluster(['n1']);
  net.core('n1').campaign();
  assert.is(net.status('n1').role, 'leader');
  await net.stabilize();
  await net.propose('n1', 'solo');
  assert.equal(net.appliedData('n1'), ['solo']);
  assert.is(net.status('n1').term, 2);
});

test('election: 3 nodes elect exactly one leader by timeout', async () => {
  const net = cluster(ids3);
  net.checkEveryStep = true;
  await tickUntil(net, () => leaderAgreed(net, ids3));
  assert.is(net.leaders().length, 1);
});

test('election: 5 nodes elect exactly one leader by timeout, and a new one when it fails', async () => {
  const net = cluster(ids5);
  net.checkEveryStep = true;
  await tickUntil(net, () => leaderAgreed(net, ids5));
  const first = net.leader() ?? '';
  const term = net.status(first).term;
  net.crash(first);
  const rest = ids5.filter((id) => id !== first);
  await tickUntil(net, () => leaderAgreed(net, rest) && net.leader() !== first);
  assert.ok(net.status(net.leader() ?? '').term > term);
});

test('election: split votes resolve through randomized timeouts', async () => {
  const ids = ['n1', 'n2', 'n3', 'n4'];
  const net = cluster(ids, { preVote: false });
  net.checkEveryStep = true;
  // n1 and n2 both run in term 2; n3 can only reach n1, n4 only n2: a 2-2 split.
  net.cut('n3', 'n2');
  net.cut('n4', 'n1');
  net.core('n1').campaign();
  net.core('n2').campaign();
  await net.stabilize();
  assert.is(net.leader(), null, 'nobody has a majority');
  assert.is(net.status('n1').role, 'candidate');
  assert.is(net.status('n2').role, 'candidate');
  net.recover();
  await tickUntil(net, () => leaderAgreed(net, ids));
  assert.ok(net.status(net.leader() ?? '').term > 2, 'the tie was broken in a later term');
});

/** Ticks a fresh follower of a 3-voter cluster until it first campaigns (PreVote counts). */
function ticksToFirstCampaign(seed: number, options: CoreOptions): number {
  const core = new RaftCore({
    id: 'n2',
    storage: bootStorage(ids3),
    random: new SeededRandom(seed),
    ...options,
  });
  for (let ticks = 1; ticks <= 100; ticks++) {
    core.tick();
    const { preElections, elections } = core.stats();
    if (preElections + elections > 0) return ticks;
  }
  throw new Error('never campaigned');
}

test('initialElectionTickAdvance: the first campaign comes one election timeout sooner, still randomised', () => {
  const electionTicks = 10;
  const advanced = new Set<number>();
  const plain = new Set<number>();
  for (let seed = 1; seed <= 60; seed++) {
    advanced.add(ticksToFirstCampaign(seed, { electionTicks, initialElectionTickAdvance: true }));
    plain.add(ticksToFirstCampaign(seed, { electionTicks }));
  }
  // Without the advance: [electionTicks, 2 × electionTicks); with it: [1, electionTicks].
  assert.ok(
    Math.min(...plain) >= electionTicks && Math.max(...plain) <= 2 * electionTicks - 1,
    [...plain].join(),
  );
  assert.ok(Math.min(...advanced) >= 1 && Math.max(...advanced) <= electionTicks, [...advanced].join());
  assert.ok(advanced.size >= 5, `the spread that avoids split votes is kept: ${[...advanced].join()}`);
});

test('initialElectionTickAdvance: a member restarting into a led cluster campaigns early but disturbs nobody', async () => {
  const net = await withLeader(ids3, { preVote: true });
  const term = net.status('n1').term;
  net.crash('n3');
  await net.tickAndStabilize(3, ['n1', 'n2']);
  net.restart('n3', true, { initialElectionTickAdvance: true });
  // Cut off, n3 campaigns within 9 ticks (a whole timeout is at least 10 without the advance).
  net.isolate('n3');
  await net.tickAndStabilize(9, ['n3']);
  assert.ok(net.core('n3').stats().preElections >= 1, 'n3 campaigned before a whole timeout');
  net.recover();
  await net.tickAndStabilize(5);
  assert.is(net.leader(), 'n1');
  assert.is(net.status('n1').term, term, 'no term was raised');
  assert.is(net.status('n3').leader, 'n1');
});

test('election: a vote needs an up-to-date log', async () => {
  const net = await withLeader(ids3, { preVote: false, checkQuorum: false });
  net.isolate('n3');
  await net.propose('n1', 'x');
  net.recover();
  // n3 missed 'x': its campaign fails, and its higher term makes the others follow it out.
  net.cut('n3', 'n1');
  net.core('n3').campaign();
  await net.stabilize();
  assert.is.not(net.status('n3').role, 'leader');
  assert.is(net.status('n2').vote, null, 'n2 refused its vote');
});

test('PreVote: a partitioned node does not inflate its term and does not disrupt on rejoin', async () => {
  const net = await withLeader(ids3, { preVote: true });
  const term = net.status('n1').term;
  net.isolate('n3');
  await net.tickAndStabilize(100);
  assert.is(net.status('n3').term, term, 'pre-votes do not raise the term');
  assert.ok(net.core('n3').stats().preElections > 3);
  assert.is(net.core('n3').stats().elections, 0);
  net.recover();
  await net.tickAndStabilize(20);
  assert.is(net.leader(), 'n1');
  assert.is(net.status('n1').term, term, 'the leader was not disturbed');
  assert.is(net.status('n3').leader, 'n1');
});

test('without PreVote the partitioned node does inflate its term (contrast)', async () => {
  const net = await withLeader(ids3, { preVote: false });
  const term = net.status('n1').term;
  net.isolate('n3');
  await net.tickAndStabilize(60);
  assert.ok(net.status('n3').term > term + 1);
});

test('CheckQuorum: a leader cut off from its quorum steps down within an election timeout', async () => {
  const net = await withLeader(ids3, { electionTicks: 10 });
  net.isolate('n1');
  await net.tickAndStabilize(21, ['n1']);
  assert.is(net.status('n1').role, 'follower');
  assert.ok(net.core('n1').stats().checkQuorumStepDowns >= 1);
});

test('without CheckQuorum a cut-off leader stays leader (contrast)', async () => {
  const net = await withLeader(ids3, { checkQuorum: false });
  net.isolate('n1');
  await net.tickAndStabilize(40, ['n1']);
  assert.is(net.status('n1').role, 'leader');
});

test('leader stickiness: followers that hear from the leader ignore a disruptive candidate', async () => {
  const net = await withLeader(ids3, { preVote: false, checkQuorum: true });
  const term = net.status('n1').term;
  net.core('n3').campaign();
  // Only n3's vote requests are delivered now.
  net.dropIf = (m) => m.from !== 'n3';
  await net.stabilize();
  assert.is(net.status('n2').term, term, 'n2 ignored the vote request');
  assert.is(net.status('n2').leader, 'n1');
  assert.ok((net.core('n2').stats().dropped.leaderSticky ?? 0) >= 1);
  assert.is.not(net.status('n3').role, 'leader');
});

// ---------------------------------------------------------------------------------------------
// Replication

test('log replication: proposals commit and apply everywhere in order', async () => {
  const net = await withLeader(ids5);
  for (let i = 0; i < 20; i++) net.core('n1').propose(bytes(`e${i}`));
  await net.stabilize();
  const expected = Array.from({ length: 20 }, (_, i) => `e${i}`);
  for (const id of ids5) assert.equal(net.appliedData(id), expected);
  const s = net.status('n1');
  assert.is(s.commitIndex, s.lastIndex);
  for (const p of s.progress) {
    assert.is(p.match, s.lastIndex);
    assert.is(p.state, 'replicate');
  }
});

test('log replication: a minority can be down; commits need a majority', async () => {
  const net = await withLeader(ids5);
  net.crash('n4');
  net.crash('n5');
  await net.propose('n1', 'with-3');
  assert.equal(net.appliedData('n1'), ['with-3']);
  net.crash('n3');
  await net.propose('n1', 'with-2');
  assert.equal(net.appliedData('n1'), ['with-3'], 'two of five cannot commit');
  net.restart('n3');
  await net.tickAndStabilize(3);
  assert.equal(net.appliedData('n1'), ['with-3', 'with-2']);
});

test('Figure 8: an old-term entry stored on a majority is not committed by counting', async () => {
  // n1's log: index 2 from term 2 (never committed). It is now elected in term 4.
  const storage = bootStorage(ids3, [entry(2, 2, 'old')], { term: 3, vote: null, commit: 1 });
  const core = makeCore('n1', storage, { preVote: false });
  core.campaign();
  await drain(core, storage);
  core.step({ type: 'voteResponse', from: 'n2', to: 'n1', term: 4, preVote: false, granted: true });
  assert.is(core.status().role, 'leader');
  assert.is(core.status().lastIndex, 3, 'the no-op of term 4 is at index 3');
  await drain(core, storage);
  // n2 acknowledges the old entry only: a majority (n1, n2) stores index 2 of term 2.
  core.step({
    type: 'appendResponse',
    from: 'n2',
    to: 'n1',
    term: 4,
    reject: false,
    index: 2,
    hintIndex: 0,
    hintTerm: 0,
  });
  assert.is(core.status().commitIndex, 1, 'index 2 (term 2) must not be committed by counting');
  // Once the current-term no-op is on a majority, both commit.
  core.step({
    type: 'appendResponse',
    from: 'n2',
    to: 'n1',
    term: 4,
    reject: false,
    index: 3,
    hintIndex: 0,
    hintTerm: 0,
  });
  assert.is(core.status().commitIndex, 3);
});

test('a follower with a conflicting log is repaired by the new leader', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  net.isolate('n1');
  // The old leader appends entries nobody else will get.
  for (const x of ['lost1', 'lost2', 'lost3']) net.core('n1').propose(bytes(x));
  await net.stabilize();
  const leader = await electAmong(net, ['n2', 'n3']);
  await net.propose(leader, 'b');
  net.recover();
  await net.tickAndStabilize(5);
  for (const id of ids3) assert.equal(net.appliedData(id), ['a', 'b']);
  const last = net.status(leader).lastIndex;
  assert.is(net.status('n1').lastIndex, last);
  assert.is(net.status('n1').role, 'follower');
  net.checkSafety();
});

test('fast backtracking: a long conflicting tail is skipped in a few round trips', async () => {
  const net = await withLeader(ids3);
  net.isolate('n1');
  for (let i = 0; i < 60; i++) net.core('n1').propose(bytes(`stale${i}`));
  await net.stabilize();
  const leader = await electAmong(net, ['n2', 'n3']);
  for (let i = 0; i < 60; i++) net.core(leader).propose(bytes(`fresh${i}`));
  await net.stabilize();
  // A fresh leadership starts probing n1 just past its own last index, 60 entries beyond
  // where n1's log stops agreeing.
  const other = leader === 'n2' ? 'n3' : 'n2';
  net.core(leader).transferLeadership(other);
  await net.stabilize();
  assert.is(net.leader(), other);
  net.recover();
  net.delivered = [];
  await net.tickAndStabilize(3);
  const rejections = net.delivered.filter(
    (m) => m.type === 'appendResponse' && m.from === 'n1' && m.reject,
  ).length;
  assert.ok(rejections >= 1 && rejections <= 3, `expected a few rejections, got ${rejections}`);
  assert.equal(net.appliedData('n1'), net.appliedData(other));
  assert.is(net.appliedData('n1').length, 60);
});

test('a new leader pipelines at once: proposals after the election do not wait for a probe answer', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  net.core('n1').transferLeadership('n2');
  await net.stabilize();
  assert.is(net.leader(), 'n2');
  // Elect n3 while nothing n3's followers answer reaches it.
  net.dropIf = (m) => m.type === 'appendResponse' && m.to === 'n3';
  net.reportFailures = false;
  net.core('n2').transferLeadership('n3');
  await net.stabilize();
  assert.is(net.leader(), 'n3');
  net.delivered = [];
  for (const x of ['b', 'c', 'd']) {
    net.core('n3').propose(bytes(x));
    await net.stabilize();
  }
  const appendsToN1 = net.delivered.filter(
    (m) => m.type === 'append' && m.from === 'n3' && m.to === 'n1' && m.entries.length > 0,
  );
  assert.is(appendsToN1.length, 3, 'each proposal went out without an answer to the first append');
  assert.is(net.status('n1').lastIndex, net.status('n3').lastIndex);
  net.dropIf = undefined;
  await net.tickAndStabilize(3);
  for (const id of ids3) assert.equal(net.appliedData(id), ['a', 'b', 'c', 'd']);
  net.checkSafety();
});

test('fast backtracking: the reject hint points below the conflicting term', () => {
  const storage = bootStorage(ids3, [entry(2, 2), entry(3, 2), entry(4, 2), entry(5, 2), entry(6, 2)], {
    term: 3,
    vote: null,
    commit: 1,
  });
  const core = makeCore('n2', storage);
  core.step({
    type: 'append',
    from: 'n1',
    to: 'n2',
    term: 3,
    prevIndex: 6,
    prevTerm: 3,
    entries: [],
    commit: 1,
  });
  const rd = core.ready();
  const [resp] = messagesOf(rd, 'appendResponse');
  assert.ok(resp !== undefined && resp.type === 'appendResponse');
  assert.ok(resp.reject);
  assert.is(resp.index, 6);
  assert.is(resp.hintIndex, 6, 'every entry of term 2 is at most term 3: the hint is the last index');
  assert.is(resp.hintTerm, 2);
  core.advance(rd);
});

test('pipelining: the leader keeps at most maxInflightMsgs appends in flight per follower', async () => {
  const net = await withLeader(ids3, { maxInflightMsgs: 3, maxSizePerMsg: 1 });
  await net.propose('n1', 'warm');
  // n3 receives appends but its answers are lost.
  net.dropIf = (m) => m.from === 'n3' && m.type === 'appendResponse';
  net.delivered = [];
  for (let i = 0; i < 10; i++) {
    net.core('n1').propose(bytes(`p${i}`));
    await net.stabilize();
  }
  const appendsToN3 = net.delivered.filter(
    (m) => m.type === 'append' && m.to === 'n3' && m.entries.length > 0,
  );
  assert.is(appendsToN3.length, 3, 'the window of 3 filled and then replication paused');
  assert.equal(net.core('n1').inflights('n3').length, 3);
  const appendsToN2 = net.delivered.filter(
    (m) => m.type === 'append' && m.to === 'n2' && m.entries.length > 0,
  );
  assert.is(appendsToN2.length, 10, 'n2 acknowledges, so it keeps receiving');
  net.recover();
  await net.tickAndStabilize(3);
  assert.equal(net.appliedData('n3'), net.appliedData('n1'));
  assert.is(net.appliedData('n3').length, 11);
});

test('batching: appends carry at most maxSizePerMsg bytes (at least one entry)', async () => {
  const net = await withLeader(ids3, { maxSizePerMsg: 10 });
  net.isolate('n3');
  for (let i = 0; i < 10; i++) net.core('n1').propose(bytes('1234'));
  await net.stabilize();
  net.recover();
  net.delivered = [];
  await net.tickAndStabilize(3);
  const appends = net.delivered.filter((m) => m.type === 'append' && m.to === 'n3' && m.entries.length > 0);
  assert.ok(appends.length >= 4, `10 × 4 bytes in ≤ 10-byte batches, got ${appends.length} appends`);
  for (const m of appends) {
    if (m.type !== 'append') continue;
    const size = m.entries.reduce((a, e) => a + e.data.byteLength, 0);
    assert.ok(size <= 10 || m.entries.length === 1);
  }
  assert.equal(net.appliedData('n3'), net.appliedData('n1'));
});

test('heartbeats carry min(commit, follower match)', async () => {
  const net = await withLeader(ids3);
  net.isolate('n3');
  await net.propose('n1', 'x');
  net.recover();
  net.dropIf = (m) => m.type === 'append';
  net.delivered = [];
  await net.tickAndStabilize(1, ['n1']);
  const hb = net.delivered.filter((m) => m.type === 'heartbeat');
  const toN3 = hb.find((m) => m.to === 'n3');
  const toN2 = hb.find((m) => m.to === 'n2');
  assert.ok(toN3?.type === 'heartbeat' && toN2?.type === 'heartbeat');
  assert.is(toN2.commit, net.status('n1').commitIndex);
  assert.ok(toN3.commit < net.status('n1').commitIndex, 'n3 is not told to commit what it lacks');
});

// ---------------------------------------------------------------------------------------------
// Snapshots

test('snapshot: a follower that needs compacted entries gets a snapshot', async () => {
  const net = await withLeader(ids3);
  net.crash('n3');
  for (let i = 0; i < 15; i++) net.core('n1').propose(bytes(`s${i}`));
  await net.stabilize();
  await net.compact('n1', 0);
  await net.compact('n2', 0);
  assert.ok(net.node('n1').storage.firstIndex() > net.node('n3').storage.lastIndex() + 1);
  net.restart('n3');
  await net.tickAndStabilize(3);
  assert.ok(net.core('n1').stats().snapshotsSent >= 1);
  assert.ok(net.core('n3').stats().snapshotsRestored >= 1);
  assert.equal(net.appliedData('n3'), net.appliedData('n1'));
  // Replication continues normally after the snapshot.
  await net.propose('n1', 'after');
  assert.equal(net.appliedData('n3'), net.appliedData('n1'));
  const pr = net.status('n1').progress.find((p) => p.id === 'n3');
  assert.is(pr?.state, 'replicate');
});

test('snapshot: arriving while the follower has a conflicting log replaces that log', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'base');
  net.isolate('n1');
  for (let i = 0; i < 5; i++) net.core('n1').propose(bytes(`conflict${i}`));
  await net.stabilize();
  const leader = await electAmong(net, ['n2', 'n3']);
  for (let i = 0; i < 10; i++) net.core(leader).propose(bytes(`new${i}`));
  await net.stabilize();
  await net.compact('n2', 0);
  await net.compact('n3', 0);
  net.recover();
  await net.tickAndStabilize(3);
  assert.ok(net.core('n1').stats().snapshotsRestored >= 1, 'n1 restored the snapshot');
  assert.equal(net.appliedData('n1'), net.appliedData(leader));
  assert.not.ok(net.appliedData('n1').some((x) => x.startsWith('conflict')));
  assert.is(net.status('n1').lastIndex, net.status(leader).lastIndex);
});

test('snapshot: a follower that already has the snapshot entry only fast-forwards its commit', async () => {
  const storage = bootStorage(ids3, [entry(2, 2, 'a'), entry(3, 2, 'b'), entry(4, 2, 'c')], {
    term: 2,
    vote: null,
    commit: 1,
  });
  const core = makeCore('n2', storage);
  core.step({
    type: 'snapshot',
    from: 'n1',
    to: 'n2',
    term: 2,
    snapshot: { meta: { index: 3, term: 2, conf: confOf(ids3), addresses: {} }, data: new Uint8Array() },
  });
  const rd = core.ready();
  assert.is(rd.snapshot, undefined, 'no restore');
  assert.is(rd.hardState?.commit, 3);
  assert.equal(
    rd.committed.map((e) => e.index),
    [2, 3],
  );
  const [ack] = messagesOf(rd, 'appendResponse');
  assert.ok(ack?.type === 'appendResponse' && !ack.reject && ack.index === 3);
  core.advance(rd);
  assert.is(core.status().lastIndex, 4, 'entry 4 is kept');
});

test('snapshot: reportSnapshot(false) sends the follower back to probing', async () => {
  const net = await withLeader(ids3);
  net.crash('n3');
  for (let i = 0; i < 5; i++) net.core('n1').propose(bytes(`s${i}`));
  await net.stabilize();
  await net.compact('n1', 0);
  net.restart('n3');
  net.dropIf = (m) => m.type === 'snapshot';
  net.reportFailures = false;
  await net.tickAndStabilize(2);
  assert.is(net.status('n1').progress.find((p) => p.id === 'n3')?.state, 'snapshot');
  net.core('n1').reportSnapshot('n3', false);
  assert.is(net.status('n1').progress.find((p) => p.id === 'n3')?.state, 'probe');
  net.recover();
  await net.tickAndStabilize(3);
  assert.equal(net.appliedData('n3'), net.appliedData('n1'));
});

test('reportUnreachable moves a pipelining follower back to probing', async () => {
  const net = await withLeader(ids3);
  assert.is(net.status('n1').progress.find((p) => p.id === 'n2')?.state, 'replicate');
  net.core('n1').reportUnreachable('n2');
  assert.is(net.status('n1').progress.find((p) => p.id === 'n2')?.state, 'probe');
});

// ---------------------------------------------------------------------------------------------
// Membership

test('learners: receive the log, never vote or count toward commit, and can be promoted', async () => {
  const net = await withLeader(['n1', 'n2'], {}, { learners: ['n3'] });
  await net.propose('n1', 'a');
  assert.equal(net.appliedData('n3'), ['a'], 'the learner gets entries');
  // Commit needs both voters: with n2 down, the learner's ack does not help.
  net.crash('n2');
  await net.propose('n1', 'b');
  assert.equal(net.appliedData('n1'), ['a']);
  assert.is(net.status('n3').lastIndex, net.status('n1').lastIndex, 'the learner stores it');
  net.restart('n2');
  await net.tickAndStabilize(2);
  assert.equal(net.appliedData('n1'), ['a', 'b']);
  // A learner never campaigns, not even when asked or after long silence.
  net.core('n3').campaign();
  net.isolate('n3');
  await net.tickAndStabilize(50, ['n3']);
  assert.is(net.status('n3').role, 'follower');
  assert.is(net.core('n3').stats().elections + net.core('n3').stats().preElections, 0);
  net.recover();
  await net.tickAndStabilize(2);
  // Vote requests go to voters only, and the learner's answers could not count anyway: with
  // n1 down, n2 cannot win although the learner is up.
  net.delivered = [];
  net.crash('n1');
  await net.tickAndStabilize(60);
  assert.is(net.leader(), null);
  assert.ok(net.core('n2').stats().preElections > 0, 'n2 did try');
  assert.not.ok(net.delivered.some((m) => m.type === 'vote' && m.to === 'n3'));
  // Promote: the learner becomes a voter.
  net.restart('n1');
  const leader = await electAmong(net, ['n1', 'n2']);
  await net.changeConf(leader, { mode: 'simple', steps: [{ type: 'addVoter', id: 'n3' }] });
  for (const id of ['n1', 'n2', 'n3'])
    assert.equal([...net.status(id).conf.voters].sort(), ['n1', 'n2', 'n3']);
  assert.equal(net.status(leader).conf.learners, []);
  // Now n3 counts: n1 + n3 commit without n2.
  net.crash(leader === 'n1' ? 'n2' : 'n1');
  const rest = leader === 'n1' ? ['n1', 'n3'] : ['n2', 'n3'];
  const next = await electAmong(net, rest);
  await net.propose(next, 'with-promoted');
  assert.equal(net.appliedData('n3').at(-1), 'with-promoted');
});

test('membership: add a learner from scratch, it catches up, then promote it', async () => {
  const net = await withLeader(ids3, {}, { spare: ['n4'] });
  for (let i = 0; i < 5; i++) net.core('n1').propose(bytes(`x${i}`));
  await net.stabilize();
  await net.changeConf('n1', { mode: 'simple', steps: [{ type: 'addLearner', id: 'n4' }] });
  await net.tickAndStabilize(2);
  assert.equal(net.appliedData('n4'), net.appliedData('n1'));
  assert.ok(net.status('n4').conf.learners.includes('n4'));
  await net.changeConf('n1', { mode: 'simple', steps: [{ type: 'addVoter', id: 'n4' }] });
  await net.tickAndStabilize(1);
  assert.ok(net.status('n4').conf.voters.includes('n4'));
  // Now 4 voters: commit needs 3.
  net.crash('n2');
  net.crash('n3');
  await net.propose('n1', 'needs-3');
  assert.not.ok(net.appliedData('n1').includes('needs-3'));
});

test('membership: only one configuration change may be pending', async () => {
  const net = await withLeader(ids3, {}, { spare: ['n4', 'n5'] });
  net.core('n1').proposeConfChange({ mode: 'simple', steps: [{ type: 'addLearner', id: 'n4' }] });
  expectThrows(
    () => net.core('n1').proposeConfChange({ mode: 'simple', steps: [{ type: 'addLearner', id: 'n5' }] }),
    isConfChangeError,
    'ConfChangeError (pending)',
  );
  await net.stabilize();
  net.core('n1').proposeConfChange({ mode: 'simple', steps: [{ type: 'addLearner', id: 'n5' }] });
  await net.stabilize();
  assert.equal([...net.status('n1').conf.learners].sort(), ['n4', 'n5']);
  // Invalid changes are refused up front.
  expectThrows(
    () =>
      net.core('n1').proposeConfChange({
        mode: 'simple',
        steps: [
          { type: 'addVoter', id: 'n4' },
          { type: 'addVoter', id: 'n5' },
        ],
      }),
    isConfChangeError,
    'ConfChangeError (two voters)',
  );
  expectThrows(
    () => net.core('n2').proposeConfChange({ mode: 'simple', steps: [{ type: 'remove', id: 'n4' }] }),
    (e) => isNotLeaderError(e) && e.leaderHint === 'n1',
    'NotLeaderError',
  );
});

test('membership: a new leader inheriting a config entry takes no proposals until it is applied; removed by it, it hands over', async () => {
  // n1's log holds an entry of term 2 that removes n1; n1 is elected in term 3.
  const removal = confEntryData({ mode: 'simple', steps: [{ type: 'remove', id: 'n1' }] });
  const storage = bootStorage(ids3, [{ index: 2, term: 2, kind: 'config', data: removal }], {
    term: 2,
    vote: null,
    commit: 1,
  });
  const core = makeCore('n1', storage, { preVote: false });
  core.campaign();
  core.step({ type: 'voteResponse', from: 'n2', to: 'n1', term: 3, preVote: false, granted: true });
  assert.is(core.status().role, 'leader');
  expectThrows(
    () => core.propose(bytes('x')),
    isProposalDroppedError,
    'refused until the inherited entry applies',
  );
  await drain(core, storage);
  core.step({
    type: 'appendResponse',
    from: 'n2',
    to: 'n1',
    term: 3,
    reject: false,
    index: 3,
    hintIndex: 0,
    hintTerm: 0,
  });
  assert.is(core.status().commitIndex, 3);
  // The driver applies the committed entries: the removal takes effect.
  const rd = core.ready();
  for (const e of rd.committed) if (e.kind === 'config') core.applyConfChange(confChangeOf(e));
  await storage.save({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) });
  core.advance(rd);
  // Its whole log is committed and n2 has all of it: n2 is told to campaign, n1 steps down.
  assert.is(core.status().role, 'follower');
  const next = core.ready();
  const handover = next.messages.find((m) => m.type === 'timeoutNow');
  assert.is(handover?.to, 'n2');
  const commitNews = next.messages.filter((m) => m.type === 'append' && m.commit === 3);
  assert.ok(commitNews.length >= 1, 'peers learn the final commit index');
  core.advance(next);
});

test('membership: remove a follower; the rest keep committing and it never campaigns', async () => {
  const net = await withLeader(ids3);
  await net.changeConf('n1', { mode: 'simple', steps: [{ type: 'remove', id: 'n3' }] });
  assert.equal([...net.status('n1').conf.voters].sort(), ['n1', 'n2']);
  assert.ok(net.status('n1').progress.every((p) => p.id !== 'n3'));
  const before = net.node('n3').applied.length;
  await net.propose('n1', 'after-removal');
  assert.equal(net.appliedData('n2').at(-1), 'after-removal');
  assert.is(net.node('n3').applied.length, before, 'the removed node gets nothing more');
  assert.not.ok(net.status('n3').conf.voters.includes('n3'), 'n3 applied its own removal');
  await net.tickAndStabilize(60);
  assert.is(net.core('n3').stats().elections + net.core('n3').stats().preElections, 0);
  assert.is(net.leader(), 'n1');
});

test('membership: removing the leader makes it step down and another voter take over', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const term = net.status('n1').term;
  net.core('n1').proposeConfChange({ mode: 'simple', steps: [{ type: 'remove', id: 'n1' }] });
  // Nothing may follow the entry that removes the leader in its log.
  expectThrows(() => net.core('n1').propose(bytes('late')), isProposalDroppedError, 'ProposalDroppedError');
  await net.stabilize();
  assert.is.not(net.status('n1').role, 'leader');
  // The leader handed over (timeoutNow) once its log was committed: no election timeout needed.
  const leader = net.leader() ?? '';
  assert.ok(leader === 'n2' || leader === 'n3', `new leader ${leader}`);
  assert.is(net.status(leader).term, term + 1);
  assert.ok(leaderAgreed(net, ['n2', 'n3']));
  assert.ok(leader === 'n2' || leader === 'n3');
  await net.propose(leader, 'b');
  assert.equal(net.appliedData('n2'), ['a', 'b']);
  assert.equal(net.appliedData('n3'), ['a', 'b']);
  assert.equal([...net.status(leader).conf.voters].sort(), ['n2', 'n3']);
  await net.tickAndStabilize(40);
  assert.is.not(net.status('n1').role, 'leader', 'the removed node never campaigns');
});

test('joint consensus: replace two voters at once with autoLeave', async () => {
  const net = await withLeader(ids3, {}, { spare: ['n4', 'n5'] });
  await net.propose('n1', 'before');
  // Bring the new members in as learners first so that they are caught up.
  await net.changeConf('n1', {
    mode: 'simple',
    steps: [
      { type: 'addLearner', id: 'n4' },
      { type: 'addLearner', id: 'n5' },
    ],
  });
  await net.tickAndStabilize(2);
  net.core('n1').proposeConfChange({
    mode: 'joint',
    autoLeave: true,
    steps: [
      { type: 'addVoter', id: 'n4' },
      { type: 'addVoter', id: 'n5' },
      { type: 'remove', id: 'n2' },
      { type: 'remove', id: 'n3' },
    ],
  });
  await net.stabilize();
  await net.tickAndStabilize(2);
  for (const id of ['n1', 'n4', 'n5']) {
    const conf = net.status(id).conf;
    assert.equal([...conf.voters].sort(), ['n1', 'n4', 'n5'], `${id} left the joint config`);
    assert.equal(conf.votersOutgoing, []);
  }
  // Both the joint and the final configuration went through the log.
  const confs = net.node('n4').confs;
  assert.ok(
    confs.some((c) => c.votersOutgoing.length > 0),
    'a joint config was in force',
  );
  await net.propose('n1', 'after');
  assert.equal(net.appliedData('n5'), ['before', 'after']);
  net.crash('n2');
  net.crash('n3');
  await net.propose('n1', 'without-old');
  assert.equal(net.appliedData('n4').at(-1), 'without-old');
});

test('joint consensus: without autoLeave it stays joint, needs both majorities, and leaves on request', async () => {
  const net = await withLeader(ids3, {}, { spare: ['n4', 'n5'] });
  await net.changeConf('n1', {
    mode: 'joint',
    steps: [
      { type: 'addVoter', id: 'n4' },
      { type: 'addVoter', id: 'n5' },
      { type: 'remove', id: 'n2' },
      { type: 'remove', id: 'n3' },
    ],
  });
  await net.tickAndStabilize(3);
  const conf = net.status('n1').conf;
  assert.equal([...conf.votersOutgoing].sort(), ['n1', 'n2', 'n3']);
  assert.equal([...conf.voters].sort(), ['n1', 'n4', 'n5']);
  // The new half alone cannot commit.
  net.crash('n2');
  net.crash('n3');
  await net.propose('n1', 'joint-needs-both');
  assert.not.ok(net.appliedData('n1').includes('joint-needs-both'));
  net.restart('n2');
  await net.tickAndStabilize(2);
  assert.ok(net.appliedData('n1').includes('joint-needs-both'));
  expectThrows(
    () => net.core('n1').proposeConfChange({ mode: 'simple', steps: [{ type: 'addLearner', id: 'n3' }] }),
    isConfChangeError,
    'no simple change while joint',
  );
  await net.changeConf('n1', { mode: 'leaveJoint', steps: [] });
  await net.tickAndStabilize(1);
  assert.equal(net.status('n4').conf.votersOutgoing, []);
  assert.equal([...net.status('n4').conf.voters].sort(), ['n1', 'n4', 'n5']);
});

test('membership: a leader change in the middle of a configuration change', async () => {
  const net = await withLeader(ids3, {}, { spare: ['n4'] });
  net.core('n1').proposeConfChange({ mode: 'simple', steps: [{ type: 'addLearner', id: 'n4' }] });
  // The entry reaches n2 only, then n1 is cut off before anyone learns it committed.
  net.dropIf = (m) => !(m.from === 'n1' && m.to === 'n2' && m.type === 'append');
  await net.stabilize();
  net.isolate('n1');
  net.dropIf = undefined;
  assert.equal(net.status('n3').conf.learners, [], 'n3 has not seen the change');
  // Only n2 has the entry, so only n2 can win (n3's log is behind).
  const leader = await electAmong(net, ['n2', 'n3']);
  assert.is(leader, 'n2');
  // The configuration entry of the old term commits with the new leader's no-op.
  await net.tickAndStabilize(3);
  await net.propose('n2', 'accepted');
  for (const id of ['n2', 'n3', 'n4']) assert.equal(net.status(id).conf.learners, ['n4'], `${id}`);
  await net.changeConf('n2', { mode: 'simple', steps: [{ type: 'addVoter', id: 'n4' }] });
  net.recover();
  await net.tickAndStabilize(3);
  for (const id of ['n1', 'n2', 'n3', 'n4']) {
    assert.equal([...net.status(id).conf.voters].sort(), ['n1', 'n2', 'n3', 'n4'], id);
  }
});

test('membership: a new leader refuses a change while an earlier one is not applied', async () => {
  const storage = bootStorage(ids3, [{ index: 2, term: 2, kind: 'config', data: new Uint8Array([1]) }], {
    term: 2,
    vote: null,
    commit: 1,
  });
  const core = makeCore('n1', storage, { preVote: false });
  core.campaign();
  core.step({ type: 'voteResponse', from: 'n2', to: 'n1', term: 3, preVote: false, granted: true });
  assert.is(core.status().role, 'leader');
  expectThrows(
    () => core.proposeConfChange({ mode: 'simple', steps: [{ type: 'addLearner', id: 'n9' }] }),
    isConfChangeError,
    'pending config entry from an earlier term',
  );
});

// ---------------------------------------------------------------------------------------------
// Leadership transfer

test('transfer: to an up-to-date voter', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const term = net.status('n1').term;
  net.core('n1').transferLeadership('n2');
  await net.stabilize();
  assert.is(net.leader(), 'n2');
  assert.is(net.status('n2').term, term + 1);
  assert.is(net.status('n1').role, 'follower');
  assert.is(net.status('n1').leader, 'n2');
  await net.propose('n2', 'b');
  for (const id of ids3) assert.equal(net.appliedData(id), ['a', 'b']);
});

test('transfer: the leader steps down and grants its vote unasked; only the vote waits for the disk', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const term = net.status('n1').term;
  const last = net.status('n1').lastIndex;
  net.delivered = [];
  net.core('n1').transferLeadership('n2');
  // The old leader stepped down at once: a follower of the next term that voted for the target.
  assert.is(net.status('n1').role, 'follower');
  assert.is(net.status('n1').term, term + 1);
  assert.is(net.core('n1').vote, 'n2');
  assert.is(net.core('n1').stats().transfersHandedOver, 1);
  // One Ready: the new term and vote to persist, timeoutNow (of the old term) and the vote.
  const rd = net.core('n1').ready();
  assert.equal(rd.hardState, { term: term + 1, vote: 'n2', commit: last });
  assert.equal(
    rd.messages.map((m) => [m.type, m.to, m.term]),
    [
      ['timeoutNow', 'n2', term],
      ['voteResponse', 'n2', term + 1],
    ],
  );
  const grant = rd.messages[1];
  assert.ok(grant?.type === 'voteResponse' && grant.granted && !grant.preVote);
  await net.node('n1').storage.save({ entries: rd.entries, hardState: rd.hardState as HardState });
  for (const m of rd.messages) net.queue.push(m);
  net.core('n1').advance(rd);
  await net.stabilize();
  assert.is(net.leader(), 'n2');
  assert.is(net.status('n2').term, term + 1);
  await net.propose('n2', 'b');
  for (const id of ids3) assert.equal(net.appliedData(id), ['a', 'b']);
});

test('transfer: timeoutNow can be taken while a Ready is outstanding; the granted vote waits for its own', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const leader = net.core('n1');
  const term = net.status('n1').term;
  // A batch is being persisted (its Ready not advanced) when the transfer starts: the target
  // has not acknowledged its entry, so the leader waits for that first.
  leader.propose(new TextEncoder().encode('b'));
  const inFlight = leader.ready();
  const last = leader.lastIndex;
  assert.equal(
    inFlight.entries.map((e) => e.index),
    [last],
  );
  leader.transferLeadership('n2');
  assert.equal(leader.takeUrgentMessages(), [], 'nothing to hand over before the catch-up');
  // The target's acknowledgement arrives meanwhile: the leader hands over.
  leader.step({
    type: 'appendResponse',
    from: 'n2',
    to: 'n1',
    term,
    reject: false,
    index: last,
    hintIndex: 0,
    hintTerm: 0,
  });
  assert.is(leader.role, 'follower');
  assert.not.ok(leader.hasReady(), 'no Ready while one is outstanding');
  assert.equal(
    leader.takeUrgentMessages().map((m) => [m.type, m.to, m.term]),
    [['timeoutNow', 'n2', term]],
  );
  assert.equal(leader.takeUrgentMessages(), [], 'taken once');
  await net.node('n1').storage.save({
    entries: inFlight.entries,
    ...(inFlight.hardState ? { hardState: inFlight.hardState } : {}),
  });
  leader.advance(inFlight);
  // The next Ready persists the new term and vote and sends the vote; timeoutNow is gone from it.
  const next = leader.ready();
  assert.equal(next.hardState?.vote, 'n2');
  assert.equal(
    next.messages
      .filter((m) => m.type === 'timeoutNow' || m.type === 'voteResponse')
      .map((m) => [m.type, m.to, m.term]),
    [['voteResponse', 'n2', term + 1]],
  );
});

test('transfer: among five the target still needs the others, and wins', async () => {
  const net = await withLeader(ids5);
  await net.propose('n1', 'a');
  net.delivered = [];
  net.core('n1').transferLeadership('n3');
  await net.stabilize();
  assert.is(net.leader(), 'n3');
  assert.ok(net.delivered.some((m) => m.type === 'vote' && m.from === 'n3'));
  await net.propose('n3', 'b');
  for (const id of ids5) assert.equal(net.appliedData(id), ['a', 'b']);
});

test('transfer: a lost timeoutNow leaves an ordinary election, and the granted vote binds only its term', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const term = net.status('n1').term;
  net.dropIf = (m) => m.type === 'timeoutNow';
  net.core('n1').transferLeadership('n2');
  await net.stabilize();
  // n2 learned the new term from the vote and follows nobody; no one leads term + 1 yet.
  assert.is(net.status('n2').term, term + 1);
  assert.is(net.status('n2').role, 'follower');
  assert.is(net.leader(), null);
  net.dropIf = undefined;
  await tickUntil(net, () => net.leader() !== null);
  const leader = net.leader() as string;
  assert.ok(net.status(leader).term > term);
  await net.propose(leader, 'b');
  for (const id of ids3) assert.equal(net.appliedData(id), ['a', 'b']);
});

test('transfer: a lagging target is caught up first', async () => {
  const net = await withLeader(ids3);
  net.isolate('n3');
  for (let i = 0; i < 10; i++) net.core('n1').propose(bytes(`lag${i}`));
  await net.stabilize();
  net.recover();
  assert.ok(net.status('n3').lastIndex < net.status('n1').lastIndex);
  net.delivered = [];
  net.core('n1').transferLeadership('n3');
  await net.stabilize();
  assert.is(net.leader(), 'n3');
  const timeoutNow = net.delivered.findIndex((m) => m.type === 'timeoutNow');
  const lastAppend = net.delivered.findLastIndex(
    (m) => m.type === 'append' && m.to === 'n3' && m.from === 'n1',
  );
  assert.ok(timeoutNow > lastAppend, 'timeoutNow only after the catch-up');
  assert.equal(
    net.appliedData('n3').slice(0, 10),
    Array.from({ length: 10 }, (_, i) => `lag${i}`),
  );
});

/**
 * A three-member cluster whose leader n1 appended 'b' and handed out its appends (the Ready
 * `inFlight`, not yet persisted or delivered) when it is asked to transfer to n2.
 */
async function transferWithAppendsInFlight() {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const leader = net.core('n1');
  const term = net.status('n1').term;
  leader.propose(bytes('b'));
  const inFlight = leader.ready();
  const last = leader.lastIndex;
  leader.transferLeadership('n2');
  return { net, leader, term, inFlight, last };
}

test('transfer: with its whole log on the way, the leader sends a conditional timeoutNow behind the appends, without its vote', async () => {
  const { net, leader, term, inFlight, last } = await transferWithAppendsInFlight();
  assert.is(leader.role, 'leader', 'still leading: the target is not known to hold the log');
  assert.is(leader.stats().earlyTimeoutNows, 1);
  assert.is(leader.stats().transfersHandedOver, 0);
  assert.equal(leader.takeUrgentMessages(), [], 'not urgent: it must not overtake the appends');
  await net.node('n1').storage.save({ entries: inFlight.entries });
  net.delivered = [];
  for (const m of inFlight.messages) net.queue.push(m);
  leader.advance(inFlight);
  const next = leader.ready();
  assert.equal(
    next.messages.map((m) => m.type),
    ['timeoutNow'],
    'the condition only: no granted vote rides along',
  );
  assert.equal(next.messages[0], {
    type: 'timeoutNow',
    from: 'n1',
    to: 'n2',
    term,
    index: last,
    logTerm: term,
  });
  assert.is(next.hardState, undefined);
  for (const m of next.messages) net.queue.push(m);
  leader.advance(next);
  await net.stabilize();
  assert.is(net.leader(), 'n2');
  assert.is(net.status('n2').term, term + 1);
  // The target campaigned on the conditional timeoutNow: no other reached it before its votes.
  const firstVote = net.delivered.findIndex((m) => m.type === 'vote' && m.from === 'n2');
  const timeoutNows = net.delivered.slice(0, firstVote).filter((m) => m.type === 'timeoutNow');
  assert.ok(firstVote >= 0, 'the target asked for votes');
  assert.equal(
    timeoutNows.map((m) => m.type === 'timeoutNow' && m.index),
    [last],
  );
  await net.propose('n2', 'c');
  for (const id of ids3) assert.equal(net.appliedData(id), ['a', 'b', 'c']);
});

test('transfer: a target campaigns on a conditional timeoutNow only if its log holds the named entry', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const term = net.status('n1').term;
  const last = net.status('n2').lastIndex;
  const target = net.core('n2');
  // A condition that cannot be the leader's (half of it, index 0, a term after the message's).
  for (const odd of [{ index: last }, { index: 0, logTerm: term }, { index: last, logTerm: term + 1 }]) {
    target.step({ type: 'timeoutNow', from: 'n1', to: 'n2', term, ...odd } as Message);
  }
  assert.is(target.stats().dropped.malformed, 3);
  assert.is(target.role, 'follower');
  target.step({ type: 'timeoutNow', from: 'n1', to: 'n2', term, index: last + 1, logTerm: term });
  assert.is(target.role, 'follower');
  assert.is(target.stats().dropped.transferNotCaughtUp, 1);
  target.step({ type: 'timeoutNow', from: 'n1', to: 'n2', term, index: last, logTerm: term - 1 });
  assert.is(target.role, 'follower', "same index, another term: not the leader's entry");
  assert.is(target.stats().dropped.transferNotCaughtUp, 2);
  target.step({ type: 'timeoutNow', from: 'n1', to: 'n2', term, index: last, logTerm: term });
  assert.is(target.role, 'candidate');
  assert.is(target.term, term + 1);
  const votes = target.ready().messages.filter((m) => m.type === 'vote');
  assert.equal(
    votes.map((m) => m.type === 'vote' && [m.to, m.transfer, m.preVote, m.lastIndex]),
    [
      ['n1', true, false, last],
      ['n3', true, false, last],
    ],
  );
});

test('transfer: when the conditional timeoutNow finds the entry missing, the plain hand-over follows the acknowledgement', async () => {
  const { net, leader, term, inFlight } = await transferWithAppendsInFlight();
  // The appends carrying 'b' to the target are lost (a broken connection).
  await net.node('n1').storage.save({ entries: inFlight.entries });
  for (const m of inFlight.messages) if (!(m.type === 'append' && m.to === 'n2')) net.queue.push(m);
  leader.advance(inFlight);
  await net.stabilize();
  assert.is(net.core('n2').stats().dropped.transferNotCaughtUp, 1);
  await tickUntil(net, () => net.leader() === 'n2');
  assert.is(net.status('n2').term, term + 1);
  assert.is(leader.stats().transfersHandedOver, 1, 'the plain hand-over, after the acknowledgement');
  await net.propose('n2', 'c');
  for (const id of ids3) assert.equal(net.appliedData(id), ['a', 'b', 'c']);
});

test('elections: vote requests are urgent, taken while a Ready is outstanding; grants wait for the disk', async () => {
  for (const preVote of [false, true]) {
    const net = await withLeader(ids3, { preVote });
    await net.propose('n1', 'a');
    const follower = net.core('n2');
    const outstanding = follower.ready();
    follower.campaign();
    const urgent = follower.takeUrgentMessages();
    assert.equal(
      urgent.map((m) => m.type === 'vote' && [m.to, m.preVote]),
      [
        ['n1', preVote],
        ['n3', preVote],
      ],
      `preVote ${preVote}`,
    );
    assert.equal(follower.takeUrgentMessages(), [], 'taken once');
    await net.node('n2').storage.save({
      entries: outstanding.entries,
      ...(outstanding.hardState === undefined ? {} : { hardState: outstanding.hardState }),
    });
    follower.advance(outstanding);
    const next = follower.ready();
    assert.ok(
      next.messages.every((m) => m.type !== 'vote'),
      'not sent twice',
    );
    // A voter's grant is not urgent: it waits for its Ready, whose save holds the vote.
    const voter = net.core('n3');
    const voterReady = voter.ready();
    for (const m of urgent) if (m.to === 'n3') voter.step(m);
    assert.equal(voter.takeUrgentMessages(), [], `preVote ${preVote}: no urgent grant`);
    voter.advance(voterReady);
  }
});

test('transfer: proposals are refused during a transfer, which aborts after an election timeout', async () => {
  const net = await withLeader(ids3, { electionTicks: 10 });
  net.isolate('n3');
  await net.propose('n1', 'x');
  net.core('n1').transferLeadership('n3');
  assert.is(net.status('n1').transferee, 'n3');
  expectThrows(
    () => net.core('n1').propose(bytes('refused')),
    isProposalDroppedError,
    'ProposalDroppedError',
  );
  expectThrows(
    () => net.core('n1').proposeConfChange({ mode: 'simple', steps: [{ type: 'addLearner', id: 'n9' }] }),
    isProposalDroppedError,
    'ProposalDroppedError for a config change',
  );
  // A follower forwarding a proposal meanwhile sees it dropped.
  net.core('n2').propose(bytes('forwarded-refused'));
  await net.stabilize();
  assert.ok((net.core('n1').stats().dropped.transferInProgress ?? 0) >= 1);
  await net.tickAndStabilize(10, ['n1', 'n2']);
  assert.is(net.status('n1').transferee, null, 'the transfer was abandoned');
  assert.is(net.leader(), 'n1');
  assert.is(net.core('n1').stats().transfersAborted, 1);
  await net.propose('n1', 'resumed');
  assert.equal(net.appliedData('n2'), ['x', 'resumed']);
});

test('transfer: only to voters, only from the leader; to itself is a no-op', async () => {
  const net = await withLeader(['n1', 'n2'], {}, { learners: ['n3'] });
  assert.throws(() => net.core('n1').transferLeadership('n3'), /not a voter/);
  assert.throws(() => net.core('n1').transferLeadership('nobody'), /not a voter/);
  expectThrows(
    () => net.core('n2').transferLeadership('n1'),
    (e) => isNotLeaderError(e) && e.leaderHint === 'n1',
    'NotLeaderError with hint',
  );
  net.core('n1').transferLeadership('n1');
  assert.is(net.status('n1').transferee, null);
});

test('transfer: the target campaigns past leader stickiness', async () => {
  const net = await withLeader(ids5, { checkQuorum: true, preVote: true });
  net.core('n1').transferLeadership('n4');
  await net.stabilize();
  assert.is(net.leader(), 'n4');
  for (const id of ids5) assert.is(net.status(id).leader, 'n4');
});

// ---------------------------------------------------------------------------------------------
// Reads

test('ReadIndex (safe): the leader confirms with a heartbeat round and returns its commit index', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  const commit = net.status('n1').commitIndex;
  net.delivered = [];
  net.core('n1').readIndex('r1');
  await net.stabilize();
  assert.equal(net.node('n1').readStates, [{ index: commit, context: 'r1' }]);
  assert.ok(
    net.delivered.some((m) => m.type === 'heartbeat' && m.context !== ''),
    'a heartbeat round confirmed it',
  );
});

test('ReadIndex (safe): no answer without a quorum of heartbeat answers', async () => {
  const net = await withLeader(ids3);
  net.dropIf = (m) => m.type === 'heartbeatResponse';
  net.core('n1').readIndex('blocked');
  await net.stabilize();
  assert.equal(net.node('n1').readStates, []);
  net.dropIf = undefined;
  // The next periodic heartbeat carries a new round that confirms the waiting read.
  await net.tickAndStabilize(1);
  assert.equal(
    net.node('n1').readStates.map((r) => r.context),
    ['blocked'],
  );
});

test('ReadIndex (safe): a deposed leader in a minority cannot serve a stale read', async () => {
  const net = await withLeader(ids5, { checkQuorum: false });
  await net.propose('n1', 'v1');
  net.partition(['n1', 'n2'], ['n3', 'n4', 'n5']);
  await net.elect('n3');
  await net.propose('n3', 'v2');
  assert.is(net.status('n1').role, 'leader', 'the old leader does not know it was deposed');
  net.core('n1').readIndex('stale?');
  await net.tickAndStabilize(30, ['n1', 'n2']);
  assert.equal(net.node('n1').readStates, [], 'no read served from the minority');
  net.core('n3').readIndex('fresh');
  await net.stabilize();
  const state = net.node('n3').readStates[0];
  assert.ok(state !== undefined && state.index >= net.status('n3').commitIndex);
});

test('ReadIndex: a new leader waits for its first current-term commit', async () => {
  const net = cluster(ids3);
  net.core('n1').campaign();
  // Votes go through, but no append is acknowledged yet.
  net.dropIf = (m) => m.type === 'appendResponse';
  await net.stabilize();
  assert.is(net.leader(), 'n1');
  net.core('n1').readIndex('early');
  await net.stabilize();
  assert.equal(net.node('n1').readStates, [], 'commit index may be stale before the no-op commits');
  net.dropIf = undefined;
  await net.tickAndStabilize(2);
  const [state] = net.node('n1').readStates;
  assert.is(state?.context, 'early');
  assert.ok((state?.index ?? 0) >= 2, 'at least the no-op');
});

test('ReadIndex: forwarded from a follower to the leader', async () => {
  const net = await withLeader(ids3);
  await net.propose('n1', 'a');
  net.core('n2').readIndex('from-follower');
  await net.stabilize();
  assert.equal(net.node('n2').readStates, [
    { index: net.status('n1').commitIndex, context: 'from-follower' },
  ]);
  assert.equal(net.node('n1').readStates, []);
});

test('ReadIndex: a single-voter cluster answers at once', async () => {
  const net = cluster(['n1']);
  await net.elect('n1');
  net.core('n1').readIndex('solo');
  const rd = net.core('n1').ready();
  assert.equal(rd.readStates, [{ index: net.status('n1').commitIndex, context: 'solo' }]);
  assert.equal(rd.messages, []);
  net.core('n1').advance(rd);
});

test('ReadIndex: NotLeaderError when no leader is known', () => {
  const storage = bootStorage(ids3);
  const core = makeCore('n2', storage);
  expectThrows(
    () => core.readIndex('x'),
    (e) => isNotLeaderError(e) && e.leaderHint === null,
    'NotLeaderError',
  );
});

test('lease reads: the leader answers at once while its lease holds', async () => {
  // In lease mode a fresh node waits out one election timeout before it votes.
  const net = cluster(ids3, { readMode: 'lease', electionTicks: 10 });
  net.core('n1').campaign();
  await net.stabilize();
  assert.is(net.leader(), null, 'nobody votes right after start in lease mode');
  await net.tickAndStabilize(10, ['n2', 'n3']);
  await net.elect('n1');
  assert.is(net.leader(), 'n1');
  await net.tickAndStabilize(1); // one heartbeat round establishes the lease
  net.delivered = [];
  net.core('n1').readIndex('leased');
  await net.stabilize();
  assert.equal(
    net.node('n1').readStates.map((r) => r.context),
    ['leased'],
  );
  assert.not.ok(
    net.delivered.some((m) => m.type === 'heartbeat'),
    'no heartbeat round was needed',
  );
  assert.is(net.core('n1').stats().leaseReads, 1);
  // Cut off, the lease expires before followers may elect anyone else.
  net.isolate('n1');
  await net.tickAndStabilize(8, ['n1']);
  net.core('n1').readIndex('expired');
  await net.stabilize();
  assert.not.ok(net.node('n1').readStates.some((r) => r.context === 'expired'));
  assert.is(net.core('n1').stats().leaseReads, 1);
});

test('lease mode: a restarted node does not vote within its first election timeout', async () => {
  const net = cluster(ids3, { readMode: 'lease', electionTicks: 10, preVote: false });
  await electAmong(net, ids3);
  net.crash('n2');
  net.restart('n2');
  net.isolate('n1');
  net.core('n3').campaign();
  await net.stabilize();
  assert.is.not(net.status('n3').role, 'leader');
  assert.ok((net.core('n2').stats().dropped.leaderSticky ?? 0) >= 1);
});

// ---------------------------------------------------------------------------------------------
// Proposals

test('NotLeaderError carries the correct leader hint', async () => {
  const net = await withLeader(ids3, { forwardProposals: false });
  expectThrows(
    () => net.core('n2').propose(bytes('x')),
    (e) => isNotLeaderError(e) && e.leaderHint === 'n1',
    'hint n1',
  );
  net.isolate('n3');
  net.core('n3').campaign();
  assert.is(net.status('n3').role, 'preCandidate');
  expectThrows(
    () => net.core('n3').propose(bytes('x')),
    (e) => isNotLeaderError(e) && e.leaderHint === null,
    'no hint',
  );
  const fresh = makeCore('n9', bootStorage(ids3));
  const error = expectThrows(
    () => fresh.propose(bytes('x')),
    isNotLeaderError,
    'NotLeaderError',
  ) as NotLeaderError;
  assert.is(error.leaderHint, null);
});

test('proposal forwarding: a follower forwards to the leader', async () => {
  const net = await withLeader(ids3);
  await net.propose('n2', 'via-n2');
  await net.propose('n3', 'via-n3');
  for (const id of ids3) assert.equal(net.appliedData(id), ['via-n2', 'via-n3']);
  assert.ok(
    net.delivered.some((m) => m.type === 'propose' && m.from === 'n2' && m.to === 'n1' && m.term === 0),
  );
});

test('proposal forwarding: forwarded proposals arriving together leave in one append per follower', async () => {
  const net = await withLeader(ids3);
  net.delivered = [];
  const leader = net.core('n1');
  for (const [from, x] of [
    ['n2', 'p'],
    ['n3', 'q'],
    ['n2', 'r'],
  ] as const) {
    leader.step({
      type: 'propose',
      from,
      to: 'n1',
      term: 0,
      entries: [{ index: 0, term: 0, kind: 'normal', data: bytes(x) }],
    });
  }
  await net.stabilize();
  for (const follower of ['n2', 'n3']) {
    const appends = net.delivered.filter(
      (m) => m.type === 'append' && m.from === 'n1' && m.to === follower && m.entries.length > 0,
    );
    assert.is(appends.length, 1, `one append to ${follower}`);
    assert.equal(appends[0]?.type === 'append' ? appends[0].entries.map((e) => text(e.data)) : [], [
      'p',
      'q',
      'r',
    ]);
  }
  for (const id of ids3) assert.equal(net.appliedData(id), ['p', 'q', 'r']);
  net.checkSafety();
});

test('maxUncommittedBytes: proposals beyond the limit are dropped until entries commit', async () => {
  const net = await withLeader(ids3, { maxUncommittedBytes: 10 });
  net.isolate('n1');
  net.core('n1').propose(bytes('123456'));
  expectThrows(() => net.core('n1').propose(bytes('7890ab')), isProposalDroppedError, 'ProposalDroppedError');
  net.core('n1').propose(new Uint8Array(0)); // empty proposals cost nothing
  await net.stabilize();
  net.recover();
  await net.tickAndStabilize(2);
  net.core('n1').propose(bytes('7890ab'));
  await net.stabilize();
  assert.equal(net.appliedData('n2'), ['123456', '7890ab']);
  // A forwarded proposal over the limit is dropped (and counted) at the leader.
  net.isolate('n3');
  net.dropIf = (m) => m.type === 'appendResponse';
  net.core('n1').propose(bytes('abcdefgh'));
  net.core('n2').propose(bytes('abcdefgh'));
  await net.stabilize();
  assert.ok((net.core('n1').stats().dropped.uncommittedLimit ?? 0) >= 1);
});

// ---------------------------------------------------------------------------------------------
// Restart, durability and Ready ordering

test('restart: term, vote, commit, applied and log are restored from storage', async () => {
  const net = await withLeader(ids3);
  for (const x of ['a', 'b', 'c']) net.core('n1').propose(bytes(x));
  await net.stabilize();
  const before = net.status('n2');
  net.crash('n2');
  const core = net.restart('n2');
  const after = core.status();
  assert.is(after.term, before.term);
  assert.is(after.vote, before.vote);
  assert.is(after.commitIndex, before.commitIndex);
  assert.is(after.appliedIndex, before.appliedIndex);
  assert.is(after.lastIndex, before.lastIndex);
  assert.equal(after.conf, before.conf);
  await net.tickAndStabilize(2);
  assert.equal(net.appliedData('n2'), ['a', 'b', 'c'], 'nothing applied twice');
});

test('restart: committed but unapplied entries are handed out again; config entries are replayed up to applied', async () => {
  const net = await withLeader(ids3, {}, { spare: ['n4'] });
  await net.changeConf('n1', { mode: 'simple', steps: [{ type: 'addLearner', id: 'n4' }] });
  await net.propose('n1', 'x');
  net.crash('n2');
  // The state machine was lost: restart from the (bootstrap) snapshot and re-apply everything.
  const fresh = net.restart('n2', false);
  assert.equal(fresh.status().conf.learners, [], 'conf as of the snapshot');
  await net.tickAndStabilize(1);
  assert.equal(net.status('n2').conf.learners, ['n4'], 'the config entry was applied again');
  assert.equal(net.appliedData('n2'), ['x']);
  // With the state machine kept, the conf is rebuilt from the log up to `applied`.
  net.crash('n3');
  const kept = net.restart('n3', true);
  assert.equal(kept.status().conf.learners, ['n4']);
});

test('restart: a node never votes twice in one term', async () => {
  const net = cluster(ids3, { preVote: false, checkQuorum: false });
  net.core('n1').campaign();
  await net.processReady('n1');
  // Deliver n1's vote request to n2 only; n2 grants and persists the vote.
  const req = net.queue.find((m) => m.type === 'vote' && m.to === 'n2');
  assert.ok(req !== undefined);
  net.core('n2').step(req);
  const rd = net.core('n2').ready();
  const [grant] = messagesOf(rd, 'voteResponse');
  assert.ok(grant?.type === 'voteResponse' && grant.granted);
  assert.is(rd.hardState?.vote, 'n1', 'the vote is in the same Ready as its response');
  assert.ok(rd.mustSync);
  await net
    .node('n2')
    .storage.save({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) });
  net.core('n2').advance(rd);
  // Crash and restart n2; n3 now asks for its vote in the same term.
  net.crash('n2');
  const n2 = net.restart('n2');
  assert.is(n2.status().vote, 'n1');
  n2.step({
    type: 'vote',
    from: 'n3',
    to: 'n2',
    term: 2,
    preVote: false,
    lastIndex: 1,
    lastTerm: 1,
    transfer: false,
  });
  const rd2 = n2.ready();
  const [answer] = messagesOf(rd2, 'voteResponse');
  assert.ok(answer?.type === 'voteResponse' && !answer.granted, 'the second vote in term 2 is refused');
  n2.advance(rd2);
});

test('Ready: append acks travel with the entries they acknowledge; ready/advance alternate', async () => {
  const storage = bootStorage(ids3);
  const core = makeCore('n2', storage);
  core.step({
    type: 'append',
    from: 'n1',
    to: 'n2',
    term: 2,
    prevIndex: 1,
    prevTerm: 1,
    entries: [entry(2, 2, 'e')],
    commit: 1,
  });
  assert.ok(core.hasReady());
  const rd = core.ready();
  assert.equal(
    rd.entries.map((e) => e.index),
    [2],
  );
  assert.ok(messagesOf(rd, 'appendResponse').length === 1);
  assert.ok(rd.mustSync);
  assert.is(rd.softState?.leader, 'n1');
  assert.is(rd.softState?.term, 2, 'the soft state names the term its leader leads in');
  assert.not.ok(core.hasReady(), 'nothing new until advance');
  expectThrows(() => core.ready(), isInvariantError, 'ready() twice');
  await storage.save({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}) });
  core.advance(rd);
  assert.not.ok(core.hasReady());
  // A commit-only change needs no sync.
  core.step({ type: 'heartbeat', from: 'n1', to: 'n2', term: 2, commit: 2, context: '' });
  const rd2 = core.ready();
  assert.is(rd2.hardState?.commit, 2);
  assert.not.ok(rd2.mustSync);
  assert.equal(
    rd2.committed.map((e) => e.index),
    [2],
  );
  core.advance(rd2);
  assert.is(core.status().appliedIndex, 2);
});

// ---------------------------------------------------------------------------------------------
// Robustness and invariants

test('step never throws for malformed, misaddressed or unknown-sender input', async () => {
  const net = await withLeader(ids3);
  const core = net.core('n1');
  const junk: unknown[] = [
    null,
    42,
    { type: 'append' },
    { type: 'nope', from: 'n2', to: 'n1', term: 2 },
    { type: 'append', from: 'n2', to: 'n1', term: 2, prevIndex: -1, prevTerm: 0, entries: [], commit: 0 },
    {
      type: 'append',
      from: 'n2',
      to: 'n1',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [{ index: 9 }],
      commit: 0,
    },
    {
      type: 'vote',
      from: 'n2',
      to: 'n1',
      term: 0,
      preVote: false,
      lastIndex: 0,
      lastTerm: 0,
      transfer: false,
    },
    { type: 'heartbeat', from: 'n2', to: 'someone-else', term: 2, commit: 0, context: '' },
    { type: 'heartbeat', from: 'n1', to: 'n1', term: 2, commit: 0, context: '' },
    {
      type: 'appendResponse',
      from: 'stranger',
      to: 'n1',
      term: 2,
      reject: false,
      index: 1,
      hintIndex: 0,
      hintTerm: 0,
    },
    {
      type: 'appendResponse',
      from: 'n2',
      to: 'n1',
      term: 2,
      reject: false,
      index: 10_000,
      hintIndex: 0,
      hintTerm: 0,
    },
    {
      type: 'propose',
      from: 'stranger',
      to: 'n1',
      term: 0,
      entries: [{ index: 0, term: 0, kind: 'normal', data: bytes('x') }],
    },
    { type: 'snapshot', from: 'n2', to: 'n1', term: 2, snapshot: { meta: { index: 0 } } },
  ];
  const before = core.status();
  for (const m of junk) core.step(m as Message);
  const dropped = core.stats().dropped;
  assert.ok((dropped.malformed ?? 0) >= 6, JSON.stringify(dropped));
  assert.ok((dropped.unknownSender ?? 0) >= 2);
  assert.ok((dropped.wrongRecipient ?? 0) >= 1);
  assert.ok((dropped.fromSelf ?? 0) >= 1);
  assert.ok((dropped.unknownType ?? 0) >= 1);
  assert.is(core.status().commitIndex, before.commitIndex);
  assert.is(core.status().role, 'leader');
});

test('stale-term messages: a deposed leader learns the new term from the answer and steps down', async () => {
  const net = await withLeader(ids3, { checkQuorum: false });
  net.isolate('n1');
  await net.elect('n2');
  net.recover();
  net.core('n1').propose(bytes('from-old-leader'));
  await net.stabilize();
  assert.is(net.status('n1').role, 'follower');
  assert.is(net.status('n1').term, net.status('n2').term);
  assert.ok((net.core('n2').stats().dropped.staleTerm ?? 0) >= 1);
  await net.tickAndStabilize(2);
  assert.not.ok(net.appliedData('n2').includes('from-old-leader'));
});

test('invariants: the log refuses to overwrite committed entries', () => {
  const storage = bootStorage(ids3, [entry(2, 2, 'a'), entry(3, 2, 'b')], { term: 2, vote: null, commit: 3 });
  const log = new RaftLog(storage);
  log.committed = 3;
  expectThrows(() => log.append([entry(3, 3, 'x')]), isInvariantError, 'InvariantError');
  expectThrows(() => log.maybeAppend(1, 1, 3, [entry(2, 3, 'y')]), isInvariantError, 'InvariantError');
  log.commitTo(2);
  assert.is(log.committed, 3, 'commit never decreases');
  expectThrows(() => log.commitTo(10), isInvariantError, 'commit beyond the log');
});

test('invariants: a leader never acts on a second leader of its term', async () => {
  const net = await withLeader(ids3);
  const term = net.status('n1').term;
  net
    .core('n1')
    .step({ type: 'append', from: 'n2', to: 'n1', term, prevIndex: 1, prevTerm: 1, entries: [], commit: 0 });
  assert.is(net.status('n1').role, 'leader');
  assert.is(net.core('n1').stats().dropped.conflictingLeader, 1);
});

test('status: progress of every other member on the leader; empty elsewhere', async () => {
  const net = await withLeader(ids3);
  const s = net.status('n1');
  assert.equal(s.progress.map((p) => p.id).sort(), ['n2', 'n3']);
  assert.ok(s.progress.every((p) => p.voter && p.recentActive));
  assert.equal(net.status('n2').progress, []);
  const ids: NodeId[] = net.ids();
  assert.equal(ids, ids3);
});

test.run();
