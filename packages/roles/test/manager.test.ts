// RoleManager on one simulated node (a single-member Raft, a deterministic SimClock): dependency
// order, restart with capped exponential backoff, health checks, ctx.fail, call timeouts, the
// status snapshot, a singleton's lease on one node, and configuration errors. Time only moves
// through the simulation; every wait is bounded.
import { decodeKvCommand } from '@clusteros/raft';
import { runSeeds } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DEFAULT_KEY_PREFIX,
  decodeLease,
  isRoleConfigError,
  isRoleTimeoutError,
  leaseKey,
  type Role,
  RoleConfigError,
  RoleManager,
  type RoleManagerOptions,
  type RoleStore,
} from '../src/index.js';
import { type ManagerNode, NODE_ID, startManagerNode } from './support/manager-node.js';
import { type Journal, ScriptedRole, sleep } from './support/scripted-role.js';

/** The status line of `role`; fails the test if the manager has none. */
function statusOf(node: ManagerNode, role: string) {
  const status = node.manager.statuses().find((s) => s.role === role);
  if (status === undefined) throw new Error(`no status for ${role}`);
  return status;
}

function noViolations(node: ManagerNode): void {
  assert.equal(node.journal.violations, [], 'no two lifecycle calls of one role overlapped');
}

/** Runs `promise` to its end in simulated time and returns its outcome. */
async function settle<T>(
  node: ManagerNode,
  promise: Promise<T>,
  limitMs: number,
  what: string,
): Promise<{ value?: T; error?: unknown }> {
  let outcome: { value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => {
      outcome = { value };
    },
    (error: unknown) => {
      outcome = { error };
    },
  );
  await node.waitFor(() => outcome !== undefined, limitMs, what);
  if (outcome === undefined) throw new Error(`${what}: did not settle`);
  return outcome;
}

function roleByName(node: ManagerNode, name: string): ScriptedRole {
  const role = roles.get(node)?.find((r) => r.name === name);
  if (role === undefined) throw new Error(`no role ${name}`);
  return role;
}
const roles = new WeakMap<ManagerNode, ScriptedRole[]>();

async function nodeWith(
  build: (env: { clock: ManagerNode['clock']; journal: Journal }) => ScriptedRole[],
  options: Omit<Parameters<typeof startManagerNode>[0], 'roles'> = {},
): Promise<ManagerNode> {
  let built: ScriptedRole[] = [];
  const node = await startManagerNode({
    ...options,
    roles: (env) => {
      built = build(env);
      return built;
    },
  });
  roles.set(node, built);
  return node;
}

// ---------------------------------------------------------------------------------------------
// Dependency order

/** munge ← slurmd ← exporter, listed in the wrong order on purpose. */
function slurmStack(
  env: { clock: ManagerNode['clock']; journal: Journal },
  extra: { mungeStart?: (attempt: number) => Promise<void> | void; stopMs?: number } = {},
): ScriptedRole[] {
  const { clock, journal } = env;
  const stop = async (): Promise<void> => {
    if (extra.stopMs !== undefined) await sleep(clock, extra.stopMs);
  };
  return [
    new ScriptedRole({ name: 'exporter', dependsOn: ['slurmd'], clock, journal, stop }),
    new ScriptedRole({
      name: 'slurmd',
      dependsOn: ['munge'],
      clock,
      journal,
      stop,
      start: () => sleep(clock, 50),
    }),
    new ScriptedRole({
      name: 'munge',
      clock,
      journal,
      stop,
      start: async (_ctx, attempt) => {
        await sleep(clock, 200);
        await extra.mungeStart?.(attempt);
      },
    }),
  ];
}

test('every-node roles start in dependency order, each only after its dependencies run', async () => {
  const node = await nodeWith((env) => slurmStack(env));
  await node.run(100);
  assert.equal(node.journal.lines(), ['munge.start'], 'only munge starts while munge is starting');
  assert.is(statusOf(node, 'slurmd').phase, 'stopped');
  await node.waitFor(() => node.manager.isActing('exporter'), 5_000, 'the stack runs');
  assert.equal(node.journal.lines({ settled: true }), [
    'munge.start',
    'munge.start:ok',
    'slurmd.start',
    'slurmd.start:ok',
    'exporter.start',
    'exporter.start:ok',
  ]);
  const slurmdAt = node.journal.calls('slurmd', 'start')[0]?.at ?? -1;
  assert.ok(slurmdAt >= 200, `slurmd started at ${slurmdAt} ms, before munge's 200 ms start finished`);
  assert.equal(
    node.eventsOf('started').map((e) => e.info),
    [
      { role: 'munge', leader: false, fencingToken: undefined },
      { role: 'slurmd', leader: false, fencingToken: undefined },
      { role: 'exporter', leader: false, fencingToken: undefined },
    ],
  );
  noViolations(node);
});

test('manager.stop stops every role in reverse dependency order, one after the other', async () => {
  const node = await nodeWith((env) => slurmStack(env, { stopMs: 30 }));
  await node.waitFor(() => node.manager.isActing('exporter'), 5_000, 'the stack runs');
  const from = node.journal.entries.length;
  const stopped = await settle(node, node.manager.stop(), 5_000, 'the manager stops');
  assert.is(stopped.error, undefined);
  const stops = node.journal.entries.slice(from).map((e) => `${e.role}.${e.call}(${e.reason}):${e.moment}`);
  assert.equal(stops, [
    'exporter.stop(shutdown):enter',
    'exporter.stop(shutdown):ok',
    'slurmd.stop(shutdown):enter',
    'slurmd.stop(shutdown):ok',
    'munge.stop(shutdown):enter',
    'munge.stop(shutdown):ok',
  ]);
  assert.equal(
    node.eventsOf('stopped').map((e) => e.info),
    [
      { role: 'exporter', reason: 'shutdown' },
      { role: 'slurmd', reason: 'shutdown' },
      { role: 'munge', reason: 'shutdown' },
    ],
  );
  assert.equal(
    node.manager.statuses().map((s) => [s.role, s.phase, s.running]),
    [
      ['munge', 'stopped', false],
      ['slurmd', 'stopped', false],
      ['exporter', 'stopped', false],
    ],
  );
  const after = node.journal.entries.length;
  await node.run(20_000);
  assert.is(node.journal.entries.length, after, 'nothing runs after the manager stopped');
  noViolations(node);
});

test('a dependency that fails stops its dependents (dependency-stopped); they return after it', async () => {
  const node = await nodeWith((env) => slurmStack(env), { restart: { baseMs: 400, maxMs: 400 } });
  await node.waitFor(() => node.manager.isActing('exporter'), 5_000, 'the stack runs');
  const munge = node.manager.statuses().find((s) => s.role === 'munge');
  assert.ok(munge?.running);
  const from = node.journal.entries.length;
  const failedAt = node.clock.now();
  assert.is(node.journal.calls('munge', 'start').length, 1);
  // munged dies.
  roleByName(node, 'munge').ctx?.fail(new Error('munged exited with status 1'));
  await node.run(100);
  const stopsNow = node.journal.entries
    .slice(from)
    .filter((e) => e.call === 'stop' && e.moment === 'enter')
    .map((e) => `${e.role}(${e.reason})`)
    .sort();
  assert.equal(stopsNow, ['exporter(dependency-stopped)', 'munge(failed)', 'slurmd(dependency-stopped)']);
  assert.is(statusOf(node, 'slurmd').phase, 'stopped');
  assert.is(statusOf(node, 'exporter').phase, 'stopped');
  await node.waitFor(() => node.manager.isActing('exporter'), 5_000, 'the stack comes back');
  const restarts = node.journal.entries.slice(from).filter((e) => e.call === 'start');
  assert.equal(
    restarts.map((e) => `${e.role}.start:${e.moment}`),
    [
      'munge.start:enter',
      'munge.start:ok',
      'slurmd.start:enter',
      'slurmd.start:ok',
      'exporter.start:enter',
      'exporter.start:ok',
    ],
    'munge first, then slurmd, then exporter',
  );
  const mungeBack = restarts[0]?.at ?? 0;
  assert.ok(mungeBack - failedAt >= 200, `munge restarted ${mungeBack - failedAt} ms after failing`);
  noViolations(node);
});

test('a dependent never starts while its dependency keeps failing to start', async () => {
  const node = await nodeWith(
    (env) =>
      slurmStack(env, {
        mungeStart: (attempt) => {
          if (attempt <= 3) throw new Error('no key in /etc/munge');
        },
      }),
    { restart: { baseMs: 100, maxMs: 400 } },
  );
  await node.waitFor(() => node.journal.calls('munge', 'start').length === 3, 10_000, 'three munge attempts');
  assert.equal(node.journal.calls('slurmd', 'start'), [], 'slurmd waits for munge');
  await node.waitFor(() => node.manager.isActing('exporter'), 10_000, 'the stack runs once munge does');
  noViolations(node);
});

// ---------------------------------------------------------------------------------------------
// Failures and restarts

test('start failures restart with capped exponential backoff (jitter within [exp/2, exp])', async () => {
  const baseMs = 100;
  const maxMs = 1600;
  const firstGaps: number[] = [];
  await runSeeds({
    seeds: 5,
    file: import.meta.url,
    scenario: async (seed) => {
      const node = await nodeWith(
        ({ clock, journal }) => [
          new ScriptedRole({
            name: 'slurmd',
            clock,
            journal,
            start: () => {
              throw new Error('cannot bind port 6818');
            },
          }),
        ],
        { seed, restart: { baseMs, maxMs, unhealthyAfter: 1000 } },
      );
      const attempts = 10;
      await node.waitFor(
        () => node.journal.calls('slurmd', 'start').length === attempts,
        60_000,
        `${attempts} start attempts`,
      );
      const at = node.journal.calls('slurmd', 'start').map((e) => e.at);
      const failed = node.eventsOf('failed');
      for (let i = 0; i + 1 < attempts; i++) {
        const gap = (at[i + 1] ?? 0) - (at[i] ?? 0);
        const exp = Math.min(maxMs, baseMs * 2 ** i);
        assert.ok(
          gap >= Math.floor(exp / 2) && gap <= exp,
          `gap ${i + 1} is ${gap} ms, outside [${exp / 2}, ${exp}] (seed ${seed})`,
        );
        assert.is(failed[i]?.info.retryInMs, gap, 'the failed event announces the delay it waits');
        assert.is(failed[i]?.info.failures, i + 1);
      }
      const capped = at.slice(4).map((t, i) => (at[i + 5] ?? t) - t);
      assert.ok(
        capped.every((gap) => gap <= maxMs),
        `delays keep growing past maxMs: ${capped.join(', ')}`,
      );
      const total = (at.at(-1) ?? 0) - (at[0] ?? 0);
      const least = [0, 1, 2, 3, 4, 5, 6, 7, 8].reduce(
        (sum, i) => sum + Math.min(maxMs, baseMs * 2 ** i) / 2,
        0,
      );
      assert.ok(total >= least, `${attempts} attempts took only ${total} ms`);
      firstGaps.push((at[1] ?? 0) - (at[0] ?? 0));
      noViolations(node);
    },
  });
  assert.ok(new Set(firstGaps).size > 1, `the delays are jittered: ${firstGaps.join(', ')}`);
});

test('retryAt and the backoff status tell when the next attempt comes', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmd',
        clock,
        journal,
        start: (_ctx, attempt) => {
          if (attempt === 1) throw new Error('cannot bind port 6818');
        },
      }),
    ],
    { restart: { baseMs: 1000, maxMs: 8000 } },
  );
  await node.waitFor(() => node.eventsOf('failed').length === 1, 5_000, 'the first failure');
  const failedAt = node.clock.now();
  const status = statusOf(node, 'slurmd');
  const retryInMs = node.eventsOf('failed')[0]?.info.retryInMs ?? -1;
  assert.equal(
    {
      phase: status.phase,
      running: status.running,
      failures: status.failures,
      lastError: status.lastError,
      retryAt: status.retryAt,
      detail: status.detail,
    },
    {
      phase: 'backoff',
      running: false,
      failures: 1,
      lastError: 'cannot bind port 6818',
      retryAt: failedAt + retryInMs,
      detail: 'slurmd down',
    },
  );
  await node.waitFor(() => node.manager.isActing('slurmd'), 10_000, 'the retry');
  assert.is(node.journal.calls('slurmd', 'start')[1]?.at, failedAt + retryInMs, 'the retry came at retryAt');
  assert.is(statusOf(node, 'slurmd').retryAt, undefined);
  assert.is(statusOf(node, 'slurmd').phase, 'running');
  noViolations(node);
});

test('after unhealthyAfter failures in a row the status says unhealthy, and so does the failed event', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmd',
        clock,
        journal,
        start: () => {
          throw new Error('cannot bind port 6818');
        },
      }),
    ],
    { restart: { baseMs: 100, maxMs: 200, unhealthyAfter: 3 } },
  );
  const healthyAfter: boolean[] = [];
  node.manager.on('failed', () => healthyAfter.push(statusOf(node, 'slurmd').healthy));
  await node.waitFor(() => node.eventsOf('failed').length === 4, 10_000, 'four failures');
  assert.equal(
    node.eventsOf('failed').map((e) => [e.info.failures, e.info.unhealthy]),
    [
      [1, false],
      [2, false],
      [3, true],
      [4, true],
    ],
  );
  assert.equal(healthyAfter, [true, true, false, false]);
  assert.ok(node.eventsOf('failed').every((e) => e.info.error.message === 'cannot bind port 6818'));
  // An every-node role keeps being retried while unhealthy.
  await node.waitFor(() => node.journal.calls('slurmd', 'start').length >= 6, 10_000, 'more retries');
  noViolations(node);
});

test('a role that recovers and then runs for stableAfterMs is healthy again, its failures reset', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmd',
        clock,
        journal,
        start: (_ctx, attempt) => {
          if (attempt <= 3) throw new Error('cannot bind port 6818');
        },
      }),
    ],
    { restart: { baseMs: 100, maxMs: 200, unhealthyAfter: 3, stableAfterMs: 2_000, healthIntervalMs: 500 } },
  );
  await node.waitFor(() => node.manager.isActing('slurmd'), 10_000, 'the fourth start works');
  await node.run(2_000 + 1_000);
  const status = statusOf(node, 'slurmd');
  assert.equal(
    { running: status.running, healthy: status.healthy, failures: status.failures },
    { running: true, healthy: true, failures: 0 },
    'a role that has run cleanly for stableAfterMs is no longer reported as failing',
  );
  noViolations(node);
});

test('failing health checks in a row restart the role; isolated bad checks do not', async () => {
  // Checks 1, 3, 4 fail (never three in a row), then 6, 7, 8 fail: the restart follows check 8.
  const bad = new Set([1, 3, 4, 6, 7, 8]);
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmd',
        clock,
        journal,
        health: (attempt) => ({ healthy: !bad.has(attempt), detail: `check ${attempt}` }),
      }),
    ],
    { restart: { baseMs: 100, maxMs: 200, healthIntervalMs: 500, healthFailures: 3 } },
  );
  await node.waitFor(() => node.manager.isActing('slurmd'), 5_000, 'slurmd runs');
  await node.waitFor(() => node.journal.calls('slurmd', 'health').length === 1, 5_000, 'the first check');
  await node.run(1);
  assert.is(statusOf(node, 'slurmd').healthy, false, 'a failed check shows at once in the status');
  await node.waitFor(() => node.journal.calls('slurmd', 'health').length === 2, 5_000, 'the second check');
  await node.run(1);
  assert.is(statusOf(node, 'slurmd').healthy, true, 'a passing check clears it');
  await node.waitFor(() => node.journal.calls('slurmd', 'stop').length === 1, 10_000, 'the restart');
  const checks = node.journal.calls('slurmd', 'health');
  assert.is(checks.length, 8, 'the role was stopped right after the third bad check in a row');
  const stop = node.journal.calls('slurmd', 'stop')[0];
  assert.is(stop?.reason, 'failed');
  assert.is(stop?.at, checks[7]?.at);
  const failed = node.eventsOf('failed');
  assert.is(failed.length, 1);
  assert.match(failed[0]?.info.error.message ?? '', /3 health checks failed/);
  await node.waitFor(() => node.journal.calls('slurmd', 'start').length === 2, 5_000, 'the restart');
  noViolations(node);
});

test('ctx.fail stops the role with reason failed and restarts it after the backoff', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [new ScriptedRole({ name: 'slurmd', clock, journal })],
    {
      restart: { baseMs: 400, maxMs: 400 },
    },
  );
  await node.waitFor(() => node.manager.isActing('slurmd'), 5_000, 'slurmd runs');
  const role = roleByName(node, 'slurmd');
  const ctx = role.ctx;
  assert.ok(ctx !== undefined);
  const failedAt = node.clock.now();
  ctx.fail(new Error('slurmd child exited'));
  await node.run(1);
  assert.ok(ctx.signal.aborted, 'the failed run is over: its signal is aborted');
  assert.is(ctx.isLeader(), false);
  assert.equal(
    node.journal.lines().slice(-1),
    ['slurmd.stop(failed)'],
    'the manager stopped the role with reason failed',
  );
  assert.equal(
    node.eventsOf('failed').map((e) => [e.info.role, e.info.error.message, e.info.failures]),
    [['slurmd', 'slurmd child exited', 1]],
  );
  assert.is(statusOf(node, 'slurmd').lastError, 'slurmd child exited');
  assert.is(node.manager.isActing('slurmd'), false);
  await node.waitFor(() => node.manager.isActing('slurmd'), 5_000, 'the restart');
  const restartedAfter = (node.journal.calls('slurmd', 'start')[1]?.at ?? 0) - failedAt;
  assert.ok(restartedAfter >= 200 && restartedAfter <= 400, `restarted after ${restartedAfter} ms`);
  assert.ok(role.ctx !== ctx && role.ctx?.signal.aborted === false, 'the new run has a fresh context');
  // A stale context's fail is ignored.
  ctx.fail(new Error('late report from the old run'));
  await node.run(1_000);
  assert.is(node.eventsOf('failed').length, 1);
  assert.is(node.manager.isActing('slurmd'), true);
  noViolations(node);
});

test('ctx.fail called twice for one failure counts once', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [new ScriptedRole({ name: 'slurmd', clock, journal })],
    {
      restart: { baseMs: 400, maxMs: 400 },
    },
  );
  await node.waitFor(() => node.manager.isActing('slurmd'), 5_000, 'slurmd runs');
  const ctx = roleByName(node, 'slurmd').ctx;
  assert.ok(ctx !== undefined);
  // The child's 'exit' and 'close' handlers both report the same death.
  ctx.fail(new Error('slurmd child exited'));
  ctx.fail(new Error('slurmd child closed its pipes'));
  await node.run(50);
  assert.equal(
    node.eventsOf('failed').map((e) => [e.info.failures, e.info.error.message]),
    [[1, 'slurmd child exited']],
    'one failure, reported once',
  );
  assert.is(node.journal.calls('slurmd', 'stop').length, 1, 'stopped once');
  assert.is(statusOf(node, 'slurmd').failures, 1);
  noViolations(node);
});

test('a start over startMs fails with RoleTimeoutError, its signal aborts, and no call overlaps it', async () => {
  const startMs = 1_000;
  let firstSignalAbortedAt: number | undefined;
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmctld',
        clock,
        journal,
        start: async (ctx, attempt) => {
          if (attempt > 1) return;
          ctx.signal.addEventListener('abort', () => {
            firstSignalAbortedAt = clock.now();
          });
          // Slow and deaf to the signal, but done within another startMs.
          await sleep(clock, 1_500);
        },
      }),
    ],
    { timeouts: { startMs }, restart: { baseMs: 100, maxMs: 100 } },
  );
  await node.waitFor(() => node.eventsOf('failed').length === 1, 5_000, 'the start times out');
  const error = node.eventsOf('failed')[0]?.info.error;
  assert.ok(isRoleTimeoutError(error), `failed with ${String(error)}`);
  assert.is(error.operation, 'start');
  assert.is(error.timeoutMs, startMs);
  assert.is(error.role, 'slurmctld');
  assert.is(firstSignalAbortedAt, startMs, 'the signal was aborted at the timeout');
  assert.ok(roleByName(node, 'slurmctld').startContexts[0]?.signal.aborted);
  await node.waitFor(() => node.manager.isActing('slurmctld'), 10_000, 'the second start');
  noViolations(node);
  const settled = node.journal.lines({ settled: true });
  assert.equal(settled.slice(0, 2), ['slurmctld.start', 'slurmctld.start:ok']);
  // The call after the slow start (its clean-up stop) entered only once the start had returned.
  const stopAt = node.journal.calls('slurmctld', 'stop')[0]?.at ?? -1;
  assert.ok(stopAt >= 1_500, `stop entered at ${stopAt} ms, while the start ran until 1500 ms`);
});

test('a start that honours its aborted signal is not overlapped either', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmctld',
        clock,
        journal,
        start: async (ctx, attempt) => {
          if (attempt > 1) return;
          await new Promise<void>((_, reject) => {
            ctx.signal.addEventListener('abort', () => {
              // The daemon takes a moment to die after SIGTERM.
              clock.setTimeout(() => reject(new Error('start aborted')), 10);
            });
          });
        },
      }),
    ],
    { timeouts: { startMs: 1_000 }, restart: { baseMs: 100, maxMs: 100 } },
  );
  await node.waitFor(() => node.manager.isActing('slurmctld'), 10_000, 'the second start');
  assert.ok(isRoleTimeoutError(node.eventsOf('failed')[0]?.info.error));
  noViolations(node);
});

test('stop is called after a failed start (stop must be idempotent), then the start is retried', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmd',
        clock,
        journal,
        start: (_ctx, attempt) => {
          if (attempt === 1) throw new Error('half started');
        },
      }),
    ],
    { restart: { baseMs: 100, maxMs: 100 } },
  );
  await node.waitFor(() => node.manager.isActing('slurmd'), 5_000, 'the retry works');
  assert.equal(node.journal.lines({ settled: true }), [
    'slurmd.start',
    'slurmd.start:error',
    'slurmd.stop(failed)',
    'slurmd.stop:ok',
    'slurmd.start',
    'slurmd.start:ok',
  ]);
  assert.equal(
    node.eventsOf('stopped').map((e) => e.info),
    [{ role: 'slurmd', reason: 'failed' }],
  );
  noViolations(node);
});

// ---------------------------------------------------------------------------------------------
// Status, singletons

test('statuses() and leaders() describe every-node roles and a singleton on one node', async () => {
  const node = await nodeWith(({ clock, journal }) => [
    new ScriptedRole({ name: 'munge', clock, journal }),
    new ScriptedRole({ name: 'slurmctld', placement: 'singleton', dependsOn: ['munge'], clock, journal }),
  ]);
  await node.waitFor(() => node.manager.isActing('slurmctld'), 10_000, 'the singleton runs');
  const token = node.eventsOf('leader-acquired')[0]?.info.fencingToken;
  assert.ok(token !== undefined && token > 0);
  const [munge, ctld] = node.manager.statuses();
  assert.equal(
    { ...munge, since: typeof munge?.since },
    {
      role: 'munge',
      placement: 'every-node',
      phase: 'running',
      running: true,
      healthy: true,
      leader: false,
      since: 'number',
      detail: 'munge up',
      fencingToken: undefined,
      holder: undefined,
      failures: 0,
      lastError: undefined,
      retryAt: undefined,
    },
  );
  assert.equal(
    { ...ctld, since: typeof ctld?.since },
    {
      role: 'slurmctld',
      placement: 'singleton',
      phase: 'running',
      running: true,
      healthy: true,
      leader: true,
      since: 'number',
      detail: 'slurmctld up',
      fencingToken: token,
      holder: NODE_ID,
      failures: 0,
      lastError: undefined,
      retryAt: undefined,
    },
  );
  assert.ok((ctld?.since ?? 0) >= (munge?.since ?? 0));
  assert.equal(node.manager.leaders(), [
    { role: 'slurmctld', nodeId: NODE_ID, fencingToken: token },
    { role: 'raft', nodeId: NODE_ID, fencingToken: null },
  ]);
});

test('a singleton on one node: leader-acquired, then started with that fencing token', async () => {
  const node = await nodeWith(({ clock, journal }) => [
    new ScriptedRole({ name: 'slurmctld', placement: 'singleton', clock, journal }),
  ]);
  await node.waitFor(() => node.manager.isActing('slurmctld'), 10_000, 'the singleton runs');
  const names = node.events.map((e) => e.name);
  assert.equal(names, ['leader-acquired', 'started']);
  const token = node.eventsOf('leader-acquired')[0]?.info.fencingToken;
  assert.equal(node.eventsOf('started')[0]?.info, { role: 'slurmctld', leader: true, fencingToken: token });
  const ctx = roleByName(node, 'slurmctld').ctx;
  assert.ok(ctx !== undefined);
  assert.is(ctx.fencingToken, token, 'start gets the token');
  assert.is(node.journal.calls('slurmctld', 'start')[0]?.token, token);
  assert.is(ctx.isLeader(), true);
  assert.equal(ctx.leader(), { nodeId: NODE_ID, fencingToken: token });
  // The store agrees: the lease record names this node and session, its revision is the token.
  const key = leaseKey(DEFAULT_KEY_PREFIX, 'slurmctld');
  const entry = node.machine.get(key);
  assert.ok(entry !== undefined);
  assert.is(entry.modRevision, token);
  assert.equal(decodeLease(entry.value, key), { holder: NODE_ID, session: node.manager.session });
  // Each renewal is a proposal in a client session (so a retried copy applies once); sessions are
  // reused once a proposal settles, so the machine remembers a few, not one per renewal.
  const sessionsUsed = new Set<string>();
  let proposalsInSessions = 0;
  const apply = node.machine.apply.bind(node.machine);
  node.machine.apply = (bytes, index) => {
    const { client } = decodeKvCommand(bytes);
    if (client !== undefined) {
      proposalsInSessions++;
      sessionsUsed.add(client);
    }
    return apply(bytes, index);
  };
  // Renewals keep it: many TTLs later the same token still leads.
  await node.run(5 * 3000);
  assert.is(ctx.isLeader(), true);
  assert.ok(proposalsInSessions >= 5, `renewals were proposed (${proposalsInSessions})`);
  assert.ok(sessionsUsed.size <= 2, `${sessionsUsed.size} sessions for ${proposalsInSessions} proposals`);
  assert.ok(node.machine.sessionCount <= 3, `the machine remembers ${node.machine.sessionCount} sessions`);
  assert.is(node.eventsOf('leader-lost').length, 0);
  assert.is(statusOf(node, 'slurmctld').fencingToken, token);
  noViolations(node);
});

test('a singleton campaigns only once its dependencies run', async () => {
  const node = await nodeWith(({ clock, journal }) => [
    new ScriptedRole({ name: 'slurmctld', placement: 'singleton', dependsOn: ['munge'], clock, journal }),
    new ScriptedRole({ name: 'munge', clock, journal, start: () => sleep(clock, 2_000) }),
  ]);
  await node.run(1_500);
  assert.is(node.eventsOf('leader-acquired').length, 0, 'no lease while munge is starting');
  assert.is(node.machine.get(leaseKey(DEFAULT_KEY_PREFIX, 'slurmctld')), undefined);
  await node.waitFor(() => node.manager.isActing('slurmctld'), 10_000, 'the singleton runs');
  const mungeUp = node.journal.entries.find((e) => e.role === 'munge' && e.moment === 'ok')?.at ?? Infinity;
  assert.ok((node.eventsOf('leader-acquired')[0]?.at ?? -1) >= mungeUp);
  noViolations(node);
});

test('an unhealthy singleton gives up its lease; as the only candidate it contests again, last', async () => {
  const node = await nodeWith(
    ({ clock, journal }) => [
      new ScriptedRole({
        name: 'slurmctld',
        placement: 'singleton',
        clock,
        journal,
        start: (_ctx, attempt) => {
          if (attempt <= 3) throw new Error('state dir is read-only');
        },
      }),
    ],
    { restart: { baseMs: 100, maxMs: 200, unhealthyAfter: 3 } },
  );
  const key = leaseKey(DEFAULT_KEY_PREFIX, 'slurmctld');
  await node.waitFor(() => node.eventsOf('leader-lost').length === 1, 20_000, 'the lease is given up');
  assert.is(node.journal.calls('slurmctld', 'start').length, 3, 'it is released after the third failure');
  const first = node.eventsOf('leader-acquired')[0]?.info.fencingToken ?? -1;
  assert.equal(node.eventsOf('leader-lost')[0]?.info, {
    role: 'slurmctld',
    fencingToken: first,
    reason: 'released',
  });
  await node.waitFor(() => node.machine.get(key) === undefined, 1_000, 'the lease key is revoked');
  const status = statusOf(node, 'slurmctld');
  assert.equal(
    { leader: status.leader, holder: status.holder, healthy: status.healthy, running: status.running },
    { leader: false, holder: undefined, healthy: false, running: false },
  );
  assert.equal(node.manager.leaders()[0], { role: 'slurmctld', nodeId: null, fencingToken: null });
  // Nobody else can hold it, so the role is not left without a holder for good.
  await node.waitFor(() => node.manager.isActing('slurmctld'), 20_000, 'it takes the role back');
  const second = node.eventsOf('leader-acquired')[1]?.info.fencingToken ?? -1;
  assert.ok(second > first, `a new lease with a larger token (${second} after ${first})`);
  assert.is(roleByName(node, 'slurmctld').ctx?.fencingToken, second);
  noViolations(node);
  // Alerting watches the failed event: the failure that made the role unhealthy is reported too.
  assert.equal(
    node.eventsOf('failed').map((e) => [e.info.failures, e.info.unhealthy]),
    [
      [1, false],
      [2, false],
      [3, true],
    ],
  );
});

test('manager.stop releases a singleton lease when no other member can take it', async () => {
  const node = await nodeWith(({ clock, journal }) => [
    new ScriptedRole({ name: 'slurmctld', placement: 'singleton', clock, journal }),
  ]);
  await node.waitFor(() => node.manager.isActing('slurmctld'), 10_000, 'the singleton runs');
  const stopped = await settle(node, node.manager.stop(), 10_000, 'the manager stops');
  assert.is(stopped.error, undefined);
  assert.is(node.manager.isActing('slurmctld'), false);
  assert.equal(node.journal.lines().slice(-1), ['slurmctld.stop(shutdown)']);
  await node.run(500);
  assert.is(
    node.machine.get(leaseKey(DEFAULT_KEY_PREFIX, 'slurmctld')),
    undefined,
    'the lease is free at once',
  );
  noViolations(node);
});

// ---------------------------------------------------------------------------------------------
// Configuration errors

const stubStore: RoleStore = {
  log: {
    propose: () => Promise.reject(new Error('not used')),
    read: () => Promise.reject(new Error('not used')),
    on: () => undefined,
    off: () => undefined,
  },
  view: { get: () => undefined, now: 0 },
};

function role(name: string, extra: Partial<Role> = {}): Role {
  return {
    name,
    placement: 'every-node',
    start: async () => {},
    stop: async () => {},
    status: () => ({ running: false, healthy: true, leader: false, since: null, detail: '' }),
    health: async () => ({ healthy: true }),
    prepareHandoff: async () => ({ data: new Uint8Array() }),
    completeHandoff: async () => {},
    abortHandoff: async () => {},
    ...extra,
  };
}

function build(options: Partial<RoleManagerOptions>): RoleManager {
  const self = { id: 'n1', name: 'n1' };
  return new RoleManager({
    roles: [],
    cluster: { self: () => self, members: () => [self] },
    store: stubStore,
    ...options,
  });
}

function assertConfigError(options: Partial<RoleManagerOptions>, pattern: RegExp): void {
  let caught: unknown;
  try {
    build(options);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `no error for ${pattern}`);
  assert.ok(caught instanceof RoleConfigError, `threw ${String(caught)}`);
  assert.ok(isRoleConfigError(caught));
  assert.is(caught.name, 'RoleConfigError');
  assert.match(caught.message, pattern);
}

test('configuration errors throw RoleConfigError', () => {
  assertConfigError({ roles: [role('munge'), role('munge')] }, /munge is enabled twice/);
  assertConfigError(
    { roles: [role('slurmd', { dependsOn: ['munge'] })] },
    /depends on munge, which is not enabled/,
  );
  assertConfigError(
    {
      roles: [
        role('a', { dependsOn: ['b'] }),
        role('b', { dependsOn: ['c'] }),
        role('c', { dependsOn: ['a'] }),
      ],
    },
    /cycle: a -> b -> c -> a/,
  );
  assertConfigError({ roles: [role('self', { dependsOn: ['self'] })] }, /cycle/);
  assertConfigError({ roles: [role('')] }, /role names/);
  assertConfigError({ roles: [role('a/b')] }, /role names/);
  assertConfigError({ roles: [role('x', { placement: 'everywhere' as Role['placement'] })] }, /placement/);
  // 3000 - 2 × 500 - 250 = 1750 ms of safe window, not more than a 1750 ms renewal period.
  assertConfigError({ lease: { ttlMs: 3000, renewEveryMs: 1750 } }, /safe window/);
  assertConfigError({ lease: { ttlMs: 1000 } }, /safe window/);
  assertConfigError({ lease: { ttlMs: 0 } }, /ttlMs/);
  assertConfigError({ timeouts: { startMs: 0 } }, /startMs/);
  assertConfigError({ timeouts: { stopMs: -1 } }, /stopMs/);
  assertConfigError({ timeouts: { healthMs: Number.NaN } }, /healthMs/);
  assertConfigError({ timeouts: { handoffMs: Number.POSITIVE_INFINITY } }, /handoffMs/);
  assertConfigError({ restart: { baseMs: 0 } }, /baseMs/);
  assertConfigError({ restart: { unhealthyAfter: 0 } }, /unhealthyAfter/);
  assertConfigError({ restart: { healthIntervalMs: -5 } }, /healthIntervalMs/);
  assertConfigError({ handoffTimeoutMs: 0 }, /handoffTimeoutMs/);
});

test('a valid configuration builds, and a just-large-enough safe window is accepted', () => {
  const manager = build({
    roles: [role('slurmd', { dependsOn: ['munge'] }), role('munge')],
    // Safe window 3000 - 1000 - 250 = 1750 = renewEveryMs + 2 × retryMs (1450 + 2 × 150).
    lease: { ttlMs: 3000, renewEveryMs: 1450, retryMs: 150 },
  });
  assert.is(manager.leaseTiming.renewEveryMs, 1450);
  assert.equal(
    manager.statuses().map((s) => [s.role, s.phase]),
    [
      ['munge', 'stopped'],
      ['slurmd', 'stopped'],
    ],
  );
});

test.run();
