// The cluster-coordinator role against a real KvStateMachine behind a fake store: shared secrets
// created once with create-only transactions, the node registry written once per node, the
// status it reports, and its loop (stop, handoff, abort). Every wait polls a condition with a
// deadline; "no round happens" is checked against a witness role that runs rounds meanwhile.
import { type KvResult, KvStateMachine } from '@clusteros/raft';
import type { NodeRef, RoleContext } from '@clusteros/roles';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  COORDINATOR_ROLE,
  CoordinatorRole,
  type CoordinatorStore,
  NODE_REGISTRY_PREFIX,
  parseNodeRecord,
  SECRET_KEYS,
} from '../src/agent/coordinator-role.js';

/** A store whose proposals apply to a local KvStateMachine in order, optionally held at a gate. */
class FakeStore implements CoordinatorStore {
  readonly machine = new KvStateMachine();
  #index = 1;
  proposals = 0;
  /** Proposals waiting at the gate. */
  waiting = 0;
  gate: Promise<void> | undefined;
  /** When set, the next proposal rejects with it. */
  failNext: Error | undefined;

  async propose(command: Uint8Array): Promise<KvResult> {
    this.proposals++;
    if (this.failNext !== undefined) {
      const error = this.failNext;
      this.failNext = undefined;
      throw error;
    }
    if (this.gate !== undefined) {
      this.waiting++;
      await this.gate;
      this.waiting--;
    }
    return this.machine.apply(command, this.#index++);
  }

  get(key: string) {
    return this.machine.get(key);
  }
}

interface Warning {
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

/** A role context over a mutable member list; `memberCalls` counts rounds (one call per round). */
function context(initial: NodeRef[]) {
  const controller = new AbortController();
  const state = { members: initial, memberCalls: 0, warnings: [] as Warning[] };
  const self = initial[0] ?? { id: 'n1', name: 'alpha' };
  const ignore = (): void => {};
  const ctx: RoleContext = {
    role: COORDINATOR_ROLE,
    node: self,
    cluster: {
      self: () => self,
      members: () => {
        state.memberCalls++;
        return state.members;
      },
    },
    fencingToken: 1,
    leader: () => ({ nodeId: self.id, fencingToken: 1 }),
    isLeader: () => true,
    signal: controller.signal,
    logger: {
      debug: ignore,
      info: ignore,
      warn: (fields, message) => state.warnings.push({ fields, message }),
      error: ignore,
    },
    fail: ignore,
  };
  return { ctx, state, controller };
}

const alpha: NodeRef = { id: 'n1', name: 'alpha' };
const beta: NodeRef = { id: 'n2', name: 'beta' };
const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 678);

async function until(condition: () => boolean, what: string, limitMs = 3_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Lets another role with the same interval run `rounds` loop rounds: a clock for "nothing happened". */
async function witnessRounds(rounds: number, intervalMs = 10): Promise<void> {
  const role = new CoordinatorRole({ store: new FakeStore(), now: () => T0, intervalMs });
  const { ctx, state } = context([alpha]);
  await role.start(ctx);
  try {
    await until(() => state.memberCalls >= rounds + 1, `${rounds} witness rounds`);
  } finally {
    await role.stop(ctx);
  }
}

const decodeText = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

test('start creates the munge key (1024 bytes) and the k3s token (64 hex characters)', async () => {
  const store = new FakeStore();
  const role = new CoordinatorRole({ store, now: () => T0, intervalMs: 60_000 });
  const { ctx } = context([alpha]);
  assert.is(store.get(SECRET_KEYS.munge), undefined);
  await role.start(ctx);
  try {
    const munge = store.get(SECRET_KEYS.munge);
    const token = store.get(SECRET_KEYS.k3sToken);
    assert.ok(munge !== undefined && token !== undefined, 'both secrets exist after start');
    assert.is(munge.value.length, 1024);
    assert.ok(
      munge.value.some((b) => b !== 0),
      'the munge key is not all zeros',
    );
    assert.match(decodeText(token.value), /^[0-9a-f]{64}$/);
  } finally {
    await role.stop(ctx);
  }
});

test('a second holder starting on the same store keeps the secrets (same bytes, same revision)', async () => {
  const store = new FakeStore();
  const first = new CoordinatorRole({ store, now: () => T0, intervalMs: 60_000 });
  const one = context([alpha, beta]);
  await first.start(one.ctx);
  await first.stop(one.ctx);
  const munge = store.get(SECRET_KEYS.munge);
  const token = store.get(SECRET_KEYS.k3sToken);
  assert.ok(munge !== undefined && token !== undefined);

  const second = new CoordinatorRole({ store, now: () => T0 + 60_000, intervalMs: 60_000 });
  const two = context([beta, alpha]);
  await second.start(two.ctx);
  await second.stop(two.ctx);
  const munge2 = store.get(SECRET_KEYS.munge);
  const token2 = store.get(SECRET_KEYS.k3sToken);
  assert.ok(munge2 !== undefined && token2 !== undefined);
  assert.equal(munge2.value, munge.value);
  assert.equal(token2.value, token.value);
  assert.is(munge2.modRevision, munge.modRevision);
  assert.is(token2.modRevision, token.modRevision);
  assert.is(munge2.version, 1);
  assert.is(token2.version, 1);

  // Another cluster gets different secrets.
  const other = new FakeStore();
  const third = new CoordinatorRole({ store: other, now: () => T0, intervalMs: 60_000 });
  const three = context([alpha]);
  await third.start(three.ctx);
  await third.stop(three.ctx);
  assert.not.equal(other.get(SECRET_KEYS.munge)?.value, munge.value);
  assert.not.equal(other.get(SECRET_KEYS.k3sToken)?.value, token.value);
});

test('the secrets are created with create-only transactions: a holder with a stale read overwrites nothing', async () => {
  const store = new FakeStore();
  const first = new CoordinatorRole({ store, now: () => T0, intervalMs: 60_000 });
  const one = context([alpha]);
  await first.start(one.ctx);
  await first.stop(one.ctx);
  const before = [SECRET_KEYS.munge, SECRET_KEYS.k3sToken, `${NODE_REGISTRY_PREFIX}n1`].map((k) =>
    store.get(k),
  );

  // A member whose applied state lags: it sees none of the keys and proposes them all again.
  const stale: CoordinatorStore = { propose: (c) => store.propose(c), get: () => undefined };
  const second = new CoordinatorRole({ store: stale, now: () => T0 + 1_000, intervalMs: 60_000 });
  const two = context([{ id: 'n1', name: 'renamed' }]);
  const proposalsBefore = store.proposals;
  await second.start(two.ctx);
  await second.stop(two.ctx);
  assert.is(store.proposals - proposalsBefore, 3, 'it did propose the three keys again');
  const after = [SECRET_KEYS.munge, SECRET_KEYS.k3sToken, `${NODE_REGISTRY_PREFIX}n1`].map((k) =>
    store.get(k),
  );
  assert.equal(after, before);
});

test('the registry records each member once as {name, joined_at} and never overwrites it', async () => {
  const store = new FakeStore();
  let now = T0;
  const role = new CoordinatorRole({ store, now: () => now, intervalMs: 60_000 });
  const { ctx } = context([alpha, beta]);
  await role.start(ctx);
  await role.stop(ctx);
  const recordA = store.get(`${NODE_REGISTRY_PREFIX}n1`);
  const recordB = store.get(`${NODE_REGISTRY_PREFIX}n2`);
  assert.ok(recordA !== undefined && recordB !== undefined);
  const iso = new Date(T0).toISOString();
  assert.equal(JSON.parse(decodeText(recordA.value)), { name: 'alpha', joined_at: iso });
  assert.equal(parseNodeRecord(recordB.value), { name: 'beta', joined_at: iso });

  // Later, with other names and a later clock, from a new holder: the records stay; a new member
  // is recorded with the time it was first seen.
  now = T0 + 3_600_000;
  const next = new CoordinatorRole({ store, now: () => now, intervalMs: 60_000 });
  const later = context([
    { id: 'n1', name: 'alpha-renamed' },
    { id: 'n2', name: 'beta-renamed' },
    { id: 'n3', name: 'gamma' },
  ]);
  const proposalsBefore = store.proposals;
  await next.start(later.ctx);
  await next.stop(later.ctx);
  assert.is(store.proposals - proposalsBefore, 1, 'only the new member is proposed; known keys are not');
  const laterA = store.get(`${NODE_REGISTRY_PREFIX}n1`);
  assert.ok(laterA !== undefined);
  assert.equal(laterA.value, recordA.value);
  assert.is(laterA.modRevision, recordA.modRevision);
  assert.is(store.get(`${NODE_REGISTRY_PREFIX}n2`)?.modRevision, recordB.modRevision);
  const recordC = store.get(`${NODE_REGISTRY_PREFIX}n3`);
  assert.ok(recordC !== undefined);
  assert.equal(parseNodeRecord(recordC.value), { name: 'gamma', joined_at: new Date(now).toISOString() });
});

test('parseNodeRecord rejects malformed records', () => {
  const enc = (text: string) => new TextEncoder().encode(text);
  for (const text of [
    '',
    'not json',
    '{"name":"a","joined_at":"2025-01-01T00:00:00.000Z"',
    'null',
    '[]',
    '"alpha"',
    '42',
    '{}',
    '{"name":"a"}',
    '{"joined_at":"2025-01-01T00:00:00.000Z"}',
    '{"name":1,"joined_at":"2025-01-01T00:00:00.000Z"}',
    '{"name":"a","joined_at":0}',
  ])
    assert.is(parseNodeRecord(enc(text)), undefined, text);
  assert.is(parseNodeRecord(new Uint8Array([0xff, 0xfe, 0x00])), undefined);
  // A good record, extra fields dropped.
  assert.equal(parseNodeRecord(enc('{"name":"a","joined_at":"2025-01-01T00:00:00.000Z","x":1}')), {
    name: 'a',
    joined_at: '2025-01-01T00:00:00.000Z',
  });
});

test('status: standby before start, running leader after start, standby again after stop', async () => {
  const store = new FakeStore();
  let now = T0;
  const role = new CoordinatorRole({ store, now: () => now, intervalMs: 60_000 });
  const { ctx } = context([alpha]);
  assert.equal(role.status(), {
    running: false,
    healthy: true,
    leader: false,
    since: null,
    detail: 'standby',
  });
  await role.start(ctx);
  const running = role.status();
  assert.is(running.running, true);
  assert.is(running.leader, true);
  assert.is(running.healthy, true);
  assert.is(running.since, T0);
  assert.is(running.detail, 'coordinating (1 rounds)');
  assert.equal(await role.health(), { healthy: true });
  now = T0 + 5_000;
  await role.stop(ctx);
  assert.equal(role.status(), {
    running: false,
    healthy: true,
    leader: false,
    since: T0 + 5_000,
    detail: 'standby',
  });
  // Stop is idempotent.
  await role.stop(ctx);
  assert.is(role.status().running, false);
});

test('the loop registers members that appear later', async () => {
  const store = new FakeStore();
  const role = new CoordinatorRole({ store, now: () => T0, intervalMs: 10 });
  const { ctx, state } = context([alpha]);
  await role.start(ctx);
  try {
    assert.is(store.get(`${NODE_REGISTRY_PREFIX}n2`), undefined);
    state.members = [alpha, beta];
    await until(() => store.get(`${NODE_REGISTRY_PREFIX}n2`) !== undefined, 'n2 registered');
    await until(() => /^coordinating \(([3-9]|\d{2,}) rounds\)$/.test(role.status().detail), 'three rounds');
  } finally {
    await role.stop(ctx);
  }
});

test('a failed round is reported (warn, unhealthy) and the next round recovers', async () => {
  const store = new FakeStore();
  const role = new CoordinatorRole({ store, now: () => T0, intervalMs: 10 });
  const { ctx, state } = context([alpha]);
  await role.start(ctx);
  try {
    store.failNext = new Error('no leader');
    state.members = [alpha, beta];
    await until(() => state.warnings.length > 0, 'a warning');
    assert.equal(state.warnings[0], {
      fields: { role: COORDINATOR_ROLE, error: 'no leader' },
      message: 'coordinator round failed',
    });
    await until(() => store.get(`${NODE_REGISTRY_PREFIX}n2`) !== undefined, 'the retried registration');
    await until(() => role.status().healthy, 'healthy again');
    assert.equal(await role.health(), { healthy: true });
  } finally {
    await role.stop(ctx);
  }
});

test('a failed round shows in status() and health() until a round succeeds', async () => {
  const store = new FakeStore();
  const role = new CoordinatorRole({ store, now: () => T0, intervalMs: 10 });
  const { ctx, state } = context([alpha]);
  await role.start(ctx);
  let release: () => void = () => {};
  try {
    // Fail one round, then hold the next one at the gate so the failure stays visible.
    store.failNext = new Error('no leader');
    store.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    state.members = [alpha, beta];
    await until(() => store.waiting > 0, 'the round after the failure');
    const status = role.status();
    assert.is(status.healthy, false);
    assert.is(status.running, true);
    assert.ok(status.detail.endsWith('; last round failed: no leader'), status.detail);
    assert.equal(await role.health(), { healthy: false, detail: 'last round failed: no leader' });
    store.gate = undefined;
    release();
    await until(() => role.status().healthy, 'healthy again');
  } finally {
    release();
    await role.stop(ctx);
  }
});

test('prepareHandoff stops the loop; abortHandoff resumes it', async () => {
  const store = new FakeStore();
  let now = T0;
  const role = new CoordinatorRole({ store, now: () => now, intervalMs: 10 });
  const { ctx, state } = context([alpha]);
  await role.start(ctx);
  try {
    await until(() => state.memberCalls >= 2, 'a loop round');
    now = T0 + 1_000;
    const handed = await role.prepareHandoff(ctx, beta);
    assert.is(handed.data.length, 0);
    assert.is(role.status().running, false);
    assert.is(role.status().leader, false);
    assert.is(role.status().since, T0 + 1_000);
    const calls = state.memberCalls;
    state.members = [alpha, beta];
    await witnessRounds(5);
    assert.is(state.memberCalls, calls, 'no round while handing off');
    assert.is(store.get(`${NODE_REGISTRY_PREFIX}n2`), undefined);

    now = T0 + 2_000;
    await role.abortHandoff(ctx);
    assert.is(role.status().running, true);
    assert.is(role.status().leader, true);
    assert.is(role.status().since, T0 + 2_000);
    await until(() => store.get(`${NODE_REGISTRY_PREFIX}n2`) !== undefined, 'n2 registered after the abort');
    assert.ok(state.memberCalls > calls);
    // A second abort while running changes nothing.
    await role.abortHandoff(ctx);
    assert.is(role.status().since, T0 + 2_000);
  } finally {
    await role.stop(ctx);
  }
});

test('stop waits for a round in progress, and no round runs after it', async () => {
  const store = new FakeStore();
  const role = new CoordinatorRole({ store, now: () => T0, intervalMs: 10 });
  const { ctx, state } = context([alpha]);
  await role.start(ctx);
  let release: () => void = () => {};
  store.gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  state.members = [alpha, beta];
  await until(() => store.waiting > 0, 'a round held at the gate');

  let stopped = false;
  const stopping = role.stop(ctx).then(() => {
    stopped = true;
    return store.get(`${NODE_REGISTRY_PREFIX}n2`) !== undefined;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(stopped, false, 'stop is still waiting for the round');
  release();
  assert.is(await stopping, true, 'the round finished before stop resolved');
  assert.is(role.status().detail, 'standby');

  const calls = state.memberCalls;
  state.members = [alpha, beta, { id: 'n3', name: 'gamma' }];
  await witnessRounds(5);
  assert.is(state.memberCalls, calls, 'no round after stop');
  assert.is(store.get(`${NODE_REGISTRY_PREFIX}n3`), undefined);
});

test('a run whose context is aborted stops reporting itself as coordinating', async () => {
  const role = new CoordinatorRole({ store: new FakeStore(), now: () => T0, intervalMs: 5 });
  const { ctx, controller } = context([alpha]);
  await role.start(ctx);
  assert.is(role.status().running, true);
  controller.abort();
  await until(() => !role.status().running, 'the role notices the aborted run');
  assert.is(role.status().leader, false);
  assert.is(role.status().detail, 'standby');
});

test.run();
