// The parse tests' shared check: `run` must throw a SlurmParseError (which is returned for
// further assertions); anything else thrown is rethrown, and success is a failure.
import { SlurmParseError } from '../../src/parse/errors.js';

/** The `SlurmParseError` that `run` throws. */
export function parseError(run: () => unknown): SlurmParseError {
  try {
    run();
  } catch (error) {
    if (error instanceof SlurmParseError) return error;
    throw error;
  }
  throw new Error('expected a SlurmParseError, but parsing succeeded');
}
