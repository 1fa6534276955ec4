import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Disk } from '../../src/disk.js';
import { isDiskLockedError, isPathKindError } from '../../src/disk-errors.js';
import { isFileNotFoundError, isInvalidPathError } from '../../src/errors.js';

/** A fresh, empty disk and how to dispose of it. */
export interface DiskFixture {
  readonly disk: Disk;
  readonly cleanup: () => Promise<void>;
}

interface Context {
  fixture: DiskFixture | undefined;
}

const text = new TextEncoder();
const bytes = (value: string): Uint8Array => text.encode(value);
const str = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Awaits `promise` and returns what it rejected with; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.unreachable('expected a rejection');
  return undefined;
}

async function expectNotFound(promise: Promise<unknown>, path: string): Promise<void> {
  const error = await rejection(promise);
  assert.ok(isFileNotFoundError(error), `expected FileNotFoundError, got ${String(error)}`);
  if (isFileNotFoundError(error)) assert.is(error.path, path);
}

async function expectInvalidPath(promise: Promise<unknown>): Promise<void> {
  const error = await rejection(promise);
  assert.ok(isInvalidPathError(error), `expected InvalidPathError, got ${String(error)}`);
}

async function expectKind(promise: Promise<unknown>, expected: 'file' | 'folder'): Promise<void> {
  const error = await rejection(promise);
  assert.ok(isPathKindError(error), `expected PathKindError, got ${String(error)}`);
  if (isPathKindError(error)) assert.is(error.expected, expected);
}

/**
 * The behaviour every {@link Disk} shares, as a uvu suite over a fresh disk per test; the
 * caller runs it. Durability is not observable here (it needs a crash), so this covers what a
 * live process sees: content, names, ordering, errors and data isolation.
 */
export function diskContract(name: string, make: () => Promise<DiskFixture>): Test<Context> {
  const s = suite<Context>(`${name} (Disk contract)`, { fixture: undefined });

  s.before.each(async (ctx) => {
    ctx.fixture = await make();
  });
  s.after.each(async (ctx) => {
    await ctx.fixture?.cleanup();
    ctx.fixture = undefined;
  });

  const diskOf = (ctx: Context): Disk => {
    if (ctx.fixture === undefined) throw new Error('no fixture');
    return ctx.fixture.disk;
  };

  s('writeFile then readFile round-trips bytes, including empty files', async (ctx) => {
    const disk = diskOf(ctx);
    const all = new Uint8Array(256).map((_, i) => i);
    await disk.writeFile('bin', all);
    assert.equal(await disk.readFile('bin'), all);
    await disk.writeFile('empty', new Uint8Array(0));
    assert.equal(await disk.readFile('empty'), new Uint8Array(0));
    assert.equal(await disk.stat('empty'), { size: 0 });
  });

  s('writeFile replaces the whole content', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.writeFile('f', bytes('a long first version'));
    await disk.writeFile('f', bytes('short'));
    assert.is(str(await disk.readFile('f')), 'short');
  });

  s('appendFile creates a missing file and appends to it', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.appendFile('log', bytes('one,'));
    await disk.appendFile('log', bytes('two,'));
    await disk.appendFile('log', new Uint8Array(0));
    await disk.appendFile('log', bytes('three'));
    assert.is(str(await disk.readFile('log')), 'one,two,three');
  });

  s('appendDurable appends like appendFile, interleaved with it in call order', async (ctx) => {
    const disk = diskOf(ctx);
    const appendDurable = disk.appendDurable?.bind(disk);
    assert.ok(appendDurable, 'this disk implements appendDurable');
    await appendDurable('log', bytes('one,'));
    const calls = [
      disk.appendFile('log', bytes('two,')),
      appendDurable('log', bytes('three,')),
      appendDurable('log', new Uint8Array(0)),
      disk.appendFile('log', bytes('four,')),
      appendDurable('log', bytes('five')),
    ];
    const read = disk.readFile('log');
    await Promise.all(calls);
    assert.is(str(await read), 'one,two,three,four,five');
    await disk.sync('log');
    assert.equal(await disk.stat('log'), { size: 23 });
  });

  s('appendDurable rejects like appendFile: missing folder, a folder, a bad path', async (ctx) => {
    const disk = diskOf(ctx);
    const appendDurable = disk.appendDurable?.bind(disk);
    assert.ok(appendDurable, 'this disk implements appendDurable');
    await expectNotFound(appendDurable('wal/0001.log', bytes('x')), 'wal/0001.log');
    await disk.mkdir('d');
    await expectKind(appendDurable('d', bytes('x')), 'file');
    await expectInvalidPath(appendDurable('../escape', bytes('x')));
    const data = bytes('abc');
    const appended = appendDurable('copy', data);
    data.fill(0);
    await appended;
    assert.is(str(await disk.readFile('copy')), 'abc');
  });

  s('truncate shortens and zero-extends', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.writeFile('f', bytes('abcdef'));
    await disk.truncate('f', 3);
    assert.is(str(await disk.readFile('f')), 'abc');
    await disk.truncate('f', 5);
    assert.equal(await disk.readFile('f'), new Uint8Array([97, 98, 99, 0, 0]));
    await disk.appendFile('f', bytes('z'));
    assert.equal(await disk.readFile('f'), new Uint8Array([97, 98, 99, 0, 0, 122]));
    await disk.truncate('f', 0);
    assert.equal(await disk.stat('f'), { size: 0 });
  });

  s('truncate rejects a missing file and a bad length', async (ctx) => {
    const disk = diskOf(ctx);
    await expectNotFound(disk.truncate('missing', 0), 'missing');
    await disk.writeFile('f', bytes('x'));
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.instance(await rejection(disk.truncate('f', bad)), RangeError);
    }
    assert.is(str(await disk.readFile('f')), 'x');
  });

  s('rename moves a file and replaces the target', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.mkdir('d');
    await disk.writeFile('d/tmp', bytes('new'));
    await disk.writeFile('final', bytes('old'));
    await disk.rename('d/tmp', 'final');
    assert.is(str(await disk.readFile('final')), 'new');
    assert.is(await disk.stat('d/tmp'), undefined);
    assert.equal(await disk.list('d'), []);
    await disk.rename('final', 'final');
    assert.is(str(await disk.readFile('final')), 'new');
  });

  s('rename of a missing file, or into a missing folder, rejects with FileNotFoundError', async (ctx) => {
    const disk = diskOf(ctx);
    await expectNotFound(disk.rename('missing', 'x'), 'missing');
    await disk.writeFile('f', bytes('x'));
    await expectNotFound(disk.rename('f', 'nope/f'), 'nope/f');
    assert.is(str(await disk.readFile('f')), 'x');
  });

  s('remove deletes; removing a missing file is fine', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.writeFile('f', bytes('x'));
    await disk.remove('f');
    assert.is(await disk.stat('f'), undefined);
    await disk.remove('f');
    await disk.remove('no/such/folder/f');
    assert.equal(await disk.list(''), []);
  });

  s('list is sorted, covers files and folders, and a missing folder lists as empty', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.mkdir('sub/deeper');
    for (const n of ['b', 'a', 'C', '10', '9']) await disk.writeFile(`sub/${n}`, bytes(n));
    assert.equal(await disk.list('sub'), ['10', '9', 'C', 'a', 'b', 'deeper']);
    assert.equal(await disk.list(''), ['sub']);
    assert.equal(await disk.list('.'), ['sub']);
    assert.equal(await disk.list('sub/deeper'), []);
    assert.equal(await disk.list('missing'), []);
    assert.equal(await disk.list('missing/too'), []);
    assert.equal(await disk.list('sub/a/under-a-file'), []);
  });

  s('stat gives the size of a file and undefined for a missing one', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.writeFile('f', bytes('12345'));
    assert.equal(await disk.stat('f'), { size: 5 });
    assert.is(await disk.stat('missing'), undefined);
    assert.is(await disk.stat('missing/f'), undefined);
    assert.is(await disk.stat('f/under-a-file'), undefined);
  });

  s('read and sync of a missing file reject with FileNotFoundError', async (ctx) => {
    const disk = diskOf(ctx);
    await expectNotFound(disk.readFile('missing'), 'missing');
    await expectNotFound(disk.readFile('no/such'), 'no/such');
    await expectNotFound(disk.sync('missing'), 'missing');
    await disk.writeFile('f', bytes('x'));
    await expectNotFound(disk.readFile('f/under-a-file'), 'f/under-a-file');
  });

  s('files are created only in existing folders', async (ctx) => {
    const disk = diskOf(ctx);
    await expectNotFound(disk.writeFile('wal/0001.log', bytes('x')), 'wal/0001.log');
    await expectNotFound(disk.appendFile('wal/0001.log', bytes('x')), 'wal/0001.log');
    assert.equal(await disk.list(''), []);
    await disk.mkdir('wal');
    await disk.writeFile('wal/0001.log', bytes('x'));
    await disk.appendFile('wal/0001.log', bytes('y'));
    assert.is(str(await disk.readFile('wal/0001.log')), 'xy');
  });

  s('mkdir creates parents, is idempotent, and accepts the root', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.mkdir('a/b/c');
    await disk.mkdir('a/b/c');
    await disk.mkdir('a');
    await disk.mkdir('');
    await disk.mkdir('.');
    assert.equal(await disk.list('a'), ['b']);
    assert.equal(await disk.list('a/b'), ['c']);
    await disk.writeFile('a/b/c/f', bytes('x'));
    assert.equal(await disk.list('a/b/c'), ['f']);
  });

  s('sync and syncDir succeed on existing paths; syncDir of a missing folder rejects', async (ctx) => {
    const disk = diskOf(ctx);
    await disk.mkdir('d');
    await disk.writeFile('d/f', bytes('x'));
    await disk.sync('d/f');
    await disk.syncDir('d');
    await disk.syncDir('');
    await disk.syncDir('.');
    await expectNotFound(disk.syncDir('missing'), 'missing');
    assert.is(str(await disk.readFile('d/f')), 'x');
  });

  s('malformed paths reject with InvalidPathError on every operation', async (ctx) => {
    const disk = diskOf(ctx);
    const bad = [
      '../x',
      'a/../../x',
      '/abs',
      'a//b',
      'a/',
      'a/./b',
      '..',
      'a\\b',
      'a\0b',
      'x'.repeat(4097),
      'y'.repeat(256),
    ];
    const data = bytes('x');
    for (const path of bad) {
      await expectInvalidPath(disk.readFile(path));
      await expectInvalidPath(disk.writeFile(path, data));
      await expectInvalidPath(disk.appendFile(path, data));
      await expectInvalidPath(disk.truncate(path, 0));
      await expectInvalidPath(disk.sync(path));
      await expectInvalidPath(disk.rename(path, 'ok'));
      await expectInvalidPath(disk.rename('ok', path));
      await expectInvalidPath(disk.remove(path));
      await expectInvalidPath(disk.mkdir(path));
      await expectInvalidPath(disk.syncDir(path));
      await expectInvalidPath(disk.list(path));
      await expectInvalidPath(disk.stat(path));
    }
    // The root is a folder: fine where a folder is expected, invalid as a file.
    await expectInvalidPath(disk.readFile(''));
    await expectInvalidPath(disk.writeFile('.', data));
    await expectInvalidPath(disk.stat(''));
    assert.equal(await disk.list(''), []);
  });

  s('names up to 255 UTF-8 bytes are fine', async (ctx) => {
    const disk = diskOf(ctx);
    const long = 'n'.repeat(255);
    await disk.writeFile(long, bytes('x'));
    assert.equal(await disk.list(''), [long]);
    // 128 two-byte characters are 256 bytes: too long, though only 128 characters.
    await expectInvalidPath(disk.writeFile('é'.repeat(128), bytes('x')));
  });

  s(
    'a folder where a file is expected, or a file where a folder is, rejects with PathKindError',
    async (ctx) => {
      const disk = diskOf(ctx);
      await disk.mkdir('d');
      await disk.writeFile('f', bytes('x'));
      await expectKind(disk.readFile('d'), 'file');
      await expectKind(disk.writeFile('d', bytes('x')), 'file');
      await expectKind(disk.appendFile('d', bytes('x')), 'file');
      await expectKind(disk.truncate('d', 0), 'file');
      await expectKind(disk.sync('d'), 'file');
      await expectKind(disk.rename('d', 'e'), 'file');
      await expectKind(disk.rename('f', 'd'), 'file');
      await expectKind(disk.remove('d'), 'file');
      await expectKind(disk.stat('d'), 'file');
      await expectKind(disk.mkdir('f'), 'folder');
      await expectKind(disk.mkdir('f/g'), 'folder');
      await expectKind(disk.syncDir('f'), 'folder');
      await expectKind(disk.list('f'), 'folder');
      assert.equal(await disk.list(''), ['d', 'f']);
      assert.is(str(await disk.readFile('f')), 'x');
    },
  );

  s('operations on one file complete in call order without awaiting each', async (ctx) => {
    const disk = diskOf(ctx);
    const calls: Promise<unknown>[] = [disk.writeFile('f', bytes('start:'))];
    for (let i = 0; i < 20; i++) calls.push(disk.appendFile('f', bytes(`${i},`)));
    calls.push(disk.truncate('f', 12));
    calls.push(disk.appendFile('f', bytes('|end')));
    const read = disk.readFile('f');
    await Promise.all(calls);
    assert.is(str(await read), 'start:0,1,2,|end');
  });

  s('data is isolated: buffers passed in or handed out are copies', async (ctx) => {
    const disk = diskOf(ctx);
    const data = bytes('abc');
    const written = disk.writeFile('f', data);
    data[0] = 122; // changed after the call, before it completed
    await written;
    data[1] = 122; // and after
    assert.is(str(await disk.readFile('f')), 'abc');

    const tail = bytes('def');
    const appended = disk.appendFile('f', tail);
    tail.fill(0);
    await appended;
    assert.is(str(await disk.readFile('f')), 'abcdef');

    const read = await disk.readFile('f');
    read.fill(0);
    assert.is(str(await disk.readFile('f')), 'abcdef');
    assert.is((await disk.readFile('f')).constructor, Uint8Array);
  });

  s('lock: one holder per folder until released; folders are independent', async (ctx) => {
    const disk = diskOf(ctx);
    assert.type(disk.lock, 'function');
    if (disk.lock === undefined) return;
    await disk.mkdir('a/b');
    const a = await disk.lock('a');
    assert.ok(a.held);
    const refused = await rejection(disk.lock('a'));
    assert.ok(isDiskLockedError(refused), `expected DiskLockedError, got ${String(refused)}`);
    if (isDiskLockedError(refused)) assert.is(refused.path, 'a');
    // A folder inside a held one, and the root, are other folders.
    const inner = await disk.lock('a/b');
    const root = await disk.lock('');
    await a.release();
    assert.not.ok(a.held);
    await a.release(); // idempotent
    const again = await disk.lock('a');
    await rejection(disk.lock('a/b'));
    await Promise.all([again.release(), inner.release(), root.release()]);
    await (await disk.lock('a/b')).release();
  });

  s('lock: a missing folder rejects with FileNotFoundError, a file with PathKindError', async (ctx) => {
    const disk = diskOf(ctx);
    if (disk.lock === undefined) return assert.unreachable('lock is missing');
    await expectNotFound(disk.lock('nope'), 'nope');
    await disk.writeFile('f', bytes('x'));
    await expectKind(disk.lock('f'), 'folder');
    await expectInvalidPath(disk.lock('../up'));
  });

  return s;
}
