import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DUPLICATE_ID_REPLACEMENTS,
  DUPLICATE_ID_WINDOW_MS,
  ReplacementWatch,
} from '../src/transport/replacement-watch.js';

test('a warning after 3 replacements within a minute, then at most one a minute', () => {
  assert.is(DUPLICATE_ID_REPLACEMENTS, 3);
  const watch = new ReplacementWatch();
  assert.is(watch.note('b', 0), undefined);
  assert.is(watch.note('b', 1_000), undefined);
  assert.is(watch.note('b', 2_000), 3);
  // The fight goes on: no second warning within the window.
  for (let t = 3_000; t < 2_000 + DUPLICATE_ID_WINDOW_MS; t += 1_000)
    assert.is(watch.note('b', t), undefined, `${t}`);
  // The next one counts every replacement of the window before it (3 s to 61 s, and itself).
  assert.is(watch.note('b', 2_000 + DUPLICATE_ID_WINDOW_MS), 60);
});

test('under a fast fight the count stops at 64 and warnings stay a minute apart', () => {
  const watch = new ReplacementWatch();
  const warnings: [number, number][] = [];
  for (let t = 0; t <= 200_000; t += 10) {
    const count = watch.note('b', t);
    if (count !== undefined) warnings.push([t, count]);
  }
  assert.equal(warnings, [
    [20, 3],
    [60_020, 64],
    [120_020, 64],
    [180_020, 64],
  ]);
});

test('replacements spread wider than the window, or of different members, never warn', () => {
  const watch = new ReplacementWatch();
  for (let i = 0; i < 20; i++) assert.is(watch.note('b', i * DUPLICATE_ID_WINDOW_MS * 0.51), undefined);
  for (const peer of ['c', 'd', 'e', 'f']) assert.is(watch.note(peer, 1), undefined);
  assert.is(watch.note('c', 2), undefined);
  assert.is(watch.note('c', 3), 3);
});

test.run();
