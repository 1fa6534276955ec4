import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isDiskFaultError, isDiskLockedError } from '../src/disk-errors.js';
import {
  basenameOf,
  dirnameOf,
  joinDiskPath,
  normalizeDiskDir,
  normalizeDiskPath,
} from '../src/disk-path.js';
import { isFileNotFoundError, isInvalidPathError } from '../src/errors.js';
import { SeededRandom } from '../src/random.js';
import { SimClock } from '../src/sim-clock.js';
import { type DiskOp, SimDisk } from '../src/sim-disk.js';
import { diskContract } from './contracts/disk-contract.js';

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const str = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Lets every queued microtask run (not a sleep: no time passes, nothing real is awaited). */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Tracked {
  done: boolean;
  error: unknown;
}

/** Records when a promise settles, without awaiting it. */
function track(promise: Promise<unknown>): Tracked {
  const state: Tracked = { done: false, error: undefined };
  promise.then(
    () => {
      state.done = true;
    },
    (error: unknown) => {
      state.done = true;
      state.error = error;
    },
  );
  return state;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.unreachable('expected a rejection');
  return undefined;
}

diskContract('SimDisk', async () => ({ disk: new SimDisk(), cleanup: async () => {} })).run();

// ---------------------------------------------------------------------------------------------

const crash = suite('SimDisk crash model');

crash('an unsynced overwrite is lost', async () => {
  const disk = new SimDisk();
  await disk.writeFile('f', bytes('v1'));
  await disk.sync('f');
  await disk.syncDir('');
  await disk.writeFile('f', bytes('v2 is longer'));
  disk.crash();
  assert.is(str(await disk.readFile('f')), 'v1');
});

crash('a crash ends the holder of a lock; its late release does not free the next holder', async () => {
  const disk = new SimDisk();
  await disk.mkdir('raft');
  const before = await disk.lock('raft');
  disk.crash();
  assert.not.ok(before.held);
  const after = await disk.lock('raft');
  assert.ok(after.held);
  await before.release();
  let refused: unknown;
  await disk.lock('raft').catch((error: unknown) => {
    refused = error;
  });
  assert.ok(isDiskLockedError(refused), `expected DiskLockedError, got ${String(refused)}`);
  await after.release();
  await (await disk.lock('raft')).release();
  assert.equal(disk.stats().ops.list, 0, 'a lock is no disk operation');
});

crash('synced content under a new name that was never made durable is lost', async () => {
  const disk = new SimDisk();
  await disk.writeFile('new', bytes('content'));
  await disk.sync('new');
  disk.crash();
  assert.is(await disk.stat('new'), undefined);
  assert.equal(await disk.list(''), []);
});

crash('a durable name whose content was never synced comes back empty', async () => {
  const disk = new SimDisk();
  await disk.writeFile('f', bytes('content'));
  await disk.syncDir('');
  disk.crash({ tornTail: false });
  assert.equal(await disk.readFile('f'), new Uint8Array(0));
});

crash('the atomic replace pattern never yields a half file, whatever step the crash follows', async () => {
  const steps: ((disk: SimDisk) => Promise<void>)[] = [
    (disk) => disk.writeFile('d/tmp', bytes('NEW-CONTENT-NEW-CONTENT')),
    (disk) => disk.sync('d/tmp'),
    (disk) => disk.rename('d/tmp', 'd/final'),
    (disk) => disk.syncDir('d'),
  ];
  for (let crashAfter = 0; crashAfter <= steps.length; crashAfter++) {
    for (const tornTail of [true, false]) {
      const disk = new SimDisk({ random: new SeededRandom(crashAfter) });
      await disk.mkdir('d');
      await disk.writeFile('d/final', bytes('old'));
      await disk.sync('d/final');
      await disk.syncDir('d');
      for (const step of steps.slice(0, crashAfter)) await step(disk);
      disk.crash({ tornTail });
      const after = str(await disk.readFile('d/final'));
      const expected = crashAfter === steps.length ? 'NEW-CONTENT-NEW-CONTENT' : 'old';
      assert.is(after, expected, `crash after step ${crashAfter}`);
      assert.equal(await disk.list('d'), ['final']);
    }
  }
});

crash(
  'appendDurable: durable once resolved; a crash between its append and its sync keeps a prefix',
  async () => {
    const disk = new SimDisk();
    await disk.appendFile('log', bytes('head,'));
    await disk.sync('log');
    await disk.syncDir('');
    await disk.appendDurable('log', bytes('kept,'));
    disk.crash();
    assert.is(str(await disk.readFile('log')), 'head,kept,');

    // The sync fails: the append happened but is not durable, exactly as an unsynced append.
    disk.failNext('sync');
    const error = await rejection(disk.appendDurable('log', bytes('maybe')));
    assert.ok(isDiskFaultError(error) && error.op === 'sync');
    assert.is(str(await disk.readFile('log')), 'head,kept,maybe');
    disk.crash({ tornTail: false });
    assert.is(str(await disk.readFile('log')), 'head,kept,');

    // The append fails: nothing changes, and the failure reported is the append's.
    disk.failNext('append');
    const appendError = await rejection(disk.appendDurable('log', bytes('never')));
    assert.ok(isDiskFaultError(appendError) && appendError.op === 'append');
    assert.is(str(await disk.readFile('log')), 'head,kept,');
  },
);

crash('rename and remove without syncDir revert', async () => {
  const disk = new SimDisk();
  await disk.writeFile('a', bytes('A'));
  await disk.writeFile('gone', bytes('G'));
  await disk.sync('a');
  await disk.sync('gone');
  await disk.syncDir('');
  await disk.rename('a', 'b');
  await disk.remove('gone');
  assert.equal(await disk.list(''), ['b']);
  disk.crash();
  assert.equal(await disk.list(''), ['a', 'gone']);
  assert.is(str(await disk.readFile('a')), 'A');
  assert.is(str(await disk.readFile('gone')), 'G');
});

crash('a rename made durable only in the target folder leaves both names', async () => {
  const disk = new SimDisk();
  await disk.mkdir('from');
  await disk.mkdir('to');
  await disk.writeFile('from/f', bytes('x'));
  await disk.sync('from/f');
  await disk.syncDir('from');
  await disk.rename('from/f', 'to/f');
  await disk.syncDir('to');
  disk.crash();
  assert.is(str(await disk.readFile('from/f')), 'x');
  assert.is(str(await disk.readFile('to/f')), 'x');
  // Renaming one name of a file onto another of its names does nothing, as POSIX says.
  await disk.rename('from/f', 'to/f');
  assert.equal(await disk.list('from'), ['f']);
});

crash('mkdir is durable at once', async () => {
  const disk = new SimDisk();
  await disk.mkdir('a/b');
  disk.crash();
  assert.equal(await disk.list(''), ['a']);
  assert.equal(await disk.list('a'), ['b']);
});

/** A durable file `log` holding `head`, with `tail` appended but not synced. */
async function appendedDisk(seed: number, head: string, tail: string): Promise<SimDisk> {
  const disk = new SimDisk({ random: new SeededRandom(seed) });
  await disk.writeFile('log', bytes(head));
  await disk.sync('log');
  await disk.syncDir('');
  await disk.appendFile('log', bytes(tail));
  return disk;
}

crash('a torn tail keeps a prefix of the appended bytes, deterministically for a seed', async () => {
  const head = 'HEAD|';
  const tail = '0123456789abcdefghij';
  const lengths = new Set<number>();
  for (let seed = 0; seed < 40; seed++) {
    const disk = await appendedDisk(seed, head, tail);
    disk.crash();
    const after = str(await disk.readFile('log'));
    assert.ok((head + tail).startsWith(after), `seed ${seed}: ${after} is not a prefix`);
    assert.ok(after.startsWith(head), `seed ${seed}: lost synced bytes`);
    lengths.add(after.length);

    const again = await appendedDisk(seed, head, tail);
    again.crash();
    assert.is(str(await again.readFile('log')), after, `seed ${seed} is not deterministic`);
  }
  assert.ok(lengths.size > 5, `torn lengths hardly vary: ${[...lengths].join(',')}`);
});

crash('with tornTail: false the whole unsynced suffix is lost', async () => {
  for (let seed = 0; seed < 10; seed++) {
    const disk = await appendedDisk(seed, 'HEAD|', '0123456789');
    disk.crash({ tornTail: false });
    assert.is(str(await disk.readFile('log')), 'HEAD|');
  }
});

crash('a file rewritten or shortened since its sync reverts fully even with tornTail', async () => {
  for (let seed = 0; seed < 10; seed++) {
    const disk = await appendedDisk(seed, 'HEAD|', '');
    await disk.truncate('log', 2);
    await disk.appendFile('log', bytes('xxxxxxxxxx'));
    disk.crash();
    assert.is(str(await disk.readFile('log')), 'HEAD|');
  }
});

crash('bytes that survive a crash stay durable through the next one', async () => {
  const disk = await appendedDisk(3, 'HEAD|', '0123456789');
  disk.crash();
  const first = str(await disk.readFile('log'));
  disk.crash();
  assert.is(str(await disk.readFile('log')), first);
});

crash('snapshots show the durable and the current state', async () => {
  const disk = new SimDisk();
  await disk.mkdir('d/empty');
  await disk.writeFile('d/f', bytes('synced'));
  await disk.sync('d/f');
  await disk.syncDir('d');
  await disk.appendFile('d/f', bytes('+more'));
  await disk.writeFile('new', bytes('n'));
  assert.equal([...disk.snapshotDurable()], [['d/f', bytes('synced')]]);
  assert.equal(
    [...disk.snapshotCurrent()],
    [
      ['d/f', bytes('synced+more')],
      ['new', bytes('n')],
    ],
  );
  const snapshot = disk.snapshotDurable();
  snapshot.get('d/f')?.fill(0);
  disk.crash({ tornTail: false });
  assert.equal([...disk.snapshotCurrent()], [['d/f', bytes('synced')]]);
});

crash.run();

// ---------------------------------------------------------------------------------------------

const timing = suite('SimDisk timing');

timing('without latency an operation completes on a later microtask, not synchronously', async () => {
  const disk = new SimDisk();
  const write = track(disk.writeFile('f', bytes('x')));
  assert.not.ok(write.done);
  assert.is(disk.pendingOps, 1);
  await flush();
  assert.ok(write.done);
  assert.is(disk.pendingOps, 0);
});

timing('with latency an operation completes only when the clock has advanced far enough', async () => {
  const clock = new SimClock();
  const disk = new SimDisk({ clock, latencyMs: (op) => (op === 'sync' ? 5 : 1) });
  const write = track(disk.writeFile('f', bytes('x')));
  await clock.advance(0);
  assert.not.ok(write.done);
  assert.equal(disk.snapshotCurrent(), new Map());
  await clock.advance(1);
  assert.ok(write.done);
  const sync = track(disk.sync('f'));
  await clock.advance(4);
  assert.not.ok(sync.done);
  assert.equal(disk.snapshotDurable(), new Map());
  await clock.advance(1);
  assert.ok(sync.done);
  assert.is(sync.error, undefined);
  assert.is(clock.now(), 6);
});

timing('operations on one file complete in call order; other files by their latency', async () => {
  const clock = new SimClock();
  const latency: Partial<Record<DiskOp, number>> = { write: 10, append: 1, read: 1 };
  const disk = new SimDisk({ clock, latencyMs: (op) => latency[op] ?? 1 });
  const order: string[] = [];
  const done = Promise.all([
    disk.writeFile('f', bytes('slow-write,')).then(() => order.push('f write')),
    disk.appendFile('f', bytes('fast-append')).then(() => order.push('f append')),
    disk.appendFile('g', bytes('other file')).then(() => order.push('g append')),
  ]);
  await clock.advance(5);
  assert.equal(order, ['g append']);
  assert.equal([...disk.snapshotCurrent().keys()], ['g']);
  await clock.advance(5);
  await done;
  assert.equal(order, ['g append', 'f write', 'f append']);
  const read = disk.readFile('f');
  await clock.advance(1);
  assert.is(str(await read), 'slow-write,fast-append');
});

timing('a rename waits for earlier operations on both of its paths', async () => {
  const clock = new SimClock();
  const disk = new SimDisk({ clock, latencyMs: (op) => (op === 'write' ? 10 : 1) });
  const write = disk.writeFile('tmp', bytes('x'));
  const rename = disk.rename('tmp', 'final');
  await clock.advance(10);
  await write;
  await rename;
  assert.equal([...disk.snapshotCurrent().keys()], ['final']);
});

timing('operations pending at a crash never settle and never apply', async () => {
  const clock = new SimClock();
  const disk = new SimDisk({ clock, latencyMs: () => 2 });
  const write = track(disk.writeFile('f', bytes('x')));
  const sync = track(disk.sync('f'));
  assert.is(disk.pendingOps, 2);
  disk.crash();
  assert.is(disk.pendingOps, 0);
  assert.is(clock.pending, 0, 'the crash cancels the timers of dropped operations');
  await clock.advance(100);
  assert.not.ok(write.done);
  assert.not.ok(sync.done);
  assert.equal(disk.snapshotCurrent(), new Map());

  // The restarted process uses the same disk normally.
  const again = disk.writeFile('f', bytes('y'));
  await clock.advance(2);
  await again;
  const read = disk.readFile('f');
  await clock.advance(2);
  assert.is(str(await read), 'y');
});

timing('without a clock, operations pending at a crash never settle either', async () => {
  const disk = new SimDisk();
  const write = track(disk.writeFile('f', bytes('x')));
  disk.crash();
  await flush();
  assert.not.ok(write.done);
  assert.equal(await disk.list(''), []);
  await disk.writeFile('f', bytes('y'));
  assert.is(str(await disk.readFile('f')), 'y');
});

timing.run();

// ---------------------------------------------------------------------------------------------

const faults = suite('SimDisk faults and stats');

faults('corrupt flips bits in current and durable content', async () => {
  const disk = new SimDisk();
  await disk.writeFile('f', bytes('abc'));
  await disk.sync('f');
  await disk.syncDir('');
  await disk.appendFile('f', bytes('d'));
  disk.corrupt('f', 1, 0x20);
  disk.corrupt('f', 3, 0x20);
  assert.is(str(await disk.readFile('f')), 'aBcD');
  disk.crash({ tornTail: false });
  assert.is(str(await disk.readFile('f')), 'aBc');
  assert.throws(
    () => disk.corrupt('missing', 0, 1),
    (error: unknown) => isFileNotFoundError(error),
  );
  assert.throws(() => disk.corrupt('f', 3, 1), RangeError);
  assert.throws(() => disk.corrupt('f', 0, 256), RangeError);
});

faults('failNext rejects the next call of that kind with a DiskFaultError and no effect', async () => {
  const disk = new SimDisk({ name: 'n1' });
  disk.failNext('write');
  await disk.appendFile('f', bytes('append is another kind'));
  const error = await rejection(disk.writeFile('f', bytes('lost')));
  assert.ok(isDiskFaultError(error));
  if (isDiskFaultError(error)) {
    assert.is(error.op, 'write');
    assert.is(error.path, 'f');
    assert.is(error.code, 'EIO');
    assert.is(error.name, 'DiskFaultError');
  }
  assert.is(str(await disk.readFile('f')), 'append is another kind');
  await disk.writeFile('f', bytes('ok'));
  assert.is(str(await disk.readFile('f')), 'ok');
});

faults('failNext with a custom error, queued twice; a failed sync leaves nothing durable', async () => {
  const disk = new SimDisk();
  const custom = new Error('ENOSPC-ish');
  disk.failNext('sync', custom);
  disk.failNext('sync');
  await disk.writeFile('f', bytes('x'));
  await disk.syncDir('');
  assert.is(await rejection(disk.sync('f')), custom);
  assert.ok(isDiskFaultError(await rejection(disk.sync('f'))));
  disk.crash({ tornTail: false });
  assert.equal(await disk.readFile('f'), new Uint8Array(0));
  await disk.writeFile('f', bytes('x'));
  await disk.sync('f');
  disk.crash();
  assert.is(str(await disk.readFile('f')), 'x');
});

faults('stats count operations, bytes, syncs, crashes and faults', async () => {
  const disk = new SimDisk();
  await disk.mkdir('d');
  await disk.writeFile('d/f', bytes('abc'));
  await disk.appendFile('d/f', bytes('de'));
  await disk.sync('d/f');
  await disk.syncDir('d');
  await disk.readFile('d/f');
  disk.failNext('stat');
  await rejection(disk.stat('d/f'));
  await rejection(disk.readFile('missing'));
  disk.crash();
  const stats = disk.stats();
  assert.equal(stats.ops, {
    read: 2,
    write: 1,
    append: 1,
    truncate: 0,
    sync: 1,
    rename: 0,
    remove: 0,
    mkdir: 1,
    syncDir: 1,
    list: 0,
    stat: 1,
  });
  assert.is(stats.bytesWritten, 5);
  assert.is(stats.syncs, 2);
  assert.is(stats.crashes, 1);
  assert.is(stats.faults, 1);
});

faults.run();

// ---------------------------------------------------------------------------------------------

type Command =
  | { readonly op: 'write' | 'append'; readonly path: string; readonly data: Uint8Array }
  | { readonly op: 'truncate'; readonly path: string; readonly length: number }
  | { readonly op: 'sync' | 'remove'; readonly path: string }
  | { readonly op: 'rename'; readonly from: string; readonly to: string }
  | { readonly op: 'syncDir'; readonly dir: string }
  | { readonly op: 'crash'; readonly tornTail: boolean };

const FILES = ['a', 'b', 'd/a', 'd/c'];
const DIRS = ['', 'd'];

const path = fc.constantFrom(...FILES);
const data = fc.uint8Array({ maxLength: 6 });
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('write' as const), path, data }),
  { arbitrary: fc.record({ op: fc.constant('append' as const), path, data }), weight: 3 },
  fc.record({ op: fc.constant('truncate' as const), path, length: fc.nat(10) }),
  { arbitrary: fc.record({ op: fc.constant('sync' as const), path }), weight: 2 },
  fc.record({ op: fc.constant('remove' as const), path }),
  fc.record({ op: fc.constant('rename' as const), from: path, to: path }),
  { arbitrary: fc.record({ op: fc.constant('syncDir' as const), dir: fc.constantFrom(...DIRS) }), weight: 2 },
  fc.record({ op: fc.constant('crash' as const), tornTail: fc.boolean() }),
);

/** The model's file: its content now, and at its last sync. Shared by every name it has. */
interface ModelFile {
  current: number[];
  synced: number[];
}

interface ModelFolder {
  current: Map<string, ModelFile>;
  durable: Map<string, ModelFile>;
}

/** A deliberately naive reference for the crash model, with the fewest possible shortcuts. */
class Model {
  readonly folders = new Map<string, ModelFolder>(
    DIRS.map((dir) => [dir, { current: new Map(), durable: new Map() }]),
  );

  folderOf(file: string): ModelFolder {
    const folder = this.folders.get(file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '');
    if (folder === undefined) throw new Error(`no model folder for ${file}`);
    return folder;
  }

  nameOf(file: string): string {
    return file.slice(file.lastIndexOf('/') + 1);
  }

  get(file: string): ModelFile | undefined {
    return this.folderOf(file).current.get(this.nameOf(file));
  }

  getOrCreate(file: string): ModelFile {
    let found = this.get(file);
    if (found === undefined) {
      found = { current: [], synced: [] };
      this.folderOf(file).current.set(this.nameOf(file), found);
    }
    return found;
  }
}

const prefixOf = (prefix: readonly number[], of: readonly number[]): boolean =>
  prefix.length <= of.length && prefix.every((b, i) => of[i] === b);

/** Crashes disk and model, checks the disk kept what the model allows, and adopts what it kept. */
async function crashAndCheck(disk: SimDisk, model: Model, tornTail: boolean): Promise<void> {
  disk.crash({ tornTail });
  const kept = new Map<ModelFile, number[]>();
  for (const [dir, folder] of model.folders) {
    const expectedNames = [...folder.durable.keys()];
    if (dir === '') expectedNames.push('d');
    assert.equal(await disk.list(dir), expectedNames.sort(), `listing of "${dir}"`);
    for (const [name, file] of folder.durable) {
      const filePath = dir === '' ? name : `${dir}/${name}`;
      const actual = [...(await disk.readFile(filePath))];
      const lossless = actual.length === file.synced.length && prefixOf(actual, file.synced);
      const torn =
        tornTail &&
        prefixOf(file.synced, file.current) &&
        prefixOf(actual, file.current) &&
        actual.length >= file.synced.length;
      assert.ok(
        lossless || torn,
        `${filePath}: got [${actual}], synced [${file.synced}], current [${file.current}], tornTail=${tornTail}`,
      );
      const earlier = kept.get(file);
      if (earlier !== undefined) assert.equal(actual, earlier, `${filePath}: two names, two contents`);
      kept.set(file, actual);
    }
  }
  for (const folder of model.folders.values()) folder.current = new Map(folder.durable);
  for (const [file, content] of kept) {
    file.current = [...content];
    file.synced = [...content];
  }
}

async function apply(disk: SimDisk, model: Model, cmd: Command): Promise<void> {
  switch (cmd.op) {
    case 'write':
      await disk.writeFile(cmd.path, cmd.data);
      model.getOrCreate(cmd.path).current = [...cmd.data];
      return;
    case 'append':
      await disk.appendFile(cmd.path, cmd.data);
      model.getOrCreate(cmd.path).current.push(...cmd.data);
      return;
    case 'truncate': {
      const file = model.get(cmd.path);
      if (file === undefined) {
        assert.ok(isFileNotFoundError(await rejection(disk.truncate(cmd.path, cmd.length))));
        return;
      }
      await disk.truncate(cmd.path, cmd.length);
      const next = file.current.slice(0, cmd.length);
      while (next.length < cmd.length) next.push(0);
      file.current = next;
      return;
    }
    case 'sync': {
      const file = model.get(cmd.path);
      if (file === undefined) {
        assert.ok(isFileNotFoundError(await rejection(disk.sync(cmd.path))));
        return;
      }
      await disk.sync(cmd.path);
      file.synced = [...file.current];
      return;
    }
    case 'remove':
      await disk.remove(cmd.path);
      model.folderOf(cmd.path).current.delete(model.nameOf(cmd.path));
      return;
    case 'rename': {
      const file = model.get(cmd.from);
      if (file === undefined) {
        assert.ok(isFileNotFoundError(await rejection(disk.rename(cmd.from, cmd.to))));
        return;
      }
      await disk.rename(cmd.from, cmd.to);
      if (model.get(cmd.to) === file) return;
      model.folderOf(cmd.from).current.delete(model.nameOf(cmd.from));
      model.folderOf(cmd.to).current.set(model.nameOf(cmd.to), file);
      return;
    }
    case 'syncDir': {
      await disk.syncDir(cmd.dir);
      const folder = model.folders.get(cmd.dir);
      if (folder !== undefined) folder.durable = new Map(folder.current);
      return;
    }
    case 'crash':
      await crashAndCheck(disk, model, cmd.tornTail);
      return;
  }
}

const property = suite('SimDisk crash property');

property(
  'after any crash, files hold their last synced content (plus a torn tail) under their last synced names',
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { maxLength: 40 }),
        fc.boolean(),
        fc.nat(),
        async (commands, tornTail, seed) => {
          const disk = new SimDisk({ random: new SeededRandom(seed) });
          const model = new Model();
          await disk.mkdir('d');
          for (const cmd of commands) {
            await apply(disk, model, cmd);
            // What a live reader sees always matches the model.
            for (const file of FILES) {
              const expected = model.get(file);
              const actual = await disk.stat(file);
              assert.is(actual?.size, expected?.current.length, `size of ${file}`);
            }
          }
          for (const file of FILES) {
            const expected = model.get(file);
            if (expected !== undefined) assert.equal([...(await disk.readFile(file))], expected.current);
          }
          await crashAndCheck(disk, model, tornTail);
        },
      ),
      { numRuns: 300 },
    );
  },
);

property('torn tails are deterministic for a seed', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { maxLength: 30 }), fc.nat(), async (commands, seed) => {
      const run = async (): Promise<Map<string, Uint8Array>> => {
        const disk = new SimDisk({ random: new SeededRandom(seed) });
        await disk.mkdir('d');
        for (const cmd of commands) {
          const op = (async (): Promise<unknown> => {
            switch (cmd.op) {
              case 'write':
                return disk.writeFile(cmd.path, cmd.data);
              case 'append':
                return disk.appendFile(cmd.path, cmd.data);
              case 'truncate':
                return disk.truncate(cmd.path, cmd.length);
              case 'sync':
                return disk.sync(cmd.path);
              case 'remove':
                return disk.remove(cmd.path);
              case 'rename':
                return disk.rename(cmd.from, cmd.to);
              case 'syncDir':
                return disk.syncDir(cmd.dir);
              case 'crash':
                return disk.crash({ tornTail: cmd.tornTail });
            }
          })();
          await op.catch(() => undefined);
        }
        disk.crash();
        return disk.snapshotCurrent();
      };
      assert.equal(await run(), await run());
    }),
    { numRuns: 100 },
  );
});

property.run();

// ---------------------------------------------------------------------------------------------

const paths = suite('disk paths');

paths('valid paths come back unchanged; the root is a folder only', () => {
  for (const ok of ['a', 'wal/0001.log', 'a/b/c', '.hidden', 'a..b', '…/ü'])
    assert.is(normalizeDiskPath(ok), ok);
  assert.is(normalizeDiskDir(''), '');
  assert.is(normalizeDiskDir('.'), '');
  assert.is(normalizeDiskDir('wal'), 'wal');
  for (const bad of ['', '.', '/a', 'a/', 'a//b', './a', 'a/..', 'a\\b', 'a\0b', 'x'.repeat(4097)]) {
    assert.throws(
      () => normalizeDiskPath(bad),
      (error: unknown) => isInvalidPathError(error),
      bad,
    );
  }
  for (const bad of ['/', '..', 'a/', '/a']) {
    assert.throws(
      () => normalizeDiskDir(bad),
      (error: unknown) => isInvalidPathError(error),
      bad,
    );
  }
});

paths('dirnameOf, basenameOf and joinDiskPath split and rebuild canonical paths', () => {
  for (const [path, dir, base] of [
    ['a', '', 'a'],
    ['wal/0001.log', 'wal', '0001.log'],
    ['a/b/c', 'a/b', 'c'],
  ] as const) {
    assert.is(dirnameOf(path), dir);
    assert.is(basenameOf(path), base);
    assert.is(joinDiskPath(dir, base), path);
  }
});

paths.run();
