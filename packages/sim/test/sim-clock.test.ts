import v8 from 'node:v8';
import vm from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimClock } from '../src/sim-clock.js';

test('time stands still until advanced, then timers fire in due order', () => {
  const clock = new SimClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  assert.is(clock.now(), 0);
  clock.advanceSync(15);
  assert.equal(fired, ['a@10']);
  assert.is(clock.now(), 15);
  clock.advanceSync(5);
  assert.equal(fired, ['a@10', 'b@20']);
});

test('timers due at the same time fire in the order they were set', () => {
  const clock = new SimClock();
  const fired: number[] = [];
  for (let i = 0; i < 50; i++) clock.setTimeout(() => fired.push(i), 5);
  clock.advanceSync(5);
  assert.equal(
    fired,
    Array.from({ length: 50 }, (_, i) => i),
  );
});

test('clearTimeout cancels; clearing twice or a fired timer is harmless', () => {
  const clock = new SimClock();
  let ran = false;
  const handle = clock.setTimeout(() => {
    ran = true;
  }, 5);
  clock.clearTimeout(handle);
  clock.clearTimeout(handle);
  clock.advanceSync(10);
  assert.is(ran, false);
  assert.is(clock.pending, 0);
  const done = clock.setTimeout(() => {}, 1);
  clock.advanceSync(1);
  clock.clearTimeout(done);
  assert.is(clock.pending, 0);
});

test('setInterval repeats at its period and stops when cleared from inside', () => {
  const clock = new SimClock();
  const at: number[] = [];
  const handle = clock.setInterval(() => {
    at.push(clock.now());
    if (at.length === 3) clock.clearInterval(handle);
  }, 100);
  clock.advanceSync(1_000);
  assert.equal(at, [100, 200, 300]);
  assert.is(clock.pending, 0);
});

test('negative and NaN delays count as zero; intervals are at least 1 ms', () => {
  const clock = new SimClock();
  let count = 0;
  clock.setTimeout(() => count++, -5);
  clock.setTimeout(() => count++, Number.NaN);
  clock.advanceSync(0);
  assert.is(count, 2);
  const handle = clock.setInterval(() => count++, 0);
  clock.advanceSync(10);
  clock.clearInterval(handle);
  assert.is(count, 12);
});

test('runUntilSync stops at the event that made the predicate true', () => {
  const clock = new SimClock();
  let value = 0;
  clock.setInterval(() => value++, 7);
  assert.ok(clock.runUntilSync(() => value === 3, 1_000));
  assert.is(clock.now(), 21);
  assert.not.ok(clock.runUntilSync(() => value === 1_000, 100));
  assert.is(clock.now(), 121);
});

test('async advance lets promise chains finish between events', async () => {
  const clock = new SimClock();
  const log: string[] = [];
  clock.setTimeout(async () => {
    log.push('first:start');
    await Promise.resolve();
    await Promise.resolve();
    log.push('first:end');
  }, 10);
  clock.setTimeout(() => log.push('second'), 10);
  await clock.advance(10);
  assert.equal(log, ['first:start', 'first:end', 'second']);
});

test('async runUntil waits on state that promise continuations set', async () => {
  const clock = new SimClock();
  let ready = false;
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  void (async () => {
    await sleep(30);
    await sleep(20);
    ready = true;
  })();
  assert.ok(await clock.runUntil(() => ready, 1_000));
  assert.is(clock.now(), 50);
});

test('a callback that throws surfaces to the driver and leaves the clock usable', () => {
  const clock = new SimClock();
  let after = false;
  clock.setTimeout(() => {
    throw new Error('boom');
  }, 1);
  clock.setTimeout(() => {
    after = true;
  }, 2);
  assert.throws(() => clock.advanceSync(5), /boom/);
  clock.advanceSync(5);
  assert.ok(after);
});

test('an endless zero-delay chain is stopped by the event budget', () => {
  const clock = new SimClock({ maxEventsPerCall: 1_000 });
  const again = (): void => {
    clock.setTimeout(again, 0);
  };
  again();
  assert.throws(() => clock.advanceSync(1), /rescheduling itself/);
});

test('a drifting view runs fast or slow and fires its timers on its own time', () => {
  const clock = new SimClock();
  const fast = clock.view({ driftPpm: 100_000 }); // +10%
  const slow = clock.view({ driftPpm: -100_000, offsetMs: 5 });
  clock.advanceSync(1_000);
  assert.is(Math.round(fast.now()), 1_100);
  assert.is(Math.round(slow.now()), 905);
  let firedAt = -1;
  fast.setTimeout(() => {
    firedAt = clock.now();
  }, 110);
  clock.advanceSync(200);
  assert.is(Math.round(firedAt), 1_100);
});

test('step jumps a view forward without moving the others or the timers', () => {
  const clock = new SimClock();
  const view = clock.view();
  let fired = false;
  view.setTimeout(() => {
    fired = true;
  }, 100);
  view.step(5_000);
  assert.is(view.now(), 5_000);
  assert.is(clock.now(), 0);
  clock.advanceSync(99);
  assert.not.ok(fired);
  clock.advanceSync(1);
  assert.ok(fired);
});

test('halt cancels a view’s timers and refuses new ones until resume', () => {
  const clock = new SimClock();
  const view = clock.view();
  const other = clock.view();
  let count = 0;
  view.setTimeout(() => count++, 10);
  view.setInterval(() => count++, 10);
  other.setTimeout(() => count++, 10);
  view.halt();
  view.setTimeout(() => count++, 1);
  clock.advanceSync(100);
  assert.is(count, 1);
  assert.is(view.pending, 0);
  view.resume();
  view.setTimeout(() => count++, 1);
  clock.advanceSync(1);
  assert.is(count, 2);
});

test('a cancelled timer no longer holds what its callback captured', async () => {
  // A real clearTimeout lets the callback go; the simulated one must too, or every deadline
  // around a large transfer keeps its buffers alive until the deadline's original time.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const clock = new SimClock();
  const arm = (): WeakRef<Uint8Array> => {
    const payload = new Uint8Array(1 << 20);
    const handle = clock.setTimeout(() => payload.fill(1), 10_000);
    clock.clearTimeout(handle);
    return new WeakRef(payload);
  };
  const ref = arm();
  // WeakRef targets live until the current job ends; then a full collection may clear them.
  await new Promise<void>((resolve) => setImmediate(resolve));
  gc();
  assert.is(ref.deref(), undefined, 'the cancelled callback still holds its payload');
  await clock.advance(20_000);
});

test.run();
