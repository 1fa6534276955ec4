// Every byte vector that memberlist 0.2.2's own encoders produced (fixtures/memberlist-vectors.json):
// our encoders must write exactly those bytes and our decoders must read them back to the same value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type AckResp,
  type Alive,
  compressMessage,
  type Dead,
  decodeAckResp,
  decodeAlive,
  decodeCompound,
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
  type ErrResp,
  encodeAckResp,
  encodeAlive,
  encodeCompound,
  encodeDead,
  encodeErrResp,
  encodeIndirectPingReq,
  encodeNackResp,
  encodePacket,
  encodePing,
  encodePushNodeState,
  encodePushPull,
  encodePushPullHeader,
  encodeStream,
  encodeSuspect,
  encodeUserMsgHeader,
  encodeUserStream,
  type IndirectPingReq,
  Keyring,
  lzwCompress,
  lzwDecompress,
  MessageType,
  type NackResp,
  type PacketMessage,
  type Ping,
  type PushNodeState,
  type PushPullHeader,
  packCompounds,
  type StreamMessage,
  type Suspect,
  type UserMsgHeader,
  unwrapCrc,
} from '../src/index.js';
import { ascii, fixedNonce, fixtures, fromB64, fromHex, lcgInput, toHex, vector } from './support/vectors.js';

const covered = new Set<string>();
const bytesOf = (name: string): Uint8Array => {
  covered.add(name);
  return fromHex(vector(name).hex);
};
const input = (name: string): Record<string, unknown> => vector(name).input as Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const str = (v: unknown): string => String(v ?? '');

const toPing = (i: Record<string, unknown>): Ping => ({
  seqNo: num(i.SeqNo),
  node: str(i.Node),
  sourceAddr: fromB64(i.SourceAddr),
  sourcePort: num(i.SourcePort),
  sourceNode: str(i.SourceNode),
});
const toAlive = (i: Record<string, unknown>): Alive => ({
  incarnation: num(i.Incarnation),
  node: str(i.Node),
  addr: fromB64(i.Addr),
  port: num(i.Port),
  meta: fromB64(i.Meta),
  vsn: fromB64(i.Vsn),
});
const toSuspectOrDead = (i: Record<string, unknown>): Suspect & Dead => ({
  incarnation: num(i.Incarnation),
  node: str(i.Node),
  from: str(i.From),
});

/** A struct vector: encoding gives the bytes, decoding gives the struct back. */
function structCase<T>(
  name: string,
  toStruct: (i: Record<string, unknown>) => T,
  encode: (value: T) => Uint8Array,
  decode: (bytes: Uint8Array) => T,
): void {
  test(`vector ${name}: encodes byte for byte and decodes back`, () => {
    const bytes = bytesOf(name);
    const value = toStruct(input(name));
    assert.is(toHex(encode(value)), vector(name).hex);
    assert.equal(decode(bytes), value);
  });
}

structCase('ping', toPing, encodePing, decodePing);
structCase('ping-omitempty', toPing, encodePing, decodePing);
structCase('ping-seq-uint32', toPing, encodePing, decodePing);
structCase(
  'indirect-ping',
  (i): IndirectPingReq => ({
    seqNo: num(i.SeqNo),
    target: fromB64(i.Target),
    port: num(i.Port),
    node: str(i.Node),
    nack: i.Nack === true,
    sourceAddr: fromB64(i.SourceAddr),
    sourcePort: num(i.SourcePort),
    sourceNode: str(i.SourceNode),
  }),
  encodeIndirectPingReq,
  decodeIndirectPingReq,
);
const toAck = (i: Record<string, unknown>): AckResp => ({ seqNo: num(i.SeqNo), payload: fromB64(i.Payload) });
structCase('ack-nil-payload', toAck, encodeAckResp, decodeAckResp);
structCase('ack-payload', toAck, encodeAckResp, decodeAckResp);
structCase('ack-empty-payload', toAck, encodeAckResp, decodeAckResp);
structCase('nack', (i): NackResp => ({ seqNo: num(i.SeqNo) }), encodeNackResp, decodeNackResp);
structCase('err', (i): ErrResp => ({ error: str(i.Error) }), encodeErrResp, decodeErrResp);
structCase('suspect', toSuspectOrDead, encodeSuspect, decodeSuspect);
structCase('alive', toAlive, encodeAlive, decodeAlive);
structCase('alive-meta-serf-vsn', toAlive, encodeAlive, decodeAlive);
structCase('alive-long-name', toAlive, encodeAlive, decodeAlive);
structCase('dead-leave', toSuspectOrDead, encodeDead, decodeDead);
structCase('dead', toSuspectOrDead, encodeDead, decodeDead);
structCase(
  'pushpull-header',
  (i): PushPullHeader => ({ nodes: num(i.Nodes), userStateLen: num(i.UserStateLen), join: i.Join === true }),
  encodePushPullHeader,
  decodePushPullHeader,
);
structCase(
  'push-node-state',
  (i): PushNodeState => ({
    name: str(i.Name),
    addr: fromB64(i.Addr),
    port: num(i.Port),
    meta: fromB64(i.Meta),
    incarnation: num(i.Incarnation),
    state: num(i.State),
    vsn: fromB64(i.Vsn),
  }),
  // On the wire these maps follow the push/pull header with no type byte; the vector adds a 6.
  (state) => Uint8Array.of(MessageType.pushPull, ...encodePushNodeState(state)),
  (bytes) => decodePushNodeState(bytes.subarray(1)),
);
structCase(
  'user-msg-header',
  (i): UserMsgHeader => ({ userMsgLen: num(i.UserMsgLen) }),
  encodeUserMsgHeader,
  decodeUserMsgHeader,
);

const ping = (): Ping => toPing(input('ping'));
const alive = (): Alive => toAlive(input('alive'));
const suspect = (): Suspect => toSuspectOrDead(input('suspect'));

test('the packet-level decoder agrees with the per-type decoders on every message vector', () => {
  const cases: [string, PacketMessage][] = [
    ['ping', { type: MessageType.ping, body: ping() }],
    ['alive', { type: MessageType.alive, body: alive() }],
    ['suspect', { type: MessageType.suspect, body: suspect() }],
    ['nack', { type: MessageType.nackResp, body: { seqNo: 7 } }],
    ['ack-nil-payload', { type: MessageType.ackResp, body: { seqNo: 1, payload: null } }],
    ['dead-leave', { type: MessageType.dead, body: toSuspectOrDead(input('dead-leave')) }],
  ];
  for (const [name, expected] of cases) assert.equal(decodePacketMessage(bytesOf(name)), expected, name);
});

test('vector compound: two parts (ping, alive), none truncated; encoding gives the same bytes', () => {
  const bytes = bytesOf('compound');
  const { parts, truncated } = decodeCompound(bytes);
  assert.is(truncated, 0);
  assert.is(parts.length, 2);
  assert.is(toHex(parts[0] ?? new Uint8Array()), vector('ping').hex);
  assert.is(toHex(parts[1] ?? new Uint8Array()), vector('alive').hex);
  assert.is(toHex(encodeCompound([encodePing(ping()), encodeAlive(alive())])), vector('compound').hex);
  const decoded = decodePacket(bytes);
  assert.equal(decoded.dropped, []);
  assert.equal(decoded.messages, [
    { type: MessageType.ping, body: ping() },
    { type: MessageType.alive, body: alive() },
  ]);
});

test('vector compress-tobe: Go LZW of TOBEORNOTTOBEORTOBEORNOT#', () => {
  const bytes = bytesOf('compress-tobe');
  const text = ascii(String(vector('compress-tobe').input));
  assert.is(toHex(compressMessage(text)), vector('compress-tobe').hex);
  assert.equal(decompressMessage(bytes), text);
  // The LZW stream itself starts with the clear code, then 'T' (0x54 << 1 | 1 = 0xa9).
  assert.is(toHex(lzwCompress(text).subarray(0, 2)), '00a9');
});

test('vector compress-alive: compressing the alive vector is longer, so a packet keeps it plain', () => {
  const bytes = bytesOf('compress-alive');
  const plain = encodeAlive(alive());
  assert.is(toHex(compressMessage(plain)), vector('compress-alive').hex);
  assert.equal(decompressMessage(bytes), plain);
  assert.is(plain.length, 61);
  assert.is(bytes.length, 84);
  assert.is(toHex(encodePacket(plain)), vector('alive').hex);
});

test('vector compress-lcg-9000: long LZW stream with a mid-stream clear code', () => {
  const bytes = bytesOf('compress-lcg-9000');
  const data = lcgInput(9000);
  const first16 = (vector('compress-lcg-9000').input as { first16_hex: string }).first16_hex;
  assert.is(toHex(data.subarray(0, 16)), first16);
  assert.is(bytes.length, 12234);
  assert.is(toHex(compressMessage(data)), vector('compress-lcg-9000').hex);
  assert.equal(decompressMessage(bytes), data);
  assert.equal(lzwDecompress(lzwCompress(data)), data);
});

test('vector udp-plain: compression off (or not shorter), no CRC: the ping unchanged', () => {
  const bytes = bytesOf('udp-plain');
  assert.is(toHex(encodePacket(encodePing(ping()), { compress: false })), vector('udp-plain').hex);
  assert.is(toHex(encodePacket(encodePing(ping()))), vector('udp-plain').hex);
  assert.equal(decodePacket(bytes), { messages: [{ type: MessageType.ping, body: ping() }], dropped: [] });
});

test('vector udp-crc: [12][crc32 BE][ping]', () => {
  const bytes = bytesOf('udp-crc');
  assert.is(toHex(encodePacket(encodePing(ping()), { crc: true })), vector('udp-crc').hex);
  assert.is(toHex(unwrapCrc(bytes)), vector('ping').hex);
  assert.equal(decodePacket(bytes), { messages: [{ type: MessageType.ping, body: ping() }], dropped: [] });
});

const userPayload = ascii('abcabcabc '.repeat(20));
const userMessage = Uint8Array.of(MessageType.user, ...userPayload);

test('vector udp-compressed-user: compression kept because shorter', () => {
  const bytes = bytesOf('udp-compressed-user');
  assert.is(userPayload.length, 200);
  assert.is(toHex(encodePacket(userMessage)), vector('udp-compressed-user').hex);
  assert.equal(decodePacket(bytes), {
    messages: [{ type: MessageType.user, body: userPayload }],
    dropped: [],
  });
});

test('vector udp-compressed-crc: compression first, then the CRC over the compressed message', () => {
  const bytes = bytesOf('udp-compressed-crc');
  assert.is(toHex(encodePacket(userMessage, { crc: true })), vector('udp-compressed-crc').hex);
  assert.equal(decodePacket(bytes), {
    messages: [{ type: MessageType.user, body: userPayload }],
    dropped: [],
  });
});

function encryptedCase(name: string, options: { crc: boolean; version: 0 | 1 }): void {
  test(`vector ${name}: decrypts with the vector's key, re-encrypts byte for byte with its nonce`, () => {
    const bytes = bytesOf(name);
    const v = vector(name);
    const key = fromB64(v.key_b64) ?? new Uint8Array();
    const keyring = new Keyring(key);
    assert.is(toHex(decryptPayload([key], bytes, null)), v.plain_hex);
    const nonce = fixedNonce(bytes.subarray(1, 13));
    const packet = encodePacket(encodePing(ping()), {
      crc: options.crc,
      keyring,
      encryptionVersion: options.version,
      nonce,
    });
    assert.is(toHex(packet), v.hex);
    assert.equal(decodePacket(bytes, { keyring }), {
      messages: [{ type: MessageType.ping, body: ping() }],
      dropped: [],
    });
    // Another key first in the ring: decryption still finds the right one.
    const rotated = new Keyring(new Uint8Array(16).fill(9), [key]);
    assert.is(decodePacket(bytes, { keyring: rotated }).messages.length, 1);
  });
}
encryptedCase('udp-encrypted-v1-crc', { crc: true, version: 1 });
encryptedCase('udp-encrypted-v1-aes256', { crc: false, version: 1 });
encryptedCase('udp-encrypted-v0', { crc: false, version: 0 });

test('vector udp-piggyback: a ping with two queued broadcasts in one compound', () => {
  const bytes = bytesOf('udp-piggyback');
  const parts = [encodePing(ping()), encodeAlive(alive()), encodeSuspect(suspect())];
  assert.is(toHex(encodeCompound(parts)), vector('udp-piggyback').hex);
  assert.equal(packCompounds(parts, 1400).map(toHex), [vector('udp-piggyback').hex]);
  assert.equal(decodePacket(bytes).messages, [
    { type: MessageType.ping, body: ping() },
    { type: MessageType.alive, body: alive() },
    { type: MessageType.suspect, body: suspect() },
  ]);
});

const node0: PushNodeState = {
  name: 'node0',
  addr: Uint8Array.of(127, 0, 0, 1),
  port: 7946,
  meta: null,
  incarnation: 1,
  state: 0,
  vsn: Uint8Array.of(1, 5, 2, 0, 0, 0),
};
const node1: PushNodeState = {
  name: 'node1',
  addr: Uint8Array.of(127, 0, 0, 1),
  port: 7947,
  meta: ascii('m1'),
  incarnation: 3,
  state: 0,
  vsn: Uint8Array.of(1, 5, 2, 0, 0, 0),
};
const pushPull = (join: boolean): StreamMessage => ({
  type: MessageType.pushPull,
  body: { join, nodes: [node0, node1], userState: ascii('hello') },
});

test('vector tcp-pushpull-plain: [6] header, two node states, "hello"', () => {
  const bytes = bytesOf('tcp-pushpull-plain');
  assert.equal(decodeStream(bytes), { complete: true, message: pushPull(true), consumed: bytes.length });
  const plain = encodePushPull({ join: true, nodes: [node0, node1], userState: ascii('hello') });
  assert.is(toHex(encodeStream(plain, { compress: false })), vector('tcp-pushpull-plain').hex);
});

test('vector tcp-pushpull-compressed: the whole stream wrapped in [9], whatever its size', () => {
  const bytes = bytesOf('tcp-pushpull-compressed');
  assert.equal(decodeStream(bytes), { complete: true, message: pushPull(false), consumed: bytes.length });
  const plain = encodePushPull({ join: false, nodes: [node0, node1], userState: ascii('hello') });
  assert.is(toHex(encodeStream(plain)), vector('tcp-pushpull-compressed').hex);
});

test('vector tcp-pushpull-compressed-encrypted: [10][len] authenticated as AAD', () => {
  const bytes = bytesOf('tcp-pushpull-compressed-encrypted');
  const v = vector('tcp-pushpull-compressed-encrypted');
  const keyring = new Keyring(fromB64(v.key_b64));
  assert.equal(decodeStream(bytes, { keyring }), {
    complete: true,
    message: pushPull(true),
    consumed: bytes.length,
  });
  const plain = encodePushPull({ join: true, nodes: [node0, node1], userState: ascii('hello') });
  const framed = encodeStream(plain, { keyring, nonce: fixedNonce(bytes.subarray(6, 18)) });
  assert.is(toHex(framed), v.hex);
});

test('vector tcp-user-msg: [8]{UserMsgLen} and the payload', () => {
  const bytes = bytesOf('tcp-user-msg');
  assert.equal(decodeStream(bytes), {
    complete: true,
    message: { type: MessageType.user, body: ascii('hi there') },
    consumed: bytes.length,
  });
  assert.is(
    toHex(encodeStream(encodeUserStream(ascii('hi there')), { compress: false })),
    vector('tcp-user-msg').hex,
  );
});

test('every vector in the fixture file is covered above', () => {
  const all = fixtures.vectors.map((v) => v.name);
  assert.equal(
    all.filter((name) => !covered.has(name)),
    [],
  );
  assert.is(all.length, 34);
});

test.run();
