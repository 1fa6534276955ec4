// Assertions shared by the wire-layer tests.
import * as assert from 'uvu/assert';
import { type DecodeError, isDecodeError } from '../../src/index.js';

/** Asserts that `fn` throws the package's DecodeError with exactly `reason`. */
export function throwsDecode(fn: () => unknown, reason: string): void {
  try {
    fn();
  } catch (error) {
    assert.ok(isDecodeError(error), `expected a DecodeError, got ${String(error)}`);
    assert.is((error as DecodeError).reason, reason, (error as Error).message);
    return;
  }
  assert.unreachable(`expected DecodeError(${reason})`);
}
