import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRandom, systemRandom } from '../src/random.js';

test('equal seeds give equal sequences; different seeds differ', () => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  const c = new SeededRandom(43);
  const seqA = Array.from({ length: 100 }, () => a.nextUint32());
  const seqB = Array.from({ length: 100 }, () => b.nextUint32());
  const seqC = Array.from({ length: 100 }, () => c.nextUint32());
  assert.equal(seqA, seqB);
  assert.not.equal(seqA, seqC);
});

test('the algorithm is pinned: seed 1 always yields the same first outputs', () => {
  // Changing these numbers changes every recorded seed's meaning: only do it on purpose.
  const r = new SeededRandom(1);
  const first = Array.from({ length: 4 }, () => r.nextUint32());
  assert.equal(first, pinnedSeed1);
});
const pinnedSeed1 = [393288148, 2174103013, 3814759091, 2092745082];

test('next() is in [0, 1) and roughly uniform', () => {
  const r = new SeededRandom(7);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1);
    const bucket = Math.floor(x * 10);
    buckets[bucket] = (buckets[bucket] ?? 0) + 1;
  }
  for (const count of buckets) assert.ok(count > 9_500 && count < 10_500, `bucket count ${count}`);
});

test('int(min, max) stays in range for any bounds', () => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.integer({ min: -1e12, max: 1e12 }),
      fc.integer({ min: 1, max: 1e12 }),
      (seed, min, span) => {
        const r = new SeededRandom(seed);
        for (let i = 0; i < 20; i++) {
          const x = r.int(min, min + span);
          if (!(Number.isInteger(x) && x >= min && x < min + span)) return false;
        }
        return true;
      },
    ),
  );
});

test('int rejects empty or non-integer ranges', () => {
  const r = new SeededRandom(1);
  assert.throws(() => r.int(5, 5), RangeError);
  assert.throws(() => r.int(0, 1.5), RangeError);
  assert.throws(() => new SeededRandom(Number.NaN), RangeError);
});

test('int is unbiased over a range that does not divide 2^32', () => {
  const r = new SeededRandom(3);
  const counts = [0, 0, 0];
  for (let i = 0; i < 90_000; i++) {
    const k = r.int(0, 3);
    counts[k] = (counts[k] ?? 0) + 1;
  }
  for (const c of counts) assert.ok(c > 29_000 && c < 31_000, `count ${c}`);
});

test('shuffle is a permutation and pick returns members', () => {
  fc.assert(
    fc.property(fc.integer(), fc.array(fc.integer(), { maxLength: 50 }), (seed, items) => {
      const r = new SeededRandom(seed);
      const shuffled = r.shuffle([...items]);
      const sameMembers =
        JSON.stringify([...shuffled].sort((x, y) => x - y)) ===
        JSON.stringify([...items].sort((x, y) => x - y));
      const picked = items.length > 0 ? items.includes(r.pick(items)) : true;
      return sameMembers && picked;
    }),
  );
  assert.throws(() => new SeededRandom(1).pick([]), RangeError);
});

test('chance honours its edges', () => {
  const r = new SeededRandom(9);
  for (let i = 0; i < 1_000; i++) {
    assert.is(r.chance(0), false);
    assert.is(r.chance(1), true);
  }
});

test('fork gives independent, reproducible streams that do not disturb the parent', () => {
  const parent = new SeededRandom(11);
  const a1 = parent.fork('a');
  const before = parent.nextUint32();
  const again = new SeededRandom(11);
  again.fork('b');
  assert.is(again.nextUint32(), before, 'forking does not consume parent draws');
  const a2 = new SeededRandom(11).fork('a');
  assert.is(a1.nextUint32(), a2.nextUint32());
  assert.not.equal(new SeededRandom(11).fork('a').nextUint32(), new SeededRandom(11).fork('b').nextUint32());
});

test('systemRandom gives working, unpredictable generators', () => {
  const a = systemRandom();
  const b = systemRandom();
  const x = Array.from({ length: 4 }, () => a.nextUint32());
  const y = Array.from({ length: 4 }, () => b.nextUint32());
  assert.not.equal(x, y);
});

test.run();
