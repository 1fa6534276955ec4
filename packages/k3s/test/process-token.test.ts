// The k3s token: never printed (String, JSON, inspect, templates, errors), validated when read
// back, and written to a file that is private from its first byte.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format, inspect } from 'node:util';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  isK3sConfigError,
  isK3sFileError,
  K3S_TOKEN_BYTES,
  K3sToken,
  MAX_K3S_TOKEN_LENGTH,
  MIN_K3S_TOKEN_LENGTH,
  writeTokenFile,
} from '../src/process/index.js';

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'k3s-token-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('generate: 32 random bytes as 64 lowercase hex characters, different each time', () => {
  const a = K3sToken.generate();
  const b = K3sToken.generate();
  assert.match(a.reveal(), /^[0-9a-f]{64}$/);
  assert.is.not(a.reveal(), b.reveal());
  assert.not.ok(a.equals(b));
  assert.ok(a.equals(K3sToken.fromString(a.reveal())));
});

test('generate takes its randomness by injection', () => {
  const token = K3sToken.generate((size) => new Uint8Array(size).fill(0xab));
  assert.is(token.reveal(), 'ab'.repeat(K3S_TOKEN_BYTES));
  try {
    K3sToken.generate(() => new Uint8Array(8));
    assert.unreachable('short random accepted');
  } catch (error) {
    assert.ok(isK3sConfigError(error));
  }
});

function shownForms(token: K3sToken): string[] {
  return [
    String(token),
    `${token}`,
    // biome-ignore lint/style/useTemplate: concatenation is one of the forms that must not leak
    '' + token,
    token.toString(),
    JSON.stringify(token),
    JSON.stringify({ token }),
    JSON.stringify([token]),
    inspect(token),
    inspect({ token }, { showHidden: true, depth: 5 }),
    format('%s %o %O %j', token, token, token, token),
    new Error(`join failed with ${token}`).message,
    inspect(new Error(`join failed with ${token}`)),
  ];
}

test('the token never prints: String, template, concatenation, JSON, inspect, format, errors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
      const token = K3sToken.generate(() => bytes);
      const secret = token.reveal();
      for (const shown of shownForms(token)) {
        assert.not.ok(shown.includes(secret), shown);
        assert.match(shown, /\[k3s token\]/);
      }
    }),
    { numRuns: 100 },
  );
  const full = K3sToken.fromString(`K10${'f'.repeat(64)}::server:${'s3cret'.repeat(4)}`);
  for (const shown of shownForms(full)) assert.not.ok(shown.includes('s3cret'), shown);
});

test('fromString accepts printable tokens of 16 to 512 characters, including the K10 form', () => {
  for (const value of [
    'a'.repeat(MIN_K3S_TOKEN_LENGTH),
    'x'.repeat(MAX_K3S_TOKEN_LENGTH),
    `K10${'0123456789abcdef'.repeat(4)}::server:${'p'.repeat(32)}`,
    '!#$%&()*+,-./:;<=>?@[]^_`{|}~AZaz09',
  ])
    assert.is(K3sToken.fromString(value).reveal(), value);
});

test('fromString refuses bad tokens with field "token" and never echoes them', () => {
  const cases: [string, string][] = [
    ['', 'missing-field'],
    ['short-SECRETx', 'invalid-value'],
    ['S'.repeat(MAX_K3S_TOKEN_LENGTH + 1), 'invalid-value'],
    ['SECRET with space 1234', 'invalid-value'],
    ['SECRET-with-newline\n12345', 'invalid-value'],
    ['SECRET\twith-tab-1234567', 'invalid-value'],
    ['SECRET-with-nonascii-é-123', 'invalid-value'],
    ['SECRET-with-nul-\0-123456', 'invalid-value'],
  ];
  for (const [value, reason] of cases) {
    try {
      K3sToken.fromString(value);
      assert.unreachable(JSON.stringify(value));
    } catch (error) {
      assert.ok(isK3sConfigError(error), String(error));
      assert.is(error.reason, reason, JSON.stringify(value));
      assert.is(error.field, 'token');
      if (value !== '') assert.not.ok(error.message.includes(value), error.message);
      assert.not.ok(error.message.includes('SECRET'), error.message);
    }
  }
  assert.throws(() => K3sToken.fromString(undefined as unknown as string), isK3sConfigError);
});

test('writeTokenFile: mode 0600, exact value, no newline, no temp file left; parent created 0700', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'nested', 'deeper', 'token');
    const token = K3sToken.generate();
    await writeTokenFile(path, token);
    assert.is((await stat(path)).mode & 0o777, 0o600);
    assert.is((await stat(join(dir, 'nested'))).mode & 0o777, 0o700);
    assert.is((await stat(join(dir, 'nested', 'deeper'))).mode & 0o777, 0o700);
    assert.is(await readFile(path, 'utf8'), token.reveal());
    assert.equal(await readdir(join(dir, 'nested', 'deeper')), ['token']);
  });
});

test('writeTokenFile replaces an existing file (even a world-readable one) and keeps an existing dir as it is', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'token');
    await writeFile(path, 'old-value', { mode: 0o644 });
    const token = K3sToken.generate();
    await writeTokenFile(path, token);
    assert.is((await stat(path)).mode & 0o777, 0o600);
    assert.is(await readFile(path, 'utf8'), token.reveal());
    assert.is((await stat(dir)).mode & 0o777, 0o700); // mkdtemp's own mode, untouched
    assert.equal(await readdir(dir), ['token']);
  });
});

test('writeTokenFile failures name the path, never the token', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'file'), 'x');
    const token = K3sToken.generate();
    const path = join(dir, 'file', 'token');
    try {
      await writeTokenFile(path, token);
      assert.unreachable('wrote under a file');
    } catch (error) {
      assert.ok(isK3sFileError(error), String(error));
      assert.is(error.reason, 'write-failed');
      assert.is(error.path, path);
      assert.ok(error.message.includes(path));
      assert.not.ok(error.message.includes(token.reveal()));
    }
  });
});

test.run();
