// The managed block of the hosts file: round trips, every byte outside the block kept, block
// removal, no-op detection, mode and owner kept, malformed blocks refused with the file untouched,
// no name or address that can add a line or an entry, the in-place fallback for bind mounts and
// symlinks, and no lost updates between concurrent writers. Only temporary files are touched.
import {
  chmod,
  chown,
  lstat,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  HOSTS_BLOCK_BEGIN,
  HOSTS_BLOCK_END,
  HostsFileError,
  isHostsFileError,
  pointAlias,
  readManagedHosts,
  writeManagedHosts,
} from '../src/hosts/index.js';

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hosts-file-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const BLOCK_RE = new RegExp(
  `${escapeRegExp(HOSTS_BLOCK_BEGIN)}\\n(?:[^\\n]*\\n)*?${escapeRegExp(HOSTS_BLOCK_END)}\\n`,
);
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The file without its block (a separate implementation from the module's parser). */
function outside(bytes: Buffer): Buffer {
  const text = bytes.toString('latin1');
  return Buffer.from(text.replace(BLOCK_RE, ''), 'latin1');
}

/** The block's lines between the markers, or undefined when there is no block. */
function blockLines(bytes: Buffer): string[] | undefined {
  const match = BLOCK_RE.exec(bytes.toString('latin1'));
  if (match === null) return undefined;
  return match[0].split('\n').slice(1, -2);
}

async function expectHostsError(
  run: () => Promise<unknown>,
  field: string,
  message?: RegExp,
): Promise<HostsFileError> {
  try {
    await run();
  } catch (error) {
    assert.instance(error, HostsFileError);
    assert.ok(isHostsFileError(error));
    const e = error as HostsFileError;
    assert.is(e.name, 'HostsFileError');
    assert.is(e.field, field, e.message);
    if (message !== undefined) assert.match(e.message, message);
    return e;
  }
  assert.unreachable('expected a HostsFileError');
  throw new Error('unreachable');
}

const ORIGINAL = '127.0.0.1 localhost\n::1 localhost ip6-localhost\n# a comment\n10.77.0.10 ctl1\n';

test('round trip: write, read back, rewrite, remove', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(path, ORIGINAL);
    assert.equal(await readManagedHosts(path), new Map());

    assert.ok(await writeManagedHosts(path, { slurmctl: '10.77.0.11', 'db.cluster.local': 'fd00::1' }));
    assert.equal(
      await readManagedHosts(path),
      new Map([
        ['db.cluster.local', 'fd00::1'],
        ['slurmctl', '10.77.0.11'],
      ]),
    );
    assert.is(
      await readFile(path, 'utf8'),
      `${HOSTS_BLOCK_BEGIN}\nfd00::1 db.cluster.local\n10.77.0.11 slurmctl\n${HOSTS_BLOCK_END}\n${ORIGINAL}`,
    );

    // The block is replaced where it is; a Map works as well as a record.
    assert.ok(await writeManagedHosts(path, new Map([['slurmctl', '10.77.0.12']])));
    assert.equal(await readManagedHosts(path), new Map([['slurmctl', '10.77.0.12']]));
    assert.is(
      await readFile(path, 'utf8'),
      `${HOSTS_BLOCK_BEGIN}\n10.77.0.12 slurmctl\n${HOSTS_BLOCK_END}\n${ORIGINAL}`,
    );

    // Empty entries remove the block, markers included: the original comes back.
    assert.ok(await writeManagedHosts(path, {}));
    assert.is(await readFile(path, 'utf8'), ORIGINAL);
    assert.equal(await readManagedHosts(path), new Map());
    assert.not.ok(await writeManagedHosts(path, new Map()), 'no block, nothing to remove');
  });
});

test('a block in the middle of the file stays where it is', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    const head = '127.0.0.1 localhost\n';
    const tail = '10.0.0.5 other\n';
    await writeFile(path, `${head}${HOSTS_BLOCK_BEGIN}\n10.0.0.1 slurmctl\n${HOSTS_BLOCK_END}\n${tail}`);
    assert.equal(await readManagedHosts(path), new Map([['slurmctl', '10.0.0.1']]));
    assert.ok(await pointAlias(path, 'slurmctl', '10.0.0.2'));
    assert.is(
      await readFile(path, 'utf8'),
      `${head}${HOSTS_BLOCK_BEGIN}\n10.0.0.2 slurmctl\n${HOSTS_BLOCK_END}\n${tail}`,
    );
    assert.ok(await writeManagedHosts(path, {}));
    assert.is(await readFile(path, 'utf8'), `${head}${tail}`);
  });
});

test('outside bytes kept exactly: no final newline, CRLF, other entries for the name, non-UTF-8', async () => {
  const originals: Buffer[] = [
    Buffer.from('127.0.0.1 localhost'),
    Buffer.from('127.0.0.1 localhost\r\n10.0.0.9 slurmctl\r\n# comment\r\n'),
    Buffer.from('127.0.0.1 localhost\r\n10.0.0.9 slurmctl'),
    Buffer.from('\n\n  \t\n'),
    Buffer.from(''),
    Buffer.concat([
      Buffer.from('10.0.0.1 caf'),
      Buffer.from([0xe9, 0xff, 0xfe]),
      Buffer.from(' # latin-1\n'),
    ]),
    Buffer.from('# END clusteros-ish\n# BEGIN clusterosX\n10.0.0.8 slurmctl\n'),
  ];
  for (const original of originals) {
    await withDir(async (dir) => {
      const path = join(dir, 'hosts');
      await writeFile(path, original);
      assert.ok(await pointAlias(path, 'slurmctl', '10.77.0.11'));
      const written = await readFile(path);
      assert.equal(outside(written), original, JSON.stringify(original.toString('latin1')));
      assert.equal(await readManagedHosts(path), new Map([['slurmctl', '10.77.0.11']]));
      assert.ok(await pointAlias(path, 'slurmctl', '10.77.0.12'));
      assert.equal(outside(await readFile(path)), original);
      assert.ok(await writeManagedHosts(path, {}));
      assert.equal(await readFile(path), original, 'removing the block gives back the original bytes');
    });
  }
});

test('a CRLF block (someone converted the file) still parses and is rewritten', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(path, `a\r\n${HOSTS_BLOCK_BEGIN}\r\n10.0.0.1 slurmctl\r\n${HOSTS_BLOCK_END}\r\nb\r\n`);
    assert.equal(await readManagedHosts(path), new Map([['slurmctl', '10.0.0.1']]));
    assert.ok(await pointAlias(path, 'slurmctl', '10.0.0.2'));
    assert.is(
      await readFile(path, 'utf8'),
      `a\r\n${HOSTS_BLOCK_BEGIN}\n10.0.0.2 slurmctl\n${HOSTS_BLOCK_END}\nb\r\n`,
    );
  });
});

test('pointAlias keeps the other entries, replaces a name that differs only in case, and skips no-ops', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(path, ORIGINAL);
    assert.ok(await writeManagedHosts(path, { slurmctl: '10.0.0.1', slurmdbd: '10.0.0.2' }));
    const before = await stat(path);

    assert.not.ok(await pointAlias(path, 'slurmctl', '10.0.0.1'), 'already there');
    assert.not.ok(
      await writeManagedHosts(path, { slurmdbd: '10.0.0.2', slurmctl: '10.0.0.1' }),
      'same block',
    );
    const after = await stat(path);
    assert.is(after.ino, before.ino, 'no write: the file was not replaced');
    assert.is(after.mtimeMs, before.mtimeMs);

    assert.ok(await pointAlias(path, 'slurmctl', '10.0.0.3'));
    assert.equal(
      await readManagedHosts(path),
      new Map([
        ['slurmctl', '10.0.0.3'],
        ['slurmdbd', '10.0.0.2'],
      ]),
    );
    assert.ok(await pointAlias(path, 'SlurmCtl', '10.0.0.3'), 'the spelling changed');
    assert.equal(
      await readManagedHosts(path),
      new Map([
        ['SlurmCtl', '10.0.0.3'],
        ['slurmdbd', '10.0.0.2'],
      ]),
    );
  });
});

test('a missing file reads as empty and is created only when there is something to write', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    assert.equal(await readManagedHosts(path), new Map());
    assert.not.ok(await writeManagedHosts(path, {}));
    assert.equal(await readdir(dir), []);
    assert.ok(await pointAlias(path, 'slurmctl', '10.0.0.1'));
    assert.is(await readFile(path, 'utf8'), `${HOSTS_BLOCK_BEGIN}\n10.0.0.1 slurmctl\n${HOSTS_BLOCK_END}\n`);
    assert.is((await stat(path)).mode & 0o7777, 0o644);
  });
});

test('mode (and, as root, owner) of the original are kept; no temporary file is left', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(path, ORIGINAL);
    await chmod(path, 0o640);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await chown(path, 4242, 4343);
    const before = await stat(path);
    assert.ok(await pointAlias(path, 'slurmctl', '10.0.0.1'));
    const after = await stat(path);
    assert.is.not(after.ino, before.ino, 'replaced by rename');
    assert.is(after.mode & 0o7777, 0o640);
    assert.is(after.uid, before.uid);
    assert.is(after.gid, before.gid);
    if (asRoot) assert.equal([after.uid, after.gid], [4242, 4343]);
    assert.equal(await readdir(dir), ['hosts']);
  });
});

test('malformed blocks are refused with the line named, and the file is left untouched', async () => {
  const cases: [string, number, RegExp][] = [
    [`a\n${HOSTS_BLOCK_BEGIN}\n10.0.0.1 x\n`, 2, /without '# END clusteros'/],
    [
      `${HOSTS_BLOCK_BEGIN}\n${HOSTS_BLOCK_BEGIN}\n${HOSTS_BLOCK_END}\n`,
      2,
      /second '# BEGIN clusteros'.*line 1/,
    ],
    [
      `${HOSTS_BLOCK_BEGIN}\n${HOSTS_BLOCK_END}\nx\n${HOSTS_BLOCK_BEGIN}\n${HOSTS_BLOCK_END}\n`,
      4,
      /second '# BEGIN/,
    ],
    [`a\nb\n${HOSTS_BLOCK_END}\n`, 3, /without a '# BEGIN/],
    [`${HOSTS_BLOCK_BEGIN}\n${HOSTS_BLOCK_END}\n${HOSTS_BLOCK_END}\n`, 3, /without a '# BEGIN/],
    [`${HOSTS_BLOCK_BEGIN}\n10.0.0.1 a b\n${HOSTS_BLOCK_END}\n`, 2, /one "<address> <name>"/],
    [`${HOSTS_BLOCK_BEGIN}\n10.0.0.1\n${HOSTS_BLOCK_END}\n`, 2, /one "<address> <name>"/],
    [`${HOSTS_BLOCK_BEGIN}\n10.0.0.300 a\n${HOSTS_BLOCK_END}\n`, 2, /not an IPv4 or IPv6/],
    [`${HOSTS_BLOCK_BEGIN}\n10.0.0.1 a_b\n${HOSTS_BLOCK_END}\n`, 2, /not a host name/],
    [`${HOSTS_BLOCK_BEGIN}\n\n10.0.0.1 a\n10.0.0.2 A\n${HOSTS_BLOCK_END}\n`, 4, /second entry/],
  ];
  for (const [content, line, message] of cases) {
    await withDir(async (dir) => {
      const path = join(dir, 'hosts');
      await writeFile(path, content);
      const before = await stat(path);
      for (const run of [
        () => readManagedHosts(path),
        () => writeManagedHosts(path, { slurmctl: '10.0.0.9' }),
        () => writeManagedHosts(path, {}),
        () => pointAlias(path, 'slurmctl', '10.0.0.9'),
      ]) {
        const error = await expectHostsError(run, 'block', message);
        assert.is(error.line, line, `${JSON.stringify(content)}: ${error.message}`);
        assert.match(error.message, `${path}:${line}:`);
      }
      assert.is(await readFile(path, 'utf8'), content);
      assert.is((await stat(path)).ino, before.ino);
      assert.equal(await readdir(dir), ['hosts']);
    });
  }
});

test('comments and blank lines in the block are read past (and dropped on rewrite)', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(
      path,
      `${HOSTS_BLOCK_BEGIN}\n# note\n\n\t10.0.0.1   slurmctl  # here\n${HOSTS_BLOCK_END}\n`,
    );
    assert.equal(await readManagedHosts(path), new Map([['slurmctl', '10.0.0.1']]));
    assert.ok(await pointAlias(path, 'slurmctl', '10.0.0.1'), 'normalises the block');
    assert.is(await readFile(path, 'utf8'), `${HOSTS_BLOCK_BEGIN}\n10.0.0.1 slurmctl\n${HOSTS_BLOCK_END}\n`);
  });
});

test('invalid names and addresses are refused before anything is read or written', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(path, ORIGINAL);
    const long63 = 'a'.repeat(63);
    const badNames = [
      '',
      'a b',
      'a\nb',
      'a\n10.0.0.1 evil',
      '-a',
      'a-',
      'a..b',
      '.a',
      'a.',
      'a_b',
      'a#b',
      'é',
      'a'.repeat(64),
      [long63, long63, long63, long63].join('.'),
      '123',
      '10.0.0.1',
      'host.42',
    ];
    for (const name of badNames) {
      await expectHostsError(() => pointAlias(path, name, '10.0.0.1'), 'name');
      await expectHostsError(() => writeManagedHosts(path, { [name]: '10.0.0.1' }), 'name');
    }
    const badAddresses = [
      '',
      'slurmctl',
      '10.0.0.256',
      '010.0.0.1',
      '10.0.0.1 evil',
      '10.0.0.1\n10.0.0.2 evil',
      ' 10.0.0.1',
      '1::2::3',
      'fe80::1%eth0',
    ];
    for (const address of badAddresses) {
      await expectHostsError(() => pointAlias(path, 'slurmctl', address), 'address');
      await expectHostsError(() => writeManagedHosts(path, { slurmctl: address }), 'address');
    }
    await expectHostsError(
      () => writeManagedHosts(path, { slurmctl: '10.0.0.1', SLURMCTL: '10.0.0.2' }),
      'entries',
      /differ only in case/,
    );
    await expectHostsError(
      () => writeManagedHosts(path, new Map<string, string>([['slurmctl', 7 as unknown as string]])),
      'address',
    );
    await expectHostsError(
      () => writeManagedHosts(path, null as unknown as Record<string, string>),
      'entries',
    );
    assert.is(await readFile(path, 'utf8'), ORIGINAL);

    // The limits themselves are accepted.
    const longest = [long63, long63, long63, 'a'.repeat(61)].join('.');
    assert.is(longest.length, 253);
    for (const name of [longest, 'A-1', '1a', 'x', 'n-01.cluster.local', '42.example']) {
      assert.ok(await writeManagedHosts(path, { [name]: '::ffff:10.0.0.1' }), name);
      assert.equal(await readManagedHosts(path), new Map([[name, '::ffff:10.0.0.1']]));
    }
  });
});

test('property: any names and addresses either throw HostsFileError or give exactly that block', async () => {
  const line = fc.oneof(
    fc.string({ unit: 'binary-ascii', maxLength: 30 }),
    fc.constantFrom('127.0.0.1 localhost', '10.0.0.9 slurmctl', '# comment', '', '\t'),
  );
  const outsideText = fc
    .tuple(fc.array(line, { maxLength: 6 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
    .map(([lines, eol, finalNewline]) => lines.join(eol) + (finalNewline && lines.length > 0 ? eol : ''))
    .filter((text) => !/^[ \t]*# (BEGIN|END) clusteros/m.test(text));
  const name = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.domain(),
    fc.constantFrom('slurmctl', 'a\nb', 'x 10.0.0.1', 'a\r', 'a.b.', '# BEGIN clusteros', '1.2.3.4'),
    fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,20}$/),
  );
  const address = fc.oneof(
    fc.string(),
    fc.ipV4(),
    fc.ipV6(),
    fc.ipV4Extended(),
    fc.constantFrom('10.0.0.1\n10.0.0.2 evil', '::1 x', 'fe80::1%eth0', '10.0.0.1#', '1.2.3.4 '),
  );
  let accepted = 0;
  let refused = 0;
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await fc.assert(
      fc.asyncProperty(
        outsideText,
        fc.dictionary(name, address, { maxKeys: 5 }),
        fc.boolean(),
        async (original, entries, viaPointAlias) => {
          await writeFile(path, original, 'latin1');
          const originalBytes = await readFile(path);
          try {
            if (viaPointAlias) for (const [n, a] of Object.entries(entries)) await pointAlias(path, n, a);
            else await writeManagedHosts(path, entries);
          } catch (error) {
            if (!isHostsFileError(error)) throw error;
            refused++;
            if (!viaPointAlias) assert.equal(await readFile(path), originalBytes, 'refused: file untouched');
            // pointAlias may have written earlier, valid entries: the outside is still intact.
            assert.equal(outside(await readFile(path)), originalBytes);
            return;
          }
          accepted++;
          const written = await readFile(path);
          assert.equal(outside(written), originalBytes, 'outside unchanged');
          // pointAlias replaces a name that differs only in case (writeManagedHosts refuses those).
          const expected = new Map<string, string>();
          for (const [n, a] of Object.entries(entries)) {
            for (const k of [...expected.keys()]) if (k.toLowerCase() === n.toLowerCase()) expected.delete(k);
            expected.set(n, a);
          }
          assert.equal(await readManagedHosts(path), expected, 'block parses back to exactly the entries');
          const lines = blockLines(written);
          if (expected.size === 0) assert.is(lines, undefined);
          else {
            assert.is(lines?.length, expected.size, 'one line per entry');
            for (const l of lines ?? []) assert.match(l, /^[0-9A-Fa-f:.]+ [A-Za-z0-9.-]+$/);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
  // Both outcomes were exercised (the generators mix valid and arbitrary values).
  assert.ok(accepted > 30 && refused > 30, `accepted ${accepted}, refused ${refused}`);
});

test('EBUSY or EXDEV from rename (a bind-mounted file): rewritten in place, same inode, no temp file', async () => {
  for (const code of ['EBUSY', 'EXDEV']) {
    await withDir(async (dir) => {
      const path = join(dir, 'hosts');
      // Longer than what replaces it, so the truncate matters.
      const long = `${HOSTS_BLOCK_BEGIN}\n10.0.0.1 a\n10.0.0.2 bbbbbbbbbbbbbbbbbbbb\n${HOSTS_BLOCK_END}\n${ORIGINAL}`;
      await writeFile(path, long);
      await chmod(path, 0o644);
      const before = await stat(path);
      const renames: string[] = [];
      const rename = async (from: string, to: string): Promise<void> => {
        renames.push(`${from} -> ${to}`);
        throw Object.assign(new Error(`${code}: rename`), { code });
      };
      assert.ok(await pointAlias(path, 'bbbbbbbbbbbbbbbbbbbb', '10.0.0.3', { rename }));
      assert.is(renames.length, 1);
      const after = await stat(path);
      assert.is(after.ino, before.ino, 'same inode: the mount still shows the file');
      assert.is(
        await readFile(path, 'utf8'),
        `${HOSTS_BLOCK_BEGIN}\n10.0.0.1 a\n10.0.0.3 bbbbbbbbbbbbbbbbbbbb\n${HOSTS_BLOCK_END}\n${ORIGINAL}`,
      );
      assert.ok(await writeManagedHosts(path, {}, { rename }));
      assert.is(await readFile(path, 'utf8'), ORIGINAL, 'truncated to the new length');
      assert.is((await stat(path)).ino, before.ino);
      assert.equal(await readdir(dir), ['hosts']);
    });
  }
});

test('other rename failures are reported as HostsFileError, the file untouched and no temp file left', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(path, ORIGINAL);
    const rename = async (): Promise<void> => {
      throw Object.assign(new Error('EACCES: rename'), { code: 'EACCES' });
    };
    await expectHostsError(() => pointAlias(path, 'slurmctl', '10.0.0.1', { rename }), 'path', /EACCES/);
    assert.is(await readFile(path, 'utf8'), ORIGINAL);
    assert.equal(await readdir(dir), ['hosts']);
  });
});

test('a symlinked hosts file is rewritten through the link, which stays a link', async () => {
  await withDir(async (dir) => {
    const target = join(dir, 'real-hosts');
    const path = join(dir, 'hosts');
    await writeFile(target, ORIGINAL);
    await symlink(target, path);
    const before = await stat(target);
    let renamed = false;
    const rename = async (): Promise<void> => {
      renamed = true;
    };
    assert.ok(await pointAlias(path, 'slurmctl', '10.0.0.1', { rename }));
    assert.not.ok(renamed, 'no rename over a symlink');
    assert.ok((await lstat(path)).isSymbolicLink());
    assert.is((await stat(target)).ino, before.ino);
    assert.equal(await readManagedHosts(path), new Map([['slurmctl', '10.0.0.1']]));
    assert.equal(outside(await readFile(target)), Buffer.from(ORIGINAL));
  });
});

test('a dangling symlink or a directory is an error, not a missing file', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await symlink(join(dir, 'nowhere'), path);
    await expectHostsError(() => pointAlias(path, 'slurmctl', '10.0.0.1'), 'path');
    assert.ok((await lstat(path)).isSymbolicLink());
    await expectHostsError(() => readManagedHosts(dir), 'path', /not a regular file/);
  });
});

test('concurrent writers in one process lose no update', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'hosts');
    await writeFile(path, ORIGINAL);
    const names = Array.from({ length: 40 }, (_, i) => `n${i}`);
    const results = await Promise.all(names.map((n, i) => pointAlias(path, n, `10.1.0.${i + 1}`)));
    assert.ok(results.every(Boolean));
    const read = await readManagedHosts(path);
    assert.equal(read, new Map(names.map((n, i) => [n, `10.1.0.${i + 1}`])));

    // A failing writer does not block the ones queued after it; a relative spelling of the
    // path shares the queue.
    const mixed = await Promise.allSettled([
      pointAlias(path, 'x', '10.2.0.1'),
      pointAlias(path, 'bad name', '10.2.0.2'),
      writeManagedHosts(join(dir, '.', 'hosts'), { only: '10.2.0.3' }),
      pointAlias(path, 'y', '10.2.0.4'),
    ]);
    assert.equal(
      mixed.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal(
      await readManagedHosts(path),
      new Map([
        ['only', '10.2.0.3'],
        ['y', '10.2.0.4'],
      ]),
    );
    assert.equal(outside(await readFile(path)), Buffer.from(ORIGINAL));
    assert.equal(await readdir(dir), ['hosts']);
  });
});

test.run();
