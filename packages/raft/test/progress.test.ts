import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Progress, type ProgressState } from '../src/core/progress.js';

function progress(state: ProgressState, match: number, next: number, inflight = 4): Progress {
  const pr = new Progress(next, inflight, false);
  pr.match = match;
  if (state === 'replicate') pr.becomeReplicate();
  if (state === 'snapshot') pr.becomeSnapshot(20, 0);
  pr.match = match;
  pr.next = next;
  return pr;
}

const decrTable: [string, ProgressState, number, number, number, number, boolean, number][] = [
  // name, state, match, next, rejected, hint, changed, next after
  ['replicate: stale rejection below match', 'replicate', 5, 10, 4, 4, false, 10],
  ['replicate: rejection resets next to match + 1', 'replicate', 5, 10, 8, 3, true, 6],
  ['probe: rejection of an older probe is stale', 'probe', 0, 10, 5, 2, false, 10],
  ['probe: uses the hint', 'probe', 0, 10, 9, 4, true, 5],
  ['probe: hint above rejected is capped', 'probe', 0, 10, 9, 20, true, 9],
  ['probe: never below match + 1', 'probe', 6, 10, 9, 2, true, 7],
  ['probe: hint 0 goes to 1', 'probe', 0, 5, 4, 0, true, 1],
];
for (const [name, state, match, next, rejected, hint, changed, after] of decrTable) {
  test(`maybeDecrTo: ${name}`, () => {
    const pr = progress(state, match, next);
    assert.is(pr.maybeDecrTo(rejected, hint), changed);
    assert.is(pr.next, after);
  });
}

const updateTable: [string, number, number, number, boolean, number, number][] = [
  // name, match, next, ack, updated, match after, next after
  ['newer ack raises match and next', 3, 4, 7, true, 7, 8],
  ['stale ack changes nothing', 5, 9, 4, false, 5, 9],
  ['ack below next keeps next', 3, 10, 6, true, 6, 10],
];
for (const [name, match, next, ack, updated, matchAfter, nextAfter] of updateTable) {
  test(`maybeUpdate: ${name}`, () => {
    const pr = progress('probe', match, next);
    assert.is(pr.maybeUpdate(ack), updated);
    assert.is(pr.match, matchAfter);
    assert.is(pr.next, nextAfter);
  });
}

test('probe sends one message at a time until an answer', () => {
  const pr = progress('probe', 0, 5);
  assert.not.ok(pr.isPaused());
  pr.sentEntries(3, 7);
  assert.ok(pr.isPaused());
  assert.is(pr.next, 5, 'probing does not move next optimistically');
  pr.maybeUpdate(7);
  assert.not.ok(pr.isPaused());
});

test('replicate pipelines until the inflight window is full', () => {
  const pr = progress('replicate', 4, 5, 2);
  pr.sentEntries(2, 6);
  assert.is(pr.next, 7);
  assert.not.ok(pr.isPaused());
  pr.sentEntries(1, 7);
  assert.ok(pr.isPaused());
  pr.inflights.freeLE(6);
  assert.not.ok(pr.isPaused());
  pr.sentEntries(0, 7);
  assert.is(pr.inflights.count, 1, 'an empty append takes no slot');
});

test('a new leadership pipelines on trust from just after its last entry', () => {
  const pr = new Progress(1, 4, false);
  pr.becomeOptimistic(11);
  assert.is(pr.state, 'replicate');
  assert.is(pr.next, 11);
  pr.sentEntries(1, 11);
  pr.sentEntries(2, 13);
  assert.not.ok(pr.isPaused(), 'no answer needed before the next append');
  assert.is(pr.next, 14);
});

test('misplaced trust: the first rejection turns into probing from the hint, later ones are stale', () => {
  const pr = new Progress(1, 4, false);
  pr.becomeOptimistic(11);
  pr.sentEntries(1, 11); // prev index 10
  pr.sentEntries(1, 12); // prev index 11
  assert.ok(pr.maybeDecrTo(10, 6), 'the follower only matches up to 6');
  assert.is(pr.state, 'probe');
  assert.is(pr.next, 7, 'from the hint, not from index 1');
  assert.not.ok(pr.maybeDecrTo(11, 6), 'the rejection of the pipelined append is stale');
  assert.is(pr.next, 7);
});

test('trust ends with the first acknowledgement; after it a rejection resets to match + 1', () => {
  const pr = new Progress(1, 4, false);
  pr.becomeOptimistic(11);
  pr.sentEntries(1, 11);
  pr.sentEntries(1, 12);
  pr.sentEntries(1, 13);
  assert.ok(pr.maybeUpdate(11));
  assert.ok(pr.maybeDecrTo(12, 3), 'the append after the acknowledged one was rejected');
  assert.is(pr.next, 12, 'just after what is known to match, the hint no longer matters');
});

test('probing while trusted resumes where the trusted appends started, not at index 1', () => {
  const pr = new Progress(1, 4, false);
  pr.becomeOptimistic(11);
  pr.sentEntries(1, 11);
  pr.becomeProbe();
  assert.is(pr.state, 'probe');
  assert.is(pr.next, 11);
});

test('snapshot state pauses; becomeProbe resumes after the snapshot', () => {
  const pr = progress('probe', 3, 4);
  pr.becomeSnapshot(20, 5);
  assert.ok(pr.isPaused());
  assert.is(pr.pendingSnapshot, 20);
  pr.becomeProbe();
  assert.is(pr.state, 'probe');
  assert.is(pr.next, 21);
  assert.is(pr.pendingSnapshot, 0);
});

test('becomeReplicate starts from match + 1; reset starts a new leadership', () => {
  const pr = progress('probe', 8, 12);
  pr.becomeReplicate();
  assert.is(pr.next, 9);
  pr.sentEntries(2, 10);
  pr.reset(0, 30);
  assert.is(pr.state, 'probe');
  assert.is(pr.match, 0);
  assert.is(pr.next, 30);
  assert.is(pr.inflights.count, 0);
});

test.run();
