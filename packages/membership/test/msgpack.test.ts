// go-msgpack conventions: what we write (checked against an independent msgpack decoder) and how
// leniently we read (checked against what another encoder, and Go, may send).
import { decode as referenceDecode, encode as referenceEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Alive,
  decodeAlive,
  decodeIndirectPingReq,
  decodePing,
  decodePushPullHeader,
  EncodeError,
  encodeAlive,
  encodeIndirectPingReq,
  encodePing,
  encodePushPullHeader,
  type IndirectPingReq,
  MessageType,
  type Ping,
} from '../src/index.js';
import { MsgpackReader, MsgpackWriter } from '../src/wire/msgpack.js';
import { throwsDecode } from './support/assertions.js';
import { toHex } from './support/vectors.js';

const withType = (type: number, body: Uint8Array): Uint8Array => Uint8Array.of(type, ...body);

const alive: Alive = {
  incarnation: 9,
  node: 'a-node-with-a-name-longer-than-32-bytes',
  addr: Uint8Array.of(10, 0, 0, 1),
  port: 7946,
  meta: new Uint8Array(40).fill(0xab),
  vsn: Uint8Array.of(1, 5, 2, 0, 0, 0),
};

test('integers take the smallest form for their value', () => {
  const cases: [number, string][] = [
    [0, '00'],
    [127, '7f'],
    [128, 'cc80'],
    [255, 'ccff'],
    [256, 'cd0100'],
    [65535, 'cdffff'],
    [65536, 'ce00010000'],
    [0xffffffff, 'ceffffffff'],
    [0x100000000, 'cf0000000100000000'],
    [-1, 'ff'],
    [-32, 'e0'],
    [-33, 'd0df'],
    [-129, 'd1ff7f'],
    [-32769, 'd2ffff7fff'],
    [-0x80000001, 'd3ffffffff7fffffff'],
  ];
  for (const [value, hex] of cases) {
    const w = new MsgpackWriter();
    w.int(value);
    assert.is(toHex(w.finish()), hex, String(value));
    assert.is(new MsgpackReader(w.finish()).int('x'), value);
  }
});

test('strings and bytes are raw strings: fixstr, then str16, then str32; never str8 or bin', () => {
  const lengths: [number, string][] = [
    [0, 'a0'],
    [31, 'bf'],
    [32, 'da0020'],
    [255, 'da00ff'],
    [65535, 'daffff'],
    [65536, 'db00010000'],
  ];
  for (const [length, header] of lengths) {
    const w = new MsgpackWriter();
    w.rawString(new Uint8Array(length));
    assert.is(toHex(w.finish().subarray(0, header.length / 2)), header);
  }
  const w = new MsgpackWriter();
  w.bytesOrNil(null);
  assert.is(toHex(w.finish()), 'c0');
});

test('encoded structs read back identically with an independent msgpack decoder, keys sorted', () => {
  const body = encodeAlive(alive).subarray(1);
  const decoded = referenceDecode(body) as Record<string, unknown>;
  assert.equal(Object.keys(decoded), ['Addr', 'Incarnation', 'Meta', 'Node', 'Port', 'Vsn']);
  assert.is(decoded.Node, alive.node);
  assert.is(decoded.Incarnation, 9);
  assert.is(decoded.Port, 7946);
  // Byte fields are raw strings, so a generic decoder sees strings; raw bytes must match.
  const raw = referenceDecode(body, { rawStrings: true }) as Record<string, unknown>;
  assert.equal(raw.Meta, alive.meta);
  assert.equal(raw.Vsn, alive.vsn);
});

test('omitempty applies only to the Source fields, and only when they are empty', () => {
  const ping: Ping = { seqNo: 0, node: '', sourceAddr: new Uint8Array(0), sourcePort: 0, sourceNode: '' };
  assert.equal(Object.keys(referenceDecode(encodePing(ping).subarray(1)) as object), ['Node', 'SeqNo']);
  const full: Ping = { ...ping, sourceAddr: Uint8Array.of(1, 2, 3, 4), sourcePort: 1, sourceNode: 'x' };
  assert.equal(Object.keys(referenceDecode(encodePing(full).subarray(1)) as object), [
    'Node',
    'SeqNo',
    'SourceAddr',
    'SourceNode',
    'SourcePort',
  ]);
});

test('decoding accepts another encoder: str8, bin, any key order, unknown keys, nested values', () => {
  const body = referenceEncode(
    {
      Vsn: alive.vsn,
      Unknown: { deep: [1, 2, { x: new Uint8Array(3) }], f: 1.5, big: 2n ** 63n },
      Port: alive.port,
      Node: alive.node, // 39 bytes: str8 from this encoder
      Meta: alive.meta, // bin8
      Incarnation: alive.incarnation,
      Addr: alive.addr,
    },
    { useBigInt64: true },
  );
  assert.equal(decodeAlive(withType(MessageType.alive, body)), alive);
});

test('decoding accepts any integer width, booleans as 0/1, byte slices as arrays, structs as arrays', () => {
  // Port 7946 as uint64, SeqNo 7 as int16, Nack as fixint 1, Target as an array of small ints.
  const map = [
    0x84,
    ...[0xa4, ...Buffer.from('Port')],
    ...[0xcf, 0, 0, 0, 0, 0, 0, 0x1f, 0x0a],
    ...[0xa5, ...Buffer.from('SeqNo')],
    ...[0xd1, 0, 7],
    ...[0xa4, ...Buffer.from('Nack')],
    0x01,
    ...[0xa6, ...Buffer.from('Target')],
    ...[0x94, 127, 0, 0, 0xcc, 1],
  ];
  const req = decodeIndirectPingReq(Uint8Array.of(MessageType.indirectPing, ...map));
  assert.equal(req, {
    seqNo: 7,
    target: Uint8Array.of(127, 0, 0, 1),
    port: 7946,
    node: '',
    nack: true,
    sourceAddr: null,
    sourcePort: 0,
    sourceNode: '',
  });
  // A struct as an array, in Go declaration order: SeqNo, Node, SourceAddr, SourcePort, SourceNode.
  const array = Uint8Array.of(MessageType.ping, 0x95, 0x05, 0xa1, 0x6e, 0xc0, 0x00, 0xa0);
  assert.equal(decodePing(array), { seqNo: 5, node: 'n', sourceAddr: null, sourcePort: 0, sourceNode: '' });
  // Nil for the whole struct and for each field gives zero values.
  assert.equal(decodePushPullHeader(Uint8Array.of(MessageType.pushPull, 0xc0)), {
    nodes: 0,
    userStateLen: 0,
    join: false,
  });
});

test('decoding refuses what go-msgpack refuses', () => {
  const ping = (body: number[]): Uint8Array => Uint8Array.of(MessageType.ping, ...body);
  const key = (name: string): number[] => [0xa0 | name.length, ...Buffer.from(name)];
  throwsDecode(() => decodePing(ping([0x81, ...key('SeqNo'), 0xff])), 'range'); // negative uint
  throwsDecode(() => decodePing(ping([0x81, ...key('SeqNo'), 0xcf, 0, 0, 0, 1, 0, 0, 0, 0])), 'range');
  throwsDecode(() => decodePing(ping([0x81, ...key('SourcePort'), 0xce, 0, 1, 0, 0])), 'range');
  throwsDecode(() => decodePing(ping([0x81, ...key('SeqNo'), 0xcb, 0, 0, 0, 0, 0, 0, 0, 0])), 'type');
  throwsDecode(() => decodePing(ping([0x81, ...key('Node'), 0xc4, 1, 0x41])), 'type'); // bin in a string
  throwsDecode(() => decodePing(ping([0x81, 0xc4, 4, ...Buffer.from('Node'), 0xa0])), 'type'); // bin key
  throwsDecode(() => decodePing(ping([0x81, 0x01, 0xa0])), 'type'); // integer key
  throwsDecode(() => decodePing(ping([0x81, ...key('Node'), 0xa2, 0xc3, 0x28])), 'utf8');
  throwsDecode(() => decodePing(ping([0x81, ...key('Node'), 0xc1])), 'type');
  throwsDecode(() => decodePing(ping([0x81, ...key('Node'), 0xa5, 0x41])), 'truncated');
  throwsDecode(() => decodePing(ping([0x85, ...key('Node'), 0xa0])), 'truncated');
  throwsDecode(() => decodePing(ping([0xdb, 0xff, 0xff, 0xff, 0xff])), 'type');
  throwsDecode(() => decodePing(ping([0x81, ...key('X'), 0xdd, 0xff, 0xff, 0xff, 0xff])), 'truncated');
  throwsDecode(
    () => decodePushPullHeader(Uint8Array.of(MessageType.pushPull, 0x81, ...key('Join'), 0x02)),
    'type',
  );
  throwsDecode(() => decodePing(Uint8Array.of(MessageType.alive, 0x80)), 'unknownType');
  throwsDecode(() => decodePing(new Uint8Array(0)), 'empty');
  const deep = [0x81, ...key('X'), ...new Array<number>(100).fill(0x91), 0x00];
  throwsDecode(() => decodePing(ping(deep)), 'depth');
});

test('a claimed length above the reader limit is refused before the bytes exist', () => {
  const reader = new MsgpackReader(Uint8Array.of(0xdb, 0x7f, 0xff, 0xff, 0xff), 0, 1024);
  throwsDecode(() => reader.bytesOrNil('x'), 'tooLarge');
});

test('encoders refuse values that do not fit the Go type', () => {
  const bad: Ping[] = [
    { seqNo: -1, node: '', sourceAddr: null, sourcePort: 0, sourceNode: '' },
    { seqNo: 2 ** 32, node: '', sourceAddr: null, sourcePort: 0, sourceNode: '' },
    { seqNo: 1.5, node: '', sourceAddr: null, sourcePort: 0, sourceNode: '' },
    { seqNo: 1, node: '', sourceAddr: null, sourcePort: 65536, sourceNode: '' },
  ];
  for (const ping of bad)
    assert.throws(
      () => encodePing(ping),
      (e: unknown) => e instanceof EncodeError,
    );
  assert.throws(
    () => encodePushPullHeader({ nodes: 2 ** 60, userStateLen: 0, join: false }),
    (e: unknown) => e instanceof EncodeError,
  );
});

const bytesArb = fc.option(fc.uint8Array({ maxLength: 80 }), { nil: null });
const uint = (bits: number) => fc.integer({ min: 0, max: 2 ** bits - 1 });

test('any struct round-trips, and the reference decoder reads the same values', () => {
  fc.assert(
    fc.property(
      fc.record({
        seqNo: uint(32),
        target: bytesArb,
        port: uint(16),
        node: fc.string({ unit: 'grapheme', maxLength: 70 }),
        nack: fc.boolean(),
        sourceAddr: bytesArb,
        sourcePort: uint(16),
        sourceNode: fc.string({ maxLength: 40 }),
      }),
      (req: IndirectPingReq) => {
        const bytes = encodeIndirectPingReq(req);
        const back = decodeIndirectPingReq(bytes);
        // Go's omitempty turns an empty Source address into an absent one (nil).
        const expected = { ...req, sourceAddr: req.sourceAddr?.length ? req.sourceAddr : null };
        assert.equal(back, expected);
        assert.equal(encodeIndirectPingReq(back), bytes);
        const ref = referenceDecode(bytes.subarray(1), { rawStrings: true }) as Record<string, unknown>;
        assert.is(ref.SeqNo, req.seqNo);
        assert.is(ref.Nack, req.nack);
        assert.equal(ref.Target, req.target);
        // No str8 (0xd9) headers anywhere: scan for the key/value headers we wrote.
        assert.ok(!hasStr8(bytes.subarray(1)));
      },
    ),
    { numRuns: 500 },
  );
});

/** Walks a msgpack map of scalars and reports whether any value uses str8 or bin. */
function hasStr8(body: Uint8Array): boolean {
  const reader = new MsgpackReader(body);
  const first = reader.peek();
  const count = first & 0x0f;
  let at = 1;
  for (let i = 0; i < count * 2; i++) {
    const b = body[at] ?? 0;
    if (b === 0xd9 || (b >= 0xc4 && b <= 0xc6)) return true;
    const r = new MsgpackReader(body, at);
    r.skip();
    at = r.offset;
  }
  return false;
}

test.run();
