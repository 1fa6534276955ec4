// NodeDisk.lock across processes: the hold is a file naming its process, a running holder keeps
// everyone else out, and the files of processes that are gone do not.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type DiskLockedError, isDiskLockedError } from '../src/disk-errors.js';
import { parseHolderRecord } from '../src/lock-holder.js';
import { NodeDisk } from '../src/node-disk.js';

const test = suite('NodeDisk.lock');

const nodeDiskModule = fileURLToPath(new URL('../src/node-disk.ts', import.meta.url));

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'clusteros-lock-'));
}

/** Runs `body` in a fresh temp folder, removed afterwards. */
async function inTempRoot(body: (root: string) => Promise<void>): Promise<void> {
  const root = await tempRoot();
  try {
    await body(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function lockFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith('lock-'));
}

async function refusal(promise: Promise<unknown>): Promise<DiskLockedError> {
  try {
    await promise;
  } catch (error) {
    if (isDiskLockedError(error)) return error;
    throw error;
  }
  throw new Error('expected DiskLockedError, the lock was granted');
}

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
}

async function pidNamespace(): Promise<string> {
  return (await readlink('/proc/self/ns/pid')).replace(/^pid:\[([0-9]+)\]$/, '$1');
}

/** Sets the modification time of `path` to `ms` milliseconds ago. */
async function age(path: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(path, then, then);
}

/** The pid of a process that has exited (and whose pid is very unlikely to be reused yet). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  if (child.pid === undefined) throw new Error('no pid');
  return child.pid;
}

/** A child that takes `dir` with NodeDisk, prints "held", and holds it until killed. */
async function holderProcess(root: string, dir: string): Promise<ChildProcess> {
  const script = `
    const { NodeDisk } = await import(${JSON.stringify(nodeDiskModule)});
    await new NodeDisk(${JSON.stringify(root)}).lock(${JSON.stringify(dir)});
    console.log('held');
    setTimeout(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder did not start: ${stderr}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('held')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`holder exited with ${code}: ${stderr}`));
    });
  });
  return child;
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

test('the hold is a file naming this process, removed on release', () =>
  inTempRoot(async (root) => {
    const disk = new NodeDisk(root);
    await disk.mkdir('raft');
    const lock = await disk.lock('raft');
    const [file, ...more] = await lockFiles(join(root, 'raft'));
    assert.equal(more, []);
    assert.ok(file?.startsWith(`lock-${process.pid}-`), file);
    const record = parseHolderRecord(await readFile(join(root, 'raft', file as string), 'utf8'));
    assert.is(record?.pid, process.pid);
    assert.is(record?.host, hostname());
    assert.is(record?.boot, await bootId());
    assert.is(record?.pidns, await pidNamespace());
    assert.match(record?.start ?? '', /^[0-9]+$/);
    // Nothing but the hold: no temp file is left behind.
    assert.equal(await readdir(join(root, 'raft')), [file]);
    await lock.release();
    assert.equal(await readdir(join(root, 'raft')), []);
  }));

test('another process holding the folder keeps this one out until it is killed', async () => {
  const root = await tempRoot();
  let child: ChildProcess | undefined;
  try {
    const disk = new NodeDisk(root);
    await disk.mkdir('data');
    child = await holderProcess(root, 'data');
    const refused = await refusal(disk.lock('data'));
    assert.is(refused.path, 'data');
    assert.is(refused.holder.pid, child.pid);
    assert.is(refused.holder.host, undefined);
    assert.match(refused.holder.file, new RegExp(`^data/lock-${child.pid}-[0-9a-f]{16}$`));
    // The message names the folder by its absolute path, for the operator.
    assert.ok(
      refused.message.startsWith(
        `folder ${JSON.stringify(join(root, 'data'))} is in use by process ${child.pid} `,
      ),
      refused.message,
    );
    // The refused attempt withdrew: only the holder's file is there.
    assert.equal(await lockFiles(join(root, 'data')), [refused.holder.file.slice('data/'.length)]);

    // SIGKILL leaves the holder's file behind; the next lock sees its process is gone.
    await killAndWait(child);
    const lock = await disk.lock('data');
    const files = await lockFiles(join(root, 'data'));
    assert.is(files.length, 1);
    assert.ok(files[0]?.startsWith(`lock-${process.pid}-`), 'the dead holder file was removed');
    await lock.release();
  } finally {
    if (child !== undefined) await killAndWait(child);
    await rm(root, { recursive: true, force: true });
  }
});

test('a record from before a reboot, of a reused pid, or an old temp file holds nothing', () =>
  inTempRoot(async (root) => {
    const disk = new NodeDisk(root);
    const [boot, pidns] = [await bootId(), await pidNamespace()];
    // This very process's pid: it runs, so only the boot id or the start time can tell.
    const rebooted = {
      v: 1,
      pid: process.pid,
      start: '1',
      boot: '00000000-dead-beef-0000-000000000000',
      pidns,
      host: hostname(),
    };
    const reused = { v: 1, pid: process.pid, start: '1', boot, pidns, host: hostname() };
    await writeFile(join(root, `lock-${process.pid}-aaaaaaaaaaaaaaaa`), JSON.stringify(rebooted));
    await writeFile(join(root, `lock-${process.pid}-bbbbbbbbbbbbbbbb`), JSON.stringify(reused));
    // Temp files of processes that died between writing their record and naming it: one long
    // ago (removed), one that may still be on its way (kept).
    await writeFile(join(root, '.lock-1-cccccccccccccccc.tmp'), 'half written');
    await age(join(root, '.lock-1-cccccccccccccccc.tmp'), 60_000);
    await writeFile(join(root, '.lock-1-dddddddddddddddd.tmp'), 'being written');
    const lock = await disk.lock('');
    const left = (await readdir(root)).sort();
    assert.is(left.length, 2, left.join(', '));
    assert.is(left[0], '.lock-1-dddddddddddddddd.tmp');
    assert.ok(left[1]?.startsWith(`lock-${process.pid}-`), left[1]);
    await lock.release();
  }));

test('a record that its pid cannot vouch for counts as running while it is renewed', () =>
  inTempRoot(async (root) => {
    const disk = new NodeDisk(root);
    const [boot, pidns] = [await bootId(), await pidNamespace()];
    const pid = await deadPid();
    const holders = {
      // Another host sharing the folder.
      'lock-4242-1111111111111111': {
        v: 1,
        pid: 4242,
        start: '7',
        boot: 'b007',
        pidns: '1',
        host: 'other-host',
      },
      // Another container on this kernel: same host name and boot, another pid namespace, where
      // a pid that does not exist here may well exist.
      [`lock-${pid}-2222222222222222`]: { v: 1, pid, start: '7', boot, pidns: `${pidns}0`, host: hostname() },
    };
    for (const [name, record] of Object.entries(holders)) {
      await writeFile(join(root, name), JSON.stringify(record));
      const fresh = await refusal(disk.lock(''));
      assert.is(fresh.holder.file, name);
      assert.is(fresh.holder.pid, record.pid);
      assert.is(fresh.holder.host, record.host);
      assert.ok((fresh.holder.renewedMsAgo ?? -1) >= 0 && (fresh.holder.renewedMsAgo ?? 0) < 10_000);
      assert.match(
        fresh.message,
        new RegExp(`process ${record.pid} on host "${record.host}" \\(${name}, renewed \\d+ s ago\\)`),
      );
      // Not renewed for longer than the default 30 s: gone.
      await age(join(root, name), 31_000);
      const lock = await disk.lock('');
      assert.not.ok((await readdir(root)).includes(name), `${name} was removed`);
      await lock.release();
    }
  }));

test('a holder renews its record until released', () =>
  inTempRoot(async (root) => {
    const disk = new NodeDisk(root, { lockTiming: { renewMs: 20, staleMs: 1_000 } });
    const lock = await disk.lock('');
    const [name] = await lockFiles(root);
    const file = join(root, name as string);
    await age(file, 60_000);
    const deadline = Date.now() + 5_000;
    while ((await stat(file)).mtimeMs < Date.now() - 30_000) {
      assert.ok(Date.now() < deadline, 'the record was not renewed within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await lock.release();
    assert.equal(await readdir(root), []);
  }));

test('a holder whose file is removed under it knows at its next renewal that the hold is lost', () =>
  inTempRoot(async (root) => {
    const disk = new NodeDisk(root, { lockTiming: { renewMs: 20, staleMs: 1_000 } });
    const lock = await disk.lock('');
    assert.ok(lock.held);
    const [name] = await lockFiles(root);
    // As an operator who took the advice in the wrong place would.
    await rm(join(root, name as string));
    const deadline = Date.now() + 5_000;
    while (lock.held) {
      assert.ok(Date.now() < deadline, 'the loss was not noticed within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Another holder may have the folder now; releasing the lost hold leaves it alone.
    const next = await new NodeDisk(root).lock('');
    const [theirs] = await lockFiles(root);
    await lock.release();
    assert.equal(await lockFiles(root), [theirs]);
    assert.ok(next.held);
    await next.release();
    assert.not.ok(next.held);
  }));

test('lock timings must be whole, positive, and renew before a record goes stale', () => {
  for (const lockTiming of [
    { renewMs: 0, staleMs: 10 },
    { renewMs: 10, staleMs: 10 },
    { renewMs: 1.5, staleMs: 10 },
    { renewMs: 5, staleMs: Number.POSITIVE_INFINITY },
  ]) {
    assert.throws(() => new NodeDisk('.', { lockTiming }), RangeError);
  }
});

test('a holder that cannot be checked at all counts as running: an unreadable record', () =>
  inTempRoot(async (root) => {
    const disk = new NodeDisk(root);
    await writeFile(join(root, 'lock-1-eeeeeeeeeeeeeeee'), '{"v":1,"pid":');
    await age(join(root, 'lock-1-eeeeeeeeeeeeeeee'), 3_600_000);
    const unreadable = await refusal(disk.lock(''));
    assert.is(unreadable.holder.pid, undefined);
    assert.is(unreadable.holder.file, 'lock-1-eeeeeeeeeeeeeeee');
    assert.match(unreadable.message, /unreadable lock record "lock-1-eeeeeeeeeeeeeeee": remove that file/);
    // Refusals leave only what was there.
    assert.equal(await readdir(root), ['lock-1-eeeeeeeeeeeeeeee']);
    // A folder under such a name is no record either.
    await rm(join(root, 'lock-1-eeeeeeeeeeeeeeee'));
    await mkdir(join(root, 'lock-1-ffffffffffffffff'));
    const folder = await refusal(disk.lock(''));
    assert.is(folder.holder.file, 'lock-1-ffffffffffffffff');
  }));

test('holder records: only well-formed ones parse (pid range, field shapes, version)', () => {
  const good = { v: 1, pid: 10, start: '123', boot: '0f-1e', pidns: '4026531836', host: 'h' };
  assert.equal(parseHolderRecord(JSON.stringify(good)), {
    pid: 10,
    start: '123',
    boot: '0f-1e',
    pidns: '4026531836',
    host: 'h',
  });
  assert.equal(parseHolderRecord(JSON.stringify({ v: 1, pid: 10, host: 'h' })), {
    pid: 10,
    start: undefined,
    boot: undefined,
    pidns: undefined,
    host: 'h',
  });
  for (const bad of [
    '',
    'null',
    '[]',
    '{"v":1,"pid":10}',
    JSON.stringify({ ...good, v: 2 }),
    JSON.stringify({ ...good, pid: 0 }),
    JSON.stringify({ ...good, pid: -1 }),
    JSON.stringify({ ...good, pid: 1.5 }),
    JSON.stringify({ ...good, pid: 2 ** 40 }),
    JSON.stringify({ ...good, pid: '10' }),
    JSON.stringify({ ...good, start: '12a' }),
    JSON.stringify({ ...good, boot: 'ZZ' }),
    JSON.stringify({ ...good, pidns: 'pid:[1]' }),
    JSON.stringify({ ...good, host: '' }),
    JSON.stringify({ ...good, host: 'h'.repeat(256) }),
  ]) {
    assert.is(parseHolderRecord(bad), undefined, bad);
  }
});

test('holder records: arbitrary file content never throws, and only a valid pid gets through', () => {
  const content = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.json({ maxDepth: 3 }),
    fc
      .record({
        v: fc.oneof(fc.constant(1), fc.integer()),
        pid: fc.oneof(fc.integer(), fc.double(), fc.string()),
        start: fc.oneof(fc.string(), fc.nat().map(String)),
        boot: fc.oneof(fc.string(), fc.uuid()),
        pidns: fc.oneof(fc.string(), fc.nat().map(String)),
        host: fc.string({ maxLength: 300 }),
      })
      .map((record) => JSON.stringify(record)),
  );
  fc.assert(
    fc.property(content, (text) => {
      const record = parseHolderRecord(text);
      if (record === undefined) return;
      // Anything accepted is safe to hand to process.kill(pid, 0): never 0 or negative (a group).
      assert.ok(Number.isSafeInteger(record.pid) && record.pid >= 1 && record.pid <= 4_194_304);
      assert.ok(record.host.length >= 1 && record.host.length <= 255);
    }),
    { numRuns: 2_000 },
  );
});

test.run();
