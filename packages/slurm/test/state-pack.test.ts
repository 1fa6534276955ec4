// slurmctld's StateSaveLocation packed on one host and unpacked on another: exact round trips
// (contents, modes, mtimes), limits, every corruption and every unsafe path refused before
// anything is written, and an unpack that fails at any point leaving the old directory as it was.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as slurm from '../src/index.js';
import {
  DEFAULT_STATE_MAX_BYTES,
  DEFAULT_STATE_MAX_FILES,
  isStateArchiveError,
  packState,
  StateArchiveError,
  type StateArchiveErrorReason,
  stateDigest,
  type UnpackStep,
  unpackState,
  unpackStateWithHooks,
  verifyState,
} from '../src/state/pack.js';

async function withTemp(body: (base: string) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'state-pack-'));
  try {
    await body(base);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

/** Sets mode and mtime (ms) exactly. */
async function meta(path: string, mode: number, mtimeMs: number): Promise<void> {
  await chmod(path, mode);
  await utimes(path, mtimeMs / 1000, mtimeMs / 1000);
}

const T0 = 1_700_000_000_000;

function bytesOf(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A StateSaveLocation as slurmctld 22.05 leaves it (see SLURM-NOTES §4b), plus an empty directory. */
async function makeStateTree(dir: string, order: 'forward' | 'reverse' = 'forward'): Promise<void> {
  await mkdir(dir, { recursive: true });
  const files: [string, Uint8Array | string, number, number][] = [
    ['job_state', bytesOf(1, 5000), 0o600, T0 + 123],
    ['job_state.old', bytesOf(2, 4800), 0o600, T0 + 100],
    ['node_state', bytesOf(3, 700), 0o600, T0 + 7],
    ['node_state.old', bytesOf(4, 690), 0o600, T0 + 5],
    ['resv_state', bytesOf(5, 64), 0o644, T0 + 1],
    ['trigger_state', new Uint8Array(0), 0o640, T0 - 1],
    ['assoc_mgr_state', bytesOf(6, 300), 0o600, T0],
    ['assoc_usage', bytesOf(7, 120), 0o600, T0],
    ['clustername', 'clusteros\n', 0o644, T0 - 86_400_000],
    ['last_config_lite', 'SlurmctldHost=ctl1(10.77.0.100)\n', 0o644, T0 + 2],
    ['qos_usage', bytesOf(8, 40), 0o400, T0 + 3],
    ['hash.3/job.3/script', '#!/bin/sh\nsleep 30\necho done\n', 0o700, T0 + 11],
    ['hash.3/job.3/environment', 'PATH=/usr/bin\0HOME=/root\0', 0o600, T0 + 12],
    ['hash.7/job.17/script', '#!/bin/bash\nsrun hostname\n', 0o700, T0 + 13],
    ['hash.7/job.17/environment', bytesOf(9, 2048), 0o600, T0 + 14],
    ['hash.7/job.27/script', '#!/bin/sh\ntrue\n', 0o4755, T0 + 15],
  ];
  const dirs: [string, number, number][] = [
    ['empty', 0o755, T0 + 20],
    ['hash.3/job.3', 0o700, T0 + 21],
    ['hash.7/job.17', 0o700, T0 + 22],
    ['hash.7/job.27', 0o2750, T0 + 23],
    ['hash.3', 0o755, T0 + 24],
    ['hash.7', 0o755, T0 + 25],
  ];
  const ordered = order === 'forward' ? files : [...files].reverse();
  for (const [path] of dirs) await mkdir(join(dir, path), { recursive: true });
  for (const [path, content] of ordered) await writeFile(join(dir, path), content);
  for (const [path, , mode, mtime] of ordered) await meta(join(dir, path), mode, mtime);
  for (const [path, mode, mtime] of dirs) await meta(join(dir, path), mode, mtime);
  await meta(dir, 0o755, T0 + 30);
}

interface Snap {
  path: string;
  kind: string;
  mode: number;
  mtime: number;
  sha?: string;
}

/** Everything `dir` holds, as the test sees it (independently of the code under test). */
async function snapshot(dir: string): Promise<Snap[]> {
  const out: Snap[] = [];
  const walk = async (rel: string) => {
    const abs = rel === '' ? dir : join(dir, rel);
    const info = await lstat(abs);
    const kind = info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'other';
    const snap: Snap = { path: rel || '.', kind, mode: info.mode & 0o7777, mtime: Math.round(info.mtimeMs) };
    if (kind === 'file')
      snap.sha = createHash('sha256')
        .update(await readFile(abs))
        .digest('hex');
    out.push(snap);
    if (kind === 'dir')
      for (const name of (await readdir(abs)).sort()) await walk(rel ? `${rel}/${name}` : name);
  };
  await walk('');
  return out;
}

async function expectError(
  run: () => unknown,
  reason: StateArchiveErrorReason | readonly StateArchiveErrorReason[],
  label = '',
): Promise<StateArchiveError> {
  try {
    await run();
  } catch (error) {
    assert.instance(error, StateArchiveError, `${label}: ${String(error)}`);
    const reasons: readonly string[] = typeof reason === 'string' ? [reason] : reason;
    assert.ok(reasons.includes((error as StateArchiveError).reason), `${label}: ${String(error)}`);
    return error as StateArchiveError;
  }
  assert.unreachable(`${label}: expected StateArchiveError(${String(reason)})`);
  throw new Error('unreachable');
}

function expectErrorSync(run: () => unknown, reason: StateArchiveErrorReason, label = ''): void {
  try {
    run();
  } catch (error) {
    assert.instance(error, StateArchiveError, `${label}: ${String(error)}`);
    assert.is((error as StateArchiveError).reason, reason, `${label}: ${String(error)}`);
    return;
  }
  assert.unreachable(`${label}: expected StateArchiveError(${reason})`);
}

/** Recomputes the trailer, as an attacker who can write the whole archive would. */
function reseal(archive: Uint8Array): Uint8Array {
  const out = new Uint8Array(archive);
  if (out.byteLength < 32) return out;
  out.set(
    createHash('sha256')
      .update(out.subarray(0, out.byteLength - 32))
      .digest(),
    out.byteLength - 32,
  );
  return out;
}

interface CraftEntry {
  type?: number;
  path: string | Uint8Array;
  mode?: number;
  mtime?: bigint;
  size?: bigint;
  content?: Uint8Array;
}

/** Builds an archive from the documented format, with every field under the test's control. */
function craft(
  entries: readonly CraftEntry[],
  header: { version?: number; rootMode?: number; rootMtime?: bigint; count?: number; tail?: Uint8Array } = {},
): Uint8Array {
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(23);
  const hv = new DataView(head.buffer);
  head.set(new TextEncoder().encode('CLOSTATE'), 0);
  hv.setUint8(8, header.version ?? 1);
  hv.setUint16(9, header.rootMode ?? 0o755);
  hv.setBigInt64(11, header.rootMtime ?? BigInt(T0));
  hv.setUint32(19, header.count ?? entries.length);
  parts.push(head);
  for (const entry of entries) {
    const path = typeof entry.path === 'string' ? new TextEncoder().encode(entry.path) : entry.path;
    const content = entry.content ?? new Uint8Array(0);
    const fixed = new Uint8Array(3);
    const fv = new DataView(fixed.buffer);
    fv.setUint8(0, entry.type ?? (content.byteLength > 0 ? 2 : 1));
    fv.setUint16(1, path.byteLength);
    const rest = new Uint8Array(18);
    const rv = new DataView(rest.buffer);
    rv.setUint16(0, entry.mode ?? 0o644);
    rv.setBigInt64(2, entry.mtime ?? BigInt(T0));
    rv.setBigUint64(10, entry.size ?? BigInt(content.byteLength));
    parts.push(fixed, path, rest, content);
  }
  if (header.tail !== undefined) parts.push(header.tail);
  parts.push(new Uint8Array(32));
  return reseal(Buffer.concat(parts));
}

const text = (s: string) => new TextEncoder().encode(s);

// ---------------------------------------------------------------------------------------------

test('a realistic state directory round-trips exactly: contents, modes, mtimes, digest', async () => {
  await withTemp(async (base) => {
    const src = join(base, 'ctl1', 'slurmctld');
    await makeStateTree(src);
    const before = await snapshot(src);
    const archive = await packState(src);
    const summary = verifyState(archive);
    assert.is(summary.files, 16);
    let contentBytes = 0;
    for (const s of before)
      if (s.kind === 'file') contentBytes += (await readFile(join(src, s.path))).byteLength;
    assert.is(summary.bytes, contentBytes);
    assert.match(summary.sha256, /^[0-9a-f]{64}$/);
    assert.is(await stateDigest(src), summary.sha256);

    const dest = join(base, 'ctl2', 'var', 'lib', 'slurm', 'slurmctld');
    await unpackState(archive, dest);
    assert.equal(await snapshot(dest), before);
    assert.equal(await snapshot(src), before, 'packing changes nothing');
    assert.is(await stateDigest(dest), summary.sha256);
    assert.equal(await packState(dest), archive, 'the unpacked tree packs to the same bytes');
    // The two spot checks the brief names explicitly.
    assert.equal(
      await readFile(join(dest, 'hash.3/job.3/script'), 'utf8'),
      '#!/bin/sh\nsleep 30\necho done\n',
    );
    assert.equal((await readdir(join(dest, 'empty'))).length, 0);
    assert.equal((await readdir(join(base, 'ctl2', 'var', 'lib', 'slurm'))).sort(), ['slurmctld']);
  });
});

test('packing is deterministic: creation order does not matter, a change does', async () => {
  await withTemp(async (base) => {
    await makeStateTree(join(base, 'a'), 'forward');
    await makeStateTree(join(base, 'b'), 'reverse');
    const a = await packState(join(base, 'a'));
    assert.equal(await packState(join(base, 'a')), a);
    assert.equal(await packState(join(base, 'b')), a);
    assert.is(await stateDigest(join(base, 'b')), await stateDigest(join(base, 'a')));
    // One changed byte, mode or mtime anywhere changes the digest.
    const digest = await stateDigest(join(base, 'a'));
    await writeFile(join(base, 'b', 'node_state'), bytesOf(99, 700));
    await meta(join(base, 'b', 'node_state'), 0o600, T0 + 7);
    assert.is.not(await stateDigest(join(base, 'b')), digest);
    await makeStateTree(join(base, 'c'));
    await meta(join(base, 'c', 'resv_state'), 0o600, T0 + 1);
    assert.is.not(await stateDigest(join(base, 'c')), digest);
    await makeStateTree(join(base, 'd'));
    await meta(join(base, 'd', 'empty'), 0o755, T0 + 21);
    assert.is.not(await stateDigest(join(base, 'd')), digest);
    // Entries are sorted by UTF-8 bytes ("a-c" < "a/b" because '-' < '/').
    await mkdir(join(base, 'e', 'a'), { recursive: true });
    await writeFile(join(base, 'e', 'a-c'), 'x');
    await writeFile(join(base, 'e', 'a', 'b'), 'y');
    const names = parsePaths(await packState(join(base, 'e')));
    assert.equal(names, ['a', 'a-c', 'a/b']);
  });
});

/** Paths of a valid archive, read by the test from the documented format. */
function parsePaths(archive: Uint8Array): string[] {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const count = view.getUint32(19);
  const out: string[] = [];
  let at = 23;
  for (let i = 0; i < count; i++) {
    const length = view.getUint16(at + 1);
    out.push(new TextDecoder().decode(archive.subarray(at + 3, at + 3 + length)));
    at += 3 + length;
    const size = Number(view.getBigUint64(at + 10));
    at += 18 + size;
  }
  return out;
}

test('the format: magic, version, root fields, entries and a SHA-256 trailer', async () => {
  await withTemp(async (base) => {
    const dir = join(base, 's');
    await mkdir(join(dir, 'hash.1'), { recursive: true });
    await writeFile(join(dir, 'hash.1', 'x'), 'abc');
    await meta(join(dir, 'hash.1', 'x'), 0o640, T0 + 5);
    await meta(join(dir, 'hash.1'), 0o750, T0 + 6);
    await meta(dir, 0o700, T0 + 7);
    const archive = await packState(dir);
    const expected = craft(
      [
        { type: 1, path: 'hash.1', mode: 0o750, mtime: BigInt(T0 + 6) },
        { type: 2, path: 'hash.1/x', mode: 0o640, mtime: BigInt(T0 + 5), content: text('abc') },
      ],
      { rootMode: 0o700, rootMtime: BigInt(T0 + 7) },
    );
    assert.equal(archive, expected);
    assert.is(archive.byteLength, 23 + (21 + 6) + (21 + 8 + 3) + 32);
  });
});

test('an empty directory packs and unpacks; so does a directory of only directories', async () => {
  await withTemp(async (base) => {
    const empty = join(base, 'empty');
    await mkdir(empty);
    await meta(empty, 0o700, T0);
    const archive = await packState(empty);
    assert.is(archive.byteLength, 23 + 32);
    assert.equal(verifyState(archive), {
      files: 0,
      bytes: 0,
      sha256: Buffer.from(archive.subarray(23)).toString('hex'),
    });
    await unpackState(archive, join(base, 'out'));
    assert.equal(await snapshot(join(base, 'out')), await snapshot(empty));

    const dirs = join(base, 'dirs');
    await mkdir(join(dirs, 'a', 'b', 'c'), { recursive: true });
    await meta(join(dirs, 'a', 'b', 'c'), 0o500, T0 + 1);
    await meta(join(dirs, 'a', 'b'), 0o555, T0 + 2);
    const packed = await packState(dirs);
    assert.is(verifyState(packed).files, 0);
    await unpackState(packed, join(base, 'out2'));
    assert.equal(await snapshot(join(base, 'out2')), await snapshot(dirs));
  });
});

test('unpack over an existing directory keeps it as <dir>.previous, replacing an older one', async () => {
  await withTemp(async (base) => {
    const dir = join(base, 'slurmctld');
    await makeStateTree(dir);
    const original = await snapshot(dir);
    const originalDigest = await stateDigest(dir);

    const other = join(base, 'other');
    await mkdir(other);
    await writeFile(join(other, 'job_state'), 'new');
    await meta(join(other, 'job_state'), 0o600, T0 + 999);
    const first = await packState(other);
    await unpackState(first, dir);
    assert.is(await stateDigest(dir), verifyState(first).sha256);
    assert.equal(await snapshot(join(base, 'slurmctld.previous')), original);
    assert.equal((await readdir(base)).sort(), ['other', 'slurmctld', 'slurmctld.previous']);

    // Again: the current one becomes .previous, the older .previous is gone.
    await writeFile(join(other, 'node_state'), 'n');
    const second = await packState(other);
    await unpackState(second, dir);
    assert.is(await stateDigest(dir), verifyState(second).sha256);
    assert.is(await stateDigest(join(base, 'slurmctld.previous')), verifyState(first).sha256);
    assert.equal((await readdir(base)).sort(), ['other', 'slurmctld', 'slurmctld.previous']);

    // Rolling back by hand is one more unpack of the original.
    const back = await packState(join(base, 'slurmctld.previous'));
    await unpackState(await packState(other), dir);
    await unpackState(back, dir);
    assert.is(await stateDigest(dir), verifyState(back).sha256);
    assert.is.not(originalDigest, verifyState(back).sha256, 'sanity: a different tree');
  });
});

test('unpack into a missing directory leaves an unrelated .previous alone', async () => {
  await withTemp(async (base) => {
    const src = join(base, 'src');
    await makeStateTree(src);
    const archive = await packState(src);
    await mkdir(join(base, 'x.previous'));
    await writeFile(join(base, 'x.previous', 'keep'), 'me');
    await unpackState(archive, join(base, 'x'));
    assert.is(await stateDigest(join(base, 'x')), await stateDigest(src));
    assert.is(await readFile(join(base, 'x.previous', 'keep'), 'utf8'), 'me');
    assert.equal((await readdir(base)).sort(), ['src', 'x', 'x.previous']);
  });
});

test('unpack through a symlinked dir replaces the target and keeps the link', async () => {
  await withTemp(async (base) => {
    const src = join(base, 'src');
    await makeStateTree(src);
    const archive = await packState(src);
    await mkdir(join(base, 'data', 'real'), { recursive: true });
    await writeFile(join(base, 'data', 'real', 'job_state'), 'old');
    await symlink(join(base, 'data', 'real'), join(base, 'link'));
    await unpackState(archive, join(base, 'link'));
    assert.ok((await lstat(join(base, 'link'))).isSymbolicLink());
    assert.is(await stateDigest(join(base, 'data', 'real')), await stateDigest(src));
    assert.is(await readFile(join(base, 'data', 'real.previous', 'job_state'), 'utf8'), 'old');
    // Packing through the link follows it too.
    assert.is(await stateDigest(join(base, 'link')), await stateDigest(src));
  });
});

test('unpack into a path that is a file fails with io and changes nothing', async () => {
  await withTemp(async (base) => {
    const src = join(base, 'src');
    await makeStateTree(src);
    await writeFile(join(base, 'target'), 'a file');
    await expectError(async () => unpackState(await packState(src), join(base, 'target')), 'io');
    assert.is(await readFile(join(base, 'target'), 'utf8'), 'a file');
    assert.equal((await readdir(base)).sort(), ['src', 'target']);
  });
});

test('limits: maxFiles and maxBytes hold exactly at the boundary and fail one past it', async () => {
  await withTemp(async (base) => {
    const dir = join(base, 's');
    await makeStateTree(dir);
    const archive = await packState(dir);
    const entries = new DataView(archive.buffer).getUint32(19);
    assert.is(entries, 22);
    assert.equal(await packState(dir, { maxFiles: entries }), archive);
    const many = await expectError(() => packState(dir, { maxFiles: entries - 1 }), 'too-many-files');
    assert.match(many.message, /more than 21/);
    await expectError(() => packState(dir, { maxFiles: 0 }), 'too-many-files');
    assert.equal(await packState(dir, { maxBytes: archive.byteLength }), archive);
    await expectError(() => packState(dir, { maxBytes: archive.byteLength - 1 }), 'too-large');
    await expectError(() => packState(dir, { maxBytes: 54 }), 'too-large');
    await expectError(() => stateDigest(dir, { maxBytes: 1000 }), 'too-large');
    // A file far over the limit fails from its size, before it is read.
    const big = join(base, 'big');
    await mkdir(big);
    await writeFile(join(big, 'job_state'), '');
    await truncate(join(big, 'job_state'), 2 ** 31);
    await expectError(() => packState(big, { maxBytes: 1024 * 1024 }), 'too-large');
    await expectError(() => packState(big), 'too-large');
    assert.is(DEFAULT_STATE_MAX_BYTES, 256 * 1024 * 1024);
    assert.is(DEFAULT_STATE_MAX_FILES, 100_000);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 40]) {
      try {
        await packState(dir, { maxBytes: bad });
        assert.unreachable(`maxBytes ${bad}`);
      } catch (error) {
        assert.instance(error, RangeError);
      }
    }
  });
});

test('sockets and FIFOs are skipped; symlinks inside or outside are refused', async () => {
  await withTemp(async (base) => {
    const dir = join(base, 's');
    await makeStateTree(dir);
    const digest = await stateDigest(dir);
    execFileSync('mkfifo', [join(dir, 'hash.3', 'fifo')]);
    const server = createServer();
    await new Promise<void>((done) => server.listen(join(dir, 'sock'), done));
    try {
      await meta(join(dir, 'hash.3'), 0o755, T0 + 24);
      await meta(dir, 0o755, T0 + 30);
      assert.is(await stateDigest(dir), digest, 'special files are not in the archive');
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }

    const inside = join(base, 'inside');
    await makeStateTree(inside);
    await symlink('job_state', join(inside, 'job_state.link'));
    const e1 = await expectError(() => packState(inside), 'unsafe-path');
    assert.match(e1.message, /symlink/);
    const outside = join(base, 'outside');
    await makeStateTree(outside);
    await symlink('/etc/passwd', join(outside, 'hash.3', 'job.3', 'environment.link'));
    await expectError(() => packState(outside), 'unsafe-path');
    const dirLink = join(base, 'dirlink');
    await makeStateTree(dirLink);
    await symlink(base, join(dirLink, 'up'));
    await expectError(() => stateDigest(dirLink), 'unsafe-path');
  });
});

test('names an archive could not carry are refused when packing', async () => {
  await withTemp(async (base) => {
    const dir = join(base, 's');
    await mkdir(dir);
    await writeFile(join(dir, 'a\\b'), 'x');
    await expectError(() => packState(dir), 'unsafe-path');
    await expectError(() => packState(join(base, 'missing')), 'io');
    await writeFile(join(base, 'file'), 'x');
    await expectError(() => packState(join(base, 'file')), 'io');
  });
});

// ---------------------------------------------------------------------------------------------
// Untrusted archives

let sample: Uint8Array | undefined;
async function sampleArchive(): Promise<Uint8Array> {
  if (sample === undefined) {
    const base = await mkdtemp(join(tmpdir(), 'state-pack-sample-'));
    try {
      const dir = join(base, 's');
      await mkdir(join(dir, 'hash.3', 'job.3'), { recursive: true });
      await mkdir(join(dir, 'empty'));
      await writeFile(join(dir, 'job_state'), bytesOf(1, 40));
      await writeFile(join(dir, 'hash.3', 'job.3', 'script'), '#!/bin/sh\ntrue\n');
      await writeFile(join(dir, 'hash.3', 'job.3', 'environment'), 'A=1\0');
      sample = await packState(dir);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  }
  return sample;
}

test('verify: the header, the trailer and the type checks', async () => {
  const archive = await sampleArchive();
  assert.is(verifyState(archive).files, 3);
  const bad = (mutate: (copy: Uint8Array) => Uint8Array, label: string) => {
    expectErrorSync(() => verifyState(mutate(new Uint8Array(archive))), 'corrupt', label);
  };
  bad((c) => {
    c[0] = 0x63;
    return c;
  }, 'magic');
  bad((c) => {
    c[8] = 2;
    return reseal(c);
  }, 'version 2, resealed');
  bad((c) => {
    c[c.byteLength - 1] = (c[c.byteLength - 1] ?? 0) ^ 1;
    return c;
  }, 'trailer');
  bad((c) => c.subarray(0, 54), 'shorter than any archive');
  bad(() => new Uint8Array(0), 'empty');
  bad((c) => reseal(Buffer.concat([c, new Uint8Array(1)])), 'stray byte');
  expectErrorSync(() => verifyState('CLOSTATE' as unknown as Uint8Array), 'corrupt', 'a string');
  expectErrorSync(() => verifyState(null as unknown as Uint8Array), 'corrupt', 'null');
  // A view into a bigger buffer is read at its own offset.
  const padded = new Uint8Array(archive.byteLength + 10);
  padded.set(archive, 7);
  assert.equal(verifyState(padded.subarray(7, 7 + archive.byteLength)), verifyState(archive));
});

test('fast-check: any single flipped byte is StateArchiveError(corrupt), never another error', async () => {
  const archive = await sampleArchive();
  // Every position, once, and fast-check over position × flip mask.
  for (let i = 0; i < archive.byteLength; i++) {
    const copy = new Uint8Array(archive);
    copy[i] = (copy[i] ?? 0) ^ 0x01;
    expectErrorSync(() => verifyState(copy), 'corrupt', `byte ${i}`);
  }
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: archive.byteLength - 1 }),
      fc.integer({ min: 1, max: 255 }),
      (index, mask) => {
        const copy = new Uint8Array(archive);
        copy[index] = (copy[index] ?? 0) ^ mask;
        expectErrorSync(() => verifyState(copy), 'corrupt', `byte ${index} ^ ${mask}`);
      },
    ),
    { numRuns: 2000 },
  );
});

test('fast-check: truncating at any point is StateArchiveError(corrupt)', async () => {
  const archive = await sampleArchive();
  for (let n = 0; n < archive.byteLength; n++)
    expectErrorSync(() => verifyState(archive.subarray(0, n)), 'corrupt', `first ${n} bytes`);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: archive.byteLength - 1 }), (n) => {
      expectErrorSync(() => verifyState(archive.slice(0, n)), 'corrupt', `first ${n} bytes`);
    }),
  );
});

test('fast-check: unpacking a flipped or truncated archive writes nothing at all', async () => {
  const archive = await sampleArchive();
  await withTemp(async (base) => {
    const existing = join(base, 'existing');
    await makeStateTree(existing);
    const before = await snapshot(existing);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            kind: fc.constant('flip' as const),
            index: fc.integer({ min: 0, max: archive.byteLength - 1 }),
            mask: fc.integer({ min: 1, max: 255 }),
          }),
          fc.record({
            kind: fc.constant('cut' as const),
            n: fc.integer({ min: 0, max: archive.byteLength - 1 }),
          }),
        ),
        fc.boolean(),
        async (damage, intoExisting) => {
          let copy: Uint8Array;
          if (damage.kind === 'flip') {
            copy = new Uint8Array(archive);
            copy[damage.index] = (copy[damage.index] ?? 0) ^ damage.mask;
          } else copy = archive.slice(0, damage.n);
          const target = intoExisting ? existing : join(base, 'fresh', 'slurmctld');
          await expectError(() => unpackState(copy, target), 'corrupt');
          assert.equal((await readdir(base)).sort(), ['existing']);
        },
      ),
      { numRuns: 150 },
    );
    assert.equal(await snapshot(existing), before);
  });
});

test('fast-check: resealed mutations are valid or a StateArchiveError, and never trust a length', async () => {
  const archive = await sampleArchive();
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          index: fc.integer({ min: 0, max: archive.byteLength - 33 }),
          value: fc.integer({ min: 0, max: 255 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      fc.integer({ min: 55, max: archive.byteLength + 40 }),
      (writes, length) => {
        const body = new Uint8Array(length);
        body.set(archive.subarray(0, Math.min(length, archive.byteLength)));
        for (const { index, value } of writes) if (index < length - 32) body[index] = value;
        const mutated = reseal(body);
        try {
          const summary = verifyState(mutated);
          assert.ok(summary.files >= 0 && summary.bytes <= mutated.byteLength);
        } catch (error) {
          assert.ok(isStateArchiveError(error), String(error));
          assert.ok(['corrupt', 'unsafe-path'].includes((error as StateArchiveError).reason));
        }
      },
    ),
    { numRuns: 3000 },
  );
  // Length fields set to their maximum: each is refused as running past the end.
  const view = (a: Uint8Array) => new DataView(a.buffer, a.byteOffset, a.byteLength);
  const huge = new Uint8Array(archive);
  view(huge).setUint32(19, 0xffff_ffff);
  expectErrorSync(() => verifyState(reseal(huge)), 'corrupt', 'count');
  const pathLength = new Uint8Array(archive);
  view(pathLength).setUint16(24, 0xffff);
  expectErrorSync(() => verifyState(reseal(pathLength)), 'corrupt', 'path length');
  const size = new Uint8Array(archive);
  const firstPathLength = view(size).getUint16(24);
  view(size).setBigUint64(23 + 3 + firstPathLength + 10, 0xffff_ffff_ffff_ffffn);
  expectErrorSync(() => verifyState(reseal(size)), 'corrupt', 'size');
});

test('crafted archives with unsafe paths are refused before anything is written', async () => {
  const unsafe = [
    '../x',
    '/etc/x',
    'a//b',
    'a\\b',
    '..',
    'a/../../x',
    'a/..',
    '.',
    './x',
    'a/./b',
    'a/',
    'x\0y',
    '\\\\host\\share',
  ];
  await withTemp(async (base) => {
    const existing = join(base, 'existing');
    await makeStateTree(existing);
    const before = await snapshot(existing);
    for (const path of unsafe) {
      // With parents present where the path has any, so only the path itself is wrong.
      const archive = craft([
        { type: 1, path: 'a' },
        { type: 2, path, content: text('pwned') },
      ]);
      const alone = craft([{ type: 2, path, content: text('pwned') }]);
      for (const candidate of [archive, alone]) {
        expectErrorSync(() => verifyState(candidate), 'unsafe-path', JSON.stringify(path));
        await expectError(() => unpackState(candidate, existing), 'unsafe-path', path);
        await expectError(() => unpackState(candidate, join(base, 'new', 'dir')), 'unsafe-path', path);
      }
      // As a directory entry too.
      const asDir = craft([{ type: 1, path }]);
      expectErrorSync(() => verifyState(asDir), 'unsafe-path', `dir ${JSON.stringify(path)}`);
    }
    // An empty path is refused as corrupt (length 0) before the path is looked at.
    expectErrorSync(
      () => verifyState(craft([{ type: 2, path: '', content: text('x') }])),
      'corrupt',
      'empty',
    );
    assert.equal(await snapshot(existing), before);
    assert.equal((await readdir(base)).sort(), ['existing']);
  });
});

test('crafted archives with malformed structure are corrupt', () => {
  const file = (path: string | Uint8Array, extra: Partial<CraftEntry> = {}): CraftEntry => ({
    type: 2,
    path,
    content: text('x'),
    ...extra,
  });
  const cases: [string, Uint8Array][] = [
    ['unsorted', craft([file('b'), file('a')])],
    ['duplicate', craft([file('a'), file('a')])],
    ['parent missing', craft([file('a/b')])],
    ['parent is a file', craft([file('a'), file('a/b')])],
    ['parent after child', craft([file('a/b'), { type: 1, path: 'a' }])],
    ['unknown type 3', craft([{ type: 3, path: 'l', content: text('/etc') }])],
    ['type 0', craft([{ type: 0, path: 'x' }])],
    ['directory with content', craft([{ type: 1, path: 'd', content: text('x') }])],
    ['mode beyond 0o7777', craft([file('a', { mode: 0o10644 })])],
    ['root mode beyond 0o7777', craft([], { rootMode: 0o40755 })],
    ['mtime beyond a Date', craft([file('a', { mtime: 8_640_000_000_000_001n })])],
    ['mtime far beyond a Date', craft([file('a', { mtime: 2n ** 60n })])],
    ['root mtime beyond a Date', craft([], { rootMtime: -8_640_000_000_000_001n })],
    ['invalid UTF-8 path', craft([file(new Uint8Array([0x61, 0xff]))])],
    ['overlong UTF-8 slash', craft([{ type: 1, path: 'a' }, file(new Uint8Array([0x61, 0xc0, 0xaf, 0x62]))])],
    ['path of 4097 bytes', craft([file('x'.repeat(4097))])],
    ['count too high', craft([file('a')], { count: 2 })],
    ['count too low (stray entry bytes)', craft([file('a'), file('b')], { count: 1 })],
    ['size past the end', craft([file('a', { size: 2n })])],
    ['version 0', craft([], { version: 0 })],
    ['trailing bytes', craft([file('a')], { tail: new Uint8Array(5) })],
  ];
  for (const [label, archive] of cases) expectErrorSync(() => verifyState(archive), 'corrupt', label);
  // A path of exactly 4096 bytes, Unicode names and a BOM are fine.
  assert.is(verifyState(craft([file('x'.repeat(4096))])).files, 1);
  assert.is(verifyState(craft([file('ジョブ'), file('\uFEFFbom')])).files, 2);
  // Negative mtimes (before 1970) and the ends of a Date's range are valid.
  assert.is(verifyState(craft([file('old', { mtime: -5000n })])).files, 1);
  assert.is(verifyState(craft([file('a', { mtime: 8_640_000_000_000_000n })])).files, 1);
  assert.is(verifyState(craft([], { rootMtime: -8_640_000_000_000_000n })).files, 0);
});

test('crafted valid archives unpack as described, modes beyond the umask included', async () => {
  await withTemp(async (base) => {
    const archive = craft(
      [
        { type: 1, path: 'hash.1', mode: 0o2770, mtime: BigInt(T0 + 1) },
        { type: 1, path: 'hash.1/job.1', mode: 0o500, mtime: BigInt(T0 + 2) },
        { type: 2, path: 'hash.1/job.1/script', mode: 0o4755, mtime: BigInt(T0 + 3), content: text('s') },
        { type: 2, path: 'old', mode: 0o000, mtime: -5000n, content: text('o') },
        { type: 2, path: 'sticky', mode: 0o1777, mtime: BigInt(T0 + 4), content: new Uint8Array(0) },
      ],
      { rootMode: 0o711, rootMtime: BigInt(T0 + 9) },
    );
    await unpackState(archive, join(base, 'out'));
    const snap = await snapshot(join(base, 'out'));
    assert.equal(
      snap.map((s) => [s.path, s.kind, s.mode.toString(8), s.mtime]),
      [
        ['.', 'dir', '711', T0 + 9],
        ['hash.1', 'dir', '2770', T0 + 1],
        ['hash.1/job.1', 'dir', '500', T0 + 2],
        ['hash.1/job.1/script', 'file', '4755', T0 + 3],
        ['old', 'file', '0', -5000],
        ['sticky', 'file', '1777', T0 + 4],
      ],
    );
    assert.is(await stateDigest(join(base, 'out')), verifyState(archive).sha256);
  });
});

// ---------------------------------------------------------------------------------------------
// Failures in the middle of an unpack

async function siblings(base: string): Promise<string[]> {
  return (await readdir(base)).sort();
}

test('a failure after any entry leaves the old directory exactly as it was and no temp dir', async () => {
  await withTemp(async (base) => {
    const dir = join(base, 'slurmctld');
    await makeStateTree(dir);
    await mkdir(join(base, 'slurmctld.previous'));
    await writeFile(join(base, 'slurmctld.previous', 'job_state'), 'older');
    const before = await snapshot(dir);
    const previousBefore = await snapshot(join(base, 'slurmctld.previous'));
    const src = join(base, 'src');
    await makeStateTree(src);
    await writeFile(join(src, 'job_state'), 'replacement');
    const archive = await packState(src);
    const paths = parsePaths(archive);
    for (let n = 0; n < paths.length; n++) {
      let written = 0;
      const error = await expectError(
        () =>
          unpackStateWithHooks(archive, dir, {
            afterStep: (step) => {
              if (step.kind === 'entry' && written++ === n) throw new Error(`disk full after ${step.path}`);
            },
          }),
        'io',
        `after entry ${n}`,
      );
      assert.match(error.message, /disk full/);
      assert.instance(error.cause, Error);
      assert.equal(await snapshot(dir), before, `after entry ${n}`);
      assert.equal(await snapshot(join(base, 'slurmctld.previous')), previousBefore);
      assert.equal(await siblings(base), ['slurmctld', 'slurmctld.previous', 'src'], `after entry ${n}`);
    }
    // The archive itself was fine.
    await unpackState(archive, dir);
    assert.is(await stateDigest(dir), await stateDigest(src));
  });
});

test('a failure at each step of the swap is rolled back: dir and .previous as before', async () => {
  const kinds: UnpackStep['kind'][] = ['retire-previous', 'move-aside', 'move-in', 'sync-parent'];
  for (const withPrevious of [true, false]) {
    for (const kind of kinds) {
      if (kind === 'retire-previous' && !withPrevious) continue;
      await withTemp(async (base) => {
        const dir = join(base, 'slurmctld');
        await makeStateTree(dir);
        if (withPrevious) {
          await mkdir(join(base, 'slurmctld.previous'));
          await writeFile(join(base, 'slurmctld.previous', 'job_state'), 'older');
        }
        const other = join(base, 'src');
        await mkdir(other);
        const names = await siblings(base);
        const before = await snapshot(dir);
        const previousBefore = withPrevious ? await snapshot(join(base, 'slurmctld.previous')) : undefined;
        {
          await writeFile(join(other, 'job_state'), 'new');
          const archive = await packState(other);
          const seen: string[] = [];
          await expectError(
            () =>
              unpackStateWithHooks(archive, dir, {
                afterStep: (step) => {
                  seen.push(step.kind);
                  if (step.kind === kind) throw new Error(`injected at ${kind}`);
                },
              }),
            'io',
            kind,
          );
          assert.ok(seen.includes(kind), `${kind} reached (${seen.join(',')})`);
          assert.equal(await snapshot(dir), before, `${kind}, previous=${withPrevious}`);
          if (previousBefore !== undefined)
            assert.equal(await snapshot(join(base, 'slurmctld.previous')), previousBefore, kind);
          assert.equal(await siblings(base), names, `${kind}: no temp or retired dir left`);
        }
      });
    }
  }
});

test('the steps of a successful unpack, in order', async () => {
  await withTemp(async (base) => {
    const src = join(base, 'src');
    await mkdir(join(src, 'd'), { recursive: true });
    await writeFile(join(src, 'd', 'f'), 'x');
    const archive = await packState(src);
    const dir = join(base, 'dir');
    const steps: string[] = [];
    const record = (step: UnpackStep) => {
      steps.push(step.kind === 'entry' ? `entry ${step.path}` : step.kind);
    };
    await unpackStateWithHooks(archive, dir, { afterStep: record });
    assert.equal(steps, ['entry d', 'entry d/f', 'move-in', 'sync-parent']);
    steps.length = 0;
    await unpackStateWithHooks(archive, dir, { afterStep: record });
    assert.equal(steps, ['entry d', 'entry d/f', 'move-aside', 'move-in', 'sync-parent']);
    steps.length = 0;
    await unpackStateWithHooks(archive, dir, { afterStep: record });
    assert.equal(steps, ['entry d', 'entry d/f', 'retire-previous', 'move-aside', 'move-in', 'sync-parent']);
    assert.equal(await siblings(base), ['dir', 'dir.previous', 'src']);
  });
});

test('a temp dir with read-only modes from the archive is still removed on failure', async () => {
  await withTemp(async (base) => {
    const archive = craft([
      { type: 1, path: 'ro', mode: 0o500 },
      { type: 2, path: 'ro/f', mode: 0o400, content: text('x') },
    ]);
    await expectError(
      () =>
        unpackStateWithHooks(archive, join(base, 'dir'), {
          afterStep: (step) => {
            if (step.kind === 'move-in') throw new Error('injected');
          },
        }),
      'io',
    );
    assert.equal(await siblings(base), []);
  });
});

// ---------------------------------------------------------------------------------------------

test('StateArchiveError: name, reason, cause, guard; exported from the package', () => {
  const cause = new Error('EIO');
  const error = new StateArchiveError('io', 'cannot read x (EIO)', { cause });
  assert.is(error.name, 'StateArchiveError');
  assert.is(StateArchiveError.name, 'StateArchiveError');
  assert.is(error.reason, 'io');
  assert.is(error.cause, cause);
  assert.ok(error instanceof Error);
  assert.ok(isStateArchiveError(error));
  assert.ok(
    isStateArchiveError(Object.assign(new Error('m'), { name: 'StateArchiveError', reason: 'corrupt' })),
  );
  for (const other of [new Error('x'), { name: 'StateArchiveError' }, null, 'StateArchiveError'])
    assert.not.ok(isStateArchiveError(other));
  assert.is(slurm.packState, packState);
  assert.is(slurm.unpackState, unpackState);
  assert.is(slurm.verifyState, verifyState);
  assert.is(slurm.stateDigest, stateDigest);
  assert.is(slurm.StateArchiveError, StateArchiveError);
  assert.not.ok('unpackStateWithHooks' in slurm, 'the test seam stays internal');
});

test.run();
