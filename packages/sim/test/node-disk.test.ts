import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeDisk } from '../src/node-disk.js';
import { diskContract } from './contracts/disk-contract.js';

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'clusteros-disk-'));
}

diskContract('NodeDisk', async () => {
  const root = await tempRoot();
  const disk = new NodeDisk(root);
  return {
    disk,
    cleanup: async () => {
      await disk.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}).run();

const node = suite('NodeDisk');

node('paths are relative to the resolved root', async () => {
  const root = await tempRoot();
  try {
    const disk = new NodeDisk(root);
    assert.is(disk.root, root);
    await disk.mkdir('wal');
    await disk.writeFile('wal/0001.log', new Uint8Array([1, 2, 3]));
    await disk.sync('wal/0001.log');
    await disk.syncDir('wal');
    // The file is a plain file on the real file system, where other tools can read it.
    const { readFile } = await import('node:fs/promises');
    assert.equal(new Uint8Array(await readFile(join(root, 'wal', '0001.log'))), new Uint8Array([1, 2, 3]));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

node('mkdir creates a missing root; files written outside the disk are visible', async () => {
  const parent = await tempRoot();
  try {
    const disk = new NodeDisk(join(parent, 'later'));
    assert.equal(await disk.list(''), []);
    await disk.mkdir('');
    await writeFile(join(parent, 'later', 'outside'), 'hi');
    assert.equal(await disk.list(''), ['outside']);
    assert.equal(await disk.stat('outside'), { size: 2 });
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

node(
  'a log appended and synced through the cached handle stays right across rename, remove and close',
  async () => {
    const root = await tempRoot();
    const { readdir, readFile } = await import('node:fs/promises');
    const { readlink } = await import('node:fs/promises');
    // Descriptors open on files under this test's folder (others may come and go meanwhile).
    const openFds = async () => {
      let count = 0;
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target.startsWith(root)) count++;
      }
      return count;
    };
    try {
      const disk = new NodeDisk(root);
      await disk.mkdir('wal');
      const before = await openFds();
      for (let i = 0; i < 50; i++) {
        await disk.appendFile('wal/a.log', new Uint8Array([i]));
        await disk.sync('wal/a.log');
      }
      assert.is(await openFds(), before + 1, 'one descriptor serves every append and sync');
      await disk.truncate('wal/a.log', 10);
      await disk.appendFile('wal/a.log', new Uint8Array([99]));
      assert.equal(
        [...new Uint8Array(await readFile(join(root, 'wal', 'a.log')))],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99],
      );
      await disk.rename('wal/a.log', 'wal/b.log');
      await disk.appendFile('wal/a.log', new Uint8Array([1]));
      assert.equal(await disk.stat('wal/a.log'), { size: 1 }, 'a new file, not the renamed one');
      assert.equal(await disk.stat('wal/b.log'), { size: 11 });
      await disk.remove('wal/a.log');
      await disk.close();
      assert.is(await openFds(), before, 'close releases every descriptor');
      await disk.appendFile('wal/b.log', new Uint8Array([100]));
      assert.equal(await disk.stat('wal/b.log'), { size: 12 }, 'usable after close');
      await disk.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
);

node('appendDurable writes through one O_DSYNC descriptor (Linux: read from /proc)', async () => {
  if (process.platform !== 'linux') return;
  const root = await tempRoot();
  const { readdir, readFile, readlink } = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  /** The open flags of every descriptor of this process on `path`, from /proc/self/fdinfo. */
  const flagsOn = async (path: string): Promise<number[]> => {
    const flags: number[] = [];
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target !== path) continue;
      const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
      const octal = /^flags:\s*([0-7]+)$/m.exec(info)?.[1];
      if (octal !== undefined) flags.push(Number.parseInt(octal, 8));
    }
    return flags;
  };
  try {
    const disk = new NodeDisk(root);
    const file = join(root, 'wal.log');
    for (let i = 0; i < 20; i++) await disk.appendDurable('wal.log', new Uint8Array([i]));
    const durable = await flagsOn(file);
    assert.is(durable.length, 1, 'one cached descriptor for every durable append');
    assert.ok((durable[0] ?? 0) & constants.O_DSYNC, 'opened with O_DSYNC');
    assert.ok((durable[0] ?? 0) & constants.O_APPEND, 'opened with O_APPEND');
    // A plain append swaps it for an ordinary descriptor: no O_DSYNC cost where none was asked.
    await disk.appendFile('wal.log', new Uint8Array([20]));
    const plain = await flagsOn(file);
    assert.is(plain.length, 1);
    assert.is((plain[0] ?? 0) & constants.O_DSYNC, 0);
    assert.equal(await disk.stat('wal.log'), { size: 21 });
    await disk.close();
    assert.equal(await flagsOn(file), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

node.run();
