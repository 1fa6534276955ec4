// The munge key: sizes munged accepts, a key file that is private from the first byte and is
// replaced atomically on rotation, and key material that never prints.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MAX_MUNGE_KEY_BYTES,
  MIN_MUNGE_KEY_BYTES,
  MUNGE_KEY_BYTES,
  MungeKey,
  MungeKeyError,
  mungeKeyFileIsPrivate,
  writeMungeKeyFile,
} from '../src/munge/key.js';

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'munge-key-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('generate: 1024 random bytes, different each time', () => {
  const a = MungeKey.generate();
  const b = MungeKey.generate();
  assert.is(a.size, MUNGE_KEY_BYTES);
  assert.not.ok(a.equals(b));
  assert.ok(a.equals(new MungeKey(a.bytes())));
});

test('sizes outside what munged accepts are refused with a typed error', () => {
  for (const size of [0, 1, MIN_MUNGE_KEY_BYTES - 1, MAX_MUNGE_KEY_BYTES + 1]) {
    try {
      new MungeKey(new Uint8Array(size));
      assert.unreachable(`size ${size}`);
    } catch (error) {
      assert.instance(error, MungeKeyError, `size ${size}`);
      assert.match((error as Error).message, new RegExp(`got ${size}`));
    }
  }
  assert.is(new MungeKey(new Uint8Array(MIN_MUNGE_KEY_BYTES)).size, MIN_MUNGE_KEY_BYTES);
});

test('the key never prints: toString, JSON, inspect, template strings', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: MIN_MUNGE_KEY_BYTES, maxLength: 64 }), (bytes) => {
      const key = new MungeKey(bytes);
      const hex = Buffer.from(bytes).toString('hex');
      const b64 = Buffer.from(bytes).toString('base64');
      for (const shown of [String(key), `${key}`, JSON.stringify({ key }), inspect(key), inspect({ key })]) {
        assert.not.ok(shown.includes(hex) || shown.includes(b64), shown);
        assert.match(shown, /\[munge key\]/);
      }
    }),
  );
});

test('the bytes are copied in and out: callers cannot change the key', () => {
  const source = new Uint8Array(MIN_MUNGE_KEY_BYTES).fill(7);
  const key = new MungeKey(source);
  source.fill(0);
  const out = key.bytes();
  out.fill(1);
  assert.ok(key.bytes().every((b) => b === 7));
});

test('writeMungeKeyFile: mode 0400, exact bytes, no temp file left; rotation replaces it', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'munge.key');
    const first = MungeKey.generate();
    await writeMungeKeyFile(path, first);
    assert.is((await stat(path)).mode & 0o777, 0o400);
    assert.ok(await mungeKeyFileIsPrivate(path));
    assert.equal(new Uint8Array(await readFile(path)), first.bytes());
    const second = MungeKey.generate();
    await writeMungeKeyFile(path, second);
    assert.equal(new Uint8Array(await readFile(path)), second.bytes());
    assert.equal(await readdir(dir), ['munge.key']);
  });
});

test('writeMungeKeyFile: a failure names the path, never the key, and leaves nothing behind', async () => {
  await withDir(async (dir) => {
    const key = MungeKey.generate();
    const path = join(dir, 'missing-dir', 'munge.key');
    try {
      await writeMungeKeyFile(path, key);
      assert.unreachable('no directory');
    } catch (error) {
      assert.instance(error, MungeKeyError);
      assert.match((error as Error).message, /missing-dir\/munge\.key \(ENOENT\)/);
      assert.not.ok((error as Error).message.includes(Buffer.from(key.bytes()).toString('hex').slice(0, 16)));
    }
    assert.equal(await readdir(dir), []);
    assert.not.ok(await mungeKeyFileIsPrivate(path), 'a missing file is not private');
  });
});

test.run();
