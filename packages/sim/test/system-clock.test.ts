// The real clock: timers fire no earlier than asked, in order, can be cancelled, and delays
// beyond Node's 2^31 − 1 ms limit are honoured instead of firing after 1 ms.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SystemClock } from '../src/index.js';

// keepAlive: the test awaits nothing but these timers, so they must hold the process open.
const clock = new SystemClock({ keepAlive: true });

/** Resolves after `ms` of real time, through the clock under test. */
const after = (ms: number): Promise<number> =>
  new Promise((resolve) => {
    const start = clock.now();
    clock.setTimeout(() => resolve(clock.now() - start), ms);
  });

test('a timer fires no earlier than its delay', async () => {
  const elapsed = await after(30);
  assert.ok(elapsed >= 29, `fired after ${elapsed} ms`);
});

test('now() never goes backwards', () => {
  let last = clock.now();
  for (let i = 0; i < 10_000; i++) {
    const now = clock.now();
    assert.ok(now >= last);
    last = now;
  }
});

test('a cancelled timer does not fire', async () => {
  let fired = false;
  const handle = clock.setTimeout(() => {
    fired = true;
  }, 5);
  clock.clearTimeout(handle);
  await after(30);
  assert.is(fired, false);
});

test('a delay above 2^31 - 1 ms does not fire early (Node would fire it after 1 ms)', async () => {
  let fired = false;
  const handle = clock.setTimeout(() => {
    fired = true;
  }, 2 ** 32);
  await after(50);
  assert.is(fired, false);
  clock.clearTimeout(handle);
});

test('an interval repeats until cleared', async () => {
  let count = 0;
  const handle = clock.setInterval(() => {
    count++;
  }, 5);
  await after(60);
  clock.clearInterval(handle);
  const seen = count;
  assert.ok(seen >= 3, `interval fired ${seen} times in 60 ms`);
  await after(30);
  assert.is(count, seen);
});

test.run();
