// scontrol text output of SLURM 22.05 (it has no --json): `scontrol -o show job|node` records
// from the real samples (values with spaces, keys with ':' and '/', values with '=', an empty
// trailing value), the multi-line form, `scontrol ping`, and untrusted input.
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SlurmParseError } from '../src/parse/errors.js';
import { SLURM_OUTPUT_MAX_CHARS } from '../src/parse/limits.js';
import { parseScontrolPing, parseScontrolRecords } from '../src/parse/scontrol.js';
import { parseError } from './support/parse-error.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const JOB = fixture('scontrol-show-job.txt');
const NODE = fixture('scontrol-show-node.txt');
const PING = fixture('scontrol-ping.txt');

function only<T>(list: readonly T[]): T {
  assert.is(list.length, 1);
  const [item] = list;
  if (item === undefined) throw new Error('empty');
  return item;
}

test('show job fixture: job 3 RUNNING, values exactly as printed', () => {
  const job = only(parseScontrolRecords(JOB));
  assert.is(Object.keys(job).length, 60);
  assert.is(job.JobId, '3');
  assert.is(job.JobName, 'sleeper');
  assert.is(job.UserId, 'root(0)');
  assert.is(job.JobState, 'RUNNING');
  assert.is(job.Reason, 'None');
  assert.is(job.ExitCode, '0:0');
  assert.is(job.TimeLimit, 'UNLIMITED');
  assert.is(job.StartTime, '2026-11-30T11:51:30');
  assert.is(job.EndTime, 'Unknown');
  assert.is(job.Partition, 'debug');
  assert.is(job.NodeList, 'n1');
  assert.is(job.Command, '(null)');
  assert.is(job.StdOut, '/var/log/slurm/job-3.out');
});

test('show job fixture: keys with ":" and "/", values with "=", an empty last value', () => {
  const job = only(parseScontrolRecords(JOB));
  assert.is(job['AllocNode:Sid'], 'ctl1:0');
  assert.is(job['CPUs/Task'], '1');
  assert.is(job['ReqB:S:C:T'], '0:0:*:*');
  assert.is(job['NtasksPerN:B:S:C'], '0:0:*:*');
  assert.is(job.TRES, 'cpu=1,node=1,billing=1');
  assert.is(job.Power, '');
  assert.ok(Object.hasOwn(job, 'Power'));
});

test('show node fixture: node n1, OS value with spaces and the double spaces around it', () => {
  const node = only(parseScontrolRecords(NODE));
  assert.is(Object.keys(node).length, 37);
  assert.is(node.NodeName, 'n1');
  assert.is(node.OS, 'Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0');
  assert.is(node.RealMemory, '1000');
  assert.is(node.CoresPerSocket, '1');
  assert.is(node.CPUAlloc, '1');
  assert.is(node.NodeAddr, '10.77.0.12');
  assert.is(node.State, 'MIXED');
  assert.is(node.Partitions, 'debug');
  assert.is(node.BootTime, '2026-11-30T10:59:17');
  assert.is(node.CfgTRES, 'cpu=2,mem=1000M,billing=2');
  assert.is(node.ExtSensorsTemp, 'n/s');
});

test('one record per line, in order; CRLF and blank lines are tolerated', () => {
  const text = `${NODE.trim()}\r\n\r\n${NODE.trim().replace('NodeName=n1', 'NodeName=n2')}\n`;
  assert.equal(
    parseScontrolRecords(text).map((r) => r.NodeName),
    ['n1', 'n2'],
  );
  assert.equal(parseScontrolRecords(`${JOB}${JOB}`).length, 2);
});

test('a reason with spaces and brackets continues its value', () => {
  const record = only(
    parseScontrolRecords(
      'NodeName=n9 State=DOWN+NOT_RESPONDING Reason=Not responding [slurm@2026-11-30T11:51:30] Weight=1',
    ),
  );
  assert.equal(record, {
    NodeName: 'n9',
    State: 'DOWN+NOT_RESPONDING',
    Reason: 'Not responding [slurm@2026-11-30T11:51:30]',
    Weight: '1',
  });
});

test('the multi-line form (without -o) gives the same records', () => {
  const multi = [
    'JobId=3 JobName=sleeper',
    '   UserId=root(0) GroupId=root(0)',
    '   JobState=RUNNING Reason=None',
    '',
    'JobId=4 JobName=pending',
    '   JobState=PENDING Reason=Resources',
    '',
  ].join('\n');
  assert.equal(parseScontrolRecords(multi), [
    {
      JobId: '3',
      JobName: 'sleeper',
      UserId: 'root(0)',
      GroupId: 'root(0)',
      JobState: 'RUNNING',
      Reason: 'None',
    },
    { JobId: '4', JobName: 'pending', JobState: 'PENDING', Reason: 'Resources' },
  ]);
});

test('leading spaces on a first line are harmless', () => {
  assert.equal(parseScontrolRecords('   JobId=7 JobState=RUNNING'), [{ JobId: '7', JobState: 'RUNNING' }]);
});

test('no jobs or nodes, or empty output, gives no records', () => {
  assert.equal(parseScontrolRecords('No jobs in the system\n'), []);
  assert.equal(parseScontrolRecords('No nodes in the system'), []);
  assert.equal(parseScontrolRecords(''), []);
  assert.equal(parseScontrolRecords('\n\n'), []);
});

test('records keep a normal prototype; odd keys stay own data', () => {
  const record = only(parseScontrolRecords('JobId=1 constructor=x toString=y __proto__=z'));
  assert.is(Object.getPrototypeOf(record), Object.prototype);
  assert.is(record.constructor, 'x');
  assert.is(record.toString, 'y __proto__=z', '"__proto__" is not a key name, so it continues the value');
  assert.equal(Object.keys(record), ['JobId', 'constructor', 'toString']);
});

test('malformed text is a SlurmParseError naming the line', () => {
  const cases: [string, string][] = [
    ['slurm_load_jobs error: Invalid job id specified', 'line 1: a record must begin with Key=Value'],
    ['JobId=1\n=oops', 'line 2: a record must begin with Key=Value, got "=oops"'],
    ['JobId=1\n   and more', 'line 2: an indented line must begin with Key=Value'],
    ['JobId=1 Comment=a JobState=x JobState=RUNNING', 'line 1: key "JobState" appears twice'],
    ['JobId=1\nJobId=2 NodeList=a NodeList=b', 'line 2: key "NodeList" appears twice'],
  ];
  for (const [text, detail] of cases) {
    const error = parseError(() => parseScontrolRecords(text));
    assert.is(error.source, 'scontrol show');
    assert.match(error.detail, detail, text);
  }
});

test('size limits: the output, each value, each key', () => {
  assert.match(
    parseError(() => parseScontrolRecords('x'.repeat(SLURM_OUTPUT_MAX_CHARS + 1))).detail,
    'more than the limit',
  );
  assert.match(
    parseError(() => parseScontrolRecords(`NodeList=${'n,'.repeat(600_000)}`)).detail,
    'value of NodeList is 1200000 characters',
  );
  assert.match(
    parseError(() => parseScontrolRecords(`Reason=${'word '.repeat(250_000)}`)).detail,
    'value of Reason is',
  );
  // An over-long key is not a key: it continues the previous value.
  const longKey = `${'K'.repeat(65)}=v`;
  assert.is(only(parseScontrolRecords(`JobId=1 ${longKey}`)).JobId, `1 ${longKey}`);
  parseError(() => parseScontrolRecords(longKey));
  parseError(() => parseScontrolRecords(42 as unknown as string));
});

test('ping fixture: the primary controller ctl1 is UP', () => {
  assert.equal(parseScontrolPing(PING), [{ controller: 'ctl1', role: 'primary', state: 'UP' }]);
});

test('ping: the banner scontrol prints when no controller answers is skipped (recorded output)', () => {
  const text = readFileSync(new URL('./fixtures/scontrol-ping-down.txt', import.meta.url), 'utf8');
  assert.match(text, /RESTORE SLURMCTLD DAEMON TO SERVICE/);
  assert.equal(parseScontrolPing(text), [{ controller: 'ci-host', role: 'primary', state: 'DOWN' }]);
  assert.throws(
    () => parseScontrolPing('*****\n** RESTORE SLURMCTLD DAEMON TO SERVICE **\n'),
    /no controller lines/,
  );
});

test('ping: primary and backups, in order, UP and DOWN', () => {
  const text = [
    'Slurmctld(primary) at ctl1 is DOWN',
    'Slurmctld(backup) at ctl2 is UP',
    'Slurmctld(backup2) at ctl3.example.org is DOWN',
    '',
  ].join('\n');
  assert.equal(parseScontrolPing(text), [
    { controller: 'ctl1', role: 'primary', state: 'DOWN' },
    { controller: 'ctl2', role: 'backup', state: 'UP' },
    { controller: 'ctl3.example.org', role: 'backup2', state: 'DOWN' },
  ]);
});

test('ping: anything else is a SlurmParseError', () => {
  const cases: [string, string][] = [
    ['', 'no controller lines'],
    ['\n  \n', 'no controller lines'],
    ['Slurmctld(primary) at ctl1 is up', 'line 1: expected'],
    ['Slurmctld(primary) at ctl1 is UP\nscontrol: error: foo', 'line 2: expected'],
    ['Slurmctld(primary) at  is UP', 'line 1'],
    ['Slurmctld() at ctl1 is UP', 'line 1'],
    ['Slurmctld(primary) at ctl1 is UPDOWN', 'line 1'],
  ];
  for (const [text, detail] of cases) {
    const error = parseError(() => parseScontrolPing(text));
    assert.is(error.source, 'scontrol ping');
    assert.match(error.detail, detail, text);
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

function assertRecords(records: Record<string, string>[] | null): void {
  if (records === null) return;
  assert.ok(Array.isArray(records));
  for (const record of records) {
    assert.is(Object.getPrototypeOf(record), Object.prototype);
    for (const [key, value] of Object.entries(record)) {
      assert.ok(/^[A-Za-z][A-Za-z0-9_:/.-]*$/.test(key), key);
      assert.type(value, 'string');
    }
  }
}

const token = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom(
    'JobId=1',
    'Reason=Not',
    'responding',
    'OS=Linux',
    '#1',
    '=',
    'A=b=c',
    '__proto__=x',
    ' ',
    '\n',
  ),
);

test('fuzz: show records from arbitrary text and token soup', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
      assertRecords(attempt(() => parseScontrolRecords(text)));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.array(token, { maxLength: 40 }),
      fc.constantFrom(' ', '  ', '\n', '\n   '),
      (tokens, sep) => {
        assertRecords(attempt(() => parseScontrolRecords(tokens.join(sep))));
      },
    ),
    { numRuns: 1000 },
  );
});

test('fuzz: the fixtures with a value replaced keep every other field', () => {
  const original = only(parseScontrolRecords(NODE));
  const keys = Object.keys(original);
  const value = fc.stringMatching(/^[^\s=]{0,20}$/);
  fc.assert(
    fc.property(fc.constantFrom(...keys), value, (key, replacement) => {
      const pattern = new RegExp(`(^| )${key.replace(/[/.]/g, '\\$&')}=\\S*`);
      const line = NODE.replace(pattern, (_, before: string) => `${before}${key}=${replacement}`);
      const record = only(parseScontrolRecords(line));
      assert.equal(record, { ...original, [key]: key === 'OS' ? record.OS : replacement });
    }),
    { numRuns: 300 },
  );
});

test('fuzz: ping lines', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      const result = attempt(() => parseScontrolPing(text));
      if (result === null) return;
      assert.ok(result.length > 0);
      for (const entry of result) {
        assert.ok(entry.state === 'UP' || entry.state === 'DOWN');
        assert.type(entry.controller, 'string');
        assert.type(entry.role, 'string');
      }
    }),
    { numRuns: 500 },
  );
  const host = fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/);
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.constantFrom('primary', 'backup', 'backup3'), host, fc.constantFrom('UP', 'DOWN')),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      (rows) => {
        const text = rows
          .map(([role, name, state]) => `Slurmctld(${role}) at ${name} is ${state}`)
          .join('\n');
        assert.equal(
          parseScontrolPing(text),
          rows.map(([role, controller, state]) => ({ controller, role, state })),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
