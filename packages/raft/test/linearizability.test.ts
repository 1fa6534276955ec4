import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkLinearizability,
  type KvOperation,
  type KvOpInput,
  type KvOpOutput,
  type LinearizabilityResult,
} from './support/linearizability.js';

const test = suite('linearizability checker');

function op(
  client: string,
  call: number,
  ret: number | undefined,
  input: KvOpInput,
  output?: KvOpOutput,
): KvOperation {
  return { client, call, return: ret, input, ...(output !== undefined ? { output } : {}) };
}
const put = (c: string, call: number, ret: number | undefined, key: string, value: string) =>
  op(c, call, ret, { op: 'put', key, value });
const get = (c: string, call: number, ret: number | undefined, key: string, value: string | null) =>
  op(c, call, ret, { op: 'get', key }, { value });
const cas = (
  c: string,
  call: number,
  ret: number | undefined,
  key: string,
  expected: string | null,
  value: string,
  ok?: boolean,
) => op(c, call, ret, { op: 'cas', key, expected, value }, ok === undefined ? {} : { ok });
const del = (c: string, call: number, ret: number | undefined, key: string, ok?: boolean) =>
  op(c, call, ret, { op: 'delete', key }, ok === undefined ? {} : { ok });

function expectOk(result: LinearizabilityResult): void {
  assert.equal(result, { ok: true }, JSON.stringify(result));
}
function expectFail(
  result: LinearizabilityResult,
  key?: string,
): Extract<LinearizabilityResult, { ok: false }> {
  if (result.ok !== false) throw new Error(`expected a violation, got ${JSON.stringify(result)}`);
  if (key !== undefined) assert.is(result.key, key);
  return result;
}

test('empty and sequential histories are linearizable', () => {
  expectOk(checkLinearizability([]));
  expectOk(
    checkLinearizability([
      get('a', 0, 1, 'x', null),
      put('a', 2, 3, 'x', '1'),
      get('b', 4, 5, 'x', '1'),
      del('a', 6, 7, 'x', true),
      get('b', 8, 9, 'x', null),
      del('b', 10, 11, 'x', false),
    ]),
  );
});

test('stale read after a completed write is rejected, with the culprit named', () => {
  const history = [
    put('a', 0, 1, 'x', 'old'),
    put('a', 2, 3, 'x', 'new'),
    get('b', 4, 5, 'x', 'old'),
    get('b', 6, 7, 'x', 'new'),
  ];
  const result = expectFail(checkLinearizability(history), 'x');
  assert.match(result.explanation, /get by client b \[4, 5\] → "old"/);
  assert.match(result.explanation, /put "new" by client a \[2, 3\]/);
  assert.ok(result.minimalPrefix);
  // The shortest failing prefix ends with the stale read; the later read is not in it.
  assert.is(result.minimalPrefix.length, 3);
  assert.equal(result.minimalPrefix[2], history[2]);
});

test('a lost write (acknowledged, then never seen) is rejected', () => {
  expectFail(checkLinearizability([put('a', 0, 1, 'k', 'v'), get('b', 2, 3, 'k', null)]), 'k');
  // Overwritten and then resurrected: also lost.
  expectFail(
    checkLinearizability([
      put('a', 0, 1, 'k', 'v1'),
      put('a', 2, 3, 'k', 'v2'),
      get('b', 4, 5, 'k', 'v2'),
      get('c', 6, 7, 'k', 'v1'),
    ]),
  );
});

test('a read of a value never written is rejected and explained', () => {
  const result = expectFail(checkLinearizability([put('a', 0, 1, 'k', 'v'), get('b', 0, 5, 'k', 'zzz')]));
  assert.match(result.explanation, /never written/);
});

test('cas anomalies are rejected', () => {
  // Two cas from the same expected value cannot both succeed.
  expectFail(
    checkLinearizability([
      put('a', 0, 1, 'k', '0'),
      cas('b', 2, 5, 'k', '0', '1', true),
      cas('c', 3, 6, 'k', '0', '2', true),
    ]),
  );
  // A cas that reports failure although the value matched and nothing was concurrent.
  expectFail(
    checkLinearizability([
      put('a', 0, 1, 'k', 'a'),
      cas('b', 2, 3, 'k', 'a', 'b', false),
      get('c', 4, 5, 'k', 'a'),
    ]),
  );
  // A cas that reports success although the value did not match.
  expectFail(checkLinearizability([put('a', 0, 1, 'k', 'a'), cas('b', 2, 3, 'k', 'z', 'b', true)]));
  // A successful cas whose write is then not visible.
  expectFail(
    checkLinearizability([
      put('a', 0, 1, 'k', 'a'),
      cas('b', 2, 3, 'k', 'a', 'b', true),
      get('c', 4, 5, 'k', 'a'),
    ]),
  );
});

test('cas successes and failures that are consistent are accepted', () => {
  expectOk(
    checkLinearizability([
      cas('a', 0, 1, 'k', null, 'first', true),
      cas('b', 2, 3, 'k', null, 'second', false),
      cas('b', 4, 5, 'k', 'first', 'second', true),
      get('c', 6, 7, 'k', 'second'),
    ]),
  );
  // Two concurrent cas from the same value: exactly one wins, either may.
  for (const winner of ['b', 'c']) {
    expectOk(
      checkLinearizability([
        put('a', 0, 1, 'k', '0'),
        cas('b', 2, 5, 'k', '0', 'b', winner === 'b'),
        cas('c', 3, 6, 'k', '0', 'c', winner === 'c'),
        get('d', 7, 8, 'k', winner),
      ]),
    );
  }
});

test('concurrent operations are fine in either order', () => {
  for (const seen of ['a', 'b']) {
    expectOk(
      checkLinearizability([
        put('c1', 0, 10, 'k', 'a'),
        put('c2', 1, 9, 'k', 'b'),
        get('c3', 11, 12, 'k', seen),
      ]),
    );
  }
  // A read concurrent with a write may see the old or the new value...
  for (const seen of [null, 'v']) {
    expectOk(checkLinearizability([put('c1', 0, 10, 'k', 'v'), get('c2', 2, 4, 'k', seen)]));
  }
  // ...but two sequential reads cannot go new → old.
  expectFail(
    checkLinearizability([put('c1', 0, 10, 'k', 'v'), get('c2', 2, 4, 'k', 'v'), get('c2', 5, 6, 'k', null)]),
  );
  // Intervals that merely touch count as concurrent.
  expectOk(checkLinearizability([put('c1', 0, 5, 'k', 'v'), get('c2', 5, 6, 'k', null)]));
});

test('timed-out operations may or may not have taken effect', () => {
  const base = [put('a', 0, 1, 'k', 'a'), put('b', 5, undefined, 'k', 'b')];
  expectOk(checkLinearizability([...base, get('c', 10, 11, 'k', 'b')]));
  expectOk(checkLinearizability([...base, get('c', 10, 11, 'k', 'a')]));
  expectOk(checkLinearizability([...base, get('c', 10, 11, 'k', 'a'), get('c', 12, 13, 'k', 'b')]));
  // Once seen it cannot be undone.
  expectFail(checkLinearizability([...base, get('c', 10, 11, 'k', 'b'), get('c', 12, 13, 'k', 'a')]));
  // It cannot take effect before it was called.
  expectFail(
    checkLinearizability([
      put('a', 0, 1, 'k', 'a'),
      get('c', 2, 3, 'k', 'b'),
      put('b', 5, undefined, 'k', 'b'),
    ]),
  );
  // A timed-out cas is decided by the state where it lands.
  const casBase = [put('a', 0, 1, 'k', 'x'), cas('b', 2, undefined, 'k', 'x', 'y')];
  expectOk(checkLinearizability([...casBase, get('c', 5, 6, 'k', 'y')]));
  expectOk(checkLinearizability([...casBase, get('c', 5, 6, 'k', 'x')]));
  expectFail(
    checkLinearizability([
      put('a', 0, 1, 'k', 'q'),
      cas('b', 2, undefined, 'k', 'x', 'y'),
      get('c', 5, 6, 'k', 'y'),
    ]),
  );
  // Reads that never returned constrain nothing; failed puts did not happen.
  expectOk(checkLinearizability([put('a', 0, 1, 'k', 'a'), get('b', 2, undefined, 'k', 'zzz')]));
  expectOk(
    checkLinearizability([
      put('a', 0, 1, 'k', 'a'),
      op('b', 2, 3, { op: 'put', key: 'k', value: 'b' }, { ok: false }),
      get('c', 4, 5, 'k', 'a'),
    ]),
  );
});

test('delete with existed flags', () => {
  expectOk(
    checkLinearizability([put('a', 0, 1, 'k', 'v'), del('b', 2, 3, 'k', true), del('b', 4, 5, 'k', false)]),
  );
  expectFail(checkLinearizability([put('a', 0, 1, 'k', 'v'), del('b', 2, 3, 'k', false)]));
});

test('keys are checked independently; the failing key is reported', () => {
  const result = expectFail(
    checkLinearizability([
      put('a', 0, 1, 'good', '1'),
      get('a', 2, 3, 'good', '1'),
      put('a', 0, 1, 'bad', '1'),
      get('a', 2, 3, 'bad', null),
    ]),
    'bad',
  );
  assert.ok(result.minimalPrefix?.every((o) => o.input.key === 'bad'));
});

test('malformed histories throw', () => {
  assert.throws(() => checkLinearizability([put('a', 5, 1, 'k', 'v')]), /return/);
  assert.throws(() => checkLinearizability([op('a', 0, 1, { op: 'put', key: 'k' })]), /value/);
  assert.throws(() => checkLinearizability([op('a', 0, 1, { op: 'cas', key: 'k', value: 'v' })]), /expected/);
});

/** A deterministic pseudo-random source (tests only need reproducibility). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** 1,000 ops on 5 keys by 10 clients with overlapping intervals, from a real sequential run. */
function bigHistory(seed: number): KvOperation[] {
  const rnd = lcg(seed);
  const state = new Map<string, string | null>();
  const ops: KvOperation[] = [];
  for (let i = 0; i < 1000; i++) {
    const key = `k${Math.floor(rnd() * 5)}`;
    const at = i * 10;
    const call = at - Math.floor(rnd() * 30);
    const ret = rnd() < 0.02 ? undefined : at + Math.floor(rnd() * 30);
    const client = `c${i % 10}`;
    const current = state.get(key) ?? null;
    const kind = rnd();
    if (kind < 0.4) ops.push(get(client, call, ret, key, current));
    else if (kind < 0.7) {
      const value = `v${i}`;
      state.set(key, value);
      ops.push(put(client, call, ret, key, value));
    } else if (kind < 0.9) {
      const expected = rnd() < 0.5 ? current : `v${Math.floor(rnd() * i)}`;
      const ok = expected === current;
      if (ok) state.set(key, `v${i}`);
      ops.push(cas(client, call, ret, key, expected, `v${i}`, ok));
    } else {
      state.set(key, null);
      ops.push(del(client, call, ret, key, current !== null));
    }
  }
  return ops;
}

test('1,000 ops across 5 keys are checked well under a second', () => {
  for (const seed of [1, 2, 3]) {
    const history = bigHistory(seed);
    const started = performance.now();
    expectOk(checkLinearizability(history));
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  }
  // A violation in a big history is found (and bisected) fast too.
  const history = bigHistory(4);
  const index = history.findIndex((o, i) => i > 500 && o.input.op === 'get' && o.return !== undefined);
  const victim = history[index];
  if (victim === undefined) throw new Error('no read to corrupt');
  history[index] = { ...victim, output: { value: 'never-written' } };
  const started = performance.now();
  const result = expectFail(checkLinearizability(history), victim.input.key);
  assert.ok(performance.now() - started < 1000);
  assert.match(result.explanation, /never-written/);
});

test('the search budget bounds the work: unknown instead of a hang', () => {
  // Many concurrent writes and reads of the same few values give a large search space.
  const history: KvOperation[] = [];
  for (let i = 0; i < 60; i++) history.push(put(`w${i}`, 0, 100, 'k', `v${i % 3}`));
  for (let i = 0; i < 60; i++) history.push(get(`r${i}`, 0, 100, 'k', `v${(i * 7) % 3}`));
  history.push(get('last', 200, 201, 'k', 'v1'));
  const result = checkLinearizability(history, { maxSteps: 1000 });
  assert.is(result.ok, 'unknown');
  if (result.ok === 'unknown') assert.match(result.explanation, /budget/);
});

// --------------------------------------------------------------------------------------------
// Properties
// --------------------------------------------------------------------------------------------

interface Planned {
  readonly key: number;
  readonly kind: 'get' | 'put' | 'cas' | 'delete';
  readonly value: number;
  readonly expectedCurrent: boolean;
  readonly before: number;
  readonly after: number;
  readonly outcome: 'returned' | 'timed-out-applied' | 'timed-out-lost';
}

const plannedOp: fc.Arbitrary<Planned> = fc.record({
  key: fc.integer({ min: 0, max: 2 }),
  kind: fc.constantFrom('get', 'put', 'cas', 'delete'),
  value: fc.integer({ min: 0, max: 3 }),
  expectedCurrent: fc.boolean(),
  before: fc.integer({ min: 0, max: 35 }),
  after: fc.integer({ min: 0, max: 35 }),
  outcome: fc.constantFrom(
    'returned',
    'returned',
    'returned',
    'returned',
    'timed-out-applied',
    'timed-out-lost',
  ),
});

/**
 * Runs the plan sequentially against a map (linearization point of op i at time 10 i + 5) and
 * records each op with an interval around its point. Ops that time out and are "lost" are not
 * applied at all.
 */
function execute(plan: readonly Planned[]): KvOperation[] {
  const state = new Map<string, string | null>();
  const history: KvOperation[] = [];
  plan.forEach((p, i) => {
    const key = `k${p.key}`;
    const point = 10 * i + 5;
    const call = point - p.before;
    const ret = p.outcome === 'returned' ? point + p.after : undefined;
    const applies = p.outcome !== 'timed-out-lost';
    const current = state.get(key) ?? null;
    const client = `c${i}`;
    const value = `v${p.value}`;
    switch (p.kind) {
      case 'get':
        history.push(get(client, call, ret, key, current));
        break;
      case 'put':
        if (applies) state.set(key, value);
        history.push(put(client, call, ret, key, value));
        break;
      case 'delete':
        if (applies) state.set(key, null);
        history.push(del(client, call, ret, key, current !== null));
        break;
      case 'cas': {
        const expected = p.expectedCurrent ? current : `v${(p.value + 1) % 4}`;
        const ok = expected === current;
        if (applies && ok) state.set(key, value);
        history.push(cas(client, call, ret, key, expected, value, ok));
      }
    }
  });
  return history;
}

test('property: histories from a real sequential execution are accepted', () => {
  fc.assert(
    fc.property(fc.array(plannedOp, { minLength: 0, maxLength: 60 }), (plan) => {
      const result = checkLinearizability(execute(plan));
      assert.equal(result, { ok: true }, JSON.stringify(result));
    }),
    { numRuns: 300 },
  );
});

test('property: changing one read to a value never written is rejected', () => {
  fc.assert(
    fc.property(fc.array(plannedOp, { minLength: 1, maxLength: 60 }), fc.nat(), (plan, pick) => {
      const history = execute(plan);
      const reads = history.flatMap((o, i) => (o.input.op === 'get' && o.return !== undefined ? [i] : []));
      fc.pre(reads.length > 0);
      const index = reads[pick % reads.length] ?? 0;
      const victim = history[index];
      if (victim === undefined) return;
      history[index] = { ...victim, output: { value: 'never-written' } };
      const result = checkLinearizability(history);
      assert.is(result.ok, false, JSON.stringify(result));
      if (result.ok === false) assert.is(result.key, victim.input.key);
    }),
    { numRuns: 300 },
  );
});

test('property: reading an overwritten value after the overwrite completed is rejected', () => {
  fc.assert(
    fc.property(fc.array(plannedOp, { minLength: 0, maxLength: 30 }), (plan) => {
      // Append two strictly sequential puts of fresh values, then a read of the older one.
      const history = execute(plan);
      const end = 10 * plan.length + 100;
      history.push(put('x', end, end + 1, 'k0', 'fresh-1'));
      history.push(put('x', end + 2, end + 3, 'k0', 'fresh-2'));
      history.push(get('y', end + 4, end + 5, 'k0', 'fresh-1'));
      const result = checkLinearizability(history);
      assert.is(result.ok, false);
    }),
    { numRuns: 200 },
  );
});

test.run();
