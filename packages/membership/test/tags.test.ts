// Node tags in Serf's metadata format (serf.go: encodeTags, decodeTags; MEMBERLIST-WIRE.md §13):
// 0xFF then a msgpack map of strings written as go-msgpack writes them (fixstr/str16/str32,
// never str8), the legacy role form, the 512-byte limit, and hostile input.
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type DecodeError,
  decodeTags,
  encodeTags,
  isDecodeError,
  isPayloadTooLargeError,
  META_MAX_SIZE,
  TAG_MAGIC_BYTE,
} from '../src/index.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const plain = (tags: Record<string, string>): Record<string, string> => ({ ...tags });
// '__proto__' is covered by its own test: a plain object (and the msgpack library) cannot hold it.
const key = fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__');

test('encodes as 0xFF + msgpack map with sorted keys, byte for byte', () => {
  assert.is(TAG_MAGIC_BYTE, 0xff);
  // {"role":"web"}: ff 81 a4 'role' a3 'web'
  assert.is(
    hex(encodeTags({ role: 'web' })),
    `ff81a4${hex(Buffer.from('role'))}a3${hex(Buffer.from('web'))}`,
  );
  // Keys sorted, so the bytes do not depend on insertion order.
  assert.is(hex(encodeTags({ z: '1', a: '2' })), hex(encodeTags({ a: '2', z: '1' })));
  assert.is(hex(encodeTags({ z: '1', a: '2' })), 'ff82a161a132a17aa131');
  // Empty tags: a map of zero entries.
  assert.is(hex(encodeTags({})), 'ff80');
  // A 40-byte value is a str16 (0xda), as go-msgpack writes it with WriteExt off (never str8).
  const long = 'v'.repeat(40);
  assert.is(hex(encodeTags({ k: long })), `ff81a16bda0028${hex(Buffer.from(long))}`);
});

test('round trip: any string tags decode to themselves; a msgpack library reads the map', () => {
  fc.assert(
    fc.property(fc.dictionary(key, fc.string({ maxLength: 20 }), { maxKeys: 8 }), (tags) => {
      let meta: Uint8Array;
      try {
        meta = encodeTags(tags);
      } catch (error) {
        // Only the size limit may stop an encoding.
        assert.ok(isPayloadTooLargeError(error), String(error));
        return;
      }
      assert.ok(meta.length <= META_MAX_SIZE);
      assert.equal(plain(decodeTags(meta)), plain(tags));
      assert.equal(msgpackDecode(meta.subarray(1)), plain(tags));
    }),
    { numRuns: 300 },
  );
});

test('decodes maps written by another msgpack encoder (str8, map16) as go-msgpack would', () => {
  // @msgpack/msgpack writes str8 (0xd9) for 32..255 bytes, which go-msgpack's decoder accepts.
  const tags: Record<string, string> = { dc: 'eu-west', note: 'n'.repeat(100) };
  for (let i = 0; i < 16; i++) tags[`k${i}`] = `${i}`;
  const meta = Uint8Array.of(TAG_MAGIC_BYTE, ...msgpackEncode(tags));
  assert.ok(meta.includes(0xd9) && meta[1] === 0xde, 'str8 and map16 are in the input');
  assert.equal(plain(decodeTags(meta)), tags);
});

test('legacy metadata (no magic byte) is the role', () => {
  assert.equal(plain(decodeTags(new Uint8Array(Buffer.from('web')))), { role: 'web' });
  assert.equal(plain(decodeTags(Uint8Array.of(0x80))), { role: '\ufffd' });
  // Empty metadata: no tags. (Serf itself reads it as { role: '' }.)
  assert.equal(plain(decodeTags(new Uint8Array(0))), {});
});

test('the 512-byte metadata limit: exactly 512 encodes, 513 throws PayloadTooLargeError', () => {
  // ff 81 a1 'k' da LL LL <value>: 6 bytes of framing.
  const at = (valueLength: number) => encodeTags({ k: 'x'.repeat(valueLength) });
  assert.is(at(META_MAX_SIZE - 7).length, META_MAX_SIZE);
  try {
    at(META_MAX_SIZE - 6);
    assert.unreachable('513 bytes must not encode');
  } catch (error) {
    assert.ok(isPayloadTooLargeError(error), String(error));
  }
});

function throwsDecode(meta: Uint8Array): DecodeError {
  try {
    decodeTags(meta);
  } catch (error) {
    assert.ok(isDecodeError(error), `expected DecodeError, got ${String(error)}`);
    return error as DecodeError;
  }
  assert.unreachable(`decoded ${hex(meta)}`);
  throw new Error('unreachable');
}

test('malformed tag maps throw DecodeError', () => {
  assert.is(throwsDecode(Uint8Array.of(0xff)).reason, 'truncated'); // nothing after the magic byte
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x91, 0xa1, 0x61)).reason, 'type'); // an array, not a map
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x81, 0x01, 0xa1, 0x61)).reason, 'type'); // int key
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x81, 0xa1, 0x61, 0x01)).reason, 'type'); // int value
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x81, 0xa1, 0x61, 0xc4, 0x01, 0x62)).reason, 'type'); // bin value
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x82, 0xa1, 0x61, 0xa1, 0x62)).reason, 'truncated'); // 1 of 2
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x81, 0xa1, 0x61, 0xa2, 0x62)).reason, 'truncated'); // short str
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x81, 0xa1, 0x61, 0xa1, 0xff)).reason, 'utf8');
  assert.is(throwsDecode(Uint8Array.of(0xff, 0x80, 0x00)).reason, 'type'); // bytes after the map
  // A huge claimed entry count or string is refused before anything is read.
  assert.is(throwsDecode(Uint8Array.of(0xff, 0xdf, 0xff, 0xff, 0xff, 0xff)).reason, 'tooLarge');
  assert.is(
    throwsDecode(Uint8Array.of(0xff, 0x81, 0xa1, 0x61, 0xdb, 0x7f, 0xff, 0xff, 0xff)).reason,
    'tooLarge',
  );
});

test('fuzz: any bytes after the magic byte decode to string tags or throw DecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (tail) => {
      const meta = Uint8Array.of(TAG_MAGIC_BYTE, ...tail);
      let tags: Record<string, string>;
      try {
        tags = decodeTags(meta);
      } catch (error) {
        assert.ok(isDecodeError(error), `not a DecodeError for ${hex(meta)}: ${String(error)}`);
        return;
      }
      for (const [key, value] of Object.entries(tags)) {
        assert.type(key, 'string');
        assert.type(value, 'string');
      }
    }),
    { numRuns: 2000 },
  );
  // Mutations of valid encodings, which reach deeper than random bytes.
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 4 }),
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      fc.boolean(),
      (tags, where, value, cut) => {
        const meta = encodeTags(tags).slice();
        const index = 1 + (where % Math.max(1, meta.length - 1));
        const mutated = cut ? meta.subarray(0, index) : meta;
        if (!cut && index < meta.length) mutated[index] = value;
        try {
          decodeTags(mutated);
        } catch (error) {
          assert.ok(isDecodeError(error), `not a DecodeError for ${hex(mutated)}: ${String(error)}`);
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('tag names cannot pollute prototypes', () => {
  const tags = decodeTags(encodeTags(JSON.parse('{"__proto__":"x","constructor":"y"}')));
  assert.is(Object.getPrototypeOf(tags), null);
  assert.equal(Object.keys(tags).sort(), ['__proto__', 'constructor']);
  assert.is(Object.getOwnPropertyDescriptor(tags, '__proto__')?.value, 'x');
  assert.is(({} as Record<string, unknown>).x, undefined);
});

test.run();
