// memberlist's timing math against the numbers its own functions produced (fixtures:
// timing_table, remaining_suspicion_time), plus the edges of each formula.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyAwarenessDelta,
  pushPullScale,
  remainingSuspicionTime,
  retransmitLimit,
  scaleTimeout,
  suspicionConfirmations,
  suspicionTimeout,
} from '../src/index.js';
import { fixtures } from './support/vectors.js';

const LAN = {
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  retransmitMult: 4,
  probeInterval: 1000,
  pushPull: 30_000,
};
const LOCAL = { suspicionMult: 3, retransmitMult: 2, probeInterval: 1000 };

test('timing_table: suspicion min/max, retransmit limits and push/pull interval for every n', () => {
  assert.ok(fixtures.timing_table.length >= 16);
  for (const row of fixtures.timing_table) {
    const min = suspicionTimeout(LAN.suspicionMult, row.n, LAN.probeInterval);
    assert.is(min, row.suspicion_min_lan_s * 1000, `min lan n=${row.n}`);
    assert.is(LAN.suspicionMaxTimeoutMult * min, row.suspicion_max_lan_s * 1000, `max lan n=${row.n}`);
    assert.is(
      suspicionTimeout(LOCAL.suspicionMult, row.n, LOCAL.probeInterval),
      row.suspicion_min_local_s * 1000,
      `min local n=${row.n}`,
    );
    assert.is(
      retransmitLimit(LAN.retransmitMult, row.n),
      row.retransmit_limit_lan,
      `retransmit lan n=${row.n}`,
    );
    assert.is(
      retransmitLimit(LOCAL.retransmitMult, row.n),
      row.retransmit_limit_local,
      `retransmit local n=${row.n}`,
    );
    assert.is(pushPullScale(LAN.pushPull, row.n), row.pushpull_interval_lan_s * 1000, `push/pull n=${row.n}`);
  }
});

test('remaining_suspicion_time: the timeout falls with each confirmation', () => {
  assert.ok(fixtures.remaining_suspicion_time.length >= 4);
  for (const row of fixtures.remaining_suspicion_time) {
    const got = remainingSuspicionTime(row.n, row.k, 0, row.min_s * 1000, row.max_s * 1000);
    assert.is(got, row.timeout_s * 1000, `n=${row.n} k=${row.k}`);
  }
});

test('remaining suspicion time subtracts the elapsed time, floors to ms, and never goes below min', () => {
  assert.is(remainingSuspicionTime(1, 2, 1000, 4000, 24_000), 10_381);
  assert.is(remainingSuspicionTime(2, 2, 5000, 4000, 24_000), -1000);
  assert.is(remainingSuspicionTime(5, 2, 0, 4000, 24_000), 4000);
  assert.is(remainingSuspicionTime(3, 0, 100, 4000, 24_000), 3900);
  // Monotonic in the number of confirmations.
  let previous = Number.POSITIVE_INFINITY;
  for (let n = 0; n <= 5; n++) {
    const t = remainingSuspicionTime(n, 5, 0, 3000, 18_000);
    assert.ok(t <= previous);
    previous = t;
  }
});

test('expected confirmations: suspicionMult − 2, or none in a cluster too small to give them', () => {
  assert.is(suspicionConfirmations(4, 3), 0);
  assert.is(suspicionConfirmations(4, 4), 2);
  assert.is(suspicionConfirmations(4, 100), 2);
  assert.is(suspicionConfirmations(3, 3), 1);
  assert.is(suspicionConfirmations(2, 50), 0);
});

test('suspicion timeout truncates the node scale to thousandths, as Go does', () => {
  assert.is(suspicionTimeout(4, 0, 1000), 4000);
  assert.is(suspicionTimeout(4, 20, 1000), 5204); // log10(20) = 1.30103 → 1301
  assert.is(suspicionTimeout(5, 20, 200), 1301);
});

test('retransmit limit, push/pull scale and awareness at their edges', () => {
  assert.is(retransmitLimit(4, 0), 0);
  assert.is(retransmitLimit(4, 9), 4);
  assert.is(retransmitLimit(4, 99), 8);
  assert.is(pushPullScale(30_000, 32), 30_000);
  assert.is(pushPullScale(30_000, 33), 60_000);
  assert.is(pushPullScale(30_000, 128), 90_000);
  assert.is(pushPullScale(30_000, 129), 120_000);
  assert.is(scaleTimeout(500, 0), 500);
  assert.is(scaleTimeout(500, 7), 4000);
  assert.is(applyAwarenessDelta(0, -1, 8), 0);
  assert.is(applyAwarenessDelta(6, 3, 8), 7);
  assert.is(applyAwarenessDelta(3, 1, 8), 4);
});

test.run();
