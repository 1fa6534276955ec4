// The handoff contract on a simulated 3-node cluster (RaftNode + KvStateMachine + RoleManager per
// node, one singleton RecordingRole): the exact calls each side gets in a successful transfer,
// the aborted paths (target accept fails, source prepare fails, target never healthy), the
// refusals, a transfer to the current holder, and the 'raft' pseudo-role. In every test no role
// ever sees two lifecycle calls overlap and the cluster never has two acting holders.
import { latency, runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DEFAULT_KEY_PREFIX,
  decodeHandoff,
  type HandoffRecord,
  handoffKey,
  isHandoffAbortedError,
  isHandoffRefusedError,
  type RoleManagerEvents,
} from '../src/index.js';
import type { CallRecord } from './support/recording-role.js';
import {
  type RolesCluster,
  type RolesClusterOptions,
  type RolesNode,
  startRolesCluster,
  TEST_LEASE,
} from './support/roles-cluster.js';

const ttl = TEST_LEASE.ttlMs ?? 3000;

/**
 * A cluster on a lossless network with seeded latency, clock offsets and drift. These tests pin
 * the call contract; with message loss a handoff may legitimately abort on its timeout (a lost
 * forwarded proposal is only noticed after Raft's request timeout), which the crash simulation
 * covers instead.
 */
function cluster(seed: number, options: RolesClusterOptions = {}): Promise<RolesCluster> {
  return startRolesCluster(seed, { link: { latency: latency.uniform(1, 6) }, ...options });
}

async function seeds(count: number, scenario: (seed: number) => Promise<void>): Promise<void> {
  await runSeeds({ seeds: count, file: import.meta.url, scenario });
}

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** Runs the cluster (checking its invariants) until `promise` settles; bounded by `limitMs`. */
async function outcome<T>(
  c: RolesCluster,
  promise: Promise<T>,
  limitMs: number,
  what: string,
): Promise<Outcome<T>> {
  let settled: Outcome<T> | undefined;
  promise.then(
    (value) => {
      settled = { ok: true, value };
    },
    (error: unknown) => {
      settled = { ok: false, error };
    },
  );
  await c.waitFor(() => settled !== undefined, limitMs, what);
  assert.equal(c.violations, [], `${what}: invariants held`);
  if (settled === undefined) throw new Error(`${what}: did not settle`);
  return settled;
}

async function succeeds<T>(c: RolesCluster, promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  const result = await outcome(c, promise, limitMs, what);
  if (!result.ok) throw result.error;
  return result.value;
}

async function fails(
  c: RolesCluster,
  promise: Promise<unknown>,
  limitMs: number,
  what: string,
): Promise<unknown> {
  const result = await outcome(c, promise, limitMs, what);
  assert.ok(
    !result.ok,
    `${what}: expected a rejection, got ${JSON.stringify(result.ok ? result.value : null)}`,
  );
  return result.error;
}

function node(c: RolesCluster, id: string): RolesNode {
  const found = c.nodes.get(id);
  if (found === undefined) throw new Error(`${id} is not up`);
  return found;
}

interface Roles {
  readonly from: RolesNode;
  readonly to: RolesNode;
  /** The third node: neither holder nor target. */
  readonly other: RolesNode;
  readonly token: number;
}

/** Waits for a holder and picks the target and the bystander. */
async function elected(c: RolesCluster): Promise<Roles> {
  await c.waitFor(() => c.acting().length === 1, 10_000, 'a holder acts');
  const [holder] = c.acting();
  assert.ok(holder !== undefined);
  const rest = c.ids.filter((id) => id !== holder);
  const from = node(c, holder);
  const token = from.manager.statuses()[0]?.fencingToken;
  assert.ok(token !== undefined, 'the holder reports its token');
  return { from, to: node(c, rest[0] ?? ''), other: node(c, rest[1] ?? ''), token };
}

/** Lifecycle calls (no health) since `mark`. */
function lifecycle(n: RolesNode, mark: number): CallRecord[] {
  return n.role.calls.slice(mark).filter((call) => call.call !== 'health');
}

function names(calls: readonly CallRecord[]): string[] {
  return calls.map(
    (call) => `${call.call}${call.reason !== undefined ? `(${call.reason})` : ''}:${call.outcome}`,
  );
}

type HandoffEvent =
  | 'handoff-started'
  | 'handoff-prepared'
  | 'handoff-accepted'
  | 'handoff-completed'
  | 'handoff-aborted';
const HANDOFF_EVENTS: readonly HandoffEvent[] = [
  'handoff-started',
  'handoff-prepared',
  'handoff-accepted',
  'handoff-completed',
  'handoff-aborted',
];

interface Seen {
  readonly node: string;
  readonly name: HandoffEvent | 'leader-acquired' | 'leader-lost';
  readonly info: RoleManagerEvents[HandoffEvent][0] | RoleManagerEvents['leader-lost' | 'leader-acquired'][0];
}

/** Records the handoff and leadership events of every node from now on. */
function watch(c: RolesCluster): Seen[] {
  const seen: Seen[] = [];
  for (const n of c.nodes.values()) {
    for (const name of HANDOFF_EVENTS) n.manager.on(name, (info) => seen.push({ node: n.id, name, info }));
    n.manager.on('leader-acquired', (info) => seen.push({ node: n.id, name: 'leader-acquired', info }));
    n.manager.on('leader-lost', (info) => seen.push({ node: n.id, name: 'leader-lost', info }));
  }
  return seen;
}

function eventsOf(seen: readonly Seen[], id: string): string[] {
  return seen.filter((e) => e.node === id).map((e) => e.name);
}

function handoffRecord(c: RolesCluster, n: RolesNode): HandoffRecord | undefined {
  const key = handoffKey(DEFAULT_KEY_PREFIX, c.roleName);
  const entry = n.machine.get(key);
  return entry === undefined ? undefined : decodeHandoff(entry.value, key);
}

/** The sole acting holder keeps acting, with `token`, for `ms`. */
async function keepsActing(c: RolesCluster, holder: RolesNode, token: number, ms: number): Promise<void> {
  await c.run(ms);
  assert.equal(c.violations, []);
  assert.equal(c.acting(), [holder.id], `${holder.id} still acts`);
  assert.is(holder.manager.statuses()[0]?.fencingToken, token, 'with its old token');
  assert.is(c.tokens.at(-1), token, 'nobody acted with another token meanwhile');
}

// ---------------------------------------------------------------------------------------------
// A successful transfer

test('a transfer: target warm → source prepare → target accept → health → start; source complete → stop', async () => {
  await seeds(8, async (seed) => {
    // Whether some node had warmed up (only the target does) when the source began to quiesce.
    let warmedBeforeQuiesce: boolean | undefined;
    let nodes: RolesCluster | undefined;
    const c = await cluster(seed, {
      role: {
        hook: (call, moment) => {
          if (call === 'prepareHandoff' && moment === 'enter' && nodes !== undefined)
            warmedBeforeQuiesce = [...nodes.nodes.values()].some((n) => n.role.warmed);
          return undefined;
        },
      },
    });
    nodes = c;
    const { from, to, other, token } = await elected(c);
    from.role.served = 1000 + seed;
    const fromMark = from.role.calls.length;
    const toMark = to.role.calls.length;
    const otherMark = other.role.calls.length;
    const seen = watch(c);
    // Any member can coordinate: here the bystander does.
    const result = await succeeds(
      c,
      other.manager.coordinator.transfer(c.roleName, to.id),
      10_000,
      'the transfer',
    );
    await c.run(500);
    assert.equal(c.violations, []);

    // Source: quiesce, release, stop; nothing else (health checks stop while quiesced).
    assert.equal(names(lifecycle(from, fromMark)), [
      'prepareHandoff:ok',
      'completeHandoff:ok',
      'stop(handed-off):ok',
    ]);
    const sourceCalls = from.role.calls.slice(fromMark);
    assert.is(sourceCalls[0]?.to, to.id, 'prepareHandoff is told the target');
    assert.is(sourceCalls[0]?.token, token, 'prepareHandoff runs in the old holder context');
    const prepared = sourceCalls.findIndex((call) => call.call === 'prepareHandoff');
    assert.ok(
      sourceCalls.slice(prepared).every((call) => call.call !== 'health'),
      'no health checks on a quiesced source',
    );

    // Target: warm up without a token, prove healthy, then start with a larger token.
    const targetCalls = to.role.calls.slice(toMark);
    const firstStart = targetCalls.findIndex((call) => call.call === 'start');
    assert.ok(firstStart > 0, 'the target started');
    const warmup = targetCalls.slice(0, firstStart + 1);
    assert.is(warmup[0]?.call, 'warmHandoff');
    assert.is(warmup[0]?.token, undefined, 'warmHandoff runs without a fencing token');
    assert.is(warmup[1]?.call, 'acceptHandoff');
    assert.is(warmup[1]?.token, undefined, 'acceptHandoff runs without a fencing token');
    const between = warmup.slice(2, -1).map((call) => call.call);
    assert.ok(between.length >= 1 && between.every((call) => call === 'health'), `between: ${between}`);
    assert.equal(names(lifecycle(to, toMark)), ['warmHandoff:ok', 'acceptHandoff:ok', 'start:ok']);
    // The target warms up while the source still serves: the source quiesces only afterwards.
    assert.is(warmedBeforeQuiesce, true, 'the target had warmed up before the source quiesced');
    const newToken = targetCalls[firstStart]?.token;
    assert.ok(newToken !== undefined && newToken > token, `new token ${newToken} after ${token}`);
    assert.is(to.role.served, 1000 + seed, 'the handoff state reached the target');
    assert.equal(lifecycle(other, otherMark), [], 'the coordinator node runs no role calls');

    assert.equal(result, {
      id: result.id,
      role: c.roleName,
      from: from.id,
      to: to.id,
      fencingToken: newToken,
    });
    assert.ok(result.id.length > 0);
    assert.equal(c.acting(), [to.id]);
    assert.is(to.manager.statuses()[0]?.fencingToken, newToken);
    assert.is(c.tokens.at(-1), newToken);

    // Events: the source reports started/prepared/completed, the target accepted.
    const handoffOnly = (id: string) => eventsOf(seen, id).filter((name) => name.startsWith('handoff-'));
    assert.equal(handoffOnly(from.id), ['handoff-started', 'handoff-prepared', 'handoff-completed']);
    assert.equal(handoffOnly(to.id), ['handoff-accepted']);
    assert.equal(eventsOf(seen, other.id), []);
    for (const e of seen.filter((s) => s.name.startsWith('handoff-')))
      assert.equal(e.info, { role: c.roleName, id: result.id, from: from.id, to: to.id });
    assert.equal(
      seen.filter((s) => s.name === 'leader-lost').map((s) => [s.node, s.info]),
      [[from.id, { role: c.roleName, fencingToken: token, reason: 'handed-off' }]],
    );
    assert.equal(
      seen.filter((s) => s.name === 'leader-acquired').map((s) => [s.node, s.info]),
      [[to.id, { role: c.roleName, fencingToken: newToken }]],
    );
    assert.is(handoffRecord(c, other)?.phase, 'completed');
    assert.is(handoffRecord(c, other)?.id, result.id);

    // The new holder keeps the role.
    await keepsActing(c, to, newToken, 2 * ttl);
  });
});

test('the holder can coordinate its own handoff, and the role can be handed on again', async () => {
  await seeds(4, async (seed) => {
    const c = await cluster(seed);
    const { from, to, other } = await elected(c);
    const first = await succeeds(c, from.manager.coordinator.transfer(c.roleName, to.id), 10_000, 'first');
    const second = await succeeds(c, to.manager.coordinator.transfer(c.roleName, other.id), 10_000, 'second');
    assert.ok(second.fencingToken > first.fencingToken, 'tokens grow with every handoff');
    assert.is(second.from, to.id);
    await c.run(500);
    assert.equal(c.acting(), [other.id]);
    assert.equal(c.violations, []);
  });
});

// ---------------------------------------------------------------------------------------------
// Aborted handoffs

test("the target's acceptHandoff throws: aborted, the source resumes with its old token", async () => {
  await seeds(8, async (seed) => {
    const c = await cluster(seed, {
      role: { failOn: (call, attempt) => call === 'acceptHandoff' && attempt === 1 },
    });
    const { from, to, other, token } = await elected(c);
    const fromMark = from.role.calls.length;
    const toMark = to.role.calls.length;
    const seen = watch(c);
    const startsBefore = from.role.count('start');
    const error = await fails(
      c,
      other.manager.coordinator.transfer(c.roleName, to.id),
      10_000,
      'the transfer',
    );
    assert.ok(isHandoffAbortedError(error), `rejected with ${String(error)}`);
    assert.is(error.role, c.roleName);
    assert.match(error.reason, /acceptHandoff failed/);
    await c.run(500);
    assert.equal(c.violations, []);

    assert.equal(names(lifecycle(from, fromMark)), ['prepareHandoff:ok', 'abortHandoff:ok']);
    assert.is(from.role.count('start'), startsBefore, 'the source resumed without a restart');
    assert.equal(names(lifecycle(to, toMark)), [
      'warmHandoff:ok',
      'acceptHandoff:error',
      'stop(handoff-aborted):ok',
    ]);
    assert.equal(c.acting(), [from.id], 'exactly one holder: the old one');
    assert.equal(eventsOf(seen, from.id), ['handoff-started', 'handoff-prepared', 'handoff-aborted']);
    assert.equal(eventsOf(seen, to.id), ['handoff-aborted']);
    const aborted = seen.find((e) => e.node === from.id && e.name === 'handoff-aborted');
    assert.is(aborted?.info && 'reason' in aborted.info ? aborted.info.reason : undefined, error.reason);
    assert.is(handoffRecord(c, other)?.phase, 'aborted');
    await keepsActing(c, from, token, 2 * ttl);
    // The source serves again: health checks resumed.
    assert.ok(
      from.role.calls.slice(fromMark).some((call) => call.call === 'health'),
      'health checks resumed',
    );

    // Once the target is fixed, the same transfer goes through.
    const result = await succeeds(c, other.manager.coordinator.transfer(c.roleName, to.id), 10_000, 'retry');
    assert.ok(result.fencingToken > token);
    await c.run(500);
    assert.equal(c.acting(), [to.id]);
  });
});

test("the source's prepareHandoff throws: aborted; the target, which had only warmed up, stands down", async () => {
  await seeds(8, async (seed) => {
    const c = await cluster(seed, {
      role: { failOn: (call, attempt) => call === 'prepareHandoff' && attempt === 1 },
    });
    const { from, to, other, token } = await elected(c);
    const fromMark = from.role.calls.length;
    const toMark = to.role.calls.length;
    const seen = watch(c);
    const error = await fails(
      c,
      other.manager.coordinator.transfer(c.roleName, to.id),
      10_000,
      'the transfer',
    );
    assert.ok(isHandoffAbortedError(error), `rejected with ${String(error)}`);
    assert.match(error.reason, /prepare failed/);
    await c.run(500);
    assert.equal(c.violations, []);
    assert.equal(names(lifecycle(from, fromMark)), ['prepareHandoff:error', 'abortHandoff:ok']);
    assert.equal(names(lifecycle(to, toMark)), ['warmHandoff:ok', 'stop(handoff-aborted):ok']);
    assert.is(to.role.count('acceptHandoff'), 0, 'no state reached the target');
    assert.equal(eventsOf(seen, from.id), ['handoff-started', 'handoff-aborted']);
    assert.equal(eventsOf(seen, to.id), ['handoff-aborted']);
    await keepsActing(c, from, token, 2 * ttl);
  });
});

test('a target that never reports healthy: the handoff times out and aborts', async () => {
  await seeds(6, async (seed) => {
    // The target's daemon hangs: its health checks never answer.
    let sick: string | undefined;
    const c = await cluster(seed, {
      role: {
        hookFor: (id) => (call, moment) =>
          id === sick && call === 'health' && moment === 'enter' ? 'freeze' : undefined,
      },
    });
    const { from, to, other, token } = await elected(c);
    sick = to.id;
    const fromMark = from.role.calls.length;
    const toMark = to.role.calls.length;
    const startedAt = c.sim.clock.now();
    const timeoutMs = 1_500;
    const error = await fails(
      c,
      other.manager.coordinator.transfer(c.roleName, to.id, { timeoutMs }),
      10_000,
      'the transfer',
    );
    const took = c.sim.clock.now() - startedAt;
    assert.ok(isHandoffAbortedError(error), `rejected with ${String(error)}`);
    assert.match(error.reason, /timeout|not healthy/);
    assert.ok(took >= timeoutMs - 2 * (TEST_LEASE.maxClockSkewMs ?? 0), `aborted after ${took} ms`);
    assert.ok(took <= timeoutMs + ttl, `aborted after ${took} ms`);
    await c.run(1_000);
    assert.equal(c.violations, []);
    assert.equal(names(lifecycle(from, fromMark)), ['prepareHandoff:ok', 'abortHandoff:ok']);
    const targetCalls = to.role.calls.slice(toMark);
    assert.is(targetCalls[0]?.call, 'warmHandoff');
    assert.is(targetCalls[1]?.call, 'acceptHandoff');
    assert.ok(
      targetCalls.some((call) => call.call === 'health'),
      'the target was asked for its health',
    );
    assert.equal(names(lifecycle(to, toMark)), [
      'warmHandoff:ok',
      'acceptHandoff:ok',
      'stop(handoff-aborted):ok',
    ]);
    assert.is(to.role.count('start'), 0, 'the unhealthy target never started');
    await keepsActing(c, from, token, 2 * ttl);
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals and trivial transfers

async function refused(c: RolesCluster, promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await fails(c, promise, 10_000, `refusal ${pattern}`);
  assert.ok(isHandoffRefusedError(error), `rejected with ${String(error)}`);
  assert.match(error.message, pattern);
}

test('refusals: nobody holds it, target not a member, not alive, bad timeout', async () => {
  await seeds(3, async (seed) => {
    const c = await cluster(seed);
    const { from, to, other, token } = await elected(c);
    const fromMark = from.role.calls.length;
    const coordinator = other.manager.coordinator;
    await refused(c, coordinator.transfer('nobody-runs-this', to.id), /nobody holds it/);
    await refused(c, coordinator.transfer(c.roleName, 'n9'), /n9 is not an alive member/);
    await refused(c, coordinator.transfer(c.roleName, to.id, { timeoutMs: 0 }), /timeoutMs must be positive/);
    c.crash(to.id);
    await refused(c, coordinator.transfer(c.roleName, to.id), /is not an alive member/);
    assert.equal(lifecycle(from, fromMark), [], 'a refused transfer does not touch the holder');
    await keepsActing(c, from, token, ttl);
  });
});

test('refusal: a target that does not meet role.requires; eligible nodes still trade the role', async () => {
  await seeds(3, async (seed) => {
    const options: RolesClusterOptions = {
      nodeRef: (id) => ({ tags: { zone: id === 'n3' ? 'b' : 'a' } }),
      role: { requires: { tags: { zone: 'a' } } },
    };
    const c = await cluster(seed, options);
    await c.waitFor(() => c.acting().length === 1, 10_000, 'a holder acts');
    const holder = c.acting()[0] ?? '';
    assert.ok(holder !== 'n3', 'the ineligible node never wins the election');
    const from = node(c, holder);
    const token = from.manager.statuses()[0]?.fencingToken ?? -1;
    const fromMark = from.role.calls.length;
    await refused(c, from.manager.coordinator.transfer(c.roleName, 'n3'), /n3 is not eligible/);
    assert.equal(lifecycle(from, fromMark), []);
    await keepsActing(c, from, token, ttl);
    const eligible = holder === 'n1' ? 'n2' : 'n1';
    const result = await succeeds(
      c,
      from.manager.coordinator.transfer(c.roleName, eligible),
      10_000,
      'eligible',
    );
    assert.is(result.to, eligible);
    await c.run(500);
    assert.equal(c.acting(), [eligible]);
    assert.equal(c.violations, []);
  });
});

test('refusal: a handoff is already under way; the first one still completes', async () => {
  await seeds(4, async (seed) => {
    let slow: RolesCluster | undefined;
    const c = await cluster(seed, {
      role: {
        // The holder takes a while to quiesce.
        delay: (call) =>
          call === 'prepareHandoff' && slow !== undefined
            ? new Promise((resolve) => slow?.sim.clock.setTimeout(resolve, 400))
            : Promise.resolve(),
      },
    });
    slow = c;
    const { from, to, other } = await elected(c);
    let started = false;
    from.manager.once('handoff-started', () => {
      started = true;
    });
    let first: Outcome<unknown> | undefined;
    other.manager.coordinator.transfer(c.roleName, to.id).then(
      (value) => {
        first = { ok: true, value };
      },
      (error: unknown) => {
        first = { ok: false, error };
      },
    );
    await c.waitFor(() => started, 5_000, 'the first handoff starts');
    await refused(c, to.manager.coordinator.transfer(c.roleName, other.id), /is under way/);
    await refused(c, other.manager.coordinator.transfer(c.roleName, to.id), /is under way/);
    await c.waitFor(() => first !== undefined, 10_000, 'the first handoff ends');
    assert.ok(first?.ok, `the first handoff failed: ${first?.ok === false ? String(first.error) : ''}`);
    await c.run(500);
    assert.equal(c.acting(), [to.id]);
    assert.equal(c.violations, []);
  });
});

test('a transfer to the current holder resolves at once, without a handoff', async () => {
  await seeds(3, async (seed) => {
    const c = await cluster(seed);
    const { from, other, token } = await elected(c);
    const fromMark = from.role.calls.length;
    const seen = watch(c);
    const startedAt = c.sim.clock.now();
    const result = await succeeds(c, other.manager.coordinator.transfer(c.roleName, from.id), 5_000, 'no-op');
    assert.ok(c.sim.clock.now() - startedAt < 500, 'no handoff steps were waited for');
    assert.equal(result, { id: '', role: c.roleName, from: from.id, to: from.id, fencingToken: token });
    assert.equal(lifecycle(from, fromMark), []);
    assert.equal(seen, []);
    assert.is(handoffRecord(c, other), undefined, 'no handoff record was written');
    await keepsActing(c, from, token, ttl);
  });
});

// ---------------------------------------------------------------------------------------------
// Raft leadership

function raftLeader(c: RolesCluster): string | undefined {
  const leaders = [...c.nodes.values()].filter((n) => n.raft.role === 'leader');
  return leaders.length === 1 ? leaders[0]?.id : undefined;
}

test("transfer('raft', id) makes that member the Raft leader, from the leader or any member", async () => {
  await seeds(6, async (seed) => {
    const c = await cluster(seed);
    await elected(c);
    const leader = raftLeader(c);
    assert.ok(leader !== undefined, 'one Raft leader');
    const [target, third] = c.ids.filter((id) => id !== leader) as [string, string];
    // The leader's coordinator.
    const first = await succeeds(
      c,
      node(c, leader).manager.coordinator.transfer('raft', target),
      10_000,
      'raft transfer from the leader',
    );
    assert.equal(
      { role: first.role, from: first.from, to: first.to },
      { role: 'raft', from: leader, to: target },
    );
    await c.waitFor(() => raftLeader(c) === target, 2_000, 'the target leads');
    // The others learn of it from its first append, one message delay later each: the old
    // leader's answer can come back before the third member has heard (a heartbeat is 50 ms).
    await c.waitFor(
      () => [...c.nodes.values()].every((n) => n.raft.leader === target),
      50,
      'every member follows the new leader within a heartbeat',
    );
    // A follower's coordinator (neither leader nor target).
    const second = await succeeds(
      c,
      node(c, leader).manager.coordinator.transfer('raft', third),
      10_000,
      'raft transfer from a follower',
    );
    assert.equal({ from: second.from, to: second.to }, { from: target, to: third });
    await c.waitFor(() => raftLeader(c) === third, 2_000, 'the third member leads');
    // To the current leader: at once.
    const same = await succeeds(
      c,
      node(c, target).manager.coordinator.transfer('raft', third),
      1_000,
      'no-op',
    );
    assert.equal({ from: same.from, to: same.to }, { from: third, to: third });
    await c.run(2 * ttl);
    assert.equal(c.violations, []);
    assert.is(c.acting().length, 1, 'the singleton keeps exactly one holder through Raft changes');
  });
});

test.run();
