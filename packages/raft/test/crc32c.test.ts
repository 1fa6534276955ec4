import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '../src/storage/crc32c.js';

const s = suite('crc32c');

/** Bit-at-a-time CRC-32C, straight from the definition: the reference the fast one must match. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

s('the standard check value', () => {
  assert.is(crc32c('123456789'), 0xe3069283);
  assert.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

s('RFC 3720 (iSCSI) test vectors', () => {
  assert.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

s('the empty input has CRC 0', () => {
  assert.is(crc32c(new Uint8Array(0)), 0);
  assert.is(crc32c(''), 0);
});

s('works on views at any offset', () => {
  const backing = Uint8Array.from({ length: 100 }, (_, i) => (i * 37) & 0xff);
  for (let start = 0; start < 10; start++) {
    const view = backing.subarray(start, start + 50);
    assert.is(crc32c(view), reference(view.slice()));
  }
});

s('matches the bitwise reference on random input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      assert.is(crc32c(bytes), reference(bytes));
    }),
    { numRuns: 500 },
  );
});

s('continues a checksum across chunks', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(200), (bytes, cut) => {
      const at = Math.min(cut, bytes.length);
      assert.is(crc32c(bytes.subarray(at), crc32c(bytes.subarray(0, at))), crc32c(bytes));
    }),
    { numRuns: 300 },
  );
});

s('detects every single-bit flip', () => {
  const data = Uint8Array.from({ length: 64 }, (_, i) => i * 3);
  const good = crc32c(data);
  for (let bit = 0; bit < data.length * 8; bit++) {
    const flipped = data.slice();
    flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    assert.is.not(crc32c(flipped), good);
  }
});

s.run();
