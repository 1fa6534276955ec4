import { encode, decode as msgpackDecode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConfState, Entry, Message, SnapshotRequest } from '../src/core/types.js';
import { isDecodeError } from '../src/errors.js';
import {
  CODEC_LIMITS,
  decodeMessage,
  decodeWire,
  encodeMessage,
  encodeSnapshotChunk,
  MESSAGE_TAGS,
  splitSnapshot,
} from '../src/transport/codec.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Records with the usual prototype, so deep equality with decoded plain objects holds. */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const idArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme-ascii' }),
  fc.string({ minLength: 1, maxLength: 6, unit: 'grapheme' }),
  fc.constantFrom('n1', 'node-a', '__proto__', 'constructor', 'é'),
);
const uintArb = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const bytesArb = fc.uint8Array({ maxLength: 64 });
const contextArb = fc.string({ maxLength: 40 });
const entryArb: fc.Arbitrary<Entry> = rec({
  index: uintArb,
  term: uintArb,
  kind: fc.constantFrom('normal' as const, 'config' as const),
  data: bytesArb,
});
const membersArb = fc.array(idArb, { maxLength: 5 });
const confArb: fc.Arbitrary<ConfState> = rec({
  voters: membersArb,
  learners: membersArb,
  votersOutgoing: membersArb,
  learnersNext: membersArb,
  autoLeave: fc.boolean(),
});
const addressesArb = fc.dictionary(idArb, fc.string({ minLength: 1, maxLength: 30 }), {
  maxKeys: 4,
  noNullPrototype: true,
});
const head = { from: idArb, to: idArb, term: uintArb };

const messageArbs: Record<Message['type'], fc.Arbitrary<Message>> = {
  vote: rec({
    type: fc.constant('vote' as const),
    ...head,
    preVote: fc.boolean(),
    lastIndex: uintArb,
    lastTerm: uintArb,
    transfer: fc.boolean(),
  }),
  voteResponse: rec({
    type: fc.constant('voteResponse' as const),
    ...head,
    preVote: fc.boolean(),
    granted: fc.boolean(),
  }),
  append: rec({
    type: fc.constant('append' as const),
    ...head,
    prevIndex: uintArb,
    prevTerm: uintArb,
    entries: fc.array(entryArb, { maxLength: 6 }),
    commit: uintArb,
  }),
  appendResponse: rec({
    type: fc.constant('appendResponse' as const),
    ...head,
    reject: fc.boolean(),
    index: uintArb,
    hintIndex: uintArb,
    hintTerm: uintArb,
  }),
  heartbeat: rec({
    type: fc.constant('heartbeat' as const),
    ...head,
    commit: uintArb,
    context: contextArb,
  }),
  heartbeatResponse: rec({
    type: fc.constant('heartbeatResponse' as const),
    ...head,
    context: contextArb,
  }),
  snapshot: rec({
    type: fc.constant('snapshot' as const),
    ...head,
    snapshot: rec({
      meta: rec({ index: uintArb, term: uintArb, conf: confArb, addresses: addressesArb }),
      data: fc.uint8Array({ maxLength: 300 }),
    }),
  }),
  timeoutNow: fc.oneof(
    rec({ type: fc.constant('timeoutNow' as const), ...head }),
    // With the condition (the leader's last entry) as a transfer sends it ahead of the ack.
    rec({ type: fc.constant('timeoutNow' as const), ...head, index: uintArb, logTerm: uintArb }),
  ),
  propose: rec({
    type: fc.constant('propose' as const),
    ...head,
    entries: fc.array(entryArb, { maxLength: 6 }),
  }),
  readIndex: rec({ type: fc.constant('readIndex' as const), ...head, context: contextArb }),
  readIndexResponse: rec({
    type: fc.constant('readIndexResponse' as const),
    ...head,
    index: uintArb,
    context: contextArb,
  }),
};
const messageArb: fc.Arbitrary<Message> = fc.oneof(...Object.values(messageArbs));

/** Runs `fn` and asserts it either returns or throws a DecodeError (never anything else). */
function decodeOrDecodeError(bytes: Uint8Array): Message | undefined {
  try {
    const m = decodeMessage(bytes);
    // Whatever decodes is a complete, valid message: it encodes again (every field checked there).
    encodeMessage(m);
    return m;
  } catch (error) {
    if (!isDecodeError(error)) throw new Error(`non-DecodeError thrown: ${String(error)}`);
    return undefined;
  }
}

function expectDecodeError(bytes: Uint8Array, reason?: string): void {
  try {
    decodeMessage(bytes);
  } catch (error) {
    assert.ok(isDecodeError(error), `expected DecodeError, got ${String(error)}`);
    if (reason !== undefined) assert.is((error as { reason: string }).reason, reason);
    return;
  }
  assert.unreachable('decode should have failed');
}

const vote: Message = {
  type: 'vote',
  from: 'a',
  to: 'b',
  term: 3,
  preVote: false,
  lastIndex: 10,
  lastTerm: 2,
  transfer: false,
};

// ---------------------------------------------------------------------------------------------
// Round trips

for (const [type, arb] of Object.entries(messageArbs)) {
  test(`round trip: ${type}`, () => {
    fc.assert(
      fc.property(arb, (m) => {
        const decoded = decodeMessage(encodeMessage(m));
        assert.equal(decoded, m);
      }),
      { numRuns: 200 },
    );
  });
}

test('every message type has a distinct tag', () => {
  const tags = Object.values(MESSAGE_TAGS);
  assert.is(new Set(tags).size, tags.length);
  assert.is(tags.length, Object.keys(messageArbs).length);
});

test('decoded binary fields are copies, not views of the input', () => {
  const m: Message = {
    type: 'append',
    from: 'a',
    to: 'b',
    term: 1,
    prevIndex: 0,
    prevTerm: 0,
    entries: [{ index: 1, term: 1, kind: 'normal', data: Uint8Array.of(1, 2, 3) }],
    commit: 0,
  };
  const bytes = encodeMessage(m);
  const decoded = decodeMessage(bytes);
  bytes.fill(0);
  assert.equal(decoded, m);
});

test('an address id of __proto__ is an own property and pollutes nothing', () => {
  const m: SnapshotRequest = {
    type: 'snapshot',
    from: 'a',
    to: 'b',
    term: 1,
    snapshot: {
      meta: {
        index: 5,
        term: 1,
        conf: { voters: ['a'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
        addresses: JSON.parse('{"__proto__":"10.0.0.1:1","a":"10.0.0.2:2"}'),
      },
      data: new Uint8Array(0),
    },
  };
  const decoded = decodeMessage(encodeMessage(m));
  assert.is(decoded.type, 'snapshot');
  if (decoded.type !== 'snapshot') return;
  const addresses = decoded.snapshot.meta.addresses;
  assert.ok(Object.hasOwn(addresses, '__proto__'));
  assert.is(Object.getPrototypeOf(addresses), Object.prototype);
  assert.is(({} as Record<string, unknown>).a, undefined);
});

test('snapshot chunks: split, encode, decodeWire and reassemble', () => {
  fc.assert(
    fc.property(messageArbs.snapshot, fc.integer({ min: 1, max: 64 }), (m, size) => {
      if (m.type !== 'snapshot') return;
      const chunks = splitSnapshot(m, size);
      assert.ok(chunks.length >= 1);
      const parts: Uint8Array[] = [];
      let offset = 0;
      for (const chunk of chunks) {
        const item = decodeWire(encodeSnapshotChunk(chunk));
        assert.is(item.kind, 'chunk');
        if (item.kind !== 'chunk') return;
        assert.is(item.chunk.offset, offset);
        assert.is(item.chunk.total, m.snapshot.data.byteLength);
        assert.equal(item.chunk.meta, m.snapshot.meta);
        assert.ok(item.chunk.data.byteLength <= size);
        parts.push(item.chunk.data.slice());
        offset += item.chunk.data.byteLength;
      }
      assert.equal(Buffer.concat(parts), Buffer.from(m.snapshot.data));
    }),
    { numRuns: 100 },
  );
});

test('decodeWire decodes messages too; decodeMessage refuses a chunk', () => {
  const item = decodeWire(encodeMessage(vote));
  assert.equal(item, { kind: 'message', message: vote });
  const snap: SnapshotRequest = {
    type: 'snapshot',
    from: 'a',
    to: 'b',
    term: 1,
    snapshot: {
      meta: {
        index: 1,
        term: 1,
        conf: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
        addresses: {},
      },
      data: Uint8Array.of(1, 2, 3),
    },
  };
  const [chunk] = splitSnapshot(snap, 2);
  assert.ok(chunk !== undefined);
  expectDecodeError(encodeSnapshotChunk(chunk), 'unknownTag');
});

// ---------------------------------------------------------------------------------------------
// Encoder checks

test('encodeMessage refuses what decodeMessage would refuse', () => {
  const bad: unknown[] = [
    { ...vote, from: '' },
    { ...vote, to: 'x'.repeat(CODEC_LIMITS.maxIdBytes + 1) },
    { ...vote, term: -1 },
    { ...vote, term: 1.5 },
    { ...vote, lastIndex: Number.MAX_SAFE_INTEGER + 2 },
    { ...vote, preVote: 'yes' },
    { type: 'heartbeat', from: 'a', to: 'b', term: 1, commit: 0, context: 'c'.repeat(1025) },
    { type: 'nope', from: 'a', to: 'b', term: 1 },
    { type: 'timeoutNow', from: 'a', to: 'b', term: 2, index: 5 },
    { type: 'timeoutNow', from: 'a', to: 'b', term: 2, logTerm: 2 },
    { type: 'timeoutNow', from: 'a', to: 'b', term: 2, index: -1, logTerm: 2 },
    {
      type: 'propose',
      from: 'a',
      to: 'b',
      term: 0,
      entries: [{ index: 0, term: 0, kind: 'weird', data: new Uint8Array() }],
    },
  ];
  for (const m of bad) assert.throws(() => encodeMessage(m as Message), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Fuzz: only DecodeError, ever

test('fuzz: random bytes throw only DecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      decodeOrDecodeError(bytes);
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: every truncation of a valid message is a DecodeError', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const bytes = encodeMessage(m);
      for (let n = 0; n < bytes.byteLength; n++) {
        try {
          decodeMessage(bytes.subarray(0, n));
          assert.unreachable(`a ${n}-byte prefix decoded`);
        } catch (error) {
          assert.ok(isDecodeError(error), String(error));
        }
      }
    }),
    { numRuns: 200 },
  );
});

test('fuzz: bit flips give a DecodeError or a valid message', () => {
  fc.assert(
    fc.property(messageArb, fc.nat(), fc.nat(7), (m, at, bit) => {
      const bytes = encodeMessage(m);
      const i = at % bytes.byteLength;
      bytes[i] = (bytes[i] as number) ^ (1 << bit);
      decodeOrDecodeError(bytes);
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: trailing bytes are refused', () => {
  fc.assert(
    fc.property(messageArb, fc.uint8Array({ minLength: 1, maxLength: 8 }), (m, extra) => {
      const bytes = encodeMessage(m);
      expectDecodeError(Uint8Array.from([...bytes, ...extra]));
    }),
    { numRuns: 200 },
  );
});

test('fuzz: valid MessagePack of the wrong shape is a DecodeError', () => {
  fc.assert(
    fc.property(
      fc.anything({ withTypedArray: true, withBigInt: false, withMap: false, withSet: false }),
      (value) => {
        let bytes: Uint8Array;
        try {
          bytes = encode(value);
        } catch {
          return; // not encodable (e.g. a symbol): nothing to test
        }
        decodeOrDecodeError(bytes);
      },
    ),
    { numRuns: 2000 },
  );
});

test('fuzz: a valid message with one field replaced is a DecodeError or valid', () => {
  fc.assert(
    fc.property(messageArb, fc.nat(), fc.anything({ maxDepth: 2 }), (m, at, replacement) => {
      // The positional array through the library, with one field swapped for anything at all.
      const fields = msgpackDecode(encodeMessage(m));
      if (!Array.isArray(fields)) throw new Error('an encoded message is not an array');
      fields[at % fields.length] = replacement;
      let bytes: Uint8Array;
      try {
        bytes = encode(fields);
      } catch {
        return;
      }
      decodeOrDecodeError(bytes);
    }),
    { numRuns: 2000 },
  );
});

test('shapes: wrong arity, unknown tag, bad kinds, odd addresses, duplicate ids, floats', () => {
  const cases: [unknown, string][] = [
    [[], 'badField'],
    [{ a: 1 }, 'unsupportedType'],
    ['vote', 'badField'],
    [[99, 'a', 'b', 1], 'unknownTag'],
    [[1.5, 'a', 'b', 1], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b'], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', 1, 2], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', 1, 2, 1, 0], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', 1, -2, 1], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', 1, 2, 'x'], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, '', 'b', 1], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', -1], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', 0.5], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', 2 ** 60], 'badField'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'x'.repeat(257), 1], 'tooLong'],
    [[MESSAGE_TAGS.timeoutNow, 'a', 'b', null], 'badField'],
    [[MESSAGE_TAGS.readIndex, 'a', 'b', 1, 'c'.repeat(1025)], 'malformed'],
    [[MESSAGE_TAGS.propose, 'a', 'b', 0, [[0, 0, 2, new Uint8Array()]]], 'badField'],
    [[MESSAGE_TAGS.propose, 'a', 'b', 0, [[0, 0, 0, 'text']]], 'badField'],
    [[MESSAGE_TAGS.propose, 'a', 'b', 0, [[0, 0, 0]]], 'badField'],
    [
      [MESSAGE_TAGS.snapshot, 'a', 'b', 1, 1, 1, [[], [], [], [], false], ['x'], new Uint8Array()],
      'badField',
    ],
    [
      [
        MESSAGE_TAGS.snapshot,
        'a',
        'b',
        1,
        1,
        1,
        [[], [], [], [], false],
        ['x', 'h:1', 'x', 'h:2'],
        new Uint8Array(),
      ],
      'badField',
    ],
    [[MESSAGE_TAGS.snapshot, 'a', 'b', 1, 1, 1, [[], [], [], []], [], new Uint8Array()], 'badField'],
    [[MESSAGE_TAGS.snapshot, 'a', 'b', 1, 1, 1, [[], [], [], [], 0], [], new Uint8Array()], 'badField'],
  ];
  for (const [value, reason] of cases) expectDecodeError(encode(value), reason);
});

// ---------------------------------------------------------------------------------------------
// Resource bombs

function heapGrowth(fn: () => void): number {
  const before = process.memoryUsage().heapUsed;
  fn();
  return process.memoryUsage().heapUsed - before;
}

test('huge claimed lengths are refused before anything is sized by them', () => {
  const bombs: [Uint8Array, string][] = [
    [Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), 'badLength'], // array32 of 4G items
    [Uint8Array.of(0xdc, 0xff, 0xff, 0x01), 'badLength'], // array16 of 65535 items, 1 byte given
    [Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61), 'truncated'], // str32 of 4 GiB
    [Uint8Array.of(0xc6, 0xff, 0xff, 0xff, 0xff, 0x00), 'truncated'], // bin32 of 4 GiB
    [Uint8Array.of(0xdf, 0xff, 0xff, 0xff, 0xff), 'unsupportedType'], // map32
    [Uint8Array.of(0xc9, 0xff, 0xff, 0xff, 0xff, 0x01), 'unsupportedType'], // ext32
    // A valid head whose entries array claims 4G entries.
    [
      Uint8Array.from([
        0x95,
        MESSAGE_TAGS.propose,
        0xa1,
        0x61,
        0xa1,
        0x62,
        0x00,
        0xdd,
        0xff,
        0xff,
        0xff,
        0xff,
      ]),
      'badLength',
    ],
    // A long string where an id goes: refused on its claimed length.
    [Uint8Array.from([0x94, MESSAGE_TAGS.timeoutNow, 0xdb, 0x7f, 0xff, 0xff, 0xff]), 'truncated'],
  ];
  for (const [bytes, reason] of bombs) {
    const growth = heapGrowth(() => expectDecodeError(bytes, reason));
    assert.ok(growth < 8 * 1024 * 1024, `decoding a bomb grew the heap by ${growth} bytes`);
  }
});

test('deep nesting is refused without a heap object per byte', () => {
  const depth = 4 * 1024 * 1024;
  const bomb = new Uint8Array(depth).fill(0x91); // [[[[...]]]]
  const growth = heapGrowth(() => expectDecodeError(bomb, 'tooDeep'));
  assert.ok(growth < 16 * 1024 * 1024, `decoding a depth bomb grew the heap by ${growth} bytes`);
  // Just past the deepest valid nesting.
  expectDecodeError(Uint8Array.of(0x91, 0x91, 0x91, 0x91, 0x00), 'tooDeep');
});

test('an entries count above the limit is refused', () => {
  const entries = Array.from({ length: CODEC_LIMITS.maxEntries + 1 }, () => [0, 0, 0, new Uint8Array(0)]);
  const bytes = encode([MESSAGE_TAGS.propose, 'a', 'b', 0, entries]);
  expectDecodeError(bytes);
});

test('non-Uint8Array input is a DecodeError', () => {
  for (const input of [undefined, null, 'x', [1, 2], new ArrayBuffer(4)]) {
    try {
      decodeMessage(input as unknown as Uint8Array);
      assert.unreachable('decoded a non-Uint8Array');
    } catch (error) {
      assert.ok(isDecodeError(error));
    }
  }
});

test.run();
