// sacct -P of SLURM 22.05: the real sample (jobs 1–4 and their batch steps, taken with a header
// line), the `code:signal` exit codes that are right where sacct --json is wrong, the `-n` and
// `-p` variants, and untrusted input.
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SlurmParseError } from '../src/parse/errors.js';
import { decodeWaitStatus } from '../src/parse/exit-code.js';
import { SLURM_OUTPUT_MAX_CHARS } from '../src/parse/limits.js';
import { parseExitCode, parseSacctParsable } from '../src/parse/sacct.js';
import { parseSqueueJson } from '../src/parse/squeue.js';
import { parseError } from './support/parse-error.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const SACCT = fixture('sacct-parsable.txt');
const FIELDS = ['JobID', 'State', 'ExitCode', 'Start', 'End', 'NodeList'] as const;

test('fixture: the header is skipped; jobs and batch steps in sacct order', () => {
  const rows = parseSacctParsable(SACCT, FIELDS);
  assert.equal(
    rows.map((r) => [r.JobID, r.State, r.ExitCode]),
    [
      ['1', 'COMPLETED', '0:0'],
      ['1.batch', 'COMPLETED', '0:0'],
      ['2', 'FAILED', '3:0'],
      ['2.batch', 'FAILED', '3:0'],
      ['3', 'RUNNING', '0:0'],
      ['3.batch', 'RUNNING', '0:0'],
      ['4', 'PENDING', '0:0'],
    ],
  );
});

test('fixture: every field of job 1 and of pending job 4, as printed', () => {
  const rows = parseSacctParsable(SACCT, FIELDS);
  assert.equal(rows[0], {
    JobID: '1',
    State: 'COMPLETED',
    ExitCode: '0:0',
    Start: '2026-11-30T11:51:19',
    End: '2026-11-30T11:51:21',
    NodeList: 'n1',
  });
  assert.equal(rows[6], {
    JobID: '4',
    State: 'PENDING',
    ExitCode: '0:0',
    Start: 'Unknown',
    End: 'Unknown',
    NodeList: 'None assigned',
  });
});

test('exit codes: job 2 exited 3 here and in squeue (after decoding 768), not SUCCESS as sacct --json says', () => {
  const row = parseSacctParsable(SACCT, FIELDS).find((r) => r.JobID === '2');
  assert.ok(row);
  assert.equal(parseExitCode(row.ExitCode), { code: 3, signal: 0 });
  const squeueJob = parseSqueueJson(fixture('squeue.json')).find((j) => j.id === 2);
  assert.equal(squeueJob?.exitCode, parseExitCode(row.ExitCode));
});

test('-n (no header) gives the same records', () => {
  const withoutHeader = SACCT.split('\n').slice(1).join('\n');
  assert.equal(parseSacctParsable(withoutHeader, FIELDS), parseSacctParsable(SACCT, FIELDS));
});

test('the header is matched ignoring case and %width, only on the first line', () => {
  const rows = parseSacctParsable(SACCT, ['jobid', 'state', 'exitcode', 'start', 'end', 'NodeList%30']);
  assert.is(rows.length, 7);
  assert.is(rows[2]?.exitcode, '3:0');
  assert.is(rows[0]?.['NodeList%30'], 'n1');
  const twice = `${SACCT.split('\n')[0]}\n${SACCT}`;
  assert.equal(parseSacctParsable(twice, FIELDS)[0], {
    JobID: 'JobID',
    State: 'State',
    ExitCode: 'ExitCode',
    Start: 'Start',
    End: 'End',
    NodeList: 'NodeList',
  });
});

test('-p (a trailing "|" on every line) is accepted, but not mixed with -P', () => {
  const pipeEnded = SACCT.split('\n')
    .map((line) => (line === '' ? line : `${line}|`))
    .join('\n');
  assert.equal(parseSacctParsable(pipeEnded, FIELDS), parseSacctParsable(SACCT, FIELDS));
  const mixed = 'JobID|State|\n1|COMPLETED|\n2|FAILED';
  assert.match(
    parseError(() => parseSacctParsable(mixed, ['JobID', 'State'])).detail,
    "line 3: expected 2 '|'-separated values, each followed by '|'",
  );
});

test('CRLF, trailing blank lines and empty output', () => {
  assert.equal(parseSacctParsable(SACCT.replace(/\n/g, '\r\n'), FIELDS), parseSacctParsable(SACCT, FIELDS));
  assert.is(parseSacctParsable(`${SACCT}\n\n\n`, FIELDS).length, 7);
  assert.equal(parseSacctParsable('', FIELDS), []);
  assert.equal(parseSacctParsable('JobID|State\n', ['JobID', 'State']), []);
});

test('blank lines: ignored at the end, records (or errors) in the middle', () => {
  assert.match(
    parseError(() => parseSacctParsable('JobID|State\n\n1|COMPLETED\n', ['JobID', 'State'])).detail,
    "line 2: expected 2 '|'-separated values",
  );
  assert.equal(
    parseSacctParsable('JobID\n\n5\n\n', ['JobID']).map((r) => r.JobID),
    ['', '5'],
  );
});

test('a line with a huge number of "|" is refused without splitting it all', () => {
  const error = parseError(() => parseSacctParsable(`1${'|'.repeat(5_000_000)}`, ['JobID', 'State']));
  assert.match(error.detail, 'got more than 3 pieces');
});

test('a value containing "|" (sacct does not escape it) breaks the count and is refused', () => {
  const text = 'JobID|JobName|State\n5|a|b|COMPLETED\n';
  const error = parseError(() => parseSacctParsable(text, ['JobID', 'JobName', 'State']));
  assert.is(error.source, 'sacct -P');
  assert.match(error.detail, "line 2: expected 3 '|'-separated values (JobID,JobName,State), got 4 pieces");
  assert.match(parseError(() => parseSacctParsable('1|RUNNING\n', FIELDS)).detail, 'got 2 pieces');
  assert.match(parseError(() => parseSacctParsable('sacct: error: x', FIELDS)).detail, 'line 1');
});

test('size limits: the output and each value', () => {
  assert.match(
    parseError(() => parseSacctParsable('1'.repeat(SLURM_OUTPUT_MAX_CHARS + 1), ['JobID'])).detail,
    'more than the limit',
  );
  assert.match(
    parseError(() => parseSacctParsable(`1|${'n'.repeat(1024 * 1024 + 1)}`, ['JobID', 'NodeList'])).detail,
    'NodeList is 1048577 characters',
  );
  parseError(() => parseSacctParsable(null as unknown as string, ['JobID']));
});

test("bad field lists are the caller's error: RangeError", () => {
  const bad: string[][] = [
    [],
    ['JobID', 'jobid'],
    ['Job ID'],
    ['JobID|State'],
    ['__proto__'],
    ['x'.repeat(65)],
  ];
  for (const fields of bad) {
    assert.throws(
      () => parseSacctParsable(SACCT, fields),
      (e: unknown) => e instanceof RangeError,
      JSON.stringify(fields),
    );
  }
});

test('parseExitCode: code:signal pairs', () => {
  assert.equal(parseExitCode('0:0'), { code: 0, signal: 0 });
  assert.equal(parseExitCode('3:0'), { code: 3, signal: 0 });
  assert.equal(parseExitCode('0:9'), { code: 0, signal: 9 });
  assert.equal(parseExitCode('255:15'), { code: 255, signal: 15 });
  for (const bad of [
    '',
    '3',
    '3:',
    ':0',
    '-1:0',
    '256:0',
    '0:256',
    ' 3:0',
    '3:0 ',
    '1:2:3',
    '0x3:0',
    '3.0:0',
    'SUCCESS',
  ]) {
    const error = parseError(() => parseExitCode(bad));
    assert.is(error.source, 'ExitCode');
    assert.match(error.detail, 'expected "code:signal"', bad);
  }
  parseError(() => parseExitCode(undefined as unknown as string));
});

test('decodeWaitStatus: the wait status squeue reports, and its range', () => {
  assert.equal(decodeWaitStatus(768), { code: 3, signal: 0 });
  assert.equal(decodeWaitStatus(0), { code: 0, signal: 0 });
  assert.equal(decodeWaitStatus(9), { code: 0, signal: 9 });
  assert.equal(decodeWaitStatus(0x8b), { code: 0, signal: 11 }, 'core-dump bit dropped');
  for (const bad of [-1, 0x10000, 1.5, Number.NaN]) {
    assert.throws(
      () => decodeWaitStatus(bad),
      (e: unknown) => e instanceof RangeError,
    );
  }
});

// ---------------------------------------------------------------------------------------------
// Untrusted input: only a well-typed result or a SlurmParseError.

function attempt<T>(run: () => T): T | null {
  try {
    return run();
  } catch (error) {
    if (error instanceof SlurmParseError) return null;
    throw error;
  }
}

test('fuzz: arbitrary text gives records with exactly the fields, or a SlurmParseError', () => {
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc
      .array(fc.constantFrom('1', '|', '\n', '\r\n', 'JobID', 'State', 'x', ''), { maxLength: 60 })
      .map((p) => p.join('')),
  );
  fc.assert(
    fc.property(text, fc.integer({ min: 1, max: 3 }), (input, width) => {
      const fields = ['JobID', 'State', 'ExitCode'].slice(0, width);
      const rows = attempt(() => parseSacctParsable(input, fields));
      if (rows === null) return;
      for (const row of rows) {
        assert.equal(Object.keys(row), fields);
        for (const value of Object.values(row)) assert.type(value, 'string');
        for (const value of Object.values(row)) assert.not.ok(value.includes('\n') || value.includes('|'));
      }
    }),
    { numRuns: 1000 },
  );
});

test('fuzz: rows written from records read back the same', () => {
  const value = fc.stringMatching(/^[^|\r\n]{0,12}$/);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.stringMatching(/^[0-9]{1,6}(\.batch)?$/), value, value), { maxLength: 10 }),
      (rows) => {
        const text = rows.map((r) => r.join('|')).join('\n');
        const parsed = parseSacctParsable(text, ['JobID', 'State', 'ExitCode']);
        assert.equal(
          parsed.map((r) => [r.JobID, r.State, r.ExitCode]),
          rows,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('fuzz: exit codes', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), (text) => {
      const result = attempt(() => parseExitCode(text));
      if (result === null) return;
      assert.ok(Number.isInteger(result.code) && result.code >= 0 && result.code <= 255);
      assert.ok(Number.isInteger(result.signal) && result.signal >= 0 && result.signal <= 255);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 127 }), (code, signal) => {
      assert.equal(parseExitCode(`${code}:${signal}`), { code, signal });
      if (signal === 0) assert.equal(decodeWaitStatus(code << 8), { code, signal });
      if (code === 0) assert.equal(decodeWaitStatus(signal), { code, signal });
    }),
    { numRuns: 300 },
  );
});

test.run();
