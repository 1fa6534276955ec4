// NodeTable: the probe order of memberlist (state.go: probe, resetNodes; aliveNode's random
// insertion). Round robin visits each live node once per pass, skipping self and dead or left
// nodes; a wrap reaps nodes dead or left for longer than the dead time and reshuffles.
import { SeededRandom } from '@clusteros/sim';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeState } from '../src/index.js';
import type { NodeRecord } from '../src/runtime/member.js';
import { NodeTable } from '../src/runtime/node-table.js';

const SELF = 'self';

function record(name: string, state: NodeState = NodeState.alive, stateChange = 0): NodeRecord {
  return {
    name,
    addr: '10.0.0.1',
    addrBytes: Uint8Array.of(10, 0, 0, 1),
    port: 7946,
    meta: new Uint8Array(0),
    incarnation: 1,
    state,
    stateChange,
    vsn: Uint8Array.of(1, 5, 2, 0, 0, 0),
  };
}

function table(seed: number, names: readonly string[], self = true): NodeTable {
  const t = new NodeTable(new SeededRandom(seed));
  if (self) t.add(record(SELF));
  for (const name of names) t.add(record(name));
  return t;
}

const next = (t: NodeTable, now = 0, deadTime = 30_000, reaped: string[] = []) =>
  t.nextProbeTarget(SELF, now, deadTime, (r) => reaped.push(r.name))?.name;

test('round robin: every live node exactly once per pass, never self or dead or left', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 31 }),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 0, max: 5 }),
      (seed, live, down) => {
        const names = Array.from({ length: live }, (_, i) => `n${i}`);
        const t = table(seed, names);
        for (let i = 0; i < down; i++) {
          // Dead and left nodes, recent enough not to be reaped.
          t.add(record(`d${i}`, i % 2 === 0 ? NodeState.dead : NodeState.left, 0));
        }
        // As in memberlist's probe(), a round whose walk wraps after skipping self or dead
        // nodes may find nobody within its check budget (one empty round, at most, per pass).
        let empty = 0;
        for (let pass = 0; pass < 4; pass++) {
          const seen: string[] = [];
          while (seen.length < live) {
            const name = next(t);
            if (name === undefined) empty++;
            else seen.push(name);
            assert.ok(empty <= pass + 1, `too many empty rounds: ${empty} by pass ${pass}`);
          }
          assert.equal([...seen].sort(), [...names].sort(), `pass ${pass}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('suspect nodes are probed; the order is reshuffled between passes', () => {
  const names = Array.from({ length: 12 }, (_, i) => `n${i}`);
  const t = table(7, names);
  const suspect = t.get('n3');
  assert.ok(suspect);
  suspect.state = NodeState.suspect;
  const orders = new Set<string>();
  for (let pass = 0; pass < 6; pass++) {
    const seen = Array.from({ length: names.length }, () => next(t) ?? '');
    assert.ok(seen.includes('n3'));
    orders.add(seen.join(','));
  }
  assert.ok(orders.size > 1, 'the order changes from pass to pass');
});

test('reaps nodes dead or left for longer than the dead time when the walk wraps', () => {
  const t = table(3, ['a', 'b']);
  t.add(record('old-dead', NodeState.dead, 1_000));
  t.add(record('old-left', NodeState.left, 1_000));
  t.add(record('new-dead', NodeState.dead, 20_000));
  assert.is(t.size, 6);
  const reaped: string[] = [];
  const now = 40_000; // old ones: 39 s > 30 s; new-dead: 20 s.
  // A full pass over a and b, then the wrap reaps.
  const firstPass = [next(t, now, 30_000, reaped), next(t, now, 30_000, reaped)];
  assert.equal([...firstPass].sort(), ['a', 'b']);
  next(t, now, 30_000, reaped);
  assert.equal(reaped.sort(), ['old-dead', 'old-left']);
  assert.is(t.get('old-dead'), undefined);
  assert.is(t.get('old-left'), undefined);
  assert.ok(t.get('new-dead'), 'dead for less than the dead time: kept');
  assert.is(t.size, 4);
  assert.ok(t.get(SELF), 'self is never reaped');
  // Exactly at the dead time is not older than it.
  const reaped2: string[] = [];
  for (let i = 0; i < 4; i++) next(t, 50_000, 30_000, reaped2);
  assert.equal(reaped2, []);
  for (let i = 0; i < 4; i++) next(t, 50_001, 30_000, reaped2);
  assert.equal(reaped2, ['new-dead']);
});

test('nobody to probe: undefined, for a lone node or when everyone else is dead', () => {
  const lone = table(1, []);
  assert.is(next(lone), undefined);
  assert.is(next(lone), undefined);
  const empty = new NodeTable(new SeededRandom(1));
  assert.is(
    empty.nextProbeTarget(SELF, 0, 1000, () => {}),
    undefined,
  );
  const t = table(2, ['a', 'b']);
  for (const name of ['a', 'b']) {
    const r = t.get(name);
    if (r) r.state = NodeState.dead;
  }
  assert.is(next(t), undefined);
  const revived = t.get('b');
  if (revived) revived.state = NodeState.alive;
  assert.is(next(t), 'b');
});

test('add places records at random positions and keeps the name index', () => {
  const positions = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const t = table(seed, ['a', 'b', 'c', 'd']);
    t.add(record('x'));
    positions.add(t.all.findIndex((r) => r.name === 'x'));
    assert.is(t.size, 6);
    assert.is(t.get('x')?.name, 'x');
  }
  assert.ok(positions.size >= 4, `x landed at ${[...positions].join(',')}`);
});

test('randomNodes: up to k distinct records that pass the filter', () => {
  const names = Array.from({ length: 10 }, (_, i) => `n${i}`);
  const t = table(9, names);
  const b = t.get('n1');
  if (b) b.state = NodeState.dead;
  const alive = (r: NodeRecord) => r.name !== SELF && r.state === NodeState.alive;
  for (let k = 0; k <= 12; k++) {
    const picked = t.randomNodes(k, alive);
    assert.is(picked.length, Math.min(k, 9));
    assert.is(new Set(picked.map((r) => r.name)).size, picked.length, 'distinct');
    for (const r of picked) assert.ok(alive(r));
  }
  assert.equal(t.randomNodes(-1, alive), []);
  // Every candidate gets picked sometimes.
  const hits = new Set<string>();
  for (let i = 0; i < 200; i++) for (const r of t.randomNodes(2, alive)) hits.add(r.name);
  assert.is(hits.size, 9);
});

test('own: a frozen (shared) record is copied before a change, in the map and in the probe order', () => {
  const shared = ['a', 'b', 'c', 'd'].map((name) => Object.freeze(record(name)));
  const first = new NodeTable(new SeededRandom(1));
  const second = new NodeTable(new SeededRandom(2));
  for (const r of shared) {
    first.add(r);
    second.add(r);
  }
  const original = first.get('c') as NodeRecord;
  const position = first.all.indexOf(original);
  const mine = first.own(original);
  assert.is.not(mine, original);
  mine.state = NodeState.suspect;
  mine.incarnation = 7;
  assert.is(first.get('c'), mine);
  assert.is(first.all[position], mine, 'the copy takes the same place in the probe order');
  assert.is(first.all.length, 4);
  assert.is(first.own(mine), mine, 'a record already owned is returned as it is');
  // The other table and the shared record itself are untouched.
  assert.is(second.get('c'), original);
  assert.is(original.state, NodeState.alive);
  assert.is(original.incarnation, 1);
});

test('own: an unfrozen record is the table own and is returned unchanged', () => {
  const t = table(3, ['x']);
  const x = t.get('x') as NodeRecord;
  assert.is(t.own(x), x);
});

test.run();
