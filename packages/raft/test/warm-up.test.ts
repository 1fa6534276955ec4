// warmUpRaft: the throw-away cluster a member runs before serving. What a caller relies on: it
// really exercises every member as leader and as follower under concurrent writes and reads, it
// loses no write, it is the same run for the same seed, it leaves nothing running in the
// process, and it refuses options out of range. (Whether it makes the first leadership change
// faster is measured by the benchmark, not here: see docs/benchmarks/raft.md.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { warmUpRaft } from '../src/warm-up.js';

/** Handles and timers alive in the process, counted by kind. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Nothing of any kind is alive now that was not before (the runner's own may have ended). */
function assertNothingLeft(before: Map<string, number>, what: string): void {
  for (const [kind, count] of resources()) {
    assert.ok(
      count <= (before.get(kind) ?? 0),
      `${what}: ${count} ${kind} now, ${before.get(kind) ?? 0} before`,
    );
  }
}

test('the default run: every member leads, every write and read is answered, nothing is left running', async () => {
  const before = resources();
  const report = await warmUpRaft();
  // 3 rounds × 16 writers × 24 writes, a read after every 8th write, a transfer after each round but the last.
  assert.is(report.writes, 1_152);
  assert.is(report.failedWrites, 0, 'a transfer holds proposals; none may fail');
  assert.is(report.reads, 144);
  assert.is(report.transfers, 2);
  assert.is(report.leaders.length, 3);
  assert.equal(new Set(report.leaders).size, 3, `every member led: ${report.leaders.join(' → ')}`);
  for (let i = 1; i < report.leaders.length; i++) {
    assert.is.not(report.leaders[i], report.leaders[i - 1], 'each transfer moved the leadership');
  }
  assert.ok(report.simulatedMs > 0 && report.elapsedMs > 0);
  assertNothingLeft(before, 'no timer, socket or file handle is left behind');
});

test('the same seed gives the same run; another seed a run of its own that also completes', async () => {
  const options = { rounds: 3, writers: 4, writesPerRound: 16 };
  const first = await warmUpRaft({ ...options, seed: 7 });
  const again = await warmUpRaft({ ...options, seed: 7 });
  assert.is(again.simulatedMs, first.simulatedMs);
  assert.equal(again.leaders, first.leaders);
  const other = await warmUpRaft({ ...options, seed: 8 });
  assert.is.not(other.simulatedMs, first.simulatedMs);
  for (const report of [first, again, other]) {
    assert.is(report.writes + report.failedWrites, 3 * 4 * 16);
    assert.is(report.failedWrites, 0);
    assert.is(report.transfers, 2);
  }
});

test('one round makes no transfer', async () => {
  const report = await warmUpRaft({ rounds: 1, writers: 2, writesPerRound: 8, valueBytes: 16 });
  assert.is(report.transfers, 0);
  assert.is(report.leaders.length, 1);
  assert.is(report.writes, 16);
  assert.is(report.reads, 2);
});

test('aborting stops the run part-way: it rejects with the reason and leaves nothing running', async () => {
  const before = resources();
  const stop = new AbortController();
  const reason = new Error('shutting down');
  const run = warmUpRaft({ signal: stop.signal });
  // The run yields to the event loop once per simulated event; a full run takes thousands.
  let turns = 0;
  await new Promise<void>((done) => {
    const turn = () => (++turns >= 200 ? done() : setImmediate(turn));
    setImmediate(turn);
  });
  stop.abort(reason);
  try {
    await run;
    assert.unreachable('the aborted run resolved');
  } catch (error) {
    assert.is(error, reason);
  }
  assertNothingLeft(before, 'the throw-away cluster was stopped');

  const already = new AbortController();
  already.abort(reason);
  try {
    await warmUpRaft({ signal: already.signal });
    assert.unreachable('a run with an aborted signal started');
  } catch (error) {
    assert.is(error, reason);
  }
});

test('options out of range are RangeErrors naming the option', async () => {
  const cases: [Parameters<typeof warmUpRaft>[0], RegExp][] = [
    [{ rounds: 0 }, /rounds must be an integer from 1 to 64, got 0/],
    [{ rounds: 65 }, /rounds/],
    [{ writers: 1.5 }, /writers must be an integer/],
    [{ writesPerRound: -1 }, /writesPerRound/],
    [{ valueBytes: 2 ** 21 }, /valueBytes/],
    [{ seed: Number.NaN }, /seed must be an integer, got NaN/],
  ];
  for (const [options, message] of cases) {
    try {
      await warmUpRaft(options);
    } catch (error) {
      assert.instance(error, RangeError);
      assert.match((error as Error).message, message);
      continue;
    }
    assert.unreachable(`accepted ${JSON.stringify(options)}`);
  }
});

test.run();
