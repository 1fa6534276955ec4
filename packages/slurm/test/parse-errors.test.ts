// SlurmParseError: a literal name, the command and the reason as fields, the cause kept, and a
// guard that also recognises the error from another copy of the package (CJS next to ESM).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isSlurmParseError, SlurmParseError } from '../src/parse/errors.js';
import * as parse from '../src/parse/index.js';
import { parseSqueueJson } from '../src/parse/squeue.js';

test('fields, message and name', () => {
  const cause = new SyntaxError('Unexpected token');
  const error = new SlurmParseError('squeue --json', 'not valid JSON', { cause });
  assert.is(error.name, 'SlurmParseError');
  assert.is(SlurmParseError.name, 'SlurmParseError');
  assert.is(error.source, 'squeue --json');
  assert.is(error.detail, 'not valid JSON');
  assert.is(error.message, 'cannot parse squeue --json output: not valid JSON');
  assert.is(error.cause, cause);
  assert.ok(error instanceof Error);
});

test('JSON syntax errors are kept as the cause', () => {
  try {
    parseSqueueJson('{');
    assert.unreachable();
  } catch (error) {
    assert.ok(isSlurmParseError(error));
    assert.ok(error.cause instanceof SyntaxError);
  }
});

test('isSlurmParseError: by name and fields, not by class identity', () => {
  assert.ok(isSlurmParseError(new SlurmParseError('sinfo --json', 'x')));
  const fromOtherCopy = Object.assign(new Error('m'), { name: 'SlurmParseError', source: 's', detail: 'd' });
  assert.ok(isSlurmParseError(fromOtherCopy));
  for (const other of [
    new Error('x'),
    new TypeError('x'),
    { name: 'SlurmParseError' },
    null,
    'SlurmParseError',
    1,
  ]) {
    assert.not.ok(isSlurmParseError(other));
  }
});

test('the parse index exports the public API', () => {
  for (const name of [
    'SlurmParseError',
    'isSlurmParseError',
    'parseSqueueJson',
    'jobRuntimeSeconds',
    'filterJobs',
    'parseSinfoJson',
    'parseScontrolRecords',
    'parseScontrolPing',
    'parseSacctParsable',
    'parseExitCode',
    'decodeWaitStatus',
    'SLURM_OUTPUT_MAX_CHARS',
  ]) {
    assert.ok(name in parse, name);
  }
});

test.run();
