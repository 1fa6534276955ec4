// TCP stream framing: incomplete input, bounded sizes, encryption rules, and round trips.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeStream,
  encodeStream,
  encodeStreamMessage,
  Keyring,
  MessageType,
  type PushNodeState,
  type StreamMessage,
} from '../src/index.js';
import { MsgpackWriter } from '../src/wire/msgpack.js';
import { throwsDecode } from './support/assertions.js';
import { fromB64, fromHex, vector } from './support/vectors.js';

const key = new Uint8Array(16).fill(3);
const node = (name: string): PushNodeState => ({
  name,
  addr: Uint8Array.of(10, 0, 0, 1),
  port: 7946,
  meta: null,
  incarnation: 1,
  state: 0,
  vsn: Uint8Array.of(1, 5, 2, 0, 0, 0),
});

test('every proper prefix of a stream is incomplete; the whole is complete; trailing bytes are left', () => {
  const keyed = { keyring: new Keyring(fromB64(vector('tcp-pushpull-compressed-encrypted').key_b64)) };
  const cases: [string, object][] = [
    ['tcp-pushpull-plain', {}],
    ['tcp-pushpull-compressed', {}],
    ['tcp-pushpull-compressed-encrypted', keyed],
    ['tcp-user-msg', {}],
  ];
  for (const [name, options] of cases) {
    const bytes = fromHex(vector(name).hex);
    for (let cut = 0; cut < bytes.length; cut++) {
      assert.equal(
        decodeStream(bytes.subarray(0, cut), options),
        { complete: false },
        `${name} cut at ${cut}`,
      );
    }
    const withTail = Uint8Array.of(...bytes, 1, 2, 3);
    const result = decodeStream(withTail, options);
    assert.ok(result.complete);
    if (result.complete) assert.is(result.consumed, bytes.length);
  }
});

test('a claimed huge size is refused before waiting for it', () => {
  const keyring = new Keyring(key);
  throwsDecode(() => decodeStream(Uint8Array.of(10, 0xff, 0xff, 0xff, 0xff), { keyring }), 'tooLarge');
  throwsDecode(
    () => decodeStream(Uint8Array.of(10, 0, 0, 0x10, 1), { keyring, maxStreamBytes: 4096 }),
    'tooLarge',
  );
  // A compress message whose Buf claims 4 GiB.
  throwsDecode(
    () =>
      decodeStream(
        Uint8Array.of(
          9,
          0x82,
          0xa4,
          0x41,
          0x6c,
          0x67,
          0x6f,
          0x00,
          0xa3,
          0x42,
          0x75,
          0x66,
          0xdb,
          0xff,
          0xff,
          0xff,
          0xff,
        ),
      ),
    'tooLarge',
  );
  const header = (nodes: number, userStateLen: number): Uint8Array => {
    const w = new MsgpackWriter();
    w.byte(6);
    w.mapHeader(3);
    w.string('Join');
    w.bool(false);
    w.string('Nodes');
    w.int(nodes);
    w.string('UserStateLen');
    w.int(userStateLen);
    return w.finish();
  };
  throwsDecode(() => decodeStream(header(0, 2 ** 40)), 'tooLarge');
  throwsDecode(() => decodeStream(header(2 ** 40, 0)), 'tooLarge');
  throwsDecode(() => decodeStream(header(-1, 0)), 'range');
  throwsDecode(() => decodeStream(header(0, -5)), 'range');
  // Honest claims that are not there yet are simply incomplete...
  assert.equal(decodeStream(header(3, 100)), { complete: false });
  // ...until the buffered bytes reach the limit without a complete message.
  throwsDecode(
    () => decodeStream(Uint8Array.of(...header(0, 150), ...new Uint8Array(140)), { maxStreamBytes: 160 }),
    'tooLarge',
  );
  // A user message header claiming more than the limit.
  const user = new MsgpackWriter();
  user.byte(8);
  user.mapHeader(1);
  user.string('UserMsgLen');
  user.int(2 ** 31);
  throwsDecode(() => decodeStream(user.finish()), 'tooLarge');
});

test('encryption rules: encrypted without keys, or plaintext when keys are required, is refused', () => {
  const keyring = new Keyring(key);
  const plain = encodeStreamMessage({ type: MessageType.err, body: { error: 'boom' } });
  const sealed = encodeStream(plain, { keyring });
  throwsDecode(() => decodeStream(sealed), 'encryption');
  throwsDecode(() => decodeStream(sealed, { keyring: new Keyring() }), 'encryption');
  throwsDecode(() => decodeStream(plain, { keyring }), 'encryption');
  assert.ok(decodeStream(plain, { keyring, verifyIncoming: false }).complete);
  throwsDecode(() => decodeStream(sealed, { keyring: new Keyring(new Uint8Array(16).fill(9)) }), 'decrypt');
  // The 5-byte header is authenticated: changing the length is detected even if padded to match.
  const grown = Uint8Array.of(...sealed, 0);
  grown[4] = (grown[4] ?? 0) + 1;
  throwsDecode(() => decodeStream(grown, { keyring }), 'decrypt');
});

test('content errors inside a complete frame are errors, not incomplete', () => {
  const keyring = new Keyring(key);
  // An encrypted frame whose plaintext is a push/pull header announcing a node that is not there.
  const w = new MsgpackWriter();
  w.byte(6);
  w.mapHeader(1);
  w.string('Nodes');
  w.int(1);
  throwsDecode(
    () => decodeStream(encodeStream(w.finish(), { keyring, compress: false }), { keyring }),
    'truncated',
  );
  throwsDecode(() => decodeStream(encodeStream(w.finish())), 'truncated');
  throwsDecode(
    () => decodeStream(encodeStream(new Uint8Array(0), { keyring, compress: false }), { keyring }),
    'empty',
  );
  throwsDecode(() => decodeStream(Uint8Array.of(7, 0)), 'unknownType');
  throwsDecode(() => decodeStream(encodeStream(Uint8Array.of(9, 0x80))), 'unknownType');
  throwsDecode(
    () =>
      decodeStream(Uint8Array.of(9, 0x82, 0xa4, 0x41, 0x6c, 0x67, 0x6f, 0x01, 0xa3, 0x42, 0x75, 0x66, 0xa0)),
    'lzw',
  );
});

const streamMessageArb: fc.Arbitrary<StreamMessage> = fc.oneof(
  fc
    .record({
      join: fc.boolean(),
      names: fc.array(fc.string({ maxLength: 12 }), { maxLength: 10 }),
      userState: fc.uint8Array({ maxLength: 100 }),
    })
    .map(
      ({ join, names, userState }): StreamMessage => ({
        type: MessageType.pushPull,
        body: { join, nodes: names.map(node), userState },
      }),
    ),
  fc.uint8Array({ maxLength: 100 }).map((body): StreamMessage => ({ type: MessageType.user, body })),
  fc.string().map((error): StreamMessage => ({ type: MessageType.err, body: { error } })),
  fc
    .nat({ max: 0xffffffff })
    .map((seqNo): StreamMessage => ({ type: MessageType.ackResp, body: { seqNo, payload: null } })),
  fc.nat({ max: 0xffffffff }).map(
    (seqNo): StreamMessage => ({
      type: MessageType.ping,
      body: { seqNo, node: 'n', sourceAddr: null, sourcePort: 0, sourceNode: '' },
    }),
  ),
);

test('every stream message round-trips with and without compression and encryption', () => {
  const keyring = new Keyring(key);
  fc.assert(
    fc.property(
      streamMessageArb,
      fc.boolean(),
      fc.option(fc.constantFrom(0 as const, 1 as const), { nil: null }),
      (message, compress, version) => {
        const options = version === null ? { compress } : { compress, keyring, encryptionVersion: version };
        const bytes = encodeStream(encodeStreamMessage(message), options);
        const result = decodeStream(bytes, version === null ? {} : { keyring });
        assert.equal(result, { complete: true, message, consumed: bytes.length });
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
