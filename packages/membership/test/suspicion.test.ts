// The Lifeguard suspicion timer on a simulated clock, against memberlist's formulas
// (suspicion.go: newSuspicion, Confirm, remainingSuspicionTime; util.go: suspicionTimeout):
// it starts at max when confirmations are expected (k ≥ 1) and at min otherwise, each new
// accuser shrinks it logarithmically towards min, and repeated or surplus accusers change
// nothing. Then the check that runs once a lead before the deadline (a ClusterOS addition).
import { SimClock } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { suspicionConfirmations, suspicionTimeout } from '../src/index.js';
import { Suspicion } from '../src/runtime/suspicion.js';

/** memberlist's remainingSuspicionTime, written out again from suspicion.go. */
function goTimeout(confirmations: number, k: number, minMs: number, maxMs: number): number {
  const frac = Math.log(confirmations + 1) / Math.log(k + 1);
  const raw = maxMs / 1000 - frac * (maxMs / 1000 - minMs / 1000);
  return Math.max(minMs, Math.floor(1000 * raw));
}

/** Starts a suspicion at the clock's current time and records when it fires. */
function start(clock: SimClock, k: number, minMs: number, maxMs: number, from = 'a') {
  const fired: number[] = [];
  const suspicion = new Suspicion(clock, from, k, minMs, maxMs, () => fired.push(clock.now()));
  return { suspicion, fired };
}

test('timeouts match memberlist for LAN, WAN and local settings and several cluster sizes', () => {
  for (const { mult, maxMult, interval } of [
    { mult: 4, maxMult: 6, interval: 1000 }, // DefaultLANConfig
    { mult: 6, maxMult: 6, interval: 5000 }, // DefaultWANConfig
    { mult: 3, maxMult: 6, interval: 1000 }, // DefaultLocalConfig
  ]) {
    for (const n of [1, 2, 3, 4, 5, 10, 11, 50, 100, 1000]) {
      const min = suspicionTimeout(mult, n, interval);
      const max = maxMult * min;
      const k = suspicionConfirmations(mult, n);
      // state.go: k = SuspicionMult - 2, and 0 when n - 2 < k.
      assert.is(k, n - 2 < mult - 2 ? 0 : mult - 2, `k for mult ${mult}, n ${n}`);
      const clock = new SimClock();
      const { fired } = start(clock, k, min, max);
      clock.advanceSync(10 * max);
      assert.equal(fired, [k < 1 ? min : max], `mult ${mult} n ${n}`);
    }
  }
});

test('each new accuser shrinks the timer to memberlist’s remaining time, down to min', () => {
  const min = 4000;
  const max = 24_000;
  const k = 2;
  // One confirmation at t=1000: timeout 24 − log(2)/log(3) × 20 s, floored to the ms.
  let clock = new SimClock();
  let s = start(clock, k, min, max);
  clock.advanceSync(1000);
  assert.ok(s.suspicion.confirm('b'));
  assert.is(s.suspicion.confirmations, 1);
  const one = goTimeout(1, k, min, max);
  assert.is(one, 11_381);
  clock.advanceSync(one - 1000 - 1);
  assert.equal(s.fired, [], 'not before the shrunk timeout');
  clock.advanceSync(1);
  assert.equal(s.fired, [one]);

  // Two confirmations reach min.
  clock = new SimClock();
  s = start(clock, k, min, max);
  clock.advanceSync(500);
  assert.ok(s.suspicion.confirm('b'));
  clock.advanceSync(500);
  assert.ok(s.suspicion.confirm('c'));
  assert.is(goTimeout(2, k, min, max), min);
  clock.advanceSync(max);
  assert.equal(s.fired, [min]);
});

test('a confirmation after the shrunk timeout has already passed fires at once', () => {
  const clock = new SimClock();
  const { suspicion, fired } = start(clock, 1, 3000, 18_000);
  clock.advanceSync(5000);
  assert.ok(suspicion.confirm('b'));
  clock.advanceSync(0);
  assert.equal(fired, [5000]);
  // A fired suspicion takes no more confirmations and never fires again.
  assert.not.ok(suspicion.confirm('c'));
  clock.advanceSync(100_000);
  assert.equal(fired, [5000]);
});

test('the first accuser, repeated accusers and accusers beyond k are not confirmations', () => {
  const clock = new SimClock();
  const { suspicion, fired } = start(clock, 2, 4000, 24_000, 'a');
  assert.not.ok(suspicion.confirm('a'), 'the original accuser is already counted');
  assert.is(suspicion.confirmations, 0);
  clock.advanceSync(100);
  assert.ok(suspicion.confirm('b'));
  assert.not.ok(suspicion.confirm('b'), 'a duplicate accuser is ignored');
  assert.is(suspicion.confirmations, 1);
  assert.ok(suspicion.confirm('c'));
  assert.not.ok(suspicion.confirm('d'), 'k confirmations already');
  assert.is(suspicion.confirmations, 2);
  clock.advanceSync(100_000);
  assert.equal(fired, [4000]);
});

test('with k = 0 nothing confirms and the timer is min', () => {
  const clock = new SimClock();
  const { suspicion, fired } = start(clock, 0, 3000, 18_000);
  assert.not.ok(suspicion.confirm('b'));
  clock.advanceSync(100_000);
  assert.equal(fired, [3000]);
});

test('stop cancels the timer and refuses confirmations', () => {
  const clock = new SimClock();
  const { suspicion, fired } = start(clock, 1, 3000, 18_000);
  clock.advanceSync(1000);
  suspicion.stop();
  suspicion.stop();
  assert.not.ok(suspicion.confirm('b'));
  clock.advanceSync(100_000);
  assert.equal(fired, []);
  assert.is(clock.pending, 0);
});

test('remaining time over every confirmation count equals memberlist’s formula', () => {
  for (const k of [1, 2, 3, 4]) {
    for (let c = 1; c <= k; c++) {
      const clock = new SimClock();
      const min = 4_584;
      const max = 6 * min;
      const { suspicion, fired } = start(clock, k, min, max, 'x0');
      for (let i = 1; i <= c; i++) {
        clock.advanceSync(10);
        assert.ok(suspicion.confirm(`x${i}`));
      }
      clock.advanceSync(10 * max);
      assert.equal(fired, [Math.max(10 * c, goTimeout(c, k, min, max))], `k ${k}, c ${c}`);
    }
  }
});

// ------------------------------------------------------------------------------ before expiry

/** A suspicion with a `beforeExpiry` check that records when the check and the expiry ran. */
function startChecked(clock: SimClock, k: number, minMs: number, maxMs: number, leadMs: number) {
  const ran: string[] = [];
  const suspicion = new Suspicion(clock, 'a', k, minMs, maxMs, () => ran.push(`fire@${clock.now()}`), {
    leadMs,
    run: () => ran.push(`check@${clock.now()}`),
  });
  return { suspicion, ran };
}

test('the check runs once, its lead before the deadline, and the timer still fires on time', () => {
  const clock = new SimClock();
  const { ran } = startChecked(clock, 2, 4000, 24_000, 1000);
  clock.advanceSync(100_000);
  assert.equal(ran, ['check@23000', 'fire@24000']);
});

test('a confirmation that brings the deadline forward brings the check forward too', () => {
  const clock = new SimClock();
  const { suspicion, ran } = startChecked(clock, 2, 4000, 24_000, 1000);
  clock.advanceSync(1000);
  assert.ok(suspicion.confirm('b'));
  clock.advanceSync(100_000);
  // One confirmation: an 11,381 ms timeout (see above), checked 1 s before it.
  assert.equal(ran, ['check@10381', 'fire@11381']);
});

test('a deadline nearer than the lead is checked at once; a check that ran is not repeated', () => {
  const clock = new SimClock();
  const { suspicion, ran } = startChecked(clock, 2, 4000, 24_000, 1000);
  clock.advanceSync(23_500);
  assert.equal(ran, ['check@23000']);
  // A confirmation now brings the deadline to min, already past: the timer fires at once and
  // the check, which has run, does not run again.
  assert.ok(suspicion.confirm('b'));
  assert.ok(suspicion.confirm('c'));
  clock.advanceSync(0);
  assert.equal(ran, ['check@23000', 'fire@23500']);

  // The deadline is 500 ms away when the suspicion starts: the check runs at once.
  const other = new SimClock();
  const late = startChecked(other, 0, 500, 3000, 1000);
  other.advanceSync(10_000);
  assert.equal(late.ran, ['check@0', 'fire@500']);
  assert.not.ok(late.suspicion.confirm('b'));
});

test('stopping the suspicion cancels a pending check', () => {
  const clock = new SimClock();
  const { suspicion, ran } = startChecked(clock, 2, 4000, 24_000, 1000);
  clock.advanceSync(5000);
  suspicion.stop();
  clock.advanceSync(100_000);
  assert.equal(ran, []);
  assert.is(clock.pending, 0);
});

test.run();
