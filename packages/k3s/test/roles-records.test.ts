/**
 * The cluster record (what every node follows), the decision of what a node runs, and the
 * server-set plan: pure rules, tested exhaustively here so the process tests can stay few.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeClusterRecord,
  decodeRetiringRecord,
  desiredProcess,
  encodeClusterRecord,
  encodeRetiringRecord,
  isK3sRecordError,
  isNewerClusterRecord,
  type K3sClusterRecord,
  planServers,
} from '../src/index.js';

const A = { node: 'node-a', address: '100.64.0.1' };
const B = { node: 'node-b', address: '100.64.0.2' };
const C = { node: 'node-c', address: '100.64.0.3' };
const D = { node: 'node-d', address: '100.64.0.4' };

const record = (over: Partial<K3sClusterRecord> = {}): K3sClusterRecord => ({
  token: 3,
  seq: 1,
  primary: 'node-a',
  servers: [A, B, C],
  initialized: true,
  ...over,
});

test('a cluster record round-trips through its bytes', () => {
  const r = record();
  assert.equal(decodeClusterRecord(encodeClusterRecord(r)), r);
  const retiring = { node: 'node-a', step: 'draining' as const, at: 1_700_000_000_000 };
  assert.equal(decodeRetiringRecord(encodeRetiringRecord(retiring)), retiring);
});

test('a record with a bad field is refused with a K3sRecordError naming it', () => {
  const bad: [unknown, RegExp][] = [
    [{ ...record(), servers: [{ node: 'node-a', address: 'fd7a::1' }] }, /servers\[0\]\.address/],
    [{ ...record(), servers: [A, A] }, /twice/],
    [{ ...record(), primary: 'Node_A' }, /primary/],
    [{ ...record(), token: -1 }, /token/],
    [{ ...record(), initialized: 'yes' }, /initialized/],
    [{ ...record(), servers: [{ node: 'a\nb', address: '100.64.0.1' }] }, /servers\[0\]\.node/],
  ];
  for (const [value, message] of bad) {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    try {
      decodeClusterRecord(bytes);
      assert.unreachable(`accepted ${JSON.stringify(value)}`);
    } catch (error) {
      assert.ok(isK3sRecordError(error), String(error));
      assert.match((error as Error).message, message);
    }
  }
});

test('any bytes decode to a record or a K3sRecordError, nothing else', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.json().map((s) => new TextEncoder().encode(s)),
      ),
      (bytes) => {
        for (const decode of [decodeClusterRecord, decodeRetiringRecord]) {
          try {
            decode(bytes);
          } catch (error) {
            if (!isK3sRecordError(error)) throw error;
          }
        }
      },
    ),
    { numRuns: 2_000 },
  );
});

test('a newer holder or a later change supersedes a record', () => {
  assert.ok(isNewerClusterRecord(record({ token: 4, seq: 0 }), record()));
  assert.ok(isNewerClusterRecord(record({ seq: 2 }), record()));
  assert.not.ok(isNewerClusterRecord(record({ token: 2, seq: 9 }), record()));
  assert.ok(isNewerClusterRecord(record(), undefined));
});

test('nothing runs before a holder wrote the record', () => {
  const d = desiredProcess({
    self: 'node-a',
    record: undefined,
    agent: true,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.is(d.mode, 'none');
});

test('the first primary bootstraps with --cluster-init; the other servers wait for it', () => {
  const fresh = record({ initialized: false });
  const primary = desiredProcess({
    self: 'node-a',
    record: fresh,
    agent: true,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.equal([primary.mode, primary.bootstrap, primary.joinUrl], ['server', true, undefined]);
  const other = desiredProcess({
    self: 'node-b',
    record: fresh,
    agent: true,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.is(other.mode, 'none');
  const agent = desiredProcess({
    self: 'node-d',
    record: fresh,
    agent: true,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.is(agent.mode, 'none');
});

test('listed servers join the primary; agents point at the primary', () => {
  const r = record();
  const b = desiredProcess({
    self: 'node-b',
    record: r,
    agent: true,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.equal([b.mode, b.bootstrap, b.joinUrl], ['server', false, 'https://100.64.0.1:6443']);
  const d = desiredProcess({
    self: 'node-d',
    record: r,
    agent: true,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.equal([d.mode, d.joinUrl], ['agent', 'https://100.64.0.1:6443']);
  const noAgent = desiredProcess({
    self: 'node-d',
    record: r,
    agent: false,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.is(noAgent.mode, 'none');
});

test('an initialized cluster is never bootstrapped again by a server without data while others exist', () => {
  const r = record({ primary: 'node-b' });
  const a = desiredProcess({
    self: 'node-a',
    record: r,
    agent: true,
    serverOverride: false,
    etcdInitialized: false,
  });
  assert.equal([a.mode, a.bootstrap, a.joinUrl], ['server', false, 'https://100.64.0.2:6443']);
  const restart = desiredProcess({
    self: 'node-a',
    record: r,
    agent: true,
    serverOverride: false,
    etcdInitialized: true,
  });
  assert.equal([restart.mode, restart.why], ['server', 'server restarting on its etcd data']);
});

test('a handoff target runs k3s server before the record lists it', () => {
  const d = desiredProcess({
    self: 'node-d',
    record: record(),
    agent: true,
    serverOverride: true,
    etcdInitialized: false,
  });
  assert.equal([d.mode, d.bootstrap, d.joinUrl], ['server', false, 'https://100.64.0.1:6443']);
});

test('the server set keeps every listed server, puts the primary first and fills up to the count', () => {
  assert.equal(planServers([], A, [B, C, D], 3), [A, B, C]);
  assert.equal(planServers([A, B, C], B, [D], 3), [B, A, C]);
  assert.equal(planServers([A], A, [B, C, D], 1), [A]);
  // A new primary that was not a server is added even when that makes one too many: the
  // handoff or an operator takes the extra one out; a listed server is never dropped here.
  assert.equal(planServers([A, B, C], D, [], 3), [D, A, B, C]);
  assert.equal(planServers([A, B], A, [B, C, D], 5), [A, B, C, D]);
});

test.run();
