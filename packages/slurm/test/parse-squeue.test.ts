// squeue --json of SLURM 22.05: the real sample (jobs 1 COMPLETED, 2 FAILED with exit 3, 3 RUNNING,
// 4 PENDING on Resources), its quirks (raw wait status, ignored filters, null time limit, projected
// end time), and untrusted input: every outcome is a well-typed job list or a SlurmParseError.
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isSlurmParseError, SlurmParseError } from '../src/parse/errors.js';
import { SLURM_OUTPUT_MAX_CHARS } from '../src/parse/limits.js';
import {
  filterJobs,
  jobHasEnded,
  jobRuntimeSeconds,
  parseSqueueJson,
  type SlurmJobInfo,
} from '../src/parse/squeue.js';
import { parseError } from './support/parse-error.js';

const FIXTURE = readFileSync(new URL('./fixtures/squeue.json', import.meta.url), 'utf8');

type Json = { [key: string]: unknown };

/** The fixture as a mutable object. */
function fixture(): Json & { jobs: Json[] } {
  return JSON.parse(FIXTURE) as Json & { jobs: Json[] };
}

/** A copy of the fixture with `edit` applied to job `index`. */
function withJob(index: number, edit: (job: Json) => void): string {
  const doc = fixture();
  const job = doc.jobs[index];
  if (job === undefined) throw new Error(`no job ${index} in the fixture`);
  edit(job);
  return JSON.stringify(doc);
}

function firstJob(text: string): SlurmJobInfo {
  const job = parseSqueueJson(text)[0];
  if (job === undefined) throw new Error('no job parsed');
  return job;
}

const byId = (jobs: readonly SlurmJobInfo[], id: number): SlurmJobInfo => {
  const job = jobs.find((j) => j.id === id);
  if (job === undefined) throw new Error(`job ${id} missing`);
  return job;
};

test('fixture: four jobs in squeue order with their states and reasons', () => {
  const jobs = parseSqueueJson(FIXTURE);
  assert.equal(
    jobs.map((j) => [j.id, j.name, j.state, j.reason]),
    [
      [1, 'wrap', 'COMPLETED', 'None'],
      [2, 'wrap', 'FAILED', 'NonZeroExitCode'],
      [3, 'sleeper', 'RUNNING', 'None'],
      [4, 'pending', 'PENDING', 'Resources'],
    ],
  );
});

test('fixture: job 1 COMPLETED, every field', () => {
  assert.equal(byId(parseSqueueJson(FIXTURE), 1), {
    id: 1,
    arrayJobId: null,
    arrayTaskId: null,
    name: 'wrap',
    user: 'root',
    state: 'COMPLETED',
    reason: 'None',
    partition: 'debug',
    nodes: 'n1',
    submitTime: 1796039476,
    startTime: 1796039479,
    endTime: 1796039481,
    suspendTime: null,
    preSuspendSeconds: 0,
    timeLimitMinutes: null,
    exitCode: { code: 0, signal: 0 },
  });
});

test('fixture: job 2 FAILED, raw wait status 768 decodes to exit 3', () => {
  const raw = fixture().jobs[1];
  assert.is(raw?.exit_code, 768, 'the sample itself carries the raw wait status');
  const job = byId(parseSqueueJson(FIXTURE), 2);
  assert.is(job.state, 'FAILED');
  assert.equal(job.exitCode, { code: 3, signal: 0 });
  assert.is(job.startTime, 1796039490);
  assert.is(job.endTime, 1796039490);
});

test('fixture: job 3 RUNNING, end_time is a projection one year after the start', () => {
  const job = byId(parseSqueueJson(FIXTURE), 3);
  assert.is(job.state, 'RUNNING');
  assert.is(job.nodes, 'n1');
  assert.is(job.startTime, 1796039490);
  assert.is(job.endTime, 1796039490 + 365 * 24 * 3600);
  assert.is(job.timeLimitMinutes, null, 'unlimited');
  assert.equal(job.exitCode, { code: 0, signal: 0 });
});

test('fixture: job 4 PENDING on Resources, no nodes and no start or end', () => {
  const job = byId(parseSqueueJson(FIXTURE), 4);
  assert.is(job.state, 'PENDING');
  assert.is(job.reason, 'Resources');
  assert.is(job.nodes, '');
  assert.is(job.submitTime, 1796039489);
  assert.is(job.startTime, null);
  assert.is(job.endTime, null);
});

test('runtime: finished = end - start, running = now - start, pending = 0', () => {
  const jobs = parseSqueueJson(FIXTURE);
  const now = 1796039490 + 100;
  assert.is(jobRuntimeSeconds(byId(jobs, 1), now), 2);
  assert.is(jobRuntimeSeconds(byId(jobs, 2), now), 0);
  assert.is(jobRuntimeSeconds(byId(jobs, 3), now), 100, 'not the projected end');
  assert.is(jobRuntimeSeconds(byId(jobs, 4), now), 0);
});

test('runtime: never negative, pending with an expected start is 0, floors fractions', () => {
  const running = {
    state: 'RUNNING',
    startTime: 1000,
    endTime: null,
    suspendTime: null,
    preSuspendSeconds: 0,
  };
  assert.is(jobRuntimeSeconds(running, 900), 0, 'clock behind the start');
  assert.is(jobRuntimeSeconds(running, 1010.9), 10);
  assert.is(jobRuntimeSeconds({ ...running, state: 'PENDING', endTime: 5000 }, 2000), 0);
  assert.is(jobRuntimeSeconds({ ...running, state: 'COMPLETED', endTime: 990 }, 2000), 0);
  assert.is(jobRuntimeSeconds({ ...running, startTime: null }, 2000), 0);
  assert.is(jobRuntimeSeconds({ ...running, state: 'CANCELLED', endTime: null }, 1500), 500);
  assert.is(jobRuntimeSeconds({ ...running, state: 'COMPLETING', endTime: 1300 }, 5000), 300);
});

test('runtime: suspended jobs count the time before the suspend; resumed jobs add it', () => {
  const base = { startTime: 1000, endTime: 99999, suspendTime: 1500, preSuspendSeconds: 400 };
  assert.is(jobRuntimeSeconds({ ...base, state: 'SUSPENDED' }, 3000), 400);
  assert.is(jobRuntimeSeconds({ ...base, state: 'RUNNING' }, 1600), 500, 'resumed at 1500 after 400 s');
  assert.is(jobRuntimeSeconds({ ...base, state: 'COMPLETED', endTime: 1700 }, 9000), 600);
});

test('runtime: a non-finite clock is a RangeError', () => {
  const job = byId(parseSqueueJson(FIXTURE), 3);
  assert.throws(
    () => jobRuntimeSeconds(job, Number.NaN),
    (e: unknown) => e instanceof RangeError,
  );
  assert.throws(
    () => jobRuntimeSeconds(job, Number.POSITIVE_INFINITY),
    (e: unknown) => e instanceof RangeError,
  );
});

test('jobHasEnded: final states only; COMPLETING, running and pending jobs have not ended', () => {
  const states = parseSqueueJson(FIXTURE).map((job) => [job.state, jobHasEnded(job.state)]);
  assert.equal(states, [
    ['COMPLETED', true],
    ['FAILED', true],
    ['RUNNING', false],
    ['PENDING', false],
  ]);
  for (const state of [
    'CANCELLED',
    'TIMEOUT',
    'NODE_FAIL',
    'PREEMPTED',
    'BOOT_FAIL',
    'DEADLINE',
    'OUT_OF_MEMORY',
  ])
    assert.ok(jobHasEnded(state), state);
  for (const state of ['COMPLETING', 'CONFIGURING', 'SUSPENDED', 'REQUEUED', 'SPECIAL_EXIT', 'completed', ''])
    assert.not.ok(jobHasEnded(state), state);
});

test('filterJobs: squeue --json ignores -j, so select client-side, keeping order', () => {
  const jobs = parseSqueueJson(FIXTURE);
  assert.equal(
    filterJobs(jobs, [2]).map((j) => j.id),
    [2],
  );
  assert.equal(
    filterJobs(jobs, new Set([4, 99, 2])).map((j) => j.id),
    [2, 4],
  );
  assert.equal(filterJobs(jobs, []), []);
});

test('filterJobs: an array job id selects all of its tasks, like squeue -j', () => {
  const doc = fixture();
  const [a, b] = [doc.jobs[0], doc.jobs[1]];
  if (a === undefined || b === undefined) throw new Error('fixture changed');
  Object.assign(a, { job_id: 10, array_job_id: 10, array_task_id: 0 });
  Object.assign(b, { job_id: 11, array_job_id: 10, array_task_id: 1 });
  const jobs = parseSqueueJson(JSON.stringify(doc));
  assert.equal(
    filterJobs(jobs, [10]).map((j) => [j.id, j.arrayJobId, j.arrayTaskId]),
    [
      [10, 10, 0],
      [11, 10, 1],
    ],
  );
  assert.equal(
    filterJobs(jobs, [11]).map((j) => j.id),
    [11],
  );
});

test('time_limit: minutes, null when null, absent, INFINITE or NO_VAL', () => {
  assert.is(firstJob(withJob(0, (j) => Object.assign(j, { time_limit: 60 }))).timeLimitMinutes, 60);
  assert.is(firstJob(withJob(0, (j) => Object.assign(j, { time_limit: 0 }))).timeLimitMinutes, 0);
  assert.is(firstJob(withJob(0, (j) => Object.assign(j, { time_limit: 0xffffffff }))).timeLimitMinutes, null);
  assert.is(firstJob(withJob(0, (j) => Object.assign(j, { time_limit: 0xfffffffe }))).timeLimitMinutes, null);
  assert.is(firstJob(withJob(0, (j) => delete j.time_limit)).timeLimitMinutes, null);
  parseError(() => parseSqueueJson(withJob(0, (j) => Object.assign(j, { time_limit: 'UNLIMITED' }))));
  parseError(() => parseSqueueJson(withJob(0, (j) => Object.assign(j, { time_limit: -1 }))));
});

test('exit_code: signals, core dumps, sentinels and out-of-range statuses', () => {
  const exit = (value: unknown) =>
    firstJob(withJob(0, (j) => Object.assign(j, { exit_code: value }))).exitCode;
  assert.equal(exit(9), { code: 0, signal: 9 }, 'SIGKILL');
  assert.equal(exit(139), { code: 0, signal: 11 }, 'SIGSEGV with core dump');
  assert.equal(exit(255 << 8), { code: 255, signal: 0 });
  assert.is(exit(null), null);
  assert.is(exit(0xfffffffe), null, 'NO_VAL');
  assert.is(firstJob(withJob(0, (j) => delete j.exit_code)).exitCode, null);
  const tooBig = parseError(() => exit(0x10000));
  assert.match(tooBig.detail, 'jobs[0].exit_code');
  parseError(() => exit(-1));
  parseError(() => exit(1.5));
  parseError(() => exit('768'));
});

test('times: 0 and null are unset; negative, fractional or absurd values are refused', () => {
  const start = (value: unknown) =>
    firstJob(withJob(0, (j) => Object.assign(j, { start_time: value }))).startTime;
  assert.is(start(0), null);
  assert.is(start(null), null);
  assert.is(start(1), 1);
  for (const bad of [-5, 1.25, 1e15, '1796039479', true, {}]) {
    const error = parseError(() => start(bad));
    assert.match(error.detail, 'jobs[0].start_time');
  }
});

test('top-level errors are thrown with SLURM messages', () => {
  const doc = fixture();
  doc.errors = [
    { error: 'Invalid job id specified', errno: 2017 },
    { description: 'lookup failed', error_number: 1, error: 'Unspecified error', source: 'slurm_load_jobs' },
  ];
  const error = parseError(() => parseSqueueJson(JSON.stringify(doc)));
  assert.is(error.source, 'squeue --json');
  assert.match(error.message, 'Invalid job id specified');
  assert.match(error.message, 'errno 2017');
  assert.match(error.message, 'lookup failed');
  assert.match(error.message, 'slurm_load_jobs');
  doc.errors = ['just text', 42, null];
  assert.match(parseError(() => parseSqueueJson(JSON.stringify(doc))).message, 'just text');
  doc.errors = 'not a list';
  assert.match(parseError(() => parseSqueueJson(JSON.stringify(doc))).detail, 'errors: expected an array');
});

test('missing or null errors list, and an empty jobs list, are fine', () => {
  assert.equal(parseSqueueJson('{"jobs": []}'), []);
  assert.equal(parseSqueueJson('{"errors": null, "jobs": []}'), []);
});

test('malformed documents are SlurmParseErrors with a clear detail', () => {
  const cases: [string, string][] = [
    ['', 'not valid JSON'],
    ['{"jobs": [', 'not valid JSON'],
    ['squeue: error: Invalid user', 'not valid JSON'],
    ['[]', '(top level): expected an object, got an array of 0'],
    ['null', '(top level): expected an object, got null'],
    ['{}', 'jobs: expected an array, got nothing (field absent)'],
    ['{"jobs": {}}', 'jobs: expected an array, got an object'],
    ['{"jobs": [1]}', 'jobs[0]: expected an object, got 1'],
    ['{"jobs": [null]}', 'jobs[0]: expected an object, got null'],
  ];
  for (const [text, detail] of cases) {
    const error = parseError(() => parseSqueueJson(text));
    assert.match(error.detail, detail, text);
    assert.ok(isSlurmParseError(error));
  }
});

test('wrong field types name the job and field', () => {
  const cases: [(j: Json) => void, string][] = [
    [
      (j) => Object.assign(j, { job_id: '1' }),
      'jobs[0].job_id: expected an integer in 1..4294967295, got "1"',
    ],
    [(j) => Object.assign(j, { job_id: 0 }), 'jobs[0].job_id'],
    [(j) => delete j.job_id, 'jobs[0].job_id: expected an integer in 1..4294967295, got nothing'],
    [
      (j) => Object.assign(j, { job_state: 'running' }),
      'jobs[0].job_state: expected an upper-case state name',
    ],
    [(j) => Object.assign(j, { job_state: ['RUNNING'] }), 'jobs[0].job_state: expected a string'],
    [(j) => Object.assign(j, { name: null }), 'jobs[0].name: expected a string, got null'],
    [(j) => delete j.user_name, 'jobs[0].user_name'],
    [(j) => Object.assign(j, { nodes: 7 }), 'jobs[0].nodes: expected a string'],
    [(j) => Object.assign(j, { array_job_id: -1 }), 'jobs[0].array_job_id'],
    [(j) => Object.assign(j, { pre_sus_time: 'x' }), 'jobs[0].pre_sus_time'],
  ];
  for (const [edit, detail] of cases) {
    assert.match(parseError(() => parseSqueueJson(withJob(0, edit))).detail, detail);
  }
  assert.match(
    parseError(() => parseSqueueJson(withJob(3, (j) => Object.assign(j, { partition: false })))).detail,
    'jobs[3].partition',
  );
});

test('a null nodes field is an empty host list', () => {
  assert.is(firstJob(withJob(0, (j) => Object.assign(j, { nodes: null }))).nodes, '');
});

test('fields are read as own properties only', () => {
  const doc = fixture();
  const text = JSON.stringify(doc).replace('"job_id":1,', '"__proto__":{"job_id":1},');
  assert.ok(text.includes('__proto__'));
  assert.match(parseError(() => parseSqueueJson(text)).detail, 'jobs[0].job_id');
});

test('size limits: the whole output and each field', () => {
  const huge = ' '.repeat(SLURM_OUTPUT_MAX_CHARS + 1);
  assert.match(parseError(() => parseSqueueJson(huge)).detail, 'more than the limit');
  const longName = 'x'.repeat(64 * 1024 + 1);
  assert.match(
    parseError(() => parseSqueueJson(withJob(0, (j) => Object.assign(j, { name: longName })))).detail,
    'jobs[0].name: 65537 characters',
  );
  const longHostList = `n[${'1,'.repeat(300_000)}2]`;
  assert.is(firstJob(withJob(0, (j) => Object.assign(j, { nodes: longHostList }))).nodes, longHostList);
});

test('non-string input from JavaScript callers is a SlurmParseError', () => {
  for (const value of [undefined, null, 42, {}, Buffer.from('{}')]) {
    parseError(() => parseSqueueJson(value as unknown as string));
  }
});

test('a newer openapi plugin gets a hint in the error', () => {
  const doc = fixture();
  doc.meta = { plugin: { type: 'openapi/v0.0.39' } };
  const job = doc.jobs[0];
  if (job !== undefined) job.time_limit = { set: false, infinite: true, number: 0 };
  const error = parseError(() => parseSqueueJson(JSON.stringify(doc)));
  assert.match(error.detail, 'jobs[0].time_limit');
  assert.match(error.detail, 'this parser reads openapi/v0.0.38');
  assert.ok(error.cause instanceof SlurmParseError);
});

// ---------------------------------------------------------------------------------------------
// Untrusted input: only a well-typed result or a SlurmParseError.

const isEpoch = (v: unknown) => v === null || (Number.isSafeInteger(v) && (v as number) > 0);
const isUint = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

function assertWellTyped(jobs: unknown): void {
  assert.ok(Array.isArray(jobs));
  for (const job of jobs as SlurmJobInfo[]) {
    assert.equal(Object.keys(job).sort(), [
      'arrayJobId',
      'arrayTaskId',
      'endTime',
      'exitCode',
      'id',
      'name',
      'nodes',
      'partition',
      'preSuspendSeconds',
      'reason',
      'startTime',
      'state',
      'submitTime',
      'suspendTime',
      'timeLimitMinutes',
      'user',
    ]);
    assert.ok(isUint(job.id) && job.id > 0);
    assert.ok(job.arrayJobId === null || (isUint(job.arrayJobId) && job.arrayJobId > 0));
    assert.ok(job.arrayTaskId === null || isUint(job.arrayTaskId));
    for (const text of [job.name, job.user, job.reason, job.partition, job.nodes])
      assert.type(text, 'string');
    assert.ok(/^[A-Z][A-Z0-9_]*$/.test(job.state));
    for (const time of [job.submitTime, job.startTime, job.endTime, job.suspendTime])
      assert.ok(isEpoch(time));
    assert.ok(isUint(job.preSuspendSeconds));
    assert.ok(job.timeLimitMinutes === null || isUint(job.timeLimitMinutes));
    if (job.exitCode !== null) {
      assert.ok(isUint(job.exitCode.code) && job.exitCode.code <= 255);
      assert.ok(isUint(job.exitCode.signal) && job.exitCode.signal <= 127);
    }
    assert.ok(isUint(jobRuntimeSeconds(job, 1796039600)));
  }
}

/** Parses `text`; true when it parsed (and the result is well typed), false on a SlurmParseError. */
function survives(text: string): boolean {
  let result: unknown;
  try {
    result = parseSqueueJson(text);
  } catch (error) {
    if (error instanceof SlurmParseError) return false;
    throw error;
  }
  assertWellTyped(result);
  return true;
}

test('fuzz: arbitrary strings', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      survives(text);
    }),
    { numRuns: 500 },
  );
});

test('fuzz: arbitrary JSON values', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      survives(JSON.stringify(value) ?? 'null');
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.array(fc.dictionary(fc.string(), fc.jsonValue())), (jobs) => {
      survives(JSON.stringify({ jobs }));
    }),
    { numRuns: 300 },
  );
});

const READ_KEYS = [
  'job_id',
  'array_job_id',
  'array_task_id',
  'name',
  'user_name',
  'job_state',
  'state_reason',
  'partition',
  'nodes',
  'submit_time',
  'start_time',
  'end_time',
  'suspend_time',
  'pre_sus_time',
  'time_limit',
  'exit_code',
];

test('fuzz: the fixture with one job field replaced or removed', () => {
  const baseline = parseSqueueJson(FIXTURE);
  const firstRaw = fixture().jobs[0] ?? {};
  const keys = [...new Set([...Object.keys(firstRaw), ...READ_KEYS])];
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3 }),
      fc.constantFrom(...keys),
      fc.option(fc.jsonValue(), { nil: undefined }),
      (index, key, value) => {
        const text = withJob(index, (job) => {
          if (value === undefined) delete job[key];
          else job[key] = value;
        });
        survives(text);
        if (!READ_KEYS.includes(key)) assert.equal(parseSqueueJson(text), baseline, `${key} is not read`);
      },
    ),
    { numRuns: 1000 },
  );
});

test('fuzz: job-shaped records with plausible and arbitrary values', () => {
  // Mostly values of the right kind (with SLURM's sentinels and edge values), sometimes anything.
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 30, arbitrary: arb }, fc.jsonValue());
  const int = fc.oneof(
    { weight: 10, arbitrary: fc.integer({ min: 1, max: 70000 }) },
    fc.constantFrom(-1, 0, 0xfffffffe, 0xffffffff, 2 ** 53, 1796039479, 1.5),
  );
  const state = fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom('RUNNING', 'PENDING', 'FAILED', 'SUSPENDED', 'COMPLETING') },
    fc.constantFrom('running', '', 'X Y', 'A'.repeat(65)),
  );
  const job = fc.record({
    job_id: maybe(int),
    array_job_id: maybe(fc.option(int)),
    array_task_id: maybe(fc.option(int)),
    name: maybe(fc.string()),
    user_name: maybe(fc.string()),
    job_state: maybe(state),
    state_reason: maybe(fc.string()),
    partition: maybe(fc.string()),
    nodes: maybe(fc.option(fc.string())),
    submit_time: maybe(fc.option(int)),
    start_time: maybe(fc.option(int)),
    end_time: maybe(fc.option(int)),
    suspend_time: maybe(fc.option(int)),
    pre_sus_time: maybe(fc.option(int)),
    time_limit: maybe(fc.option(int)),
    exit_code: maybe(fc.option(int)),
  });
  const errors = fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, fc.jsonValue());
  let parsed = 0;
  fc.assert(
    fc.property(fc.array(job, { minLength: 1, maxLength: 3 }), errors, (jobs, errorList) => {
      if (survives(JSON.stringify({ errors: errorList, jobs }))) parsed++;
    }),
    { numRuns: 1000 },
  );
  assert.ok(parsed > 50, `only ${parsed} of 1000 generated documents parsed: the generator is too wild`);
});

test.run();
