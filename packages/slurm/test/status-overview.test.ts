// The SLURM overview with an injected `run`: no squeue/sinfo while no controller answers (they
// would block ~10 s), JSON first, the text form per command when its JSON fails, typed errors only
// when both forms fail, and the reader's cache and shared in-flight read.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type runSlurmCommand,
  SlurmCommandError,
  type SlurmCommandOptions,
  type SlurmCommandResult,
} from '../src/daemons/command.js';
import { SlurmParseError } from '../src/parse/errors.js';
import { readSlurmOverview, type SlurmOverview, SlurmOverviewReader } from '../src/status/overview.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const SQUEUE_JSON = fixture('squeue.json');
const SINFO_JSON = fixture('sinfo.json');
const SQUEUE_TEXT = fixture('squeue-text.txt');
const SINFO_TEXT = fixture('sinfo-text.txt');
const PING_UP = fixture('scontrol-ping.txt');

const CONF = '/etc/clusteros/slurm/slurm.conf';
const PING = 'scontrol ping';
const SQUEUE = 'squeue --json';
const SINFO = 'sinfo --json';
const SQUEUE_TXT = 'squeue -h -t all -o %i|%j|%T|%u|%M|%N';
const SINFO_TXT = 'sinfo -h -N -o %N|%T';

/** A second after job 3 of the recorded sample started, plus 100 s; in ms. */
const NOW_MS = (1796039490 + 100) * 1000;

type Reply =
  | { code?: number; stdout?: string; stderr?: string }
  | Error
  | (() => Promise<SlurmCommandResult>);

/**
 * A fake `run` answering each command line from `replies` (a missing one is a test bug, thrown as
 * a plain Error). Like runSlurmCommand it rejects an exit code outside `okCodes` with a
 * SlurmCommandError, so an implementation that forgets `okCodes: [0, 1]` for ping fails here too.
 */
function fakeRun(replies: Record<string, Reply>) {
  const calls: { command: string; options: SlurmCommandOptions | undefined }[] = [];
  const run: typeof runSlurmCommand = async (program, args, options) => {
    const command = [program, ...args].join(' ');
    calls.push({ command, options });
    const reply = replies[command];
    if (reply === undefined) throw new Error(`unexpected command: ${command}`);
    if (reply instanceof Error) throw reply;
    if (typeof reply === 'function') return reply();
    const result = { code: reply.code ?? 0, stdout: reply.stdout ?? '', stderr: reply.stderr ?? '' };
    if (!(options?.okCodes ?? [0]).includes(result.code)) {
      throw new SlurmCommandError([program, ...args], result.code, result.stderr, `exit ${result.code}`);
    }
    return result;
  };
  return { run, calls, commands: () => calls.map((c) => c.command).sort() };
}

const commandError = (command: string, stderr: string, code: number | null = 1) =>
  new SlurmCommandError(
    command.split(' '),
    code,
    stderr,
    code === null ? 'no answer within 20000 ms' : `exit ${code}`,
  );

const JSON_REPLIES = {
  [PING]: { stdout: PING_UP },
  [SQUEUE]: { stdout: SQUEUE_JSON },
  [SINFO]: { stdout: SINFO_JSON },
};

const JSON_JOBS = [
  { id: '1', name: 'wrap', state: 'COMPLETED', user: 'root', runtimeSeconds: 2, nodes: 'n1' },
  { id: '2', name: 'wrap', state: 'FAILED', user: 'root', runtimeSeconds: 0, nodes: 'n1' },
  { id: '3', name: 'sleeper', state: 'RUNNING', user: 'root', runtimeSeconds: 100, nodes: 'n1' },
  { id: '4', name: 'pending', state: 'PENDING', user: 'root', runtimeSeconds: 0, nodes: '' },
];

/** The error `promise` rejects with (a resolve fails the test). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but it resolved');
}

test('controller down: no squeue or sinfo call, empty lists, at from the clock', async () => {
  // Run as root, scontrol adds a banner after the controller lines when one is down.
  const down = 'Slurmctld(primary) at ctl1 is DOWN\n';
  const banner =
    '*****************************************\n** RESTORE SLURMCTLD DAEMON TO SERVICE **\n*****************************************\n';
  for (const stdout of [down, down + banner]) {
    const fake = fakeRun({ [PING]: { code: 1, stdout } });
    const overview = await readSlurmOverview({ slurmConf: CONF, run: fake.run, now: () => 1234 });
    assert.equal(overview, { controllerUp: false, nodes: [], jobs: [], source: 'json', at: 1234 });
    assert.equal(fake.commands(), [PING], 'squeue/sinfo would block ~10 s');
    assert.is(fake.calls[0]?.options?.slurmConf, CONF);
  }
});

test('a backup controller answering counts as up', async () => {
  const stdout = 'Slurmctld(primary) at ctl1 is DOWN\nSlurmctld(backup) at ctl2 is UP\n';
  const fake = fakeRun({ ...JSON_REPLIES, [PING]: { code: 0, stdout } });
  const overview = await readSlurmOverview({ slurmConf: CONF, run: fake.run, now: () => NOW_MS });
  assert.ok(overview.controllerUp);
  assert.is(overview.jobs.length, 4);
});

test('scontrol ping failing is a typed error, and nothing else runs', async () => {
  const broken = fakeRun({
    [PING]: { code: 1, stdout: '', stderr: 'scontrol: fatal: Unable to process configuration file\n' },
  });
  const error = await rejection(readSlurmOverview({ slurmConf: CONF, run: broken.run }));
  assert.ok(error instanceof SlurmCommandError, String(error));
  assert.is(error.code, 1);
  assert.match(error.message, 'Unable to process configuration file');
  assert.equal(broken.commands(), [PING]);

  const timeout = fakeRun({ [PING]: commandError(PING, '', null) });
  assert.ok(
    (await rejection(readSlurmOverview({ slurmConf: CONF, run: timeout.run }))) instanceof SlurmCommandError,
  );
  assert.equal(timeout.commands(), [PING]);

  const garbled = fakeRun({ [PING]: { code: 0, stdout: 'pong\n' } });
  assert.ok(
    (await rejection(readSlurmOverview({ slurmConf: CONF, run: garbled.run }))) instanceof SlurmParseError,
  );
  assert.equal(garbled.commands(), [PING]);
});

test('JSON path: jobs with runtimes against the clock, nodes from sinfo, every call bounded', async () => {
  const fake = fakeRun(JSON_REPLIES);
  const overview = await readSlurmOverview({
    slurmConf: CONF,
    run: fake.run,
    now: () => NOW_MS,
    timeoutMs: 7000,
  });
  assert.equal(overview, {
    controllerUp: true,
    nodes: [{ name: 'n1', state: 'mixed' }],
    jobs: JSON_JOBS,
    source: 'json',
    at: NOW_MS,
  });
  assert.equal(fake.commands(), [PING, SINFO, SQUEUE].sort(), 'no text fallback');
  for (const { command, options } of fake.calls) {
    assert.is(options?.slurmConf, CONF, command);
    assert.is(options?.timeoutMs, command === PING ? 5000 : 7000, command);
  }
});

test('JSON path: the default timeout covers the clients own ~10-16 s retry', async () => {
  const fake = fakeRun(JSON_REPLIES);
  await readSlurmOverview({ slurmConf: CONF, run: fake.run, now: () => NOW_MS });
  const squeue = fake.calls.find((c) => c.command === SQUEUE);
  assert.ok((squeue?.options?.timeoutMs ?? 0) >= 20_000);
  assert.ok((fake.calls.find((c) => c.command === PING)?.options?.timeoutMs ?? Infinity) <= 5000);
});

test('JSON path: an array task gets the squeue form of its id', async () => {
  const doc = JSON.parse(SQUEUE_JSON) as { jobs: Record<string, unknown>[] };
  Object.assign(doc.jobs[2] ?? {}, { job_id: 15, array_job_id: 12, array_task_id: 3 });
  const fake = fakeRun({ ...JSON_REPLIES, [SQUEUE]: { stdout: JSON.stringify(doc) } });
  const overview = await readSlurmOverview({ slurmConf: CONF, run: fake.run, now: () => NOW_MS });
  assert.equal(
    overview.jobs.map((j) => j.id),
    ['1', '2', '12_3', '4'],
  );
});

test('squeue --json failing: squeue text fallback, sinfo still JSON, source text', async () => {
  const fake = fakeRun({
    ...JSON_REPLIES,
    [SQUEUE]: commandError(SQUEUE, "squeue: unrecognized option '--json'"),
    [SQUEUE_TXT]: { stdout: SQUEUE_TEXT },
  });
  const overview = await readSlurmOverview({
    slurmConf: CONF,
    run: fake.run,
    now: () => NOW_MS,
    timeoutMs: 9000,
  });
  assert.is(overview.source, 'text');
  assert.ok(overview.controllerUp);
  assert.is(overview.jobs.length, 12);
  assert.equal(overview.jobs[7], {
    id: '20',
    name: 'train|model=v2|big',
    state: 'RUNNING',
    user: 'bob',
    runtimeSeconds: 183845,
    nodes: 'n[1-3],gpu7',
  });
  assert.equal(overview.nodes, [{ name: 'n1', state: 'mixed' }], 'sinfo from its JSON');
  assert.equal(fake.commands(), [PING, SINFO, SQUEUE, SQUEUE_TXT].sort());
  assert.is(fake.calls.find((c) => c.command === SQUEUE_TXT)?.options?.timeoutMs, 9000);
});

test('sinfo --json output that does not parse: sinfo text fallback, source text', async () => {
  const fake = fakeRun({
    ...JSON_REPLIES,
    [SINFO]: { stdout: 'not json' },
    [SINFO_TXT]: { stdout: SINFO_TEXT },
  });
  const overview = await readSlurmOverview({ slurmConf: CONF, run: fake.run, now: () => NOW_MS });
  assert.is(overview.source, 'text');
  assert.equal(overview.jobs, JSON_JOBS, 'squeue from its JSON');
  assert.equal(overview.nodes.slice(0, 4), [
    { name: 'n1', state: 'mixed' },
    { name: 'n2', state: 'idle' },
    { name: 'n3', state: 'down' },
    { name: 'n4', state: 'drained' },
  ]);
  assert.is(overview.nodes.length, 10, 'n6, listed for two partitions, once');
  assert.equal(fake.commands(), [PING, SINFO, SINFO_TXT, SQUEUE].sort());
});

test('both JSON calls failing: both text forms', async () => {
  const fake = fakeRun({
    [PING]: { stdout: PING_UP },
    [SQUEUE]: { stdout: '{"errors":[{"error":"boom"}],"jobs":[]}' },
    [SINFO]: commandError(SINFO, 'sinfo: error: no json plugin'),
    [SQUEUE_TXT]: { stdout: SQUEUE_TEXT },
    [SINFO_TXT]: { stdout: SINFO_TEXT },
  });
  const overview = await readSlurmOverview({ slurmConf: CONF, run: fake.run, now: () => NOW_MS });
  assert.is(overview.source, 'text');
  assert.is(overview.jobs.length, 12);
  assert.is(overview.nodes.length, 10);
});

test('both forms failing: the typed error of the text form', async () => {
  const commandFails = fakeRun({
    ...JSON_REPLIES,
    [SQUEUE]: commandError(SQUEUE, 'slurm_load_jobs error: Unable to contact slurm controller', null),
    [SQUEUE_TXT]: commandError(
      SQUEUE_TXT,
      'slurm_load_jobs error: Unable to contact slurm controller (connect failure)',
    ),
  });
  const error = await rejection(
    readSlurmOverview({ slurmConf: CONF, run: commandFails.run, now: () => NOW_MS }),
  );
  assert.ok(error instanceof SlurmCommandError, String(error));
  assert.equal(error.command, SQUEUE_TXT.split(' '));

  const parseFails = fakeRun({
    ...JSON_REPLIES,
    [SINFO]: { stdout: '{}' },
    [SINFO_TXT]: { stdout: 'n[1-3]|idle\n' },
  });
  const parse = await rejection(
    readSlurmOverview({ slurmConf: CONF, run: parseFails.run, now: () => NOW_MS }),
  );
  assert.ok(parse instanceof SlurmParseError, String(parse));
  assert.is(parse.source, 'sinfo -N -o');
});

test('an error that is neither a command nor a parse error is not hidden behind the fallback', async () => {
  const fake = fakeRun({ ...JSON_REPLIES, [SQUEUE]: new TypeError('bug in run') });
  const error = await rejection(readSlurmOverview({ slurmConf: CONF, run: fake.run, now: () => NOW_MS }));
  assert.ok(error instanceof TypeError);
  assert.not.ok(fake.commands().includes(SQUEUE_TXT));
});

test('a bad timeoutMs is a RangeError before anything runs', async () => {
  for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    const fake = fakeRun(JSON_REPLIES);
    const error = await rejection(readSlurmOverview({ slurmConf: CONF, run: fake.run, timeoutMs }));
    assert.ok(error instanceof RangeError, String(timeoutMs));
    assert.equal(fake.calls, []);
  }
});

// ---------------------------------------------------------------------------------------------
// The reader: cache for maxAgeMs, one shared read in flight, failures not cached.

/** A promise with its resolve and reject. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('reader: served from the cache until maxAgeMs has passed on the injected clock', async () => {
  let clock = NOW_MS;
  const fake = fakeRun(JSON_REPLIES);
  const reader = new SlurmOverviewReader({
    slurmConf: CONF,
    run: fake.run,
    now: () => clock,
    maxAgeMs: 2000,
  });
  const first = await reader.read();
  assert.is(fake.calls.length, 3);
  assert.is(first.at, NOW_MS);

  clock += 1999;
  const second = await reader.read();
  assert.is(second, first, 'the cached snapshot itself');
  assert.is(fake.calls.length, 3, 'no command within maxAgeMs');

  clock += 1;
  const third = await reader.read();
  assert.is.not(third, first);
  assert.is(fake.calls.length, 6, 'a fresh read once maxAgeMs has passed');
  assert.is(third.at, NOW_MS + 2000);
  assert.is(third.jobs[2]?.runtimeSeconds, 102, 'runtimes move with the clock');
});

test('reader: the default maxAgeMs is 2000 ms', async () => {
  let clock = 0;
  const fake = fakeRun(JSON_REPLIES);
  const reader = new SlurmOverviewReader({ slurmConf: CONF, run: fake.run, now: () => clock });
  await reader.read();
  clock = 1999;
  await reader.read();
  assert.is(fake.calls.length, 3);
  clock = 2000;
  await reader.read();
  assert.is(fake.calls.length, 6);
});

test('reader: a clock that steps back does not keep a snapshot alive', async () => {
  let clock = NOW_MS;
  const fake = fakeRun(JSON_REPLIES);
  const reader = new SlurmOverviewReader({ slurmConf: CONF, run: fake.run, now: () => clock });
  await reader.read();
  clock -= 60_000;
  await reader.read();
  assert.is(fake.calls.length, 6);
});

test('reader: concurrent reads share one set of commands and get the same snapshot', async () => {
  const ping = deferred<SlurmCommandResult>();
  const fake = fakeRun({ ...JSON_REPLIES, [PING]: () => ping.promise });
  const reader = new SlurmOverviewReader({ slurmConf: CONF, run: fake.run, now: () => NOW_MS, maxAgeMs: 0 });
  const reads = [reader.read(), reader.read(), reader.read()];
  await Promise.resolve();
  ping.resolve({ code: 0, stdout: PING_UP, stderr: '' });
  const results: SlurmOverview[] = await Promise.all(reads);
  assert.equal(fake.commands(), [PING, SINFO, SQUEUE].sort(), 'one ping, one squeue, one sinfo');
  assert.is(results[1], results[0]);
  assert.is(results[2], results[0]);
  assert.equal(results[0]?.jobs, JSON_JOBS);
  // With maxAgeMs 0 nothing is cached: the next read runs again.
  await reader.read();
  assert.is(fake.calls.length, 6);
});

test('reader: a failed read reaches every waiting caller, is not cached, and the next read retries', async () => {
  const ping = deferred<SlurmCommandResult>();
  let pings = 0;
  const fake = fakeRun({
    ...JSON_REPLIES,
    [PING]: () => (++pings === 1 ? ping.promise : Promise.resolve({ code: 0, stdout: PING_UP, stderr: '' })),
  });
  const reader = new SlurmOverviewReader({ slurmConf: CONF, run: fake.run, now: () => NOW_MS });
  const reads = [rejection(reader.read()), rejection(reader.read())];
  ping.reject(commandError(PING, '', null));
  const errors = await Promise.all(reads);
  assert.ok(errors.every((e) => e instanceof SlurmCommandError));
  assert.is(errors[1], errors[0]);
  assert.is(pings, 1, 'the two callers shared one ping');

  const overview = await reader.read();
  assert.is(pings, 2);
  assert.ok(overview.controllerUp);
});

test('reader: a bad maxAgeMs is a RangeError', () => {
  for (const maxAgeMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => new SlurmOverviewReader({ slurmConf: CONF, maxAgeMs }),
      (e: unknown) => e instanceof RangeError,
      String(maxAgeMs),
    );
  }
});

test.run();
