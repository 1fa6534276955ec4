// The records roles keep in the Raft KV (lease and handoff), the eligibility rules for singleton
// roles, and lease timing. Records are read from a store another version may have written, so
// decoding must either return a well-formed record or throw RecordDecodeError, for any bytes.
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DEFAULT_KEY_PREFIX,
  decodeHandoff,
  decodeLease,
  encodeHandoff,
  encodeLease,
  type HandoffPhase,
  type HandoffRecord,
  handoffKey,
  isActivePhase,
  isEligible,
  isRecordDecodeError,
  isRoleConfigError,
  type LeaseRecord,
  leaseKey,
  MAX_HANDOFF_STATE_BYTES,
  type NodeRef,
  RecordDecodeError,
  RoleConfigError,
  rankCandidates,
  resolveLeaseTiming,
  safeWindowMs,
} from '../src/index.js';

const LKEY = leaseKey(DEFAULT_KEY_PREFIX, 'slurmctld');
const HKEY = handoffKey(DEFAULT_KEY_PREFIX, 'slurmctld');
const PHASES: readonly HandoffPhase[] = ['intent', 'prepared', 'moved', 'completed', 'aborted'];

/** Runs `fn`; returns its value, or the RecordDecodeError it threw; any other throw fails the test. */
function decodeOrError<T>(fn: () => T): T | RecordDecodeError {
  try {
    return fn();
  } catch (error) {
    if (error instanceof RecordDecodeError && isRecordDecodeError(error)) return error;
    throw new Error(`threw something other than RecordDecodeError: ${String(error)}`, { cause: error });
  }
}

function expectDecodeError(fn: () => unknown, pattern: RegExp, key: string): void {
  const result = decodeOrError(fn);
  assert.ok(result instanceof RecordDecodeError, `decoded ${JSON.stringify(result)}`);
  assert.is(result.key, key);
  assert.is(result.name, 'RecordDecodeError');
  assert.match(result.message, pattern);
}

const isId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 256;

/** What a decoded lease record must look like. */
function assertLease(record: LeaseRecord): void {
  assert.ok(isId(record.holder), 'holder');
  assert.ok(isId(record.session), 'session');
  const keys = Object.keys(record).sort();
  if (record.handoffId !== undefined) {
    assert.ok(isId(record.handoffId), 'handoffId');
    assert.equal(keys, ['handoffId', 'holder', 'session']);
  } else assert.equal(keys, ['holder', 'session']);
}

/** What a decoded handoff record must look like. */
function assertHandoff(record: HandoffRecord): void {
  for (const field of ['id', 'role', 'from', 'fromSession', 'to'] as const)
    assert.ok(isId(record[field]), field);
  assert.ok(PHASES.includes(record.phase), 'phase');
  assert.ok(Number.isSafeInteger(record.fromToken) && record.fromToken >= 0, 'fromToken');
  assert.ok(Number.isSafeInteger(record.deadline) && record.deadline >= 0, 'deadline');
  if (record.state !== undefined)
    assert.ok(record.state instanceof Uint8Array && record.state.byteLength <= MAX_HANDOFF_STATE_BYTES);
  if (record.toSession !== undefined) assert.ok(isId(record.toSession), 'toSession');
  if (record.reason !== undefined)
    assert.ok(typeof record.reason === 'string' && record.reason.length <= 1024);
  for (const key of Object.keys(record))
    assert.ok(
      [
        'id',
        'role',
        'from',
        'fromSession',
        'fromToken',
        'to',
        'phase',
        'deadline',
        'state',
        'toSession',
        'reason',
      ].includes(key),
      `unexpected field ${key}`,
    );
}

// ---------------------------------------------------------------------------------------------
// Round trips

const baseHandoff: HandoffRecord = {
  id: '9f1c2ab04d7e3310',
  role: 'slurmctld',
  from: 'node-a',
  fromSession: 'a1b2c3d4e5f60718',
  fromToken: 41,
  to: 'node-b',
  phase: 'intent',
  deadline: 1_700_000_010_000,
};

test('lease records round-trip, with and without a handoff id', () => {
  const plain: LeaseRecord = { holder: 'node-a', session: 'a1b2c3d4e5f60718' };
  assert.equal(decodeLease(encodeLease(plain), LKEY), plain);
  const moved: LeaseRecord = { holder: 'node-b', session: '0011223344556677', handoffId: '9f1c2ab04d7e3310' };
  assert.equal(decodeLease(encodeLease(moved), LKEY), moved);
  assert.is(leaseKey('/clusteros/', 'slurmctld'), '/clusteros/leases/slurmctld');
  assert.is(handoffKey('/x/', 'k3s-server'), '/x/handoffs/k3s-server');
});

test('handoff records round-trip in every phase, with state, target session and reason', () => {
  for (const phase of PHASES) {
    const record: HandoffRecord = { ...baseHandoff, phase };
    assert.equal(decodeHandoff(encodeHandoff(record), HKEY), record);
  }
  const full: HandoffRecord = {
    ...baseHandoff,
    phase: 'moved',
    state: new Uint8Array([0, 1, 2, 250, 255]),
    toSession: '8899aabbccddeeff',
    reason: 'the old holder did not confirm',
  };
  const decoded = decodeHandoff(encodeHandoff(full), HKEY);
  assert.equal(decoded, full);
  assert.ok(decoded.state instanceof Uint8Array);
  const biggest: HandoffRecord = {
    ...baseHandoff,
    phase: 'prepared',
    state: new Uint8Array(MAX_HANDOFF_STATE_BYTES),
  };
  assert.is(decodeHandoff(encodeHandoff(biggest), HKEY).state?.byteLength, MAX_HANDOFF_STATE_BYTES);
  assert.equal(
    PHASES.filter((phase) => isActivePhase(phase)),
    ['intent', 'prepared', 'moved'],
  );
});

const id = fc.string({ minLength: 1, maxLength: 256 });
// Spread into plain objects: decoded records are plain objects, fast-check's have no prototype.
const arbitraryLease: fc.Arbitrary<LeaseRecord> = fc
  .record({ holder: id, session: id, handoffId: id }, { requiredKeys: ['holder', 'session'] })
  .map((record) => ({ ...record }));
const arbitraryHandoff: fc.Arbitrary<HandoffRecord> = fc
  .record(
    {
      id,
      role: id,
      from: id,
      fromSession: id,
      fromToken: fc.maxSafeNat(),
      to: id,
      phase: fc.constantFrom(...PHASES),
      deadline: fc.maxSafeNat(),
      state: fc.uint8Array({ maxLength: 64 }),
      toSession: id,
      reason: fc.string({ maxLength: 1024 }),
    },
    { requiredKeys: ['id', 'role', 'from', 'fromSession', 'fromToken', 'to', 'phase', 'deadline'] },
  )
  .map((record) => ({ ...record }));

test('any valid record round-trips (property)', () => {
  fc.assert(
    fc.property(arbitraryLease, (record) => {
      assert.equal(decodeLease(encodeLease(record), LKEY), record);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(arbitraryHandoff, (record) => {
      assert.equal(decodeHandoff(encodeHandoff(record), HKEY), record);
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------------------------
// Rejections

test('malformed records throw RecordDecodeError naming the key', () => {
  const lease = (value: unknown) => () => decodeLease(encode(value), LKEY);
  expectDecodeError(() => decodeLease(new Uint8Array([0xc1]), LKEY), /not msgpack/, LKEY);
  expectDecodeError(() => decodeLease(new Uint8Array(), LKEY), /not msgpack/, LKEY);
  expectDecodeError(lease([1, 2]), /not a map/, LKEY);
  expectDecodeError(lease('holder'), /not a map/, LKEY);
  expectDecodeError(lease(null), /not a map/, LKEY);
  expectDecodeError(lease(new Uint8Array(3)), /not a map/, LKEY);
  expectDecodeError(lease({ holder: 'a', session: 's' }), /unknown version/, LKEY);
  expectDecodeError(lease({ v: 2, holder: 'a', session: 's' }), /unknown version 2/, LKEY);
  expectDecodeError(lease({ v: 1, session: 's' }), /holder/, LKEY);
  expectDecodeError(lease({ v: 1, holder: '', session: 's' }), /holder/, LKEY);
  expectDecodeError(lease({ v: 1, holder: 7, session: 's' }), /holder/, LKEY);
  expectDecodeError(lease({ v: 1, holder: 'a', session: 's', handoffId: 5 }), /handoffId/, LKEY);
  expectDecodeError(lease({ v: 1, holder: 'a', session: 's', handoffId: null }), /handoffId/, LKEY);

  const handoff = (patch: Record<string, unknown>) => () =>
    decodeHandoff(encode({ v: 1, ...baseHandoff, ...patch }), HKEY);
  expectDecodeError(handoff({ v: 0 }), /unknown version/, HKEY);
  expectDecodeError(handoff({ phase: 'done' }), /unknown phase done/, HKEY);
  expectDecodeError(handoff({ phase: undefined }), /unknown phase/, HKEY);
  expectDecodeError(handoff({ fromToken: -1 }), /fromToken/, HKEY);
  expectDecodeError(handoff({ fromToken: 1.5 }), /fromToken/, HKEY);
  expectDecodeError(handoff({ fromToken: '4' }), /fromToken/, HKEY);
  expectDecodeError(handoff({ deadline: 2 ** 53 }), /deadline/, HKEY);
  expectDecodeError(handoff({ state: 'bytes' }), /state/, HKEY);
  expectDecodeError(handoff({ state: [1, 2] }), /state/, HKEY);
  expectDecodeError(handoff({ reason: 42 }), /reason/, HKEY);
  expectDecodeError(handoff({ toSession: '' }), /toSession/, HKEY);
  for (const field of ['id', 'role', 'from', 'fromSession', 'to'])
    expectDecodeError(handoff({ [field]: undefined }), new RegExp(`: ${field} must`), HKEY);
});

test('oversized ids, state and reason are rejected; the limits themselves are accepted', () => {
  const long = 'x'.repeat(257);
  const limit = 'x'.repeat(256);
  assert.is(decodeLease(encode({ v: 1, holder: limit, session: limit }), LKEY).holder, limit);
  expectDecodeError(() => decodeLease(encode({ v: 1, holder: long, session: 's' }), LKEY), /holder/, LKEY);
  expectDecodeError(() => decodeLease(encode({ v: 1, holder: 'a', session: long }), LKEY), /session/, LKEY);
  expectDecodeError(
    () => decodeLease(encode({ v: 1, holder: 'a', session: 's', handoffId: long }), LKEY),
    /handoffId/,
    LKEY,
  );
  for (const field of ['id', 'role', 'from', 'fromSession', 'to', 'toSession'] as const) {
    expectDecodeError(
      () => decodeHandoff(encodeHandoff({ ...baseHandoff, [field]: long }), HKEY),
      new RegExp(field),
      HKEY,
    );
    assert.is(decodeHandoff(encodeHandoff({ ...baseHandoff, [field]: limit }), HKEY)[field], limit);
  }
  expectDecodeError(
    () =>
      decodeHandoff(
        encodeHandoff({ ...baseHandoff, state: new Uint8Array(MAX_HANDOFF_STATE_BYTES + 1) }),
        HKEY,
      ),
    /state must be at most 262144 bytes/,
    HKEY,
  );
  expectDecodeError(
    () => decodeHandoff(encodeHandoff({ ...baseHandoff, reason: 'r'.repeat(1025) }), HKEY),
    /reason/,
    HKEY,
  );
  assert.is(
    decodeHandoff(encodeHandoff({ ...baseHandoff, reason: 'r'.repeat(1024) }), HKEY).reason?.length,
    1024,
  );
});

test('a field whose value is a map with a toString or valueOf key is a decode error, not a TypeError', () => {
  // msgpack maps decode to plain objects, so a corrupt or hostile record can shadow toString.
  const hostile = { toString: 1, valueOf: 2 };
  expectDecodeError(
    () => decodeLease(encode({ v: hostile, holder: 'a', session: 's' }), LKEY),
    /version/,
    LKEY,
  );
  expectDecodeError(() => decodeHandoff(encode({ ...baseHandoff, v: hostile }), HKEY), /version/, HKEY);
  expectDecodeError(
    () => decodeHandoff(encode({ v: 1, ...baseHandoff, phase: hostile }), HKEY),
    /phase/,
    HKEY,
  );
});

// ---------------------------------------------------------------------------------------------
// Fuzzing: anything in the store decodes to a valid record or a RecordDecodeError

/** msgpack-encodable values, including the keys the decoders look at and object-prototype names. */
const field = fc.constantFrom(
  'v',
  'holder',
  'session',
  'handoffId',
  'id',
  'role',
  'from',
  'fromSession',
  'fromToken',
  'to',
  'phase',
  'deadline',
  'state',
  'toSession',
  'reason',
  'toString',
  'valueOf',
  'constructor',
  'hasOwnProperty',
);
const leaf = fc.oneof(
  fc.constant(1),
  fc.constantFrom(...PHASES, 'other', ''),
  fc.string({ maxLength: 300 }),
  fc.integer(),
  fc.double(),
  fc.maxSafeNat(),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 32 }),
);
const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(field, tie('value'), { maxKeys: 4 }),
  ),
}));
/** Maps shaped like records, with any subset of fields and any values. */
const recordLike = fc.dictionary(field, anyValue, { maxKeys: 14 });
/** Valid records with one field replaced by anything. */
const mutated = fc
  .tuple(arbitraryHandoff, field, anyValue)
  .map(([record, key, value]) => ({ v: 1, ...record, [key]: value }));

test('decodeLease and decodeHandoff on arbitrary bytes: a valid record or RecordDecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const lease = decodeOrError(() => decodeLease(bytes, LKEY));
      if (!(lease instanceof RecordDecodeError)) assertLease(lease);
      const handoff = decodeOrError(() => decodeHandoff(bytes, HKEY));
      if (!(handoff instanceof RecordDecodeError)) assertHandoff(handoff);
    }),
    { numRuns: 2000 },
  );
  // Valid encodings with bytes flipped or cut.
  fc.assert(
    fc.property(arbitraryHandoff, fc.nat(), fc.integer({ min: 1, max: 255 }), (record, at, xor) => {
      const bytes = encodeHandoff(record);
      const flipped = bytes.slice();
      flipped[at % flipped.length] = (flipped[at % flipped.length] ?? 0) ^ xor;
      const handoff = decodeOrError(() => decodeHandoff(flipped, HKEY));
      if (!(handoff instanceof RecordDecodeError)) assertHandoff(handoff);
      const cut = decodeOrError(() => decodeHandoff(bytes.subarray(0, at % bytes.length), HKEY));
      assert.ok(cut instanceof RecordDecodeError, 'a truncated record never decodes');
    }),
    { numRuns: 1000 },
  );
});

test('decodeLease and decodeHandoff on arbitrary msgpack values: a valid record or RecordDecodeError', () => {
  fc.assert(
    fc.property(fc.oneof(anyValue, recordLike, mutated), (value) => {
      const bytes = encode(value);
      const lease = decodeOrError(() => decodeLease(bytes, LKEY));
      if (!(lease instanceof RecordDecodeError)) assertLease(lease);
      const handoff = decodeOrError(() => decodeHandoff(bytes, HKEY));
      if (!(handoff instanceof RecordDecodeError)) assertHandoff(handoff);
    }),
    { numRuns: 3000 },
  );
});

// ---------------------------------------------------------------------------------------------
// Eligibility

const GiB = 1024 ** 3;
const big: NodeRef = {
  id: 'gpu-1',
  name: 'gpu-1',
  capabilities: { cpuCores: 64, ramBytes: 512 * GiB, gpus: 8, arch: 'x64' },
  tags: { zone: 'a', disk: 'nvme' },
};

test('isEligible: every stated requirement must hold; limits are inclusive', () => {
  assert.ok(isEligible(big, 'slurmctld', undefined), 'no requirements');
  assert.ok(isEligible(big, 'slurmctld', {}), 'empty requirements');
  assert.ok(isEligible(big, 'slurmctld', { minCpuCores: 64, minRamBytes: 512 * GiB, minGpus: 8 }));
  assert.not.ok(isEligible(big, 'slurmctld', { minCpuCores: 65 }));
  assert.not.ok(isEligible(big, 'slurmctld', { minRamBytes: 512 * GiB + 1 }));
  assert.not.ok(isEligible(big, 'slurmctld', { minGpus: 9 }));
  assert.ok(isEligible(big, 'slurmctld', { arch: ['arm64', 'x64'] }));
  assert.not.ok(isEligible(big, 'slurmctld', { arch: ['arm64'] }));
  assert.not.ok(isEligible(big, 'slurmctld', { arch: [] }), 'an empty arch list admits nobody');
  assert.ok(isEligible(big, 'slurmctld', { tags: { zone: 'a' } }));
  assert.ok(isEligible(big, 'slurmctld', { tags: { zone: 'a', disk: 'nvme' } }));
  assert.not.ok(isEligible(big, 'slurmctld', { tags: { zone: 'b' } }));
  assert.not.ok(isEligible(big, 'slurmctld', { tags: { rack: 'r1' } }), 'a missing tag fails');
  assert.not.ok(
    isEligible(big, 'slurmctld', { minCpuCores: 8, tags: { zone: 'b' } }),
    'one failing requirement is enough',
  );
});

test('isEligible: nodes without capabilities, without tags, and the roles list', () => {
  const bare: NodeRef = { id: 'pi', name: 'pi' };
  assert.ok(isEligible(bare, 'slurmctld', undefined));
  assert.ok(isEligible(bare, 'slurmctld', {}));
  assert.not.ok(isEligible(bare, 'slurmctld', { minCpuCores: 1 }), 'unknown capabilities meet no minimum');
  assert.not.ok(isEligible(bare, 'slurmctld', { minGpus: 0 }), 'not even a zero minimum');
  assert.not.ok(isEligible(bare, 'slurmctld', { arch: ['arm64'] }));
  assert.not.ok(isEligible(bare, 'slurmctld', { tags: { zone: 'a' } }));
  assert.ok(
    isEligible({ ...bare, tags: { zone: 'a' } }, 'slurmctld', { tags: { zone: 'a' } }),
    'tags need no capabilities',
  );
  const withRoles: NodeRef = { ...big, roles: ['slurmd', 'slurmctld'] };
  assert.ok(isEligible(withRoles, 'slurmctld', undefined));
  assert.not.ok(isEligible(withRoles, 'k3s-server', undefined), 'a role the node does not enable');
  assert.not.ok(isEligible({ ...big, roles: [] }, 'slurmctld', undefined));
});

test('rankCandidates: eligible nodes only, priority descending, then id ascending', () => {
  const n = (id: string, priority?: number, extra: Partial<NodeRef> = {}): NodeRef => ({
    id,
    name: `host-${id}`,
    ...(priority !== undefined ? { priority } : {}),
    ...extra,
  });
  const nodes: NodeRef[] = [
    n('c', 1),
    n('a'),
    n('e', 5, { roles: ['other'] }),
    n('b', 1),
    n('d', -2),
    n('f', 10, { tags: { zone: 'b' } }),
    n('g', 0),
  ];
  const before = nodes.map((node) => node.id);
  assert.equal(
    rankCandidates(nodes, 'slurmctld', undefined).map((node) => node.id),
    ['f', 'b', 'c', 'a', 'g', 'd'],
  );
  assert.equal(
    rankCandidates(nodes, 'slurmctld', { tags: { zone: 'b' } }).map((node) => node.id),
    ['f'],
  );
  assert.equal(rankCandidates(nodes, 'slurmctld', { minCpuCores: 1 }), []);
  assert.equal(
    nodes.map((node) => node.id),
    before,
    'the input is not reordered',
  );
  // The order is total: any permutation ranks the same.
  fc.assert(
    fc.property(
      fc.shuffledSubarray(nodes, { minLength: nodes.length, maxLength: nodes.length }),
      (shuffled) => {
        assert.equal(
          rankCandidates(shuffled, 'slurmctld', undefined).map((node) => node.id),
          ['f', 'b', 'c', 'a', 'g', 'd'],
        );
      },
    ),
    { numRuns: 100 },
  );
  // Ids compare by code unit, not by locale: 'B' < 'a' < 'aa' < 'b'.
  assert.equal(
    rankCandidates([n('b'), n('aa'), n('B'), n('a')], 'x', undefined).map((node) => node.id),
    ['B', 'a', 'aa', 'b'],
  );
});

// ---------------------------------------------------------------------------------------------
// Lease timing

test('resolveLeaseTiming: defaults derive from ttlMs and the safe window', () => {
  assert.equal(resolveLeaseTiming(), {
    ttlMs: 5000,
    renewEveryMs: 1250,
    retryMs: 250,
    maxClockSkewMs: 500,
    safetyMarginMs: 250,
    candidacyStaggerMs: 500,
  });
  assert.equal(resolveLeaseTiming({ ttlMs: 3000, maxClockSkewMs: 200, safetyMarginMs: 100 }), {
    ttlMs: 3000,
    renewEveryMs: 833,
    retryMs: 150,
    maxClockSkewMs: 200,
    safetyMarginMs: 100,
    candidacyStaggerMs: 300,
  });
  assert.is(
    resolveLeaseTiming({ ttlMs: 150, maxClockSkewMs: 0, safetyMarginMs: 0 }).retryMs,
    10,
    'retry ≥ 10 ms',
  );
  assert.equal(
    resolveLeaseTiming({ ttlMs: 10_000, renewEveryMs: 2000, retryMs: 100, candidacyStaggerMs: 0 }),
    {
      ttlMs: 10_000,
      renewEveryMs: 2000,
      retryMs: 100,
      maxClockSkewMs: 500,
      safetyMarginMs: 250,
      candidacyStaggerMs: 0,
    },
    'explicit values win; a zero stagger is allowed',
  );
  assert.is(safeWindowMs(resolveLeaseTiming()), 5000 - 2 * 500 - 250);
});

test('resolveLeaseTiming: impossible timing throws RoleConfigError', () => {
  const rejects = (options: Parameters<typeof resolveLeaseTiming>[0], pattern: RegExp): void => {
    let caught: unknown;
    try {
      resolveLeaseTiming(options);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof RoleConfigError && isRoleConfigError(caught), `${JSON.stringify(options)}`);
    assert.match(caught.message, pattern);
  };
  rejects({ ttlMs: 0 }, /ttlMs/);
  rejects({ ttlMs: -5000 }, /ttlMs/);
  rejects({ ttlMs: Number.NaN }, /ttlMs/);
  rejects({ ttlMs: Number.POSITIVE_INFINITY }, /ttlMs/);
  rejects({ renewEveryMs: 0 }, /renewEveryMs/);
  rejects({ retryMs: 0 }, /retryMs/);
  rejects({ maxClockSkewMs: -1 }, /maxClockSkewMs/);
  rejects({ safetyMarginMs: -1 }, /safetyMarginMs/);
  rejects({ candidacyStaggerMs: -1 }, /candidacyStaggerMs/);
  // The safe window (ttl − 2 × skew − margin) must hold a renewal period and two retry ticks.
  rejects({ ttlMs: 1000 }, /safe window/);
  rejects({ ttlMs: 3000, renewEveryMs: 1750 }, /safe window of 1750 ms/);
  rejects(
    { ttlMs: 3000, renewEveryMs: 1451, retryMs: 150 },
    /at least renewEveryMs \+ 2 × retryMs \(1751 ms\)/,
  );
  assert.is(resolveLeaseTiming({ ttlMs: 3000, renewEveryMs: 1450, retryMs: 150 }).renewEveryMs, 1450);
  // Tight but workable: the renewal period shrinks to fit the window.
  assert.is(resolveLeaseTiming({ ttlMs: 2000, maxClockSkewMs: 800 }).renewEveryMs, 50);
  rejects({ ttlMs: 2000, maxClockSkewMs: 900 }, /safe window/);
});

test.run();
