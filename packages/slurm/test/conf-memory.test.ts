// RealMemory keeps headroom below the machine's total: slurmd refuses (drains as `inval`) a node
// whose configured RealMemory exceeds what it detects, and the OS and the agent need memory too.
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BYTES_PER_MIB, MIN_MEMORY_HEADROOM_MIB, realMemoryMiB } from '../src/conf/memory.js';

const MiB = BYTES_PER_MIB;
const GiB = 1024 * MiB;

test('known values: total MiB minus max(512 MiB, 10 %), at least 1', () => {
  const cases: [bytes: number, expected: number][] = [
    [0, 1],
    [1, 1],
    [512 * MiB, 1],
    [513 * MiB, 1],
    [1024 * MiB - 1, 511],
    [1 * GiB, 512],
    [4 * GiB, 3584],
    [5 * GiB, 4608],
    [5121 * MiB, 4608],
    [5130 * MiB, 4617],
    [24 * GiB, 22118],
    [24105 * MiB, 21694],
    [1024 * GiB, 943718],
  ];
  for (const [bytes, expected] of cases) assert.is(realMemoryMiB(bytes), expected, `${bytes} bytes`);
});

test('bounds: at least 1, at least 512 MiB and 10 % below the total, never above it, monotonic', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      (a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const r = realMemoryMiB(lo);
        const totalMiB = Math.floor(lo / MiB);
        assert.ok(Number.isSafeInteger(r) && r >= 1);
        if (r > 1) {
          assert.ok(r <= totalMiB - MIN_MEMORY_HEADROOM_MIB, 'at least 512 MiB headroom');
          assert.ok(r <= totalMiB * 0.9, 'at least 10 % headroom');
          assert.ok(
            r >= Math.floor(totalMiB * 0.9) - 1 || r === totalMiB - MIN_MEMORY_HEADROOM_MIB,
            'no more than needed',
          );
        }
        assert.ok(realMemoryMiB(hi) >= r, 'more memory never gives less RealMemory');
      },
    ),
    { numRuns: 2000 },
  );
  for (let mib = 0; mib <= 20_000; mib += 1) {
    const r = realMemoryMiB(mib * MiB);
    assert.is(r, Math.max(1, mib - Math.max(512, Math.ceil(mib / 10))), `${mib} MiB`);
  }
});

test('anything but a non-negative safe integer is a RangeError', () => {
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])
    assert.throws(
      () => realMemoryMiB(bad),
      (error: unknown) => error instanceof RangeError,
    );
});

test.run();
