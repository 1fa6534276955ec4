// The leader's commit notices (empty appends) are held for a moment and dropped when the next
// append to the same follower carries the commit index as far; the rest leave after the delay.
import { SimClock } from '@clusteros/sim';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommitNoticeCoalescer } from '../src/commit-notices.js';
import type { AppendRequest, Entry, Message } from '../src/core/types.js';

const entry = (index: number): Entry => ({ index, term: 2, kind: 'normal', data: new Uint8Array([index]) });

function append(to: string, prevIndex: number, count: number, commit: number, term = 2): AppendRequest {
  const entries = Array.from({ length: count }, (_, i) => entry(prevIndex + 1 + i));
  return { type: 'append', from: 'n1', to, term, prevIndex, prevTerm: 2, entries, commit };
}

function setUp(delayMs = 5) {
  const clock = new SimClock();
  const sent: Message[] = [];
  const notices = new CommitNoticeCoalescer(clock, delayMs, (message) => sent.push(message));
  return { clock, sent, notices };
}

test('a notice nothing supersedes leaves after the delay, not before', () => {
  const { clock, sent, notices } = setUp();
  const notice = append('n2', 10, 0, 10);
  assert.ok(notices.intercept(notice));
  clock.advanceSync(4);
  assert.equal(sent, []);
  clock.advanceSync(1);
  assert.equal(sent, [notice]);
  clock.advanceSync(100);
  assert.is(sent.length, 1, 'sent once');
});

test('the next append to the follower drops its notice; other followers still get theirs', () => {
  const { clock, sent, notices } = setUp();
  const toN2 = append('n2', 10, 0, 10);
  const toN3 = append('n3', 10, 0, 10);
  assert.ok(notices.intercept(toN2));
  assert.ok(notices.intercept(toN3));
  // The next write's append to n2 carries commit 10 and reaches index 11.
  assert.not.ok(notices.intercept(append('n2', 10, 1, 10)));
  clock.advanceSync(5);
  assert.equal(sent, [toN3]);
});

test('an append that does not take the follower as far keeps the notice', () => {
  const cases: [string, AppendRequest][] = [
    ['a lower commit index', append('n2', 10, 1, 9)],
    ['an append ending below the notice (a probe after a rejection)', append('n2', 5, 2, 10)],
    ['another term', append('n2', 10, 1, 10, 3)],
  ];
  for (const [name, later] of cases) {
    const { clock, sent, notices } = setUp();
    const notice = append('n2', 10, 0, 10);
    notices.intercept(notice);
    assert.not.ok(notices.intercept(later), name);
    clock.advanceSync(5);
    assert.equal(sent, [notice], name);
  }
});

test('a newer notice to the same follower replaces the older one', () => {
  const { clock, sent, notices } = setUp();
  notices.intercept(append('n2', 10, 0, 9));
  clock.advanceSync(2);
  const newer = append('n2', 11, 0, 11);
  notices.intercept(newer);
  // The timer started with the first notice: nothing waits longer than the delay.
  clock.advanceSync(3);
  assert.equal(sent, [newer]);
});

test('other messages pass untouched; delay 0 holds nothing', () => {
  const { notices } = setUp();
  const heartbeat: Message = { type: 'heartbeat', from: 'n1', to: 'n2', term: 2, commit: 3, context: '' };
  assert.not.ok(notices.intercept(heartbeat));
  assert.not.ok(notices.intercept(append('n2', 10, 2, 10)));
  const off = setUp(0);
  assert.not.ok(off.notices.intercept(append('n2', 10, 0, 10)));
  off.clock.advanceSync(10);
  assert.equal(off.sent, []);
});

test('flush sends at once; clear forgets and cancels the timer', () => {
  const a = setUp();
  const notice = append('n2', 10, 0, 10);
  a.notices.intercept(notice);
  a.notices.flush();
  assert.equal(a.sent, [notice]);
  a.clock.advanceSync(10);
  assert.is(a.sent.length, 1);
  const b = setUp();
  b.notices.intercept(append('n2', 10, 0, 10));
  b.notices.clear();
  b.clock.advanceSync(10);
  assert.equal(b.sent, []);
  assert.is(b.clock.pending, 0, 'no timer left');
});

test.run();
