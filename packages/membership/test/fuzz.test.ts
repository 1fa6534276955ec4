// Every decoder against hostile input: random bytes, truncations, bit flips, splices, lying and
// nested compounds, huge claimed lengths, msgpack of the wrong shape, garbage behind valid crypto.
// A decoder may return or throw the package's DecodeError, nothing else; it must finish fast and
// allocate in proportion to its input (or its configured limit), never to a claimed size.
import { encode as referenceEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type DropReason,
  decodeAckResp,
  decodeAlive,
  decodeCompound,
  decodeCompress,
  decodeDead,
  decodeErrResp,
  decodeIndirectPingReq,
  decodeNackResp,
  decodePacket,
  decodePacketMessage,
  decodePing,
  decodePushNodeState,
  decodePushPullHeader,
  decodeStream,
  decodeSuspect,
  decodeUserMsgHeader,
  decompressMessage,
  decryptPayload,
  encodeCompound,
  encodeCompress,
  encodeStream,
  encryptPayload,
  isDecodeError,
  Keyring,
  lzwCompress,
  lzwDecompress,
  MessageType,
  unwrapCrc,
  wrapCrc,
} from '../src/index.js';
import { fixtures, fromHex } from './support/vectors.js';

const key16 = new Uint8Array(16).fill(1);
const key32 = new Uint8Array(32).fill(2);
const keyring = new Keyring(key16, [key32]);
const LIMIT = 1 << 20;

type Decoder = readonly [string, (bytes: Uint8Array) => unknown];
const decoders: readonly Decoder[] = [
  ['decodePing', decodePing],
  ['decodeIndirectPingReq', decodeIndirectPingReq],
  ['decodeAckResp', decodeAckResp],
  ['decodeNackResp', decodeNackResp],
  ['decodeErrResp', decodeErrResp],
  ['decodeSuspect', decodeSuspect],
  ['decodeAlive', decodeAlive],
  ['decodeDead', decodeDead],
  ['decodePushPullHeader', decodePushPullHeader],
  ['decodePushNodeState', decodePushNodeState],
  ['decodeUserMsgHeader', decodeUserMsgHeader],
  ['decodeCompress', decodeCompress],
  ['decodePacketMessage', decodePacketMessage],
  ['decodeCompound', decodeCompound],
  ['unwrapCrc', unwrapCrc],
  ['lzwDecompress', (b) => lzwDecompress(b, { maxOutputBytes: LIMIT })],
  ['decompressMessage', (b) => decompressMessage(b, { maxOutputBytes: LIMIT })],
  ['decryptPayload', (b) => decryptPayload([key16, key32], b, null)],
  ['decryptPayload+aad', (b) => decryptPayload([key16], b, Uint8Array.of(10, 0, 0, 0, 1))],
  ['decodeStream', (b) => decodeStream(b, { maxStreamBytes: LIMIT })],
  ['decodeStream keyed', (b) => decodeStream(b, { keyring, maxStreamBytes: LIMIT })],
  [
    'decodeStream unverified',
    (b) => decodeStream(b, { keyring, verifyIncoming: false, maxStreamBytes: LIMIT }),
  ],
];

const dropReasons = new Set<DropReason>([
  'empty',
  'decrypt',
  'crc',
  'decode',
  'compound',
  'lzw',
  'unknownType',
  'tooLarge',
  'nested',
]);

/** Runs every decoder on `input`: only DecodeError may escape, quickly. */
function survive(input: Uint8Array): void {
  for (const [name, decode] of decoders) {
    const started = performance.now();
    try {
      decode(input);
    } catch (error) {
      if (!isDecodeError(error)) {
        throw new Error(
          `${name} threw a non-DecodeError on ${Buffer.from(input).toString('hex').slice(0, 200)}`,
          {
            cause: error,
          },
        );
      }
    }
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `${name} took ${ms.toFixed(0)} ms`);
  }
  for (const options of [
    {},
    { keyring },
    { keyring, verifyIncoming: false },
    { maxDecompressedBytes: 5000 },
  ]) {
    const result = decodePacket(input, { maxDecompressedBytes: LIMIT, ...options });
    for (const drop of result.dropped) assert.ok(dropReasons.has(drop.reason), drop.reason);
  }
}

// Valid material to mutate: every vector, plus a few built here.
const seeds: Uint8Array[] = [
  ...fixtures.vectors.map((v) => fromHex(v.hex)),
  ...fixtures.vectors.filter((v) => v.plain_hex !== undefined).map((v) => fromHex(v.plain_hex ?? '')),
  wrapCrc(
    encodeCompound([
      Uint8Array.of(8, 1, 2),
      encodeCompress({ algo: 0, buf: lzwCompress(Uint8Array.of(8, 9)) }),
    ]),
  ),
  encodeStream(Uint8Array.of(13, 0x81, 0xa5, 0x45, 0x72, 0x72, 0x6f, 0x72, 0xa1, 0x78), { keyring }),
];

const hugeClaims: number[][] = [
  [0xdb, 0xff, 0xff, 0xff, 0xff],
  [0xda, 0xff, 0xff],
  [0xc6, 0x7f, 0xff, 0xff, 0xff],
  [0xdd, 0xff, 0xff, 0xff, 0xff],
  [0xdf, 0xff, 0xff, 0xff, 0xff],
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01],
  [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
  [10, 0xff, 0xff, 0xff, 0xff],
  [7, 0xff],
  [7, 0x01, 0xff, 0xff],
];

const mutation = fc.oneof(
  fc.nat().map((at) => (b: Uint8Array) => b.subarray(0, b.length === 0 ? 0 : at % b.length)),
  fc.array(fc.nat(), { minLength: 1, maxLength: 8 }).map((bits) => (b: Uint8Array) => {
    const out = b.slice();
    for (const bit of bits) {
      const i = out.length === 0 ? -1 : (bit >>> 3) % out.length;
      if (i >= 0) out[i] = (out[i] ?? 0) ^ (1 << (bit & 7));
    }
    return out;
  }),
  fc
    .tuple(fc.nat(), fc.nat({ max: 40 }), fc.uint8Array({ maxLength: 40 }))
    .map(([at, drop, insert]) => (b: Uint8Array) => {
      const i = b.length === 0 ? 0 : at % b.length;
      return Uint8Array.of(...b.subarray(0, i), ...insert, ...b.subarray(Math.min(b.length, i + drop)));
    }),
  fc.tuple(fc.nat(), fc.constantFrom(...hugeClaims)).map(([at, claim]) => (b: Uint8Array) => {
    const i = b.length === 0 ? 0 : at % b.length;
    return Uint8Array.of(...b.subarray(0, i), ...claim, ...b.subarray(i));
  }),
);

test('random bytes, and random bodies behind every type byte', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), survive), { numRuns: 400 });
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 15 }), fc.uint8Array({ maxLength: 300 }), (type, body) =>
      survive(Uint8Array.of(type, ...body)),
    ),
    { numRuns: 400 },
  );
});

test('truncations, bit flips, splices and huge claimed lengths in valid messages', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.array(mutation, { minLength: 1, maxLength: 3 }),
      (seed, steps) => {
        let input = seed;
        for (const step of steps) input = step(input);
        survive(input);
      },
    ),
    { numRuns: 1000 },
  );
  for (const seed of seeds)
    for (let cut = 0; cut <= seed.length; cut += Math.max(1, seed.length >> 6))
      survive(seed.subarray(0, cut));
});

const GO_KEYS = [
  'SeqNo',
  'Node',
  'SourceAddr',
  'SourcePort',
  'SourceNode',
  'Target',
  'Port',
  'Nack',
  'Payload',
  'Error',
  'Incarnation',
  'From',
  'Addr',
  'Meta',
  'Vsn',
  'Nodes',
  'UserStateLen',
  'Join',
  'Name',
  'State',
  'UserMsgLen',
  'Algo',
  'Buf',
];
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.constantFrom(0, 1, -1, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 31)),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie('any'), { maxLength: 5 }),
    fc.dictionary(fc.constantFrom(...GO_KEYS), tie('any'), { maxKeys: 5 }),
  ),
})).any;

test('msgpack of the wrong shape: Go keys with values of any type, any nesting, any encoder form', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 13 }),
      fc.oneof(fc.dictionary(fc.constantFrom(...GO_KEYS), value, { maxKeys: 8 }), value),
      (type, body) => {
        const encoded = referenceEncode(body, { ignoreUndefined: true });
        survive(Uint8Array.of(type, ...encoded));
        // The same as the body of a compressed message, of a compound part, and of a stream.
        survive(encodeCompress({ algo: 0, buf: lzwCompress(Uint8Array.of(type, ...encoded)) }));
        survive(encodeCompound([Uint8Array.of(type, ...encoded)]));
      },
    ),
    { numRuns: 500 },
  );
});

const messageOrGarbage = fc.oneof(fc.constantFrom(...seeds), fc.uint8Array({ maxLength: 64 }));
const nested: fc.Arbitrary<Uint8Array> = fc.letrec<{ node: Uint8Array }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    messageOrGarbage,
    fc
      .array(tie('node'), { maxLength: 4 })
      .map((parts) => encodeCompound(parts.filter((p) => p.length <= 0xffff))),
    tie('node').map((inner) => encodeCompress({ algo: 0, buf: lzwCompress(inner) })),
    fc
      .tuple(
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 6 }),
        fc.uint8Array({ maxLength: 100 }),
      )
      .map(([lengths, body]) =>
        Uint8Array.of(7, lengths.length, ...lengths.flatMap((l) => [l >> 8, l & 0xff]), ...body),
      ),
  ),
})).node;

test('lying, truncated and deeply nested compounds and compress layers', () => {
  fc.assert(
    fc.property(nested, fc.boolean(), (packet, crc) => survive(crc ? wrapCrc(packet) : packet)),
    { numRuns: 500 },
  );
  // 2000 nested compounds: bounded by the nesting limit, not by the stack.
  let deep: Uint8Array = Uint8Array.of(8, 1);
  for (let i = 0; i < 2000; i++) deep = encodeCompound([deep]);
  const result = decodePacket(deep);
  assert.equal(
    result.dropped.map((d) => d.reason),
    ['nested'],
  );
  survive(deep);
});

test('garbage behind valid encryption reaches the inner decoders and is still contained', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 400 }),
      fc.constantFrom(0 as const, 1 as const),
      (plain, version) => {
        survive(encryptPayload(version, key16, plain, null));
        const header = Uint8Array.of(10, 0, 0, 0, 0);
        const length = version === 1 ? plain.length + 29 : plain.length + 29 + (16 - (plain.length % 16));
        header[3] = (length >> 8) & 0xff;
        header[4] = length & 0xff;
        const sealed = encryptPayload(version, key32, plain, header);
        survive(Uint8Array.of(...header, ...sealed));
      },
    ),
    { numRuns: 300 },
  );
});

test('huge claims allocate nothing near their size', () => {
  for (const claim of hugeClaims) {
    for (const prefix of [
      [],
      [0],
      [9, 0x82, 0xa4, 0x41, 0x6c, 0x67, 0x6f, 0x00, 0xa3, 0x42, 0x75, 0x66],
      [6],
    ]) {
      const input = Uint8Array.of(...prefix, ...claim, 1, 2, 3);
      const before = process.memoryUsage().arrayBuffers;
      survive(input);
      const grown = process.memoryUsage().arrayBuffers - before;
      assert.ok(
        grown < 64 * 1024 * 1024,
        `${Buffer.from(input).toString('hex')} grew array buffers by ${grown}`,
      );
    }
  }
  // The LZW output limit holds for a real bomb: 12 MiB of zeros is ~10 KiB compressed.
  const bomb = encodeCompress({ algo: 0, buf: lzwCompress(new Uint8Array(12 * 1024 * 1024)) });
  assert.ok(bomb.length < 20_000);
  assert.equal(
    decodePacket(bomb).dropped.map((d) => d.reason),
    ['tooLarge'],
  );
  const result = decodePacket(encodeCompound([bomb, bomb, bomb]), { maxDecompressedBytes: 1024 });
  assert.equal(
    result.dropped.map((d) => d.reason),
    ['tooLarge', 'tooLarge', 'tooLarge'],
  );
  assert.is(MessageType.compress, 9);
});

test.run();
