import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameTooLargeError,
  isFrameTooLargeError,
} from '../src/transport/framing.js';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** Cuts `bytes` at the given points (taken modulo the length, sorted, deduplicated). */
function cut(bytes: Uint8Array, points: readonly number[]): Uint8Array[] {
  const at = [...new Set(points.map((p) => (bytes.byteLength === 0 ? 0 : p % bytes.byteLength)))].sort(
    (a, b) => a - b,
  );
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...at, bytes.byteLength]) {
    if (p > prev) chunks.push(bytes.slice(prev, p));
    prev = p;
  }
  return chunks;
}

test('encodeFrame writes a big-endian u32 length', () => {
  const framed = encodeFrame(Uint8Array.of(9, 8, 7));
  assert.equal([...framed], [0, 0, 0, 3, 9, 8, 7]);
  const big = encodeFrame(new Uint8Array(0x01020304 & 0xffff));
  assert.equal([...big.subarray(0, 4)], [0, 0, 0x03, 0x04]);
});

test('arbitrary chunking: every payload comes out whole and in order', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (payloads, points) => {
        const max = 300;
        const stream = concat(payloads.map((p) => encodeFrame(p, max)));
        const decoder = new FrameDecoder({ maxFrameBytes: max });
        const out: Uint8Array[] = [];
        for (const chunk of cut(stream, points)) {
          decoder.push(chunk, (payload) => {
            out.push(payload.slice()); // payloads are valid only during the callback
            return true;
          });
          // Never more than one unfinished frame is held.
          assert.ok(decoder.bufferedBytes <= FRAME_HEADER_BYTES + max);
          chunk.fill(0xee); // the caller may reuse its chunk once push returns
        }
        assert.is(decoder.bufferedBytes, 0);
        assert.equal(
          out.map((p) => [...p]),
          payloads.map((p) => [...p]),
        );
      },
    ),
    { numRuns: 500 },
  );
});

test('byte-at-a-time delivery works', () => {
  const payloads = [Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3, 4)];
  const stream = concat(payloads.map((p) => encodeFrame(p)));
  const decoder = new FrameDecoder();
  const out: number[][] = [];
  for (const b of stream) {
    decoder.push(Uint8Array.of(b), (p) => {
      out.push([...p]);
      return true;
    });
  }
  assert.equal(out, [[1], [], [2, 3, 4]]);
});

test('oversize length prefix is rejected, and the decoder stays failed', () => {
  const decoder = new FrameDecoder({ maxFrameBytes: 100 });
  const seen: number[] = [];
  const ok = encodeFrame(new Uint8Array(100), 100);
  const bad = Uint8Array.of(0, 0, 0, 101);
  try {
    decoder.push(concat([ok, bad, ok]), (p) => {
      seen.push(p.byteLength);
      return true;
    });
    assert.unreachable('oversized frame accepted');
  } catch (error) {
    assert.ok(isFrameTooLargeError(error));
    assert.instance(error, FrameTooLargeError);
    assert.is((error as FrameTooLargeError).length, 101);
    assert.is((error as FrameTooLargeError).max, 100);
  }
  assert.equal(seen, [100]);
  assert.throws(() => decoder.push(ok, () => true), isFrameTooLargeError);
  assert.is(decoder.bufferedBytes, 0);
});

test('oversize rejection: any length above the limit, split anywhere', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 0xffff_ffff }),
      fc.nat(3),
      (max, length, split) => {
        fc.pre(length > max);
        const header = new Uint8Array(4);
        new DataView(header.buffer).setUint32(0, length);
        const decoder = new FrameDecoder({ maxFrameBytes: max });
        assert.throws(() => {
          decoder.push(header.subarray(0, split), () => true);
          decoder.push(header.subarray(split), () => true);
        }, isFrameTooLargeError);
      },
    ),
    { numRuns: 300 },
  );
});

test('a huge claimed length within the limit allocates only what arrives', () => {
  const decoder = new FrameDecoder();
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, DEFAULT_MAX_FRAME_BYTES);
  const before = process.memoryUsage().arrayBuffers;
  decoder.push(concat([header, new Uint8Array(10)]), () => {
    assert.unreachable('no frame is complete');
    return false;
  });
  assert.is(decoder.bufferedBytes, 10);
  assert.ok(process.memoryUsage().arrayBuffers - before < DEFAULT_MAX_FRAME_BYTES / 2);
});

test('encodeFrame refuses a payload above the limit', () => {
  assert.throws(() => encodeFrame(new Uint8Array(11), 10), isFrameTooLargeError);
  assert.throws(() => new FrameDecoder({ maxFrameBytes: -1 }), RangeError);
  assert.throws(() => new FrameDecoder({ maxFrameBytes: 2 ** 32 }), RangeError);
});

test('the limit may change between frames of one chunk', () => {
  const decoder = new FrameDecoder({ maxFrameBytes: 8 });
  const out: number[] = [];
  const stream = concat([
    encodeFrame(Uint8Array.of(1)),
    encodeFrame(new Uint8Array(50)),
    encodeFrame(Uint8Array.of(2)),
  ]);
  decoder.push(stream, (p) => {
    out.push(p.byteLength);
    decoder.maxFrameBytes = 64; // e.g. the handshake just completed
    return true;
  });
  assert.equal(out, [1, 50, 1]);
});

test('returning false from onFrame discards the rest of the chunk', () => {
  const decoder = new FrameDecoder();
  const out: number[] = [];
  const stream = concat([
    encodeFrame(Uint8Array.of(1)),
    encodeFrame(Uint8Array.of(2)),
    encodeFrame(Uint8Array.of(3)),
  ]);
  decoder.push(stream, (p) => {
    out.push(p[0] ?? -1);
    return false;
  });
  assert.equal(out, [1]);
});

test('reset drops a partial frame', () => {
  const decoder = new FrameDecoder();
  const framed = encodeFrame(Uint8Array.of(1, 2, 3, 4));
  decoder.push(framed.subarray(0, 6), () => true);
  assert.is(decoder.bufferedBytes, 2); // the prefix is consumed; two payload bytes wait
  decoder.reset();
  assert.is(decoder.bufferedBytes, 0);
  const out: number[][] = [];
  decoder.push(framed, (p) => {
    out.push([...p]);
    return true;
  });
  assert.equal(out, [[1, 2, 3, 4]]);
});

test.run();
