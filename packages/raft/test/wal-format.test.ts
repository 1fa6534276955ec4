import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Entry, HardState, Snapshot } from '../src/core/types.js';
import { isDecodeError } from '../src/errors.js';
import {
  decodeSnapshotFile,
  decodeWalRecord,
  encodeSnapshotFile,
  encodeWalRecord,
  encodeWalRecordAt,
  findNextValidFrame,
  frameRecord,
  MAX_RECORD_PAYLOAD_BYTES,
  RECORD_HEADER_BYTES,
  readFrame,
  SNAPSHOT_FILE_HEADER_BYTES,
  WAL_RECORD_TYPE,
  type WalRecord,
} from '../src/storage/wal-format.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

const uint = fc.nat({ max: 2 ** 40 });
const hardState: fc.Arbitrary<HardState> = fc.record(
  {
    term: uint,
    vote: fc.option(fc.string({ maxLength: 12 }), { nil: null }),
    commit: uint,
  },
  { noNullPrototype: true },
);

const entriesFrom = (first: number, count: number): fc.Arbitrary<Entry[]> =>
  fc
    .array(
      fc.record(
        {
          term: uint,
          kind: fc.constantFrom('normal' as const, 'config' as const),
          data: fc.uint8Array({ maxLength: 64 }),
        },
        { noNullPrototype: true },
      ),
      { minLength: count, maxLength: count },
    )
    .map((items) => items.map((item, i) => ({ index: first + i, ...item })));

const saveRecord: fc.Arbitrary<WalRecord> = fc
  .tuple(fc.option(hardState, { nil: null }), fc.integer({ min: 1, max: 2 ** 40 }), fc.nat(6))
  .filter(([hs, , count]) => hs !== null || count > 0)
  .chain(([hs, first, count]) =>
    entriesFrom(first, count).map((entries): WalRecord => ({ type: 'save', hardState: hs, entries })),
  );

const snapshotRecord: fc.Arbitrary<WalRecord> = fc
  .tuple(fc.integer({ min: 1, max: 2 ** 40 }), uint, fc.nat(10), uint, fc.boolean())
  .map(
    ([index, term, retain, prevTerm, keep]): WalRecord => ({
      type: 'snapshot',
      index,
      term,
      firstIndex: keep ? Math.max(1, index - retain + 1) : index + 1,
      prevTerm,
      keepEntries: keep,
    }),
  );

const headerRecord: fc.Arbitrary<WalRecord> = fc
  .tuple(uint, hardState, fc.nat(1000), uint, fc.nat(10), uint, fc.nat(50))
  .map(
    ([seq, hs, snapIndex, snapTerm, retain, prevTerm, extra]): WalRecord => ({
      type: 'segmentHeader',
      seq,
      hardState: hs,
      position: {
        snapshotIndex: snapIndex,
        snapshotTerm: snapTerm,
        firstIndex: Math.max(1, snapIndex - retain + 1),
        prevTerm,
        lastIndex: snapIndex + extra,
      },
    }),
  );

const anyRecord = fc.oneof(saveRecord, snapshotRecord, headerRecord);

/** MessagePack-able trees of the kinds of values records hold, to throw at the decoder. */
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.double(),
    fc.nat({ max: 2 ** 53 - 1 }),
    fc.string({ maxLength: 8 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 8 }),
    fc.array(tie('tree'), { maxLength: 6 }),
  ),
}));

const snapshotArb: fc.Arbitrary<Snapshot> = fc.record(
  {
    meta: fc.record(
      {
        index: uint,
        term: uint,
        conf: fc.record(
          {
            voters: fc.array(fc.string({ maxLength: 6 }), { maxLength: 5 }),
            learners: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
            votersOutgoing: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
            learnersNext: fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }),
            autoLeave: fc.boolean(),
          },
          { noNullPrototype: true },
        ),
        addresses: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 20 }), {
          maxKeys: 4,
          noNullPrototype: true,
        }),
      },
      { noNullPrototype: true },
    ),
    data: fc.uint8Array({ maxLength: 200 }),
  },
  { noNullPrototype: true },
);

/** Runs `fn`; it may return anything but may throw only DecodeError. */
function onlyDecodeErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    assert.ok(isDecodeError(error), `threw ${String(error)}`);
  }
}

/** `frame` placed at `offset` of a file (the bytes before it are filler). */
function at(offset: number, frame: Uint8Array): Uint8Array {
  const file = new Uint8Array(offset + frame.length);
  file.set(frame, offset);
  return file;
}

// ---------------------------------------------------------------------------------------------

const s = suite('wal-format records');

s('every record round-trips at any offset', () => {
  fc.assert(
    fc.property(anyRecord, fc.nat(300), (record, offset) => {
      const file = at(offset, encodeWalRecordAt(record, offset));
      const frame = readFrame(file, offset);
      assert.is(frame.status, 'ok');
      if (frame.status !== 'ok') return;
      assert.is(frame.end, file.length);
      assert.equal(decodeWalRecord(frame.type, frame.payload), record);
      assert.equal(readFrame(file, frame.end), { status: 'end' });
    }),
    { numRuns: 400 },
  );
});

s('the header layout: length, checksum, type, then the payload', () => {
  const { type, payload } = encodeWalRecord({
    type: 'save',
    hardState: { term: 1, vote: 'a', commit: 0 },
    entries: [],
  });
  const framed = frameRecord(type, payload, 0);
  const view = new DataView(framed.buffer);
  assert.is(view.getUint32(0, true), payload.length);
  assert.is(framed[8], WAL_RECORD_TYPE.save);
  assert.equal(framed.subarray(RECORD_HEADER_BYTES), payload);
});

s('a record is valid only at the offset it was written for', () => {
  const frame = encodeWalRecordAt(
    { type: 'snapshot', index: 5, term: 1, firstIndex: 6, prevTerm: 1, keepEntries: false },
    0,
  );
  assert.is(readFrame(at(0, frame), 0).status, 'ok');
  assert.is(readFrame(at(17, frame), 17).status, 'invalid');
});

s('every truncation of a record reads as incomplete', () => {
  fc.assert(
    fc.property(anyRecord, (record) => {
      const frame = encodeWalRecordAt(record, 0);
      for (let cut = 1; cut < frame.length; cut++) {
        assert.is(readFrame(frame.subarray(0, cut), 0).status, 'incomplete');
      }
      assert.equal(readFrame(frame.subarray(0, 0), 0), { status: 'end' });
    }),
    { numRuns: 100 },
  );
});

s('no single-bit flip yields a valid record', () => {
  fc.assert(
    fc.property(anyRecord, fc.nat(), (record, where) => {
      const frame = encodeWalRecordAt(record, 0);
      const bit = where % (frame.length * 8);
      frame[bit >> 3] = (frame[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      const status = readFrame(frame, 0).status;
      assert.ok(status === 'invalid' || status === 'incomplete', status);
    }),
    { numRuns: 1000 },
  );
});

s('random bytes never make the framer throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, pick) => {
      const offset = bytes.length === 0 ? 0 : pick % (bytes.length + 1);
      const frame = readFrame(bytes, offset);
      assert.ok(['ok', 'end', 'incomplete', 'invalid'].includes(frame.status));
      const next = findNextValidFrame(bytes, offset);
      if (next !== undefined) assert.is(readFrame(bytes, next).status, 'ok');
    }),
    { numRuns: 1000 },
  );
});

s('an absurd length is rejected without reading or allocating it', () => {
  const file = new Uint8Array(RECORD_HEADER_BYTES + 4);
  new DataView(file.buffer).setUint32(0, 0xffffffff, true);
  assert.is(readFrame(file, 0).status, 'invalid');
  new DataView(file.buffer).setUint32(0, MAX_RECORD_PAYLOAD_BYTES + 1, true);
  assert.is(readFrame(file, 0).status, 'invalid');
  new DataView(file.buffer).setUint32(0, MAX_RECORD_PAYLOAD_BYTES, true);
  assert.is(readFrame(file, 0).status, 'incomplete');
  assert.throws(() => frameRecord(2, new Uint8Array(MAX_RECORD_PAYLOAD_BYTES + 1), 0), RangeError);
});

s('findNextValidFrame finds the record after damage, and nothing in garbage', () => {
  const first = encodeWalRecordAt(
    {
      type: 'save',
      hardState: null,
      entries: [{ index: 1, term: 1, kind: 'normal', data: new Uint8Array(20) }],
    },
    0,
  );
  const second = encodeWalRecordAt(
    { type: 'save', hardState: { term: 1, vote: null, commit: 1 }, entries: [] },
    first.length,
  );
  const file = new Uint8Array(first.length + second.length);
  file.set(first);
  file.set(second, first.length);
  file[12] = (file[12] ?? 0) ^ 1;
  assert.is(readFrame(file, 0).status, 'invalid');
  assert.is(findNextValidFrame(file, 0), first.length);
  assert.is(findNextValidFrame(file.subarray(0, first.length + 5), 0), undefined);
  assert.is(findNextValidFrame(new Uint8Array(4096), 0), undefined);
});

const payloads = suite('wal-format payload decoding');

payloads('random payloads throw nothing but DecodeError', () => {
  fc.assert(
    fc.property(fc.nat(5), fc.uint8Array({ maxLength: 120 }), (type, bytes) => {
      onlyDecodeErrors(() => decodeWalRecord(type, bytes));
    }),
    { numRuns: 2000 },
  );
});

payloads('random MessagePack values throw nothing but DecodeError', () => {
  fc.assert(
    fc.property(fc.constantFrom(1, 2, 3), tree, (type, value) => {
      onlyDecodeErrors(() => decodeWalRecord(type, encode(value)));
    }),
    { numRuns: 2000 },
  );
});

payloads('damaged valid payloads decode to a well-formed record or a DecodeError', () => {
  fc.assert(
    fc.property(
      anyRecord,
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      fc.nat(),
      (record, where, mask, cut) => {
        const { type, payload } = encodeWalRecord(record);
        const damaged = payload.slice();
        const i = where % damaged.length;
        damaged[i] = (damaged[i] ?? 0) ^ mask;
        onlyDecodeErrors(() => decodeWalRecord(type, damaged));
        onlyDecodeErrors(() => decodeWalRecord(type, payload.subarray(0, cut % payload.length)));
      },
    ),
    { numRuns: 1000 },
  );
});

payloads('forged MessagePack lengths fail fast without allocating', () => {
  const forged = [
    [0xdd, 0xff, 0xff, 0xff, 0xff], // array of 4G elements
    [0x93, 0xc0, 0x01, 0xdd, 0x7f, 0xff, 0xff, 0xff], // entries: array of 2G elements
    [0xdf, 0xff, 0xff, 0xff, 0xff], // map of 4G pairs
    [0xc6, 0xff, 0xff, 0xff, 0xff], // bin of 4 GiB
    [0xdb, 0xff, 0xff, 0xff, 0xff], // str of 4 GiB
    [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01], // ext of 4 GiB
    [0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0], // a timestamp: not a field of any record
  ];
  for (const bytes of forged) {
    for (const type of [1, 2, 3]) {
      const error = (() => {
        try {
          decodeWalRecord(type, Uint8Array.from(bytes));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(isDecodeError(error), `${bytes} as type ${type}: ${String(error)}`);
    }
  }
  // Deep nesting is handled without recursion in the decoder and rejected by the shape check.
  const deep = new Uint8Array(100_000).fill(0x91);
  onlyDecodeErrors(() => decodeWalRecord(2, deep));
});

payloads('shape checks: unknown types and versions, impossible fields', () => {
  const reason = (type: number, value: unknown): string => {
    try {
      decodeWalRecord(type, encode(value));
    } catch (error) {
      if (isDecodeError(error)) return error.reason;
      throw error;
    }
    return 'accepted';
  };
  assert.is(reason(9, [1]), 'type');
  assert.is(reason(1, [2, 0, [0, null, 0], [0, 0, 1, 0, 0]]), 'version');
  assert.is(reason(1, [1, 0, [0, null, 0], [0, 0, 1, 0, 0]]), 'accepted');
  // First index beyond the snapshot + 1.
  assert.is(reason(1, [1, 0, [0, null, 0], [0, 0, 2, 0, 1]]), 'shape');
  // Entries starting at index 0; an empty save; a negative term; a fractional commit.
  assert.is(reason(2, [null, 0, [[1, 0, new Uint8Array(0)]]]), 'shape');
  assert.is(reason(2, [null, 0, []]), 'shape');
  assert.is(reason(2, [null, 1, [[-1, 0, new Uint8Array(0)]]]), 'shape');
  assert.is(reason(2, [[1, null, 0.5], 0, []]), 'shape');
  // An entry kind that does not exist; data that is not binary.
  assert.is(reason(2, [null, 1, [[1, 2, new Uint8Array(0)]]]), 'shape');
  assert.is(reason(2, [null, 1, [[1, 0, 'text']]]), 'shape');
  // A snapshot that discards the log but does not restart it after itself.
  assert.is(reason(3, [5, 1, 3, 1, false]), 'shape');
  assert.is(reason(3, [5, 1, 3, 1, true]), 'accepted');
  // Trailing bytes after the value.
  try {
    decodeWalRecord(3, new Uint8Array([...encode([5, 1, 6, 1, false]), 0]));
    assert.unreachable();
  } catch (error) {
    assert.ok(isDecodeError(error));
  }
});

payloads('decoded entry data does not share the input buffer', () => {
  const { type, payload } = encodeWalRecord({
    type: 'save',
    hardState: null,
    entries: [{ index: 1, term: 1, kind: 'normal', data: new Uint8Array([1, 2, 3]) }],
  });
  const record = decodeWalRecord(type, payload);
  assert.ok(record.type === 'save');
  if (record.type !== 'save') return;
  assert.is.not(record.entries[0]?.data.buffer, payload.buffer);
});

const snaps = suite('wal-format snapshot files');

snaps('snapshot files round-trip', () => {
  fc.assert(
    fc.property(snapshotArb, (snapshot) => {
      const file = encodeSnapshotFile(snapshot);
      const view = new DataView(file.buffer);
      assert.is(file.length, SNAPSHOT_FILE_HEADER_BYTES + view.getUint32(12, true) + snapshot.data.length);
      assert.is(view.getUint32(16, true), snapshot.data.length);
      const decoded = decodeSnapshotFile(file);
      assert.equal(decoded.meta, snapshot.meta);
      assert.equal(new Uint8Array(decoded.data), snapshot.data);
    }),
    { numRuns: 300 },
  );
});

snaps('an address id named __proto__ stays an ordinary key', () => {
  const snapshot: Snapshot = {
    meta: {
      index: 1,
      term: 1,
      conf: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      addresses: JSON.parse('{"__proto__":"1.2.3.4:5"}') as Record<string, string>,
    },
    data: new Uint8Array(0),
  };
  const decoded = decodeSnapshotFile(encodeSnapshotFile(snapshot));
  assert.equal(Object.keys(decoded.meta.addresses), ['__proto__']);
  assert.is(Object.getPrototypeOf(decoded.meta.addresses), Object.prototype);
});

snaps('truncated, bit-flipped or random snapshot files throw DecodeError', () => {
  fc.assert(
    fc.property(snapshotArb, fc.nat(), fc.nat(), (snapshot, cut, where) => {
      const file = encodeSnapshotFile(snapshot);
      const short = file.subarray(0, cut % file.length);
      assert.ok(isDecodeError(thrownBy(() => decodeSnapshotFile(short))));
      const flipped = file.slice();
      const bit = where % (file.length * 8);
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      assert.ok(isDecodeError(thrownBy(() => decodeSnapshotFile(flipped))));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      onlyDecodeErrors(() => decodeSnapshotFile(bytes));
    }),
    { numRuns: 500 },
  );
});

snaps('a forged data length is rejected before anything is read', () => {
  const file = encodeSnapshotFile({
    meta: {
      index: 1,
      term: 1,
      conf: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      addresses: {},
    },
    data: new Uint8Array(10),
  });
  const view = new DataView(file.buffer);
  view.setUint32(20, 0x000fffff, true);
  const error = thrownBy(() => decodeSnapshotFile(file));
  assert.ok(isDecodeError(error) && error.reason === 'length', String(error));
  view.setUint32(20, 0, true);
  view.setUint32(12, 0xffffffff, true);
  const meta = thrownBy(() => decodeSnapshotFile(file));
  assert.ok(isDecodeError(meta) && meta.reason === 'length', String(meta));
});

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

s.run();
payloads.run();
snaps.run();
