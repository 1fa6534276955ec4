import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeKvCommand,
  decodeKvQuery,
  decodeKvQueryResult,
  decodeKvResult,
  encodeKvCommand,
  encodeKvQuery,
  encodeKvQueryResult,
  encodeKvResult,
  KV_MAX_KEY_BYTES,
  KV_MAX_VALUE_BYTES,
  type KvEnvelope,
  type KvKeyValue,
  type KvQueryResult,
  type KvResult,
  kvPrefixEnd,
} from '../src/kv/commands.js';
import {
  isKvCompactedError,
  isKvDecodeError,
  isKvFutureRevisionError,
  isKvLeaseExistsError,
  isKvLeaseNotFoundError,
  isKvSnapshotError,
  isKvStaleRequestError,
  KvCompactedError,
  KvDecodeError,
  type KvErrorData,
  KvFutureRevisionError,
  KvLeaseExistsError,
  KvLeaseNotFoundError,
  KvSnapshotError,
  KvStaleRequestError,
  kvErrorFromData,
  kvErrorToData,
} from '../src/kv/errors.js';
import { KvStateMachine, type KvStateMachineOptions, kv } from '../src/kv/kv-state-machine.js';

const te = new TextEncoder();
const td = new TextDecoder();
const b = (s: string): Uint8Array => te.encode(s);
const str = (u: Uint8Array): string => td.decode(u);

/** A machine with a log-index counter. */
function harness(options?: KvStateMachineOptions) {
  const sm = new KvStateMachine(options);
  let index = 0;
  return {
    sm,
    apply: (command: Uint8Array): KvResult => sm.apply(command, ++index),
    get index() {
      return index;
    },
  };
}

function ok<T extends KvResult | KvQueryResult, K extends T['type']>(
  result: T,
  type: K,
): Extract<T, { type: K }> {
  if (result.type !== type) throw new Error(`expected a ${type} result, got ${JSON.stringify(result)}`);
  return result as Extract<T, { type: K }>;
}

function errorOf(result: KvResult | KvQueryResult): KvErrorData {
  if (result.type !== 'error') throw new Error(`expected an error result, got ${JSON.stringify(result)}`);
  return result.error;
}

const value = (sm: KvStateMachine, key: string): string | undefined => {
  const kv = sm.get(key);
  return kv === undefined ? undefined : str(kv.value);
};

const keys = (kvs: readonly KvKeyValue[]): string[] => kvs.map((e) => str(e.key));

const bytesEqual = (x: Uint8Array, y: Uint8Array): boolean =>
  x.length === y.length && x.every((byte, i) => byte === y[i]);

// --------------------------------------------------------------------------------------------

const put = suite('kv: put, delete, range');

put('put creates and overwrites with etcd revisions', () => {
  const { sm, apply } = harness();
  assert.is(sm.revision, 0);
  assert.equal(apply(kv.put('a', '1')), { type: 'put', revision: 1 });
  assert.equal(apply(kv.put('b', '2')), { type: 'put', revision: 2 });
  assert.equal(sm.get('a'), {
    key: b('a'),
    value: b('1'),
    createRevision: 1,
    modRevision: 1,
    version: 1,
    lease: 0,
  });
  const second = ok(apply(kv.put('a', '3', { prevKv: true })), 'put');
  assert.is(second.revision, 3);
  assert.equal(second.prevKv, {
    key: b('a'),
    value: b('1'),
    createRevision: 1,
    modRevision: 1,
    version: 1,
    lease: 0,
  });
  assert.equal(sm.get('a'), {
    key: b('a'),
    value: b('3'),
    createRevision: 1,
    modRevision: 3,
    version: 2,
    lease: 0,
  });
  // prevKv is only given when asked for and when there was one.
  assert.equal(apply(kv.put('new', 'x', { prevKv: true })), { type: 'put', revision: 4 });
  assert.is(sm.size, 3);
  // Empty values are values.
  apply(kv.put('empty', ''));
  assert.equal(sm.get('empty')?.value, new Uint8Array());
});

put('results and reads never alias the stored bytes', () => {
  const { sm, apply } = harness();
  const v = b('value');
  const cmd = kv.put('k', v);
  apply(cmd);
  cmd.fill(0);
  v.fill(0);
  const read = sm.get('k');
  assert.is(str(read?.value ?? new Uint8Array()), 'value');
  read?.value.fill(1);
  read?.key.fill(1);
  assert.is(value(sm, 'k'), 'value');
  const range = ok(sm.query(kv.range('k')), 'range');
  range.kvs[0]?.value.fill(2);
  assert.is(value(sm, 'k'), 'value');
});

put('delete: one key, a range, everything from a key, a prefix; version resets', () => {
  const { sm, apply } = harness();
  for (const k of ['a', 'b', 'b/1', 'b/2', 'c', 'd']) apply(kv.put(k, k));
  assert.is(sm.revision, 6);
  // Deleting nothing does not change the revision.
  assert.equal(apply(kv.delete('zz')), { type: 'delete', revision: 6, deleted: 0 });
  assert.equal(apply(kv.delete('a')), { type: 'delete', revision: 7, deleted: 1 });
  const prefix = ok(apply(kv.delete('b/', { prefix: true, prevKv: true })), 'delete');
  assert.is(prefix.deleted, 2);
  assert.is(prefix.revision, 8, 'a multi-key delete is one revision');
  assert.equal(keys(prefix.prevKvs ?? []), ['b/1', 'b/2']);
  assert.equal(apply(kv.delete('b', { rangeEnd: 'c' })), { type: 'delete', revision: 9, deleted: 1 });
  assert.equal(keys(sm.range('a', { rangeEnd: new Uint8Array([0]) }).kvs), ['c', 'd']);
  // rangeEnd = "\0": every key >= key.
  assert.equal(apply(kv.delete('c', { rangeEnd: new Uint8Array([0]) })), {
    type: 'delete',
    revision: 10,
    deleted: 2,
  });
  assert.is(sm.size, 0);
  // Re-created keys start over.
  apply(kv.put('a', 'again'));
  assert.equal(sm.get('a'), {
    key: b('a'),
    value: b('again'),
    createRevision: 11,
    modRevision: 11,
    version: 1,
    lease: 0,
  });
  // An empty rangeEnd means the key alone.
  apply(kv.put('ab', 'x'));
  assert.is(ok(apply(kv.delete('a', { rangeEnd: new Uint8Array() })), 'delete').deleted, 1);
  assert.ok(sm.get('ab'));
  // A rangeEnd at or before the key selects nothing.
  assert.is(ok(apply(kv.delete('ab', { rangeEnd: 'aa' })), 'delete').deleted, 0);
});

put('range: byte-wise order, limit, count, more, keysOnly, countOnly, revision', () => {
  const { sm, apply } = harness();
  const raw = [[0x61], [0x61, 0x00], [0x61, 0xff], [0x61, 0x62], [0x62], [0xff, 0xff], [0x01]];
  for (const k of raw) apply(kv.put(new Uint8Array(k), 'v'));
  const all = ok(
    sm.query({ type: 'range', key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) }),
    'range',
  );
  assert.equal(
    all.kvs.map((e) => [...e.key]),
    [[0x01], [0x61], [0x61, 0x00], [0x61, 0x62], [0x61, 0xff], [0x62], [0xff, 0xff]],
  );
  assert.is(all.count, 7);
  assert.is(all.more, false);
  const prefixA = ok(sm.query(kv.range(new Uint8Array([0x61]), { prefix: true })), 'range');
  assert.is(prefixA.count, 4);
  const limited = ok(sm.query(kv.range(new Uint8Array([0x61]), { prefix: true, limit: 2 })), 'range');
  assert.equal(
    limited.kvs.map((e) => [...e.key]),
    [[0x61], [0x61, 0x00]],
  );
  assert.is(limited.count, 4);
  assert.is(limited.more, true);
  const keysOnly = ok(sm.query(kv.range(new Uint8Array([0x62]), { keysOnly: true })), 'range');
  assert.equal(keysOnly.kvs[0]?.value, new Uint8Array());
  assert.equal(keysOnly.kvs[0]?.key, new Uint8Array([0x62]));
  const countOnly = ok(
    sm.query(kv.range(new Uint8Array([0x61]), { prefix: true, countOnly: true })),
    'range',
  );
  assert.equal(countOnly, { type: 'range', revision: 7, kvs: [], count: 4, more: false });
  // A prefix of all 0xff bytes covers everything from it on.
  assert.equal(kvPrefixEnd(new Uint8Array([0xff, 0xff])), new Uint8Array([0]));
  assert.equal(kvPrefixEnd(new Uint8Array([0x61, 0xff])), new Uint8Array([0x62]));
  assert.is(ok(sm.query(kv.range(new Uint8Array([0xff]), { prefix: true })), 'range').count, 1);
  // Revisions: current (or 0) reads; older is compacted, newer is in the future.
  assert.is(ok(sm.query(kv.range('a', { revision: 7 })), 'range').count, 1);
  assert.is(ok(sm.query(kv.range('a', { revision: 0 })), 'range').count, 1);
  const compacted = errorOf(sm.query(kv.range('a', { revision: 3 })));
  assert.equal(compacted, kvErrorToData(new KvCompactedError(3, 7)));
  assert.ok(isKvCompactedError(kvErrorFromData(compacted)));
  assert.ok(isKvFutureRevisionError(kvErrorFromData(errorOf(sm.query(kv.range('a', { revision: 8 }))))));
});

put('read helpers: get, range, revision, now, leaseInfo', () => {
  const { sm, apply } = harness();
  assert.is(sm.get('nope'), undefined);
  apply(kv.put('x/1', '1', { now: 42 }));
  apply(kv.put('x/2', '2', { now: 43 }));
  assert.is(sm.now, 43);
  assert.equal(keys(sm.range('x/', { rangeEnd: kv.prefixEnd('x/') }).kvs), ['x/1', 'x/2']);
  assert.is(sm.range('x/', { rangeEnd: kv.prefixEnd('x/'), countOnly: true }).count, 2);
  assert.is(sm.leaseInfo(1), undefined);
});

put('malformed queries give error results, not exceptions', () => {
  const { sm } = harness();
  const bad = [
    { type: 'range' },
    { type: 'range', key: new Uint8Array() },
    { type: 'range', key: b('a'), limit: -1 },
    { type: 'range', key: b('a'), extra: 1 },
    { type: 'nope' },
    { type: 'leaseTimeToLive', id: 1.5 },
    null,
    'range',
  ];
  for (const query of bad) {
    // @ts-expect-error: deliberately malformed
    const result = sm.query(query);
    assert.is(errorOf(result).name, 'KvDecodeError', JSON.stringify(query));
  }
});

put.run();

// --------------------------------------------------------------------------------------------

const txn = suite('kv: transactions');

txn('compare targets and ops choose the branch', () => {
  const { sm, apply } = harness();
  apply(kv.leaseGrant(10_000, { now: 1 }));
  apply(kv.put('k', 'm')); // rev 1
  apply(kv.put('k', 'm2', { lease: 1 })); // rev 2, version 2, create 1
  const check = (compare: Parameters<typeof kv.txn>[0]['compare']): boolean =>
    ok(apply(kv.txn({ compare: compare ?? [] })), 'txn').succeeded;
  assert.ok(check([kv.compareValue('k', '=', 'm2')]));
  assert.not.ok(check([kv.compareValue('k', '=', 'm')]));
  assert.ok(check([kv.compareValue('k', '!=', 'm')]));
  assert.ok(check([kv.compareValue('k', '>', 'm')]), '"m2" > "m" byte-wise');
  assert.ok(check([kv.compareValue('k', '<', 'n')]));
  assert.ok(check([kv.compare('k', 'version', '=', 2)]));
  assert.ok(check([kv.compare('k', 'version', '>', 1)]));
  assert.ok(check([kv.compare('k', 'createRevision', '=', 1)]));
  assert.ok(check([kv.compare('k', 'modRevision', '=', 2)]));
  assert.ok(check([kv.compare('k', 'modRevision', '<', 3)]));
  assert.ok(check([kv.compare('k', 'lease', '=', 1)]));
  assert.ok(check([kv.compare('k', 'lease', '!=', 0)]));
  // Every compare must hold.
  assert.not.ok(check([kv.compare('k', 'version', '=', 2), kv.compare('k', 'lease', '=', 0)]));
  // No compares: success.
  assert.ok(check([]));
  // A missing key: numbers read as 0, a value compare fails whatever the op.
  assert.ok(check([kv.compare('missing', 'version', '=', 0)]));
  assert.ok(check([kv.compare('missing', 'createRevision', '<', 1)]));
  assert.not.ok(check([kv.compareValue('missing', '=', '')]));
  assert.not.ok(check([kv.compareValue('missing', '!=', 'x')]));
  // Range compares: every key in the range must satisfy.
  apply(kv.put('p/1', 'same'));
  apply(kv.put('p/2', 'same'));
  assert.ok(check([kv.compareValue('p/', '=', 'same', { prefix: true })]));
  apply(kv.put('p/3', 'other'));
  assert.not.ok(check([kv.compareValue('p/', '=', 'same', { prefix: true })]));
  // Read-only transactions change no revision.
  assert.is(sm.revision, 5);
});

txn('branches run in order, share one revision, and see their own writes', () => {
  const { sm, apply } = harness();
  apply(kv.put('a', '1')); // rev 1
  const result = ok(
    apply(
      kv.txn({
        compare: [kv.compare('a', 'version', '=', 1)],
        success: [
          kv.op.put('a', '2', { prevKv: true }),
          kv.op.put('b', '1'),
          kv.op.range('a'),
          kv.op.delete('b', { prevKv: true }),
          kv.op.range('b'),
        ],
        failure: [kv.op.put('failed', 'yes')],
      }),
    ),
    'txn',
  );
  assert.is(result.succeeded, true);
  assert.is(result.revision, 2);
  assert.is(sm.revision, 2);
  assert.is(result.responses.length, 5);
  const [p1, p2, r1, d1, r2] = result.responses;
  assert.equal(p1, {
    type: 'put',
    revision: 2,
    prevKv: { key: b('a'), value: b('1'), createRevision: 1, modRevision: 1, version: 1, lease: 0 },
  });
  assert.equal(p2, { type: 'put', revision: 2 });
  assert.equal(r1, {
    type: 'range',
    revision: 2,
    kvs: [{ key: b('a'), value: b('2'), createRevision: 1, modRevision: 2, version: 2, lease: 0 }],
    count: 1,
    more: false,
  });
  assert.equal(d1, {
    type: 'delete',
    revision: 2,
    deleted: 1,
    prevKvs: [{ key: b('b'), value: b('1'), createRevision: 2, modRevision: 2, version: 1, lease: 0 }],
  });
  assert.equal(r2, { type: 'range', revision: 2, kvs: [], count: 0, more: false });
  assert.is(sm.get('failed'), undefined);
  // The failure branch.
  const failed = ok(
    apply(kv.txn({ compare: [kv.compare('a', 'version', '=', 1)], failure: [kv.op.put('failed', 'yes')] })),
    'txn',
  );
  assert.is(failed.succeeded, false);
  assert.is(failed.revision, 3);
  assert.is(value(sm, 'failed'), 'yes');
  // A branch that changes nothing keeps the revision.
  assert.equal(apply(kv.txn({ success: [kv.op.delete('zzz'), kv.op.range('zzz')] })), {
    type: 'txn',
    revision: 3,
    succeeded: true,
    responses: [
      { type: 'delete', revision: 3, deleted: 0 },
      { type: 'range', revision: 3, kvs: [], count: 0, more: false },
    ],
  });
});

txn('a transaction that would fail midway applies nothing', () => {
  const { sm, apply } = harness();
  apply(kv.put('a', '1'));
  const before = sm.snapshot();
  const missingLease = apply(kv.txn({ success: [kv.op.put('a', '2'), kv.op.put('b', '1', { lease: 77 })] }));
  assert.equal(errorOf(missingLease), kvErrorToData(new KvLeaseNotFoundError(77)));
  const oldRead = apply(
    kv.txn({
      success: [kv.op.put('a', '2'), kv.op.range('a', { revision: 0 }), kv.op.range('a', { revision: 5 })],
    }),
  );
  assert.is(errorOf(oldRead).name, 'KvFutureRevisionError');
  assert.equal(sm.snapshot(), before);
  // The branch not taken is not checked.
  const fine = apply(
    kv.txn({ compare: [kv.compare('a', 'version', '=', 9)], success: [kv.op.put('b', '1', { lease: 77 })] }),
  );
  assert.is(ok(fine, 'txn').succeeded, false);
});

txn.run();

// --------------------------------------------------------------------------------------------

const lease = suite('kv: leases and time');

lease('grant picks ids from a counter; explicit ids; duplicates refused', () => {
  const { sm, apply } = harness();
  assert.equal(apply(kv.leaseGrant(1000, { now: 100 })), {
    type: 'leaseGrant',
    revision: 0,
    id: 1,
    ttlMs: 1000,
    deadline: 1100,
  });
  assert.is(ok(apply(kv.leaseGrant(1000, { id: 3 })), 'leaseGrant').id, 3);
  assert.is(ok(apply(kv.leaseGrant(1000)), 'leaseGrant').id, 2);
  assert.is(ok(apply(kv.leaseGrant(1000, { id: 0 })), 'leaseGrant').id, 4, 'skips the explicit 3');
  const dup = errorOf(apply(kv.leaseGrant(1000, { id: 3 })));
  assert.equal(dup, kvErrorToData(new KvLeaseExistsError(3)));
  assert.ok(isKvLeaseExistsError(kvErrorFromData(dup)));
  assert.equal(sm.query(kv.leases()), { type: 'leases', revision: 0, leases: [1, 2, 3, 4] });
  assert.throws(
    () => kv.leaseGrant(0),
    (e: unknown) => isKvDecodeError(e),
  );
});

lease('attach, keep-alive, revoke, detach', () => {
  const { sm, apply } = harness();
  apply(kv.leaseGrant(1000, { now: 1000 })); // lease 1, deadline 2000
  apply(kv.put('a', '1', { lease: 1 }));
  apply(kv.put('b', '1', { lease: 1 }));
  apply(kv.put('c', '1', { lease: 1 }));
  apply(kv.put('c', '2')); // re-put without the lease detaches it
  apply(kv.put('z', '1'));
  const ttl = ok(sm.query(kv.leaseTimeToLive(1, { keys: true })), 'leaseTimeToLive');
  assert.equal(ttl, {
    type: 'leaseTimeToLive',
    revision: 5,
    id: 1,
    ttlMs: 1000,
    deadline: 2000,
    remainingMs: 1000,
    keys: [b('a'), b('b')],
  });
  assert.is('keys' in ok(sm.query(kv.leaseTimeToLive(1)), 'leaseTimeToLive'), false);
  assert.equal(sm.leaseInfo(1), {
    id: 1,
    ttlMs: 1000,
    deadline: 2000,
    remainingMs: 1000,
    keys: [b('a'), b('b')],
  });
  assert.equal(apply(kv.leaseKeepAlive(1, { now: 1500 })), {
    type: 'leaseKeepAlive',
    revision: 5,
    id: 1,
    ttlMs: 1000,
    deadline: 2500,
  });
  // A deleted key leaves the lease.
  apply(kv.delete('b'));
  assert.equal(sm.leaseInfo(1)?.keys, [b('a')]);
  assert.equal(apply(kv.leaseRevoke(1)), { type: 'leaseRevoke', revision: 7, id: 1, deleted: 1 });
  assert.is(sm.get('a'), undefined);
  assert.is(value(sm, 'c'), '2');
  assert.is(sm.leaseInfo(1), undefined);
  // Gone leases: every use is refused.
  for (const cmd of [kv.leaseRevoke(1), kv.leaseKeepAlive(1), kv.put('q', '1', { lease: 1 })]) {
    const error = errorOf(apply(cmd));
    assert.equal(error, kvErrorToData(new KvLeaseNotFoundError(1)));
    assert.ok(isKvLeaseNotFoundError(kvErrorFromData(error)));
  }
  assert.is(errorOf(sm.query(kv.leaseTimeToLive(1))).name, 'KvLeaseNotFoundError');
  // A revoke of a lease with no keys changes no revision.
  apply(kv.leaseGrant(50));
  assert.equal(apply(kv.leaseRevoke(2)), { type: 'leaseRevoke', revision: 7, id: 2, deleted: 0 });
});

lease('expiry happens at the exact log position where time passes the deadline', () => {
  const { sm, apply } = harness();
  apply(kv.leaseGrant(1000, { now: 1000 })); // deadline 2000
  apply(kv.put('leased', 'v', { lease: 1, now: 1000 })); // rev 1
  apply(kv.put('other', 'v', { now: 1999 })); // rev 2
  assert.ok(sm.get('leased'), 'still alive at 1999');
  assert.is(sm.leaseInfo(1)?.remainingMs, 1);
  // The entry carrying now=2000 first expires the lease (revision 3), then runs its command:
  // a keep-alive for the lease is too late.
  const late = apply(kv.leaseKeepAlive(1, { now: 2000 }));
  assert.is(errorOf(late).name, 'KvLeaseNotFoundError');
  assert.is(sm.get('leased'), undefined);
  assert.is(sm.revision, 3);
  assert.is(sm.now, 2000);
});

lease('keep-alive moves the deadline; ticks drive expiry; several leases expire in order', () => {
  const { sm, apply } = harness();
  apply(kv.leaseGrant(100, { now: 0 })); // 1: deadline 100
  apply(kv.leaseGrant(100, { now: 0 })); // 2: deadline 100
  apply(kv.leaseGrant(300, { now: 0 })); // 3: deadline 300
  apply(kv.put('one', 'x', { lease: 1 })); // rev 1
  apply(kv.put('two', 'x', { lease: 2 })); // rev 2
  apply(kv.put('three', 'x', { lease: 3 })); // rev 3
  apply(kv.leaseKeepAlive(2, { now: 50 })); // 2: deadline 150
  assert.equal(apply(kv.tick(99)), { type: 'tick', revision: 3, now: 99 });
  assert.equal(apply(kv.tick(100)), { type: 'tick', revision: 4, now: 100 });
  assert.equal(sm.query(kv.leases()), { type: 'leases', revision: 4, leases: [2, 3] });
  // 2 and 3 expire in the same entry: one revision per lease with keys.
  assert.equal(apply(kv.tick(1000)), { type: 'tick', revision: 6, now: 1000 });
  assert.is(sm.size, 0);
  assert.equal(sm.query(kv.leases()), { type: 'leases', revision: 6, leases: [] });
});

lease('time never goes backwards, even when a later command carries a smaller now', () => {
  const { sm, apply } = harness();
  apply(kv.tick(5000));
  apply(kv.put('a', '1', { now: 10 }));
  assert.is(sm.now, 5000);
  assert.equal(apply(kv.tick(20)), { type: 'tick', revision: 1, now: 5000 });
  const grant = ok(apply(kv.leaseGrant(100, { now: 30 })), 'leaseGrant');
  assert.is(grant.deadline, 5100, 'deadline from the machine time, not the smaller now');
  apply(kv.put('b', '1', { lease: grant.id, now: 40 }));
  assert.ok(sm.get('b'), 'a smaller now does not expire anything');
  apply(kv.tick(5100));
  assert.is(sm.get('b'), undefined);
});

lease('many keep-alives do not grow the deadline heap without bound', () => {
  const { sm, apply } = harness();
  apply(kv.leaseGrant(1_000_000));
  for (let t = 1; t <= 5000; t++) apply(kv.leaseKeepAlive(1, { now: t }));
  assert.is(sm.leaseInfo(1)?.deadline, 1_005_000);
  apply(kv.tick(1_004_999));
  assert.ok(sm.leaseInfo(1));
  apply(kv.tick(1_005_000));
  assert.is(sm.leaseInfo(1), undefined);
});

lease.run();

// --------------------------------------------------------------------------------------------

const sessions = suite('kv: client sessions');

sessions('a duplicate returns the cached result and does not apply again', () => {
  const { sm, apply } = harness();
  const first = apply(kv.put('a', '1', { client: 'c1', seq: 1 }));
  assert.equal(first, { type: 'put', revision: 1 });
  const again = apply(kv.put('a', '1', { client: 'c1', seq: 1 }));
  assert.equal(again, first);
  assert.is(sm.revision, 1);
  assert.is(sm.get('a')?.version, 1);
  // Even if the retry's bytes differ (a buggy client), the cache answers.
  assert.equal(apply(kv.put('a', 'other', { client: 'c1', seq: 1 })), first);
  assert.is(value(sm, 'a'), '1');
  // Error results are cached too.
  const failed = apply(kv.leaseRevoke(9, { client: 'c1', seq: 2 }));
  assert.is(errorOf(failed).name, 'KvLeaseNotFoundError');
  apply(kv.leaseGrant(100, { id: 9 }));
  assert.equal(apply(kv.leaseRevoke(9, { client: 'c1', seq: 2 })), failed);
  assert.ok(sm.leaseInfo(9), 'the retry did not revoke');
  // Other clients are independent; gaps in seq are fine.
  assert.equal(apply(kv.put('a', '2', { client: 'c2', seq: 1 })), { type: 'put', revision: 2 });
  assert.equal(apply(kv.put('a', '3', { client: 'c1', seq: 10 })), { type: 'put', revision: 3 });
  // Commands without a session are never deduplicated.
  apply(kv.put('a', '4'));
  apply(kv.put('a', '4'));
  assert.is(sm.revision, 5);
});

sessions('a stale seq is refused without applying', () => {
  const { sm, apply } = harness();
  apply(kv.put('a', '1', { client: 'c', seq: 5 }));
  const stale = errorOf(apply(kv.put('a', 'old', { client: 'c', seq: 4 })));
  assert.equal(stale, kvErrorToData(new KvStaleRequestError('c', 4, 5)));
  const error = kvErrorFromData(stale);
  assert.ok(isKvStaleRequestError(error));
  assert.is(error.lastSeq, 5);
  assert.is(value(sm, 'a'), '1');
  assert.is(sm.revision, 1);
});

sessions('the session table is bounded: least recently used (by log index) goes first', () => {
  const { sm, apply } = harness({ maxSessions: 3 });
  apply(kv.put('k', 'a', { client: 'a', seq: 1 })); // rev 1
  apply(kv.put('k', 'b', { client: 'b', seq: 1 })); // rev 2
  apply(kv.put('k', 'c', { client: 'c', seq: 1 })); // rev 3
  // A retry from "a" counts as a use: now "b" is the least recently used.
  assert.equal(apply(kv.put('k', 'a', { client: 'a', seq: 1 })), { type: 'put', revision: 1 });
  apply(kv.put('k', 'd', { client: 'd', seq: 1 })); // rev 4, evicts "b"
  assert.is(sm.sessionCount, 3);
  // "b" is forgotten: its retry applies again. "a", "c" and "d" are remembered.
  assert.equal(apply(kv.put('k', 'b', { client: 'b', seq: 1 })), { type: 'put', revision: 5 }); // evicts "c"
  assert.equal(apply(kv.put('k', 'a', { client: 'a', seq: 1 })), { type: 'put', revision: 1 });
  assert.equal(apply(kv.put('k', 'd', { client: 'd', seq: 1 })), { type: 'put', revision: 4 });
  assert.equal(apply(kv.put('k', 'c', { client: 'c', seq: 1 })), { type: 'put', revision: 6 });
  assert.is(sm.sessionCount, 3);
  assert.throws(() => new KvStateMachine({ maxSessions: 0 }), RangeError);
});

sessions('sessions survive snapshot and restore', () => {
  const a = harness();
  const first = a.apply(kv.put('k', 'v', { client: 'c', seq: 7 }));
  const restored = new KvStateMachine();
  restored.restore(a.sm.snapshot());
  assert.equal(restored.apply(kv.put('k', 'v', { client: 'c', seq: 7 }), 100), first);
  assert.is(restored.revision, 1);
  assert.is(
    errorOf(restored.apply(kv.put('k', 'v', { client: 'c', seq: 6 }), 101)).name,
    'KvStaleRequestError',
  );
  // A smaller table keeps the most recently used sessions.
  const big = harness();
  for (let i = 0; i < 10; i++) big.apply(kv.put('k', `${i}`, { client: `c${i}`, seq: 1 }));
  const small = new KvStateMachine({ maxSessions: 4 });
  small.restore(big.sm.snapshot());
  assert.is(small.sessionCount, 4);
  assert.equal(small.apply(kv.put('k', 'x', { client: 'c9', seq: 1 }), 50), { type: 'put', revision: 10 });
  assert.equal(small.apply(kv.put('k', 'x', { client: 'c0', seq: 1 }), 51), { type: 'put', revision: 11 });
});

sessions.run();

// --------------------------------------------------------------------------------------------

const codec = suite('kv: encoding and malformed input');

codec('commands round-trip; restamping changes only the time', () => {
  const envelope: KvEnvelope = {
    now: 12,
    client: 'client-1',
    seq: 3,
    command: {
      type: 'txn',
      compare: [
        { key: b('a'), target: 'value', op: '=', value: b('x') },
        { key: b('a'), rangeEnd: b('b'), target: 'version', op: '>', value: 1 },
      ],
      success: [{ type: 'put', key: b('a'), value: b('y'), lease: 2, prevKv: true }],
      failure: [
        { type: 'delete', key: b('a'), rangeEnd: new Uint8Array([0]) },
        { type: 'range', key: b('a'), limit: 3, keysOnly: true, countOnly: false, revision: 0 },
      ],
    },
  };
  const bytes = encodeKvCommand(envelope);
  assert.equal(decodeKvCommand(bytes), envelope);
  const stamped = kv.stamp(bytes, 99);
  assert.equal(decodeKvCommand(stamped), { ...envelope, now: 99 });
  assert.equal(decodeKvCommand(kv.tick(5)), { now: 5, command: { type: 'tick' } });
  // inSession replaces the session and keeps the rest; the stamp then keeps the session.
  const inSession = kv.inSession(bytes, 'other', 1);
  assert.equal(decodeKvCommand(inSession), { ...envelope, client: 'other', seq: 1 });
  assert.equal(decodeKvCommand(kv.stamp(kv.inSession(kv.put('k', 'v'), 'c9', 2), 7)), {
    now: 7,
    client: 'c9',
    seq: 2,
    command: { type: 'put', key: b('k'), value: b('v') },
  });
  assert.throws(() => kv.inSession(new Uint8Array([1, 2, 3]), 'c', 1), isKvDecodeError);
  // Queries round-trip too.
  const query = kv.range('p', { prefix: true, limit: 2 });
  assert.equal(decodeKvQuery(encodeKvQuery(query)), query);
  assert.equal(decodeKvQuery(encodeKvQuery(kv.leaseTimeToLive(4, { keys: true }))), {
    type: 'leaseTimeToLive',
    id: 4,
    keys: true,
  });
  assert.throws(() => decodeKvQuery(encode({ v: 1, query: { type: 'leases', x: 1 } })), isKvDecodeError);
});

codec('builders refuse what no replica would accept', () => {
  const refuses = (build: () => unknown, reason?: string) =>
    assert.throws(build, (e: unknown) => isKvDecodeError(e) && (reason === undefined || e.reason === reason));
  refuses(() => kv.put('', 'v'), 'too-small');
  refuses(() => kv.put(new Uint8Array(KV_MAX_KEY_BYTES + 1), 'v'), 'too-large');
  refuses(() => kv.put('k', new Uint8Array(KV_MAX_VALUE_BYTES + 1)), 'too-large');
  refuses(() => kv.put('k', 'v', { client: 'c' }), 'shape');
  refuses(() => kv.put('k', 'v', { now: -1 }), 'range');
  refuses(() => kv.put('k', 'v', { now: 1.5 }), 'shape');
  refuses(() => kv.put('k', 'v', { lease: -1 }));
  refuses(() => kv.put('k', 'v', { client: '', seq: 1 }));
  refuses(() => kv.put('k', 'v', { client: 'x'.repeat(300), seq: 1 }));
  refuses(() => kv.leaseRevoke(0));
  refuses(() => kv.txn({ success: Array.from({ length: 129 }, () => kv.op.range('a')) }));
  // The maxima themselves are fine.
  const big = kv.put(new Uint8Array(KV_MAX_KEY_BYTES).fill(7), new Uint8Array(KV_MAX_VALUE_BYTES));
  const { sm, apply } = harness();
  assert.is(ok(apply(big), 'put').revision, 1);
  assert.is(sm.get(new Uint8Array(KV_MAX_KEY_BYTES).fill(7))?.value.length, KV_MAX_VALUE_BYTES);
});

/** Hand-built envelopes that must be refused by `apply` (each paired with a label). */
const malformed: [string, Uint8Array][] = [
  ['garbage', new Uint8Array([0xc1])],
  ['trailing bytes', new Uint8Array([...kv.tick(1), 0])],
  ['not a map', encode([1, 2, 3])],
  ['wrong version', encode({ v: 2, now: 0, command: { type: 'tick' } })],
  ['missing now', encode({ v: 1, command: { type: 'tick' } })],
  ['float now', encode({ v: 1, now: 0.5, command: { type: 'tick' } })],
  ['huge now', encode({ v: 1, now: 2 ** 60, command: { type: 'tick' } })],
  ['unknown envelope field', encode({ v: 1, now: 0, command: { type: 'tick' }, extra: true })],
  ['seq without client', encode({ v: 1, now: 0, seq: 1, command: { type: 'tick' } })],
  ['seq zero', encode({ v: 1, now: 0, client: 'c', seq: 0, command: { type: 'tick' } })],
  ['unknown command', encode({ v: 1, now: 0, command: { type: 'compact' } })],
  ['unknown command field', encode({ v: 1, now: 0, command: { type: 'tick', now: 5 } })],
  ['string key', encode({ v: 1, now: 0, command: { type: 'put', key: 'a', value: b('v') } })],
  ['empty key', encode({ v: 1, now: 0, command: { type: 'put', key: new Uint8Array(), value: b('v') } })],
  ['missing value', encode({ v: 1, now: 0, command: { type: 'put', key: b('a') } })],
  [
    'boolean as number',
    encode({ v: 1, now: 0, command: { type: 'put', key: b('a'), value: b('v'), prevKv: 1 } }),
  ],
  [
    'bad compare op',
    encode({
      v: 1,
      now: 0,
      command: {
        type: 'txn',
        compare: [{ key: b('a'), target: 'version', op: '>=', value: 1 }],
        success: [],
        failure: [],
      },
    }),
  ],
  [
    'value compare with number',
    encode({
      v: 1,
      now: 0,
      command: {
        type: 'txn',
        compare: [{ key: b('a'), target: 'value', op: '=', value: 1 }],
        success: [],
        failure: [],
      },
    }),
  ],
  [
    'nested txn',
    encode({
      v: 1,
      now: 0,
      command: {
        type: 'txn',
        compare: [],
        success: [{ type: 'txn', compare: [], success: [], failure: [] }],
        failure: [],
      },
    }),
  ],
  ['ttl zero', encode({ v: 1, now: 0, command: { type: 'leaseGrant', ttlMs: 0 } })],
  ['unsafe integer', encode({ v: 1, now: 0, command: { type: 'leaseRevoke', id: 2 ** 60 } })],
  ['timestamp extension', encode({ v: 1, now: new Date(0), command: { type: 'tick' } })],
  ['__proto__ key', new Uint8Array([0x81, 0xa9, ...b('__proto__'), 0x01])],
  ['oversized value bin', new Uint8Array([0xc6, 0xff, 0xff, 0xff, 0xff])],
];

codec('malformed commands give a KvDecodeError result and change nothing', () => {
  const { sm, apply } = harness();
  apply(kv.put('a', '1', { now: 10 }));
  const before = sm.snapshot();
  for (const [label, bytes] of malformed) {
    const result = apply(bytes);
    const error = errorOf(result);
    assert.is(error.name, 'KvDecodeError', label);
    assert.ok(isKvDecodeError(kvErrorFromData(error)), label);
    assert.equal(sm.snapshot(), before, label);
  }
  // Too many bytes is refused before decoding.
  assert.is(errorOf(apply(new Uint8Array(3 * 1024 * 1024))).name, 'KvDecodeError');
  // An empty entry is the leader's no-op.
  assert.equal(apply(new Uint8Array()), { type: 'noop', revision: 1 });
  assert.equal(sm.snapshot(), before);
});

codec('property: random bytes never throw and never change state', () => {
  const { sm, apply } = harness();
  apply(kv.leaseGrant(1000, { now: 10 }));
  apply(kv.put('a', '1', { lease: 1, client: 'c', seq: 1 }));
  const before = sm.snapshot();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
      const result = apply(bytes);
      assert.is(result.type, 'error');
      assert.equal(sm.snapshot(), before);
    }),
    { numRuns: 2000 },
  );
});

codec('property: corrupted valid commands never throw; refused ones change nothing', () => {
  const samples = [
    kv.put('key', 'value', { lease: 1, prevKv: true, client: 'c', seq: 2, now: 5 }),
    kv.txn({
      compare: [kv.compare('a', 'version', '=', 1)],
      success: [kv.op.put('a', 'b')],
      failure: [kv.op.range('a')],
    }),
    kv.delete('a', { prefix: true, prevKv: true }),
    kv.leaseGrant(500, { id: 4 }),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...samples),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      (sample, edits) => {
        const { sm, apply } = harness();
        apply(kv.leaseGrant(1000, { now: 1 }));
        const before = sm.snapshot();
        const bytes = sample.slice();
        for (const [at, byte] of edits) bytes[at % bytes.length] = byte;
        const result = apply(bytes);
        if (result.type === 'error' && result.error.name === 'KvDecodeError')
          assert.equal(sm.snapshot(), before);
      },
    ),
    { numRuns: 2000 },
  );
});

codec('results and query results round-trip through their encoding', () => {
  const { sm, apply } = harness();
  const results: KvResult[] = [
    apply(kv.leaseGrant(100, { now: 1 })),
    apply(kv.put('a', '1', { lease: 1 })),
    apply(kv.put('a', '2', { prevKv: true })),
    apply(kv.delete('a', { prevKv: true })),
    apply(kv.txn({ success: [kv.op.put('b', '1'), kv.op.range('b')] })),
    apply(kv.leaseKeepAlive(1)),
    apply(kv.leaseRevoke(1)),
    apply(kv.tick(3)),
    apply(new Uint8Array()),
    apply(new Uint8Array([0xc1])),
    apply(kv.leaseRevoke(1)),
  ];
  for (const result of results) assert.equal(decodeKvResult(encodeKvResult(result)), result);
  apply(kv.leaseGrant(100, { id: 5 }));
  apply(kv.put('c', '1', { lease: 5 }));
  const queries: KvQueryResult[] = [
    sm.query(kv.range('a', { rangeEnd: new Uint8Array([0]) })),
    sm.query(kv.leaseTimeToLive(5, { keys: true })),
    sm.query(kv.leases()),
    sm.query(kv.range('a', { revision: 1 })),
  ];
  for (const result of queries) assert.equal(decodeKvQueryResult(encodeKvQueryResult(result)), result);
  assert.throws(() => decodeKvResult(encode({ type: 'put' })), isKvDecodeError);
  assert.throws(
    () => decodeKvResult(encode({ type: 'range', revision: 1, kvs: [], count: 0, more: false })),
    isKvDecodeError,
  );
});

codec('error classes: names, guards, data round-trip', () => {
  const errors = [
    new KvDecodeError('shape', 'command.key: expected bytes'),
    new KvLeaseNotFoundError(3),
    new KvLeaseExistsError(4),
    new KvCompactedError(1, 9),
    new KvFutureRevisionError(10, 9),
    new KvStaleRequestError('c', 1, 2),
  ];
  for (const error of errors) {
    assert.instance(error, Error);
    assert.is(error.name, (error.constructor as { name: string }).name);
    const again = kvErrorFromData(kvErrorToData(error));
    assert.is(again.name, error.name);
    assert.is(again.message, error.message);
  }
  const snapshotError = new KvSnapshotError('shape', 'snapshot: expected a map');
  assert.ok(isKvSnapshotError(snapshotError));
  assert.not.ok(isKvSnapshotError(new Error('x')));
  assert.not.ok(isKvDecodeError(null));
});

codec.run();

// --------------------------------------------------------------------------------------------

const snap = suite('kv: snapshot and restore');

/** A command description for the property tests, turned into bytes by `build`. */
type Step =
  | { t: 'put'; key: string; value: string; lease: number; prevKv: boolean }
  | { t: 'delete'; key: string; mode: 'one' | 'prefix' | 'all' | 'range'; prevKv: boolean }
  | { t: 'txn'; key: string; version: number; puts: string[]; deletes: string[]; lease: number }
  | { t: 'grant'; id: number; ttl: number }
  | { t: 'revoke'; id: number }
  | { t: 'keepAlive'; id: number }
  | { t: 'tick' }
  | { t: 'garbage'; bytes: Uint8Array };

interface Planned {
  readonly step: Step;
  readonly dt: number;
  readonly session: 'none' | 'next' | 'same' | 'stale';
  readonly client: number;
}

const keyArb = fc.constantFrom('a', 'b', 'b/1', 'b/2', 'c', 'd/x');
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('put' as const),
      key: keyArb,
      value: fc.string({ maxLength: 3 }),
      lease: fc.constantFrom(0, 0, 1, 2, 3, 9),
      prevKv: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('delete' as const),
      key: keyArb,
      mode: fc.constantFrom('one', 'prefix', 'all', 'range'),
      prevKv: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('txn' as const),
      key: keyArb,
      version: fc.integer({ min: 0, max: 3 }),
      puts: fc.array(keyArb, { maxLength: 3 }),
      deletes: fc.array(keyArb, { maxLength: 2 }),
      lease: fc.constantFrom(0, 1, 2),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('grant' as const),
      id: fc.constantFrom(0, 0, 1, 2, 3),
      ttl: fc.integer({ min: 1, max: 60 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('revoke' as const), id: fc.integer({ min: 1, max: 4 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('keepAlive' as const), id: fc.integer({ min: 1, max: 4 }) }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('garbage' as const),
      bytes: fc.uint8Array({ minLength: 0, maxLength: 12 }),
    }),
  },
);
const plannedArb: fc.Arbitrary<Planned> = fc.record({
  step: stepArb,
  dt: fc.integer({ min: -20, max: 30 }),
  session: fc.constantFrom('none', 'none', 'next', 'next', 'same', 'stale'),
  client: fc.integer({ min: 0, max: 3 }),
});

/** The command bytes of one step. */
function stepBytes(s: Step, o: { now: number; client?: string; seq?: number }, clock: number): Uint8Array {
  switch (s.t) {
    case 'put':
      return kv.put(s.key, s.value, { ...o, lease: s.lease, prevKv: s.prevKv });
    case 'delete':
      return kv.delete(s.key, {
        ...o,
        prevKv: s.prevKv,
        ...(s.mode === 'prefix' ? { prefix: true } : {}),
        ...(s.mode === 'all' ? { rangeEnd: new Uint8Array([0]) } : {}),
        ...(s.mode === 'range' ? { rangeEnd: 'c' } : {}),
      });
    case 'txn':
      return kv.txn(
        {
          compare: [kv.compare(s.key, 'version', '=', s.version)],
          success: [
            ...s.puts.map((k) => kv.op.put(k, 'txn', { lease: s.lease })),
            kv.op.range('a', { prefix: true }),
          ],
          failure: s.deletes.map((k) => kv.op.delete(k, { prevKv: true })),
        },
        o,
      );
    case 'grant':
      return kv.leaseGrant(s.ttl, { ...o, id: s.id });
    case 'revoke':
      return kv.leaseRevoke(s.id, o);
    case 'keepAlive':
      return kv.leaseKeepAlive(s.id, o);
    case 'tick':
      return kv.tick(clock);
    case 'garbage':
      return s.bytes;
  }
}

/** Turns a plan into command bytes (proposer times wander, sometimes backwards). */
function build(plan: readonly Planned[]): Uint8Array[] {
  let clock = 0;
  const seqs = new Map<number, number>();
  return plan.map((p) => {
    clock = Math.max(0, clock + p.dt);
    const last = seqs.get(p.client) ?? 0;
    let session: { client?: string; seq?: number } = {};
    if (p.session !== 'none') {
      const seq =
        p.session === 'next' || last === 0 ? last + 1 : p.session === 'same' ? last : Math.max(1, last - 1);
      seqs.set(p.client, Math.max(last, seq));
      session = { client: `client-${p.client}`, seq };
    }
    return stepBytes(p.step, { now: clock, ...session }, clock);
  });
}

snap('property: snapshot at any point, restore elsewhere, identical results after', () => {
  fc.assert(
    fc.property(fc.array(plannedArb, { minLength: 1, maxLength: 80 }), fc.nat(), (plan, at) => {
      const commands = build(plan);
      const cut = at % (commands.length + 1);
      const options = { maxSessions: 2 };
      const a = new KvStateMachine(options);
      commands.slice(0, cut).forEach((c, i) => {
        a.apply(c, i + 1);
      });
      const image = a.snapshot();
      const bMachine = new KvStateMachine(options);
      // B has some unrelated state first: restore must replace all of it.
      bMachine.apply(kv.put('junk', 'junk', { client: 'junk', seq: 1, now: 999_999 }), 1);
      bMachine.restore(image);
      assert.equal(bMachine.snapshot(), image);
      commands.slice(cut).forEach((c, i) => {
        const index = cut + i + 1;
        const ra = a.apply(c, index);
        const rb = bMachine.apply(c, index);
        assert.equal(rb, ra);
        for (const q of [kv.range('a', { rangeEnd: new Uint8Array([0]) }), kv.leases()] as const) {
          assert.equal(bMachine.query(q), a.query(q));
        }
      });
      assert.ok(bytesEqual(bMachine.snapshot(), a.snapshot()));
      assert.is(bMachine.revision, a.revision);
      assert.is(bMachine.now, a.now);
    }),
    { numRuns: 300 },
  );
});

snap('property: machines fed the same log agree, and revisions only grow', () => {
  fc.assert(
    fc.property(fc.array(plannedArb, { minLength: 1, maxLength: 60 }), (plan) => {
      const commands = build(plan);
      const a = new KvStateMachine();
      const c = new KvStateMachine();
      let revision = 0;
      let now = 0;
      commands.forEach((cmd, i) => {
        assert.equal(a.apply(cmd, i + 1), c.apply(cmd, i + 1));
        assert.ok(a.revision >= revision);
        assert.ok(a.now >= now);
        revision = a.revision;
        now = a.now;
        // Invariant: no live lease is past its deadline.
        const leases = a.query(kv.leases());
        for (const id of ok(leases, 'leases').leases) assert.ok((a.leaseInfo(id)?.remainingMs ?? 0) > 0);
      });
      assert.equal(a.snapshot(), c.snapshot());
    }),
    { numRuns: 200 },
  );
});

snap('restore of garbage throws KvSnapshotError and keeps the state', () => {
  const { sm, apply } = harness();
  apply(kv.leaseGrant(1000, { now: 5 }));
  apply(kv.put('a', '1', { lease: 1, client: 'c', seq: 1 }));
  apply(kv.put('b', '2'));
  const before = sm.snapshot();
  const refused = (data: Uint8Array, reason?: string) => {
    assert.throws(
      () => sm.restore(data),
      (e: unknown) => isKvSnapshotError(e) && (reason === undefined || e.reason === reason),
    );
    assert.equal(sm.snapshot(), before);
  };
  refused(new Uint8Array(), 'msgpack');
  refused(new Uint8Array([0xc1]), 'msgpack');
  refused(encode({ hello: 'world' }), 'shape');
  const valid = {
    v: 1,
    kind: 'clusteros-kv',
    revision: 2,
    now: 5,
    nextLeaseId: 2,
    kvs: [
      [b('a'), b('1'), 1, 1, 1, 1],
      [b('b'), b('2'), 2, 2, 1, 0],
    ],
    leases: [[1, 1000, 1005]],
    sessions: [['c', 1, 2, { type: 'put', revision: 1 }]],
  };
  // The hand-written valid image is accepted by a fresh machine (and equals the original).
  const fresh = new KvStateMachine();
  fresh.restore(encode(valid));
  assert.equal(fresh.snapshot(), before);
  refused(encode({ ...valid, v: 2 }), 'version');
  refused(encode({ ...valid, kind: 'other' }), 'shape');
  refused(encode({ ...valid, kvs: [valid.kvs[1], valid.kvs[0]] }), 'order');
  refused(encode({ ...valid, kvs: [valid.kvs[0], valid.kvs[0]] }), 'order');
  refused(encode({ ...valid, leases: [] }), 'reference');
  refused(encode({ ...valid, revision: 1 }), 'order');
  refused(encode({ ...valid, leases: [[1, 1000, 5]] }));
  refused(encode({ ...valid, kvs: [[b('a'), b('1'), 1, 1, 0, 0]] }));
  refused(encode({ ...valid, kvs: [[b('a'), b('1'), 2, 1, 1, 0]] }));
  refused(encode({ ...valid, kvs: [[b('a'), b('1'), 1, 1, 1]] }));
  refused(encode({ ...valid, sessions: [['c', 1, 2, { type: 'put' }]] }));
  refused(
    encode({
      ...valid,
      sessions: [
        ['c', 1, 2, { type: 'put', revision: 1 }],
        ['c', 2, 3, { type: 'tick', revision: 1, now: 1 }],
      ],
    }),
    'order',
  );
  refused(encode({ ...valid, extra: 1 }), 'shape');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      assert.throws(() => sm.restore(bytes), isKvSnapshotError);
    }),
    { numRuns: 1000 },
  );
  assert.equal(sm.snapshot(), before);
});

snap('an empty machine snapshots and restores', () => {
  const a = new KvStateMachine();
  const image = a.snapshot();
  const c = new KvStateMachine();
  c.apply(kv.put('x', 'y'), 1);
  c.restore(image);
  assert.is(c.size, 0);
  assert.is(c.revision, 0);
  assert.equal(c.snapshot(), image);
});

snap.run();

// --------------------------------------------------------------------------------------------

const scale = suite('kv: the sorted index at scale');

scale('20,000 keys in random order: ranges stay sorted and complete through deletes', () => {
  const { sm, apply } = harness();
  let seed = 7;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const model = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const k = `key/${Math.floor(rnd() * 50_000)
      .toString(36)
      .padStart(4, '0')}`;
    apply(kv.put(k, 'v'));
    model.add(k);
  }
  for (let i = 0; i < 5_000; i++) {
    const k = `key/${Math.floor(rnd() * 50_000)
      .toString(36)
      .padStart(4, '0')}`;
    apply(kv.delete(k));
    model.delete(k);
  }
  apply(kv.delete('key/1', { prefix: true }));
  for (const k of model) if (k.startsWith('key/1')) model.delete(k);
  const expected = [...model].sort();
  const all = sm.range('key/', { rangeEnd: kv.prefixEnd('key/'), keysOnly: true });
  assert.is(all.count, expected.length);
  assert.equal(keys(all.kvs), expected);
  const window = sm.range('key/5', { rangeEnd: 'key/7' });
  assert.equal(
    keys(window.kvs),
    expected.filter((k) => k >= 'key/5' && k < 'key/7'),
  );
  // A restored copy has the same index.
  const copy = new KvStateMachine();
  copy.restore(sm.snapshot());
  assert.equal(keys(copy.range('key/', { rangeEnd: kv.prefixEnd('key/'), keysOnly: true }).kvs), expected);
  apply(kv.put('key/00', 'first'));
  assert.is(
    str(sm.range('key/', { rangeEnd: kv.prefixEnd('key/'), limit: 1 }).kvs[0]?.key ?? b('')),
    'key/00',
  );
});

scale.run();
