// raft-kv's command line: every flag parsed, and every bad argument a one-line UsageError.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs, SNAPSHOT_COUNT, UsageError } from '../src/args.js';

const base = [
  '--id',
  'n1',
  '--listen-client',
  '127.0.0.1:2379',
  '--listen-peer',
  '127.0.0.1:2380',
  '--peers',
  'n1=127.0.0.1:2380,n2=127.0.0.1:2390',
  '--data-dir',
  '/tmp/n1',
  '--cluster-key-file',
  '/tmp/key',
];

function usageError(argv: string[]): string {
  try {
    parseArgs(argv);
  } catch (error) {
    assert.instance(error, UsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
}

test('the required flags and the defaults', () => {
  const args = parseArgs(base);
  assert.is(args.id, 'n1');
  assert.equal(args.listenClient, { host: '127.0.0.1', port: 2379 });
  assert.equal(args.peers, { n1: '127.0.0.1:2380', n2: '127.0.0.1:2390' });
  assert.is(args.heartbeatMs, 100);
  assert.is(args.electionTimeoutMs, 1000);
  assert.is(args.snapshotCount, SNAPSHOT_COUNT);
  assert.is(SNAPSHOT_COUNT, 100_000, "etcd 3.4's default");
  assert.is(args.initialElectionTickAdvance, true, "etcd's default");
  assert.is(args.warmUp, true, 'a member warms up before serving unless told not to');
});

test('--warm-up takes true or false', () => {
  assert.is(parseArgs([...base, '--warm-up', 'false']).warmUp, false);
  assert.is(parseArgs([...base, '--warm-up=true']).warmUp, true);
  assert.match(usageError([...base, '--warm-up', 'no']), '--warm-up must be true or false');
});

test('--initial-election-tick-advance takes true or false', () => {
  assert.is(
    parseArgs([...base, '--initial-election-tick-advance', 'false']).initialElectionTickAdvance,
    false,
  );
  assert.is(parseArgs([...base, '--initial-election-tick-advance=true']).initialElectionTickAdvance, true);
  assert.match(
    usageError([...base, '--initial-election-tick-advance', 'yes']),
    /--initial-election-tick-advance must be true or false/,
  );
});

test('--snapshot-count, --heartbeat-ms and --election-timeout-ms, also as --flag=value', () => {
  const args = parseArgs([
    ...base,
    '--snapshot-count=5000',
    '--heartbeat-ms',
    '50',
    '--election-timeout-ms=500',
  ]);
  assert.is(args.snapshotCount, 5000);
  assert.is(args.heartbeatMs, 50);
  assert.is(args.electionTimeoutMs, 500);
});

test('bad values are usage errors naming the flag', () => {
  assert.match(usageError([...base, '--snapshot-count', '0']), /--snapshot-count must be a positive integer/);
  assert.match(
    usageError([...base, '--snapshot-count', '-5']),
    /--snapshot-count must be a positive integer/,
  );
  assert.match(
    usageError([...base, '--snapshot-count', '1e9']),
    /--snapshot-count must be a positive integer/,
  );
  assert.match(usageError([...base, '--snapshot-count']), /--snapshot-count needs a value/);
  assert.match(usageError([...base, '--snapshot-count', '5', '--snapshot-count', '6']), /given twice/);
  assert.match(usageError([...base, '--bogus', '1']), /unknown argument "--bogus"/);
  assert.match(usageError(base.slice(2)), /--id is required/);
  assert.match(
    usageError([...base.slice(0, 6), '--peers', 'n2=127.0.0.1:2390', ...base.slice(8)]),
    /must include this member/,
  );
});

test.run();
