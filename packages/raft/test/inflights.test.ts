import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Inflights } from '../src/core/inflights.js';
import { isInvariantError } from '../src/errors.js';

function filled(capacity: number, indexes: number[]): Inflights {
  const w = new Inflights(capacity);
  for (const i of indexes) w.add(i);
  return w;
}

const freeTable: [string, number, number[], number, number[]][] = [
  ['free nothing', 4, [3, 5, 7], 2, [3, 5, 7]],
  ['free the first', 4, [3, 5, 7], 3, [5, 7]],
  ['free between', 4, [3, 5, 7], 6, [7]],
  ['free all', 4, [3, 5, 7], 100, []],
  ['free on an empty window', 4, [], 5, []],
];
for (const [name, capacity, sent, ack, left] of freeTable) {
  test(`freeLE: ${name}`, () => {
    const w = filled(capacity, sent);
    w.freeLE(ack);
    assert.equal(w.toArray(), left);
    assert.is(w.count, left.length);
  });
}

test('full at capacity; freeing makes room; wraps around the ring', () => {
  const w = new Inflights(3);
  w.add(1);
  w.add(2);
  w.add(3);
  assert.ok(w.full());
  w.freeLE(2);
  assert.not.ok(w.full());
  w.add(4);
  w.add(5);
  assert.ok(w.full());
  assert.equal(w.toArray(), [3, 4, 5]);
  w.freeFirstOne();
  assert.equal(w.toArray(), [4, 5]);
  w.reset();
  assert.is(w.count, 0);
  assert.equal(w.toArray(), []);
});

test('adding to a full window or a non-increasing index is a bug', () => {
  const w = filled(2, [1, 2]);
  assert.throws(
    () => w.add(3),
    (e: unknown) => isInvariantError(e),
  );
  const v = filled(3, [5]);
  assert.throws(
    () => v.add(5),
    (e: unknown) => isInvariantError(e),
  );
  assert.throws(
    () => new Inflights(0),
    (e: unknown) => isInvariantError(e),
  );
});

test.run();
