// The text fallbacks of squeue and sinfo: `squeue -h -t all -o '%i|%j|%T|%u|%M|%N'` and
// `sinfo -h -N -o '%N|%T'`. The fixtures are written by hand (no text output was recorded): their
// first four squeue lines and node n1 describe the same cluster as the recorded JSON samples,
// the rest add array tasks, names containing '|', every elapsed-time form and node flags. Input is
// untrusted: every outcome is a well-typed row list or a SlurmParseError naming the line.
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SlurmParseError } from '../src/parse/errors.js';
import {
  SLURM_FIELD_MAX_CHARS,
  SLURM_HOSTLIST_MAX_CHARS,
  SLURM_OUTPUT_MAX_CHARS,
} from '../src/parse/limits.js';
import {
  parseSinfoText,
  parseSqueueText,
  SINFO_TEXT_ARGS,
  type SlurmJobTextRow,
  type SlurmNodeTextRow,
  SQUEUE_TEXT_ARGS,
} from '../src/parse/text-fallback.js';
import { parseError } from './support/parse-error.js';

const SQUEUE = readFileSync(new URL('./fixtures/squeue-text.txt', import.meta.url), 'utf8');
const SINFO = readFileSync(new URL('./fixtures/sinfo-text.txt', import.meta.url), 'utf8');

/** A valid squeue line with `edit` applied to its fields. */
function jobLine(
  edit: Partial<Record<'id' | 'name' | 'state' | 'user' | 'time' | 'nodes', string>> = {},
): string {
  const f = { id: '7', name: 'job', state: 'RUNNING', user: 'root', time: '0:01', nodes: 'n1', ...edit };
  return `${f.id}|${f.name}|${f.state}|${f.user}|${f.time}|${f.nodes}`;
}

function onlyJob(line: string): SlurmJobTextRow {
  const jobs = parseSqueueText(line);
  assert.is(jobs.length, 1);
  const job = jobs[0];
  if (job === undefined) throw new Error('no job parsed');
  return job;
}

/** squeue's `%M` for `seconds`, written the way SLURM's secs2time_str writes it. */
function elapsedText(seconds: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor(seconds / 3600) % 24;
  const minutes = Math.floor(seconds / 60) % 60;
  const secs = seconds % 60;
  if (days > 0) return `${days}-${pad(hours)}:${pad(minutes)}:${pad(secs)}`;
  if (hours > 0) return `${hours}:${pad(minutes)}:${pad(secs)}`;
  return `${minutes}:${pad(secs)}`;
}

test('the command lines match the formats the parsers read', () => {
  assert.equal([...SQUEUE_TEXT_ARGS], ['-h', '-t', 'all', '-o', '%i|%j|%T|%u|%M|%N']);
  assert.equal([...SINFO_TEXT_ARGS], ['-h', '-N', '-o', '%N|%T']);
  assert.ok(Object.isFrozen(SQUEUE_TEXT_ARGS) && Object.isFrozen(SINFO_TEXT_ARGS));
});

test('squeue fixture: every job, in order, with ids, names, states, users, runtimes and nodes', () => {
  assert.equal(parseSqueueText(SQUEUE), [
    { id: '4', name: 'pending', state: 'PENDING', user: 'root', runtimeSeconds: 0, nodes: '' },
    { id: '3', name: 'sleeper', state: 'RUNNING', user: 'root', runtimeSeconds: 2, nodes: 'n1' },
    { id: '2', name: 'wrap', state: 'FAILED', user: 'root', runtimeSeconds: 0, nodes: 'n1' },
    { id: '1', name: 'wrap', state: 'COMPLETED', user: 'root', runtimeSeconds: 2, nodes: 'n1' },
    { id: '12_[4-10%2]', name: 'sweep', state: 'PENDING', user: 'alice', runtimeSeconds: 0, nodes: '' },
    { id: '12_3', name: 'sweep', state: 'RUNNING', user: 'alice', runtimeSeconds: 3723, nodes: 'n2' },
    { id: '12_2', name: 'sweep', state: 'COMPLETED', user: 'alice', runtimeSeconds: 3599, nodes: 'n[1-2]' },
    {
      id: '20',
      name: 'train|model=v2|big',
      state: 'RUNNING',
      user: 'bob',
      runtimeSeconds: 183845,
      nodes: 'n[1-3],gpu7',
    },
    { id: '21', name: '|', state: 'CANCELLED', user: 'bob', runtimeSeconds: 307, nodes: 'n3' },
    { id: '22+0', name: 'het', state: 'RUNNING', user: 'carol', runtimeSeconds: 600, nodes: 'n1' },
    { id: '23', name: 'odd clock', state: 'PENDING', user: 'carol', runtimeSeconds: 0, nodes: '' },
    { id: '24', name: '', state: 'COMPLETED', user: '1001', runtimeSeconds: 1, nodes: 'n1' },
  ]);
});

test('squeue: names with "|" anywhere are kept whole; the last four fields are never part of them', () => {
  for (const name of ['|', '||', 'a|b', '|lead', 'trail|', 'x|RUNNING|root|0:01|n1', '|||||']) {
    const job = onlyJob(jobLine({ name }));
    assert.equal(
      job,
      { id: '7', name, state: 'RUNNING', user: 'root', runtimeSeconds: 1, nodes: 'n1' },
      name,
    );
  }
});

test('squeue: job ids as printed, array tasks and het-job components included', () => {
  for (const id of [
    '1',
    '12',
    '12_3',
    '12_0',
    '12_[4-10]',
    '12_[1,3,5-7%2]',
    '12_[0-99:3]',
    '12+1',
    '4294967295',
  ]) {
    assert.is(onlyJob(jobLine({ id })).id, id);
  }
  for (const id of [
    '',
    '0',
    '01',
    'x',
    '12_',
    '12_a',
    '12_[]',
    '12_[a]',
    '12+',
    '12.batch',
    ' 12',
    '4294967296',
    '12_3_4',
  ]) {
    assert.match(parseError(() => parseSqueueText(jobLine({ id }))).detail, 'line 1: job id', id);
  }
});

test('squeue %M: every elapsed-time form SLURM prints', () => {
  const cases: [string, number][] = [
    ['0:00', 0],
    ['0:05', 5],
    ['9:59', 599],
    ['12:34', 754],
    ['59:59', 3599],
    ['05:00', 300],
    ['1:00:00', 3600],
    ['1:02:03', 3723],
    ['01:02:03', 3723],
    ['23:59:59', 86399],
    ['1-00:00:00', 86400],
    ['2-03:04:05', 183845],
    ['2-3:04:05', 183845],
    ['365-00:00:01', 365 * 86400 + 1],
  ];
  for (const [time, seconds] of cases) {
    assert.is(onlyJob(jobLine({ time })).runtimeSeconds, seconds, time);
    assert.is(onlyJob(jobLine({ time, state: 'COMPLETED' })).runtimeSeconds, seconds, time);
  }
});

test('squeue %M: unreadable times are 0 for PENDING jobs and an error for any other state', () => {
  const bad = [
    'INVALID',
    'N/A',
    'UNLIMITED',
    '',
    '0:5',
    '1:2:03',
    '60:00',
    '1:60:00',
    '24:00:00',
    '1-24:00:00',
    '1:00:00:00',
    '-0:01',
    '1-',
    '100:00:00',
  ];
  for (const time of bad) {
    assert.is(onlyJob(jobLine({ time, state: 'PENDING' })).runtimeSeconds, 0, time);
    for (const state of ['RUNNING', 'COMPLETED', 'REQUEUED', 'SUSPENDED']) {
      const error = parseError(() => parseSqueueText(jobLine({ time, state })));
      assert.match(error.detail, `line 1: elapsed time ${JSON.stringify(time)} of a ${state} job`, time);
    }
  }
  // Even a pending job's time field has a length limit.
  parseError(() => parseSqueueText(jobLine({ time: 'x'.repeat(65), state: 'PENDING' })));
});

test('squeue: malformed lines are SlurmParseErrors naming the line', () => {
  const cases: [string, string][] = [
    ['garbage', "expected 6 '|'-separated fields"],
    ['7|job|RUNNING|root|0:01', "expected 6 '|'-separated fields"],
    ['|||||', 'job id ""'],
    [jobLine({ state: 'running' }), 'job state "running" is not an upper-case state name'],
    [jobLine({ state: '' }), 'job state ""'],
    [jobLine({ state: 'RUN NING' }), 'job state'],
    [jobLine({ user: '' }), 'user "" is empty'],
    [jobLine({ user: 'ro ot' }), 'user "ro ot"'],
    [jobLine({ nodes: 'n1 n2' }), 'node list "n1 n2" contains spaces'],
    [jobLine({ nodes: 'n1\t' }), 'node list'],
  ];
  for (const [line, detail] of cases) {
    const error = parseError(() =>
      parseSqueueText(`${jobLine()}\n${jobLine({ id: '8' })}\n${line}\n${jobLine()}`),
    );
    assert.is(error.source, 'squeue -o');
    assert.match(error.detail, `line 3: ${detail}`, line);
  }
});

test('squeue: blank lines, CRLF endings and an empty listing', () => {
  assert.equal(parseSqueueText(''), []);
  assert.equal(parseSqueueText('\n\n'), []);
  const jobs = parseSqueueText(`\r\n${jobLine({ id: '1' })}\r\n  \n${jobLine({ id: '2' })}`);
  assert.equal(
    jobs.map((j) => [j.id, j.nodes]),
    [
      ['1', 'n1'],
      ['2', 'n1'],
    ],
  );
});

test('squeue size limits: the output and every field', () => {
  assert.match(
    parseError(() => parseSqueueText('\n'.repeat(SLURM_OUTPUT_MAX_CHARS + 1))).detail,
    'more than the limit',
  );
  const name = 'x'.repeat(SLURM_FIELD_MAX_CHARS);
  assert.is(onlyJob(jobLine({ name })).name, name);
  assert.match(
    parseError(() => parseSqueueText(jobLine({ name: `${name}x` }))).detail,
    `line 1: job name is ${SLURM_FIELD_MAX_CHARS + 1} characters`,
  );
  assert.match(
    parseError(() => parseSqueueText(jobLine({ user: 'u'.repeat(SLURM_FIELD_MAX_CHARS + 1) }))).detail,
    'line 1: user is',
  );
  const nodes = `n[${'1,'.repeat((SLURM_HOSTLIST_MAX_CHARS - 4) / 2)}2]`;
  assert.is(nodes.length, SLURM_HOSTLIST_MAX_CHARS);
  assert.is(onlyJob(jobLine({ nodes })).nodes, nodes);
  assert.match(
    parseError(() => parseSqueueText(jobLine({ nodes: `${nodes}x` }))).detail,
    'line 1: node list is',
  );
  assert.match(
    parseError(() => parseSqueueText(jobLine({ state: 'A'.repeat(65) }))).detail,
    'line 1: job state is 65',
  );
  assert.match(
    parseError(() => parseSqueueText(jobLine({ id: '1'.repeat(SLURM_FIELD_MAX_CHARS + 1) }))).detail,
    'line 1: job id is',
  );
});

test('sinfo fixture: one row per node, flags split off, the second partition line dropped', () => {
  assert.equal(parseSinfoText(SINFO), [
    { name: 'n1', state: 'mixed', flags: '' },
    { name: 'n2', state: 'idle', flags: '' },
    { name: 'n3', state: 'down', flags: '*' },
    { name: 'n4', state: 'drained', flags: '' },
    { name: 'n5', state: 'idle', flags: '~' },
    { name: 'n6', state: 'allocated', flags: '' },
    { name: 'n7', state: 'draining', flags: '@' },
    { name: 'n8', state: 'unknown', flags: '*' },
    { name: 'n9', state: 'allocated', flags: '+' },
    { name: 'n10', state: 'mixed', flags: '-' },
  ]);
});

test('sinfo: every flag character, underscores in states, upper case lowered, first line of a node wins', () => {
  for (const flag of ['*', '~', '#', '!', '%', '$', '@', '^', '-', '+', '*~']) {
    assert.equal(parseSinfoText(`n1|idle${flag}`), [{ name: 'n1', state: 'idle', flags: flag }]);
  }
  assert.equal(parseSinfoText('n1|power_down\nn2|IDLE*\nn2|down'), [
    { name: 'n1', state: 'power_down', flags: '' },
    { name: 'n2', state: 'idle', flags: '*' },
  ]);
  assert.equal(parseSinfoText('\n\r\n'), []);
});

test('sinfo: malformed lines are SlurmParseErrors naming the line', () => {
  const cases: [string, string][] = [
    ['n9', "expected 2 '|'-separated fields (name|state)"],
    ['n9|idle|x', "expected 2 '|'-separated fields"],
    ['|idle', 'node name "" is empty'],
    ['n 9|idle', 'node name "n 9" is empty or contains spaces'],
    ['n[1-3]|idle', 'node name "n[1-3]" is a host list (was sinfo run without -N?)'],
    ['n1,n2|idle', 'node name "n1,n2" is a host list'],
    ['n9|', 'node state "" is not a state name'],
    ['n9|*', 'node state "*"'],
    ['n9|idle drain', 'node state "idle drain"'],
    ['n9|idle?', 'node state "idle?"'],
    ['n9|1dle', 'node state'],
    ['n9|*idle', 'node state'],
    [`n9|${'a'.repeat(65)}`, 'node state is 65 characters'],
    [`${'n'.repeat(SLURM_FIELD_MAX_CHARS + 1)}|idle`, 'node name is'],
  ];
  for (const [line, detail] of cases) {
    const error = parseError(() => parseSinfoText(`n1|idle\n${line}\nn2|idle`));
    assert.is(error.source, 'sinfo -N -o');
    assert.match(error.detail, `line 2: ${detail}`, line);
  }
  assert.match(
    parseError(() => parseSinfoText(' '.repeat(SLURM_OUTPUT_MAX_CHARS + 1))).detail,
    'more than the limit',
  );
});

test('non-string input from JavaScript callers is a SlurmParseError', () => {
  for (const value of [undefined, null, 42, {}, ['n1|idle'], Buffer.from('n1|idle')]) {
    parseError(() => parseSqueueText(value as unknown as string));
    parseError(() => parseSinfoText(value as unknown as string));
  }
});

// ---------------------------------------------------------------------------------------------
// Untrusted input: only well-typed rows or a SlurmParseError; valid lines round-trip.

function assertJobsWellTyped(jobs: readonly SlurmJobTextRow[]): void {
  for (const job of jobs) {
    assert.equal(Object.keys(job).sort(), ['id', 'name', 'nodes', 'runtimeSeconds', 'state', 'user']);
    assert.ok(/^[1-9]/.test(job.id) && !/[|\s]/.test(job.id));
    assert.ok(/^[A-Z][A-Z0-9_]*$/.test(job.state));
    assert.ok(job.user !== '' && !/[|\s]/.test(job.user));
    assert.ok(!/[|\s]/.test(job.nodes));
    assert.ok(!job.name.includes('\n'));
    assert.ok(Number.isSafeInteger(job.runtimeSeconds) && job.runtimeSeconds >= 0);
  }
}

function assertNodesWellTyped(nodes: readonly SlurmNodeTextRow[]): void {
  const names = nodes.map((n) => n.name);
  assert.is(new Set(names).size, names.length, 'each node once');
  for (const node of nodes) {
    assert.equal(Object.keys(node).sort(), ['flags', 'name', 'state']);
    assert.ok(/^[^\s|,[\]]+$/.test(node.name));
    assert.ok(/^[a-z][a-z_]*$/.test(node.state));
    assert.ok(/^[*~#!%$@^+-]*$/.test(node.flags));
  }
}

/** Runs `parse` on `text`; true when it parsed (result checked by `check`), false on SlurmParseError. */
function survives<T>(parse: (text: string) => T, check: (value: T) => void, text: string): boolean {
  let result: T;
  try {
    result = parse(text);
  } catch (error) {
    if (error instanceof SlurmParseError) return false;
    throw error;
  }
  check(result);
  return true;
}

test('fuzz: arbitrary strings give rows or a SlurmParseError, nothing else', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
      survives(parseSqueueText, assertJobsWellTyped, text);
      survives(parseSinfoText, assertNodesWellTyped, text);
    }),
    { numRuns: 1000 },
  );
});

test('fuzz: fixture lines with characters inserted, deleted or replaced', () => {
  const lines = [...SQUEUE.trim().split('\n'), ...SINFO.trim().split('\n')];
  const noise = fc.constantFrom(
    '|',
    ' ',
    '\n',
    '\r',
    ':',
    '-',
    '_',
    '[',
    ']',
    '*',
    '0',
    '9',
    'A',
    'a',
    '',
    'é',
  );
  let parsed = 0;
  fc.assert(
    fc.property(fc.constantFrom(...lines), fc.nat(), fc.nat({ max: 2 }), noise, (line, at, cut, insert) => {
      const i = at % (line.length + 1);
      const text = line.slice(0, i) + insert + line.slice(i + cut);
      if (survives(parseSqueueText, assertJobsWellTyped, text)) parsed++;
      survives(parseSinfoText, assertNodesWellTyped, text);
    }),
    { numRuns: 2000 },
  );
  assert.ok(parsed > 100, `only ${parsed} mutated lines parsed: the mutations are too wild to test much`);
});

const noSpaceOrPipe = (minLength: number, maxLength: number) =>
  fc.string({ minLength, maxLength }).filter((s) => /^[^\s|]*$/.test(s));

const jobRow: fc.Arbitrary<SlurmJobTextRow> = fc
  .record(
    {
      id: fc.oneof(
        fc.integer({ min: 1, max: 0xffffffff }).map(String),
        fc
          .tuple(fc.integer({ min: 1, max: 999999 }), fc.integer({ min: 0, max: 9999 }))
          .map(([job, task]) => `${job}_${task}`),
        fc
          .tuple(fc.integer({ min: 1, max: 999999 }), fc.nat(50), fc.nat(50))
          .map(([job, a, b]) => `${job}_[${a}-${a + b}]`),
        fc.tuple(fc.integer({ min: 1, max: 999999 }), fc.nat(9)).map(([job, part]) => `${job}+${part}`),
      ),
      // Pieces of any text with '|' mixed in often, since a name is where squeue's output is ambiguous.
      name: fc
        .array(fc.oneof(fc.constant('|'), fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 8 })
        .map((parts) => parts.join(''))
        .filter((s) => !s.includes('\n')),
      state: fc.oneof(
        fc.constantFrom(
          'PENDING',
          'RUNNING',
          'COMPLETED',
          'FAILED',
          'CANCELLED',
          'OUT_OF_MEMORY',
          'NODE_FAIL',
        ),
        fc.stringMatching(/^[A-Z][A-Z0-9_]{0,20}$/),
      ),
      user: noSpaceOrPipe(1, 16),
      runtimeSeconds: fc.oneof(fc.nat(4000), fc.nat(100_000), fc.nat(999 * 86400)),
      nodes: noSpaceOrPipe(0, 30),
    },
    { noNullPrototype: true },
  )
  .map((row) => (row.state === 'PENDING' ? { ...row, runtimeSeconds: 0 } : row));

test('fuzz: generated squeue lines round-trip, names with "|" and every time form included', () => {
  let withPipe = 0;
  fc.assert(
    fc.property(fc.array(jobRow, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'), (rows, eol) => {
      const text = rows
        .map((r) => [r.id, r.name, r.state, r.user, elapsedText(r.runtimeSeconds), r.nodes].join('|'))
        .join(eol);
      assert.equal(parseSqueueText(text), rows);
      if (rows.some((r) => r.name.includes('|'))) withPipe++;
    }),
    { numRuns: 1000 },
  );
  assert.ok(withPipe > 100, `only ${withPipe} runs had a name with '|'`);
});

test('fuzz: generated sinfo lines round-trip', () => {
  const node = fc.record(
    {
      name: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => /^[^\s|,[\]]+$/.test(s)),
      state: fc.stringMatching(/^[a-z][a-z_]{0,15}$/),
      flags: fc.constantFrom('', '*', '~', '#', '!', '%', '$', '@', '^', '-', '+'),
    },
    { noNullPrototype: true },
  );
  fc.assert(
    fc.property(fc.uniqueArray(node, { selector: (n) => n.name, maxLength: 8 }), (nodes) => {
      const text = `${nodes.map((n) => `${n.name}|${n.state}${n.flags}`).join('\n')}\n`;
      assert.equal(parseSinfoText(text), nodes);
    }),
    { numRuns: 500 },
  );
});

test.run();
