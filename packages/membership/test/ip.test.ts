// IP literals to and from memberlist's wire bytes (Go net.IP: 4 bytes for IPv4, 16 for IPv6,
// String() with the longest zero run shortened and IPv4-mapped addresses as a dotted quad).
// The WHATWG URL serializer, which compresses IPv6 the same way, is the oracle for IPv6 text.
import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ipFromBytes, ipToBytes, isIpLiteral } from '../src/index.js';

const bytes = (text: string) => {
  const b = ipToBytes(text);
  return b === null ? null : [...b];
};

test('IPv4: dotted quads to 4 bytes and back', () => {
  assert.equal(bytes('10.0.0.1'), [10, 0, 0, 1]);
  assert.equal(bytes('0.0.0.0'), [0, 0, 0, 0]);
  assert.equal(bytes('255.255.255.255'), [255, 255, 255, 255]);
  assert.is(ipFromBytes(Uint8Array.of(192, 168, 1, 20)), '192.168.1.20');
  for (const bad of [
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.-4',
    '1.2..4',
    'a.b.c.d',
    '',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1e1.2.3.4',
    '0x1.2.3.4',
  ])
    assert.is(ipToBytes(bad), null, bad);
});

test('IPv6: text forms to 16 bytes', () => {
  assert.equal(bytes('::'), Array(16).fill(0));
  assert.equal(bytes('::1'), [...Array(15).fill(0), 1]);
  assert.equal(bytes('2001:db8::1'), [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1]);
  assert.equal(bytes('fe80::'), [0xfe, 0x80, ...Array(14).fill(0)]);
  assert.equal(bytes('1:2:3:4:5:6:7:8'), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  assert.equal(bytes('::ffff:10.0.0.1'), [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]);
  assert.equal(bytes('ABCD::EF01'), bytes('abcd::ef01'));
  for (const bad of [
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':::',
    '12345::',
    'g::',
    '1:2:3:4:5:6:7::8',
    '::ffff:1.2.3',
    '[::1]',
    '::1%eth0',
    `${'0:'.repeat(20)}0`,
  ])
    assert.is(ipToBytes(bad), null, bad);
  assert.ok(isIpLiteral('::1'));
  assert.ok(isIpLiteral('10.0.0.1'));
  assert.not.ok(isIpLiteral('localhost'));
});

test('IPv6 text as Go prints it: longest zero run (first on ties, two groups or more) as ::', () => {
  const cases: [number[], string][] = [
    [Array(16).fill(0), '::'],
    [[...Array(15).fill(0), 1], '::1'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], '2001:db8::1:0:0:1'],
    [[0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7], '1:0:2:3:4:5:6:7'], // one zero group stays
    [[0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4], '1::2:0:0:3:4'],
    [[0xfe, 0x80, ...Array(14).fill(0)], 'fe80::'],
    [[...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1], '10.0.0.1'], // IPv4-mapped: dotted quad
  ];
  for (const [input, text] of cases) assert.is(ipFromBytes(Uint8Array.from(input)), text, text);
});

test('ipFromBytes: only 4 or 16 bytes are addresses', () => {
  assert.is(ipFromBytes(null), null);
  for (const length of [0, 1, 3, 5, 6, 15, 17])
    assert.is(ipFromBytes(new Uint8Array(length)), null, `${length}`);
});

test('any 16 bytes: text matches the URL serializer and parses back to the same bytes', () => {
  const mapped = (b: Uint8Array) =>
    b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  fc.assert(
    fc.property(
      // Zero-heavy groups make runs of zeros common.
      fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
        minLength: 8,
        maxLength: 8,
      }),
      (words) => {
        const raw = new Uint8Array(16);
        words.forEach((w, i) => {
          raw[2 * i] = w >> 8;
          raw[2 * i + 1] = w & 0xff;
        });
        const text = ipFromBytes(raw);
        assert.ok(text !== null);
        if (mapped(raw)) {
          assert.ok(isIPv4(text), text);
          assert.equal(bytes(text), [...raw.subarray(12)]);
          return;
        }
        assert.ok(isIPv6(text), text);
        assert.is(`[${text}]`, new URL(`http://[${text}]/`).hostname);
        assert.equal(bytes(text), [...raw]);
      },
    ),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (raw) => {
      const text = ipFromBytes(raw);
      assert.ok(text !== null && isIPv4(text));
      assert.equal(bytes(text), [...raw]);
    }),
  );
});

test('random strings never crash the parser, and what it accepts Node accepts too', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 50 }), fc.stringMatching(/^[0-9a-f:.]{0,45}$/)), (text) => {
      const parsed = ipToBytes(text);
      if (parsed === null) return;
      assert.ok(parsed.length === 4 || parsed.length === 16);
      assert.ok(parsed.length === 4 ? isIPv4(text) : isIPv6(text), text);
    }),
    { numRuns: 3000 },
  );
});

test.run();
