// LZW as Go's compress/lzw (LSB, 8-bit literals): exact output, round trips, and a bounded,
// strict reader for untrusted input.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lzwCompress, lzwDecompress } from '../src/index.js';
import { throwsDecode } from './support/assertions.js';
import { fromHex, lcgInput, toHex, vector } from './support/vectors.js';

/**
 * Packs codes LSB-first at the widths Go's reader expects: 9 bits after a clear, one more bit
 * each time the next code reaches a power of two, at most 12.
 */
function packCodes(codes: readonly number[]): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  let width = 9;
  let hi = 257;
  for (const code of codes) {
    acc |= code << bits;
    bits += width;
    while (bits >= 8) {
      out.push(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
    if (code === 256) {
      width = 9;
      hi = 257;
    } else if (code !== 257) {
      hi++;
      if (hi >= 1 << width) {
        if (width === 12) hi--;
        else width++;
      }
    }
  }
  if (bits > 0) out.push(acc & 0xff);
  return Uint8Array.from(out);
}

/** The Buf of a `[9]{Algo, Buf}` vector: the LZW stream Go wrote. */
function goStream(name: string): Uint8Array {
  const bytes = fromHex(vector(name).hex);
  const at = bytes.indexOf(0xa3, 2) + 4; // after "Buf" key
  const header = bytes[at] ?? 0;
  if (header >= 0xa0 && header <= 0xbf) return bytes.subarray(at + 1, at + 1 + (header & 0x1f));
  const length = ((bytes[at + 1] ?? 0) << 8) | (bytes[at + 2] ?? 0);
  return bytes.subarray(at + 3, at + 3 + length);
}

test('empty input: a clear code and the end code, as Go writes them', () => {
  assert.is(toHex(lzwCompress(new Uint8Array(0))), '000302');
  assert.equal(lzwDecompress(Uint8Array.of(0x00, 0x03, 0x02)), new Uint8Array(0));
});

test("Go's streams from the vectors decompress, and compressing gives them back", () => {
  const tobe = goStream('compress-tobe');
  assert.equal(lzwCompress(new TextEncoder().encode('TOBEORNOTTOBEORTOBEORNOT#')), tobe);
  const long = goStream('compress-lcg-9000');
  assert.equal(lzwDecompress(long), lcgInput(9000));
  assert.equal(lzwCompress(lcgInput(9000)), long);
});

test('round trips: random, repetitive (KwKwK) and long inputs that reset the table several times', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (data) => {
      assert.equal(lzwDecompress(lzwCompress(data)), data);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 5000 }),
      (unit, times) => {
        const data = new Uint8Array(unit.length * times);
        for (let i = 0; i < times; i++) data.set(unit, i * unit.length);
        assert.equal(lzwDecompress(lzwCompress(data)), data);
      },
    ),
    { numRuns: 100 },
  );
  const big = lcgInput(200_000);
  assert.equal(lzwDecompress(lzwCompress(big)), big);
  const zeros = new Uint8Array(1_000_000);
  assert.equal(lzwDecompress(lzwCompress(zeros)), zeros);
});

test('a stream without the end code is refused, as Go refuses it', () => {
  throwsDecode(() => lzwDecompress(new Uint8Array(0)), 'lzw');
  const stream = lzwCompress(new TextEncoder().encode('hello hello hello'));
  for (let cut = 0; cut < stream.length - 1; cut++) {
    throwsDecode(() => lzwDecompress(stream.subarray(0, cut)), 'lzw');
  }
});

test('a code beyond the next table entry is invalid', () => {
  throwsDecode(() => lzwDecompress(packCodes([256, 300, 257])), 'lzw');
  throwsDecode(() => lzwDecompress(packCodes([256, 0x41, 0x42, 261, 257])), 'lzw');
  // Right after a clear only literals are defined (258 is not yet).
  throwsDecode(() => lzwDecompress(packCodes([256, 258, 257])), 'lzw');
});

test('KwKwK: the code being defined expands to the previous string plus its first byte', () => {
  // 'a' then 258 (= 'a' + 'a', being defined) then 259 (= 'aa' + 'a').
  assert.equal(lzwDecompress(packCodes([256, 0x61, 258, 259, 257])), new TextEncoder().encode('aaaaaa'));
});

test('a full table without a clear keeps decoding without adding entries (Go reader behaviour)', () => {
  const codes = [256, ...new Array<number>(3900).fill(0x61), 4095, 4095, 0x62, 257];
  const out = lzwDecompress(packCodes(codes));
  assert.is(out.length, 3900 + 2 + 2 + 1);
  assert.is(out[out.length - 1], 0x62);
  // A stream may also start without a clear code.
  assert.equal(lzwDecompress(packCodes([0x41, 0x42, 257])), Uint8Array.of(0x41, 0x42));
});

test('bytes after the end code are ignored', () => {
  const stream = lzwCompress(Uint8Array.of(1, 2, 3));
  assert.equal(lzwDecompress(Uint8Array.of(...stream, 0xff, 0xff, 0xff)), Uint8Array.of(1, 2, 3));
});

test('output above the limit is refused before it is produced', () => {
  const zeros = new Uint8Array(100_000);
  const stream = lzwCompress(zeros);
  assert.ok(stream.length < 2000);
  throwsDecode(() => lzwDecompress(stream, { maxOutputBytes: 99_999 }), 'tooLarge');
  assert.is(lzwDecompress(stream, { maxOutputBytes: 100_000 }).length, 100_000);
  // The default limit is 10 MiB: an 11 MiB bomb of ~15 KiB is refused.
  const bomb = lzwCompress(new Uint8Array(11 * 1024 * 1024));
  throwsDecode(() => lzwDecompress(bomb), 'tooLarge');
});

test.run();
