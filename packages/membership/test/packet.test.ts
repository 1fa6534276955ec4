// The UDP pipeline (decrypt → CRC → compress/compound → messages) and its drop reasons.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Alive,
  compressMessage,
  type DropReason,
  decodePacket,
  encodeAlive,
  encodeCompound,
  encodeCompress,
  encodeErrResp,
  encodePacket,
  encodePacketMessage,
  encodePing,
  encodePushPullHeader,
  encodeUserPacket,
  type InboundMessage,
  Keyring,
  lzwCompress,
  MessageType,
  type Ping,
  wrapCrc,
} from '../src/index.js';

const ping: Ping = {
  seqNo: 42,
  node: 'node1',
  sourceAddr: Uint8Array.of(10, 0, 0, 1),
  sourcePort: 7946,
  sourceNode: 'node0',
};
const alive: Alive = {
  incarnation: 1,
  node: 'node1',
  addr: Uint8Array.of(10, 0, 0, 2),
  port: 7946,
  meta: null,
  vsn: Uint8Array.of(1, 5, 2, 0, 0, 0),
};
const key = new Uint8Array(16).fill(3);
const counterNonce = (): ((size: number) => Uint8Array) => {
  let n = 0;
  return (size) => new Uint8Array(size).fill(++n & 0xff);
};
const reasons = (packet: Uint8Array, options = {}): DropReason[] =>
  decodePacket(packet, options).dropped.map((d) => d.reason);

test('an empty datagram and an empty compound part are dropped as empty', () => {
  assert.equal(reasons(new Uint8Array(0)), ['empty']);
  assert.equal(decodePacket(Uint8Array.of(7, 2, 0, 0, 0, 1, 8)), {
    messages: [{ type: MessageType.user, body: new Uint8Array(0) }],
    dropped: [{ reason: 'empty', detail: 'message has no type byte' }],
  });
});

test('encryption: packets must decrypt when keys are installed, unless incoming checks are off', () => {
  const keyring = new Keyring(key);
  const sealed = encodePacket(encodePing(ping), { keyring });
  assert.equal(decodePacket(sealed, { keyring }).messages, [{ type: MessageType.ping, body: ping }]);
  assert.equal(reasons(sealed, { keyring: new Keyring(new Uint8Array(16).fill(4)) }), ['decrypt']);
  const plain = encodePing(ping);
  assert.equal(reasons(plain, { keyring }), ['decrypt']);
  assert.equal(decodePacket(plain, { keyring, verifyIncoming: false }).messages, [
    { type: MessageType.ping, body: ping },
  ]);
  // With outgoing checks off, a keyed sender sends plaintext.
  assert.equal(encodePacket(plain, { keyring, verifyOutgoing: false, compress: false }), plain);
  // An empty keyring means no encryption at all.
  assert.equal(decodePacket(plain, { keyring: new Keyring() }).messages.length, 1);
});

test('CRC: a mismatch drops the packet; a CRC header below the outermost layer is unsupported', () => {
  const framed = wrapCrc(encodePing(ping));
  assert.equal(decodePacket(framed).messages, [{ type: MessageType.ping, body: ping }]);
  for (let i = 1; i < framed.length; i++) {
    const bad = framed.slice();
    bad[i] = (bad[i] ?? 0) ^ 0x10;
    assert.equal(reasons(bad), ['crc'], `byte ${i}`);
  }
  assert.equal(reasons(encodeCompound([framed])), ['unknownType']);
  // Shorter than a CRC header: not a CRC packet, and 12 is not a message type.
  assert.equal(reasons(Uint8Array.of(12, 0, 0, 0)), ['unknownType']);
});

test('compound: good parts are delivered, truncated ones counted, bad ones dropped by reason', () => {
  const good = encodePing(ping);
  const packet = encodeCompound([good, Uint8Array.of(0, 0xc1), Uint8Array.of(99), encodeAlive(alive)]);
  // Cut the last part short.
  const result = decodePacket(packet.subarray(0, packet.length - 3));
  assert.equal(result.messages, [{ type: MessageType.ping, body: ping }]);
  assert.equal(
    result.dropped.map((d) => d.reason),
    ['decode', 'unknownType', 'compound'],
  );
  assert.equal(reasons(Uint8Array.of(7, 3, 0)), ['compound']);
});

test('types memberlist does not handle in packets are unknownType', () => {
  const cases = [
    encodePushPullHeader({ nodes: 0, userStateLen: 0, join: false }),
    encodeErrResp({ error: 'x' }),
    Uint8Array.of(10, 0, 0, 0, 0),
    Uint8Array.of(14),
    Uint8Array.of(255, 1, 2),
  ];
  for (const packet of cases) assert.equal(reasons(packet), ['unknownType']);
});

test('compress: unknown algorithm and malformed LZW are lzw drops', () => {
  assert.equal(reasons(encodeCompress({ algo: 1, buf: lzwCompress(encodePing(ping)) })), ['lzw']);
  assert.equal(reasons(encodeCompress({ algo: 0, buf: Uint8Array.of(0xff, 0xff) })), ['lzw']);
  assert.equal(reasons(encodeCompress({ algo: 0, buf: null })), ['lzw']);
  assert.equal(reasons(Uint8Array.of(9, 0x92)), ['decode']);
});

test('decompression has one budget for the whole packet', () => {
  const big = encodeUserPacket(new Uint8Array(600));
  const one = compressMessage(big);
  assert.equal(reasons(one, { maxDecompressedBytes: 600 }), ['tooLarge']);
  assert.equal(reasons(one, { maxDecompressedBytes: 601 }), []);
  const two = encodeCompound([one, one]);
  assert.equal(reasons(two, { maxDecompressedBytes: 1000 }), ['tooLarge']);
  assert.is(decodePacket(two, { maxDecompressedBytes: 1202 }).messages.length, 2);
});

test('nesting beyond the limit is dropped as nested; Go-shaped packets are well within it', () => {
  let message = encodePing(ping);
  const layers: number[] = [];
  for (let depth = 0; depth < 6; depth++) {
    message = depth % 2 === 0 ? encodeCompound([message]) : compressMessage(message);
    layers.push(depth + 1);
    const result = decodePacket(message);
    if (depth + 1 <= 4)
      assert.equal(result.messages, [{ type: MessageType.ping, body: ping }], `depth ${depth + 1}`);
    else
      assert.equal(
        result.dropped.map((d) => d.reason),
        ['nested'],
        `depth ${depth + 1}`,
      );
  }
  assert.is(decodePacket(message, { maxNesting: 6 }).messages.length, 1);
});

test('outbound: compression only when strictly shorter, CRC over the compressed bytes, then encryption', () => {
  const small = encodePing(ping);
  assert.equal(encodePacket(small), small);
  const user = encodeUserPacket(new Uint8Array(300).fill(7));
  const compressed = encodePacket(user);
  assert.is(compressed[0], MessageType.compress);
  assert.ok(compressed.length < user.length);
  assert.equal(encodePacket(user, { compress: false }), user);
  const crc = encodePacket(user, { crc: true });
  assert.equal(crc, wrapCrc(compressed));
  const keyring = new Keyring(key);
  const sealed = encodePacket(user, { crc: true, keyring, nonce: counterNonce() });
  assert.is(sealed.length, crc.length + 29);
  assert.equal(encodePacket(user, { crc: true, keyring, nonce: counterNonce() }), sealed);
  const v0 = encodePacket(user, { keyring, encryptionVersion: 0 });
  assert.is(v0[0], 0);
  assert.equal(decodePacket(v0, { keyring }).messages, [
    { type: MessageType.user, body: new Uint8Array(300).fill(7) },
  ]);
});

const messageArb: fc.Arbitrary<InboundMessage> = fc.oneof(
  fc.record({ seqNo: fc.nat({ max: 0xffffffff }), node: fc.string({ maxLength: 20 }) }).map(
    ({ seqNo, node }): InboundMessage => ({
      type: MessageType.ping,
      body: { seqNo, node, sourceAddr: Uint8Array.of(1, 2, 3, 4), sourcePort: 1, sourceNode: 'me' },
    }),
  ),
  fc
    .nat({ max: 0xffffffff })
    .map((seqNo): InboundMessage => ({ type: MessageType.nackResp, body: { seqNo } })),
  fc
    .record({
      incarnation: fc.nat({ max: 0xffffffff }),
      node: fc.string({ maxLength: 20 }),
      from: fc.string(),
    })
    .map((body): InboundMessage => ({ type: MessageType.suspect, body: { ...body } })),
  fc
    .record({
      incarnation: fc.nat({ max: 0xffffffff }),
      node: fc.string({ maxLength: 20 }),
      from: fc.string(),
    })
    .map((body): InboundMessage => ({ type: MessageType.dead, body: { ...body } })),
  fc.uint8Array({ maxLength: 200 }).map((body): InboundMessage => ({ type: MessageType.user, body })),
  fc
    .record({
      seqNo: fc.nat({ max: 0xffffffff }),
      payload: fc.option(fc.uint8Array({ maxLength: 30 }), { nil: null }),
    })
    .map((body): InboundMessage => ({ type: MessageType.ackResp, body: { ...body } })),
);

test('any messages survive compound + compress + CRC + encryption in any combination', () => {
  const keyring = new Keyring(key, [new Uint8Array(32).fill(1)]);
  fc.assert(
    fc.property(
      fc.array(messageArb, { minLength: 1, maxLength: 20 }),
      fc.boolean(),
      fc.boolean(),
      fc.option(fc.constantFrom(0 as const, 1 as const), { nil: null }),
      (messages, compress, crc, version) => {
        const parts = messages.map((m) => encodePacketMessage(m));
        const payload = parts.length === 1 ? (parts[0] ?? new Uint8Array()) : encodeCompound(parts);
        const options =
          version === null ? { compress, crc } : { compress, crc, keyring, encryptionVersion: version };
        const packet = encodePacket(payload, options);
        const decoded = decodePacket(packet, version === null ? {} : { keyring });
        assert.equal(decoded.dropped, []);
        assert.equal(decoded.messages, messages);
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
