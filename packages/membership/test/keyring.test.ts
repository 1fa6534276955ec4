// The keyring's rules (memberlist keyring.go) and payload encryption (security.go): versions 0
// and 1, additional data, key rotation, deterministic nonces.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type DecodeError,
  decryptPayload,
  EncodeError,
  encryptedLength,
  encryptOverhead,
  encryptPayload,
  isDecodeError,
  isKeyringError,
  Keyring,
  type KeyringError,
  randomNonce,
} from '../src/index.js';

const key = (fill: number, size = 16): Uint8Array => new Uint8Array(size).fill(fill);
const counterNonce = (): ((size: number) => Uint8Array) => {
  let n = 0;
  return (size) => new Uint8Array(size).fill(++n);
};

function throwsKeyring(fn: () => unknown, reason: string): void {
  try {
    fn();
  } catch (error) {
    assert.ok(isKeyringError(error), `expected a KeyringError, got ${String(error)}`);
    assert.is((error as KeyringError).reason, reason);
    return;
  }
  assert.unreachable(`expected KeyringError(${reason})`);
}

function throwsDecrypt(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    assert.ok(isDecodeError(error), `expected a DecodeError, got ${String(error)}`);
    assert.is((error as DecodeError).reason, 'decrypt');
    return;
  }
  assert.unreachable('expected DecodeError(decrypt)');
}

test('keys must be 16, 24 or 32 bytes', () => {
  for (const size of [16, 24, 32]) Keyring.validateKey(key(1, size));
  for (const size of [0, 1, 15, 17, 31, 33, 64])
    throwsKeyring(() => Keyring.validateKey(key(1, size)), 'keySize');
  throwsKeyring(() => new Keyring(key(1, 20)), 'keySize');
  throwsKeyring(() => new Keyring(key(1), [key(2, 8)]), 'keySize');
});

test('an empty keyring disables encryption; extra keys need a primary', () => {
  const empty = new Keyring();
  assert.is(empty.enabled, false);
  assert.is(empty.size, 0);
  assert.is(empty.getPrimaryKey(), null);
  assert.is(new Keyring(new Uint8Array(0)).enabled, false);
  throwsKeyring(() => new Keyring(null, [key(1)]), 'noPrimaryKey');
});

test('the primary key comes first; adding an installed key does nothing', () => {
  const ring = new Keyring(key(1), [key(2), key(1), key(3)]);
  assert.equal(ring.getKeys(), [key(1), key(2), key(3)]);
  ring.addKey(key(2));
  assert.is(ring.size, 3);
  const empty = new Keyring();
  empty.addKey(key(7));
  assert.equal(empty.getPrimaryKey(), key(7));
});

test('useKey promotes an installed key and refuses an unknown one', () => {
  const ring = new Keyring(key(1), [key(2), key(3)]);
  ring.useKey(key(3));
  assert.equal(ring.getKeys(), [key(3), key(1), key(2)]);
  throwsKeyring(() => ring.useKey(key(9)), 'notInstalled');
});

test('removeKey refuses the primary key and ignores keys that are not installed', () => {
  const ring = new Keyring(key(1), [key(2)]);
  throwsKeyring(() => ring.removeKey(key(1)), 'removePrimary');
  ring.removeKey(key(9));
  ring.removeKey(key(2));
  assert.equal(ring.getKeys(), [key(1)]);
});

test('the keyring keeps copies: callers cannot change installed keys', () => {
  const mine = key(1);
  const ring = new Keyring(mine);
  mine.fill(2);
  const out = ring.getKeys()[0] ?? new Uint8Array();
  out.fill(3);
  assert.equal(ring.getPrimaryKey(), key(1));
});

test('sizes: version 1 adds 29 bytes, version 0 pads to 16 and adds 29', () => {
  assert.is(encryptOverhead(1), 29);
  assert.is(encryptOverhead(0), 45);
  assert.is(encryptedLength(1, 0), 29);
  assert.is(encryptedLength(0, 0), 45);
  assert.is(encryptedLength(0, 15), 1 + 12 + 16 + 16);
  assert.is(encryptedLength(0, 16), 1 + 12 + 32 + 16);
  for (const version of [0, 1] as const) {
    for (let length = 0; length < 50; length++) {
      const sealed = encryptPayload(version, key(1), new Uint8Array(length), null, counterNonce());
      assert.is(sealed.length, encryptedLength(version, length));
      assert.is(sealed[0], version);
      assert.equal(decryptPayload([key(1)], sealed, null), new Uint8Array(length));
    }
  }
});

test('round trips for every key size, version and additional data', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(16, 24, 32),
      fc.constantFrom(0 as const, 1 as const),
      fc.uint8Array({ maxLength: 300 }),
      fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }),
      (size, version, plaintext, aad) => {
        const k = key(5, size);
        const sealed = encryptPayload(version, k, plaintext, aad);
        assert.equal(decryptPayload([key(6, size), k], sealed, aad), plaintext);
      },
    ),
    { numRuns: 200 },
  );
});

test('nonces come from the injected source: same source, same bytes', () => {
  const a = encryptPayload(1, key(1), Uint8Array.of(1, 2, 3), null, counterNonce());
  const b = encryptPayload(1, key(1), Uint8Array.of(1, 2, 3), null, counterNonce());
  assert.equal(a, b);
  assert.equal(a.subarray(1, 13), new Uint8Array(12).fill(1));
  assert.is(randomNonce(12).length, 12);
  assert.throws(
    () => encryptPayload(1, key(1), Uint8Array.of(1), null, () => new Uint8Array(8)),
    (e: unknown) => e instanceof EncodeError,
  );
});

test('decryption fails on a wrong key, wrong or missing AAD, tampering, bad version or short input', () => {
  const aad = Uint8Array.of(10, 0, 0, 0, 40);
  const sealed = encryptPayload(1, key(1), new Uint8Array(11), aad);
  throwsDecrypt(() => decryptPayload([key(2)], sealed, aad));
  throwsDecrypt(() => decryptPayload([key(1)], sealed, null));
  throwsDecrypt(() => decryptPayload([key(1)], sealed, Uint8Array.of(10, 0, 0, 0, 41)));
  throwsDecrypt(() => decryptPayload([], sealed, aad));
  for (let i = 1; i < sealed.length; i++) {
    const flipped = sealed.slice();
    flipped[i] = (flipped[i] ?? 0) ^ 0x01;
    throwsDecrypt(() => decryptPayload([key(1)], flipped, aad));
  }
  const v2 = sealed.slice();
  v2[0] = 2;
  throwsDecrypt(() => decryptPayload([key(1)], v2, aad));
  throwsDecrypt(() => decryptPayload([key(1)], new Uint8Array(0), null));
  throwsDecrypt(() => decryptPayload([key(1)], new Uint8Array(28).fill(1), null));
  throwsDecrypt(() => decryptPayload([key(1)], new Uint8Array(44), null));
});

test('version 0 with impossible padding (only a key holder could send it) is refused, not sliced', () => {
  // Version 1 of a 16-byte plaintext ending in 0xff, relabelled as version 0: GCM still opens it
  // (the version byte is not authenticated), and the padding claims 255 bytes.
  const plaintext = new Uint8Array(16).fill(0xff);
  const sealed = encryptPayload(1, key(1), plaintext, null, counterNonce());
  const relabelled = Uint8Array.of(0, ...sealed.subarray(1));
  assert.ok(relabelled.length >= 45);
  throwsDecrypt(() => decryptPayload([key(1)], relabelled, null));
});

test('rotation: install a new key, make it primary, retire the old one', () => {
  const ring = new Keyring(key(1));
  const old = encryptPayload(1, ring.getPrimaryKey() ?? key(0), Uint8Array.of(42), null);
  ring.addKey(key(2));
  ring.useKey(key(2));
  const fresh = encryptPayload(1, ring.getPrimaryKey() ?? key(0), Uint8Array.of(43), null);
  assert.equal(decryptPayload(ring.getKeys(), old, null), Uint8Array.of(42));
  assert.equal(decryptPayload(ring.getKeys(), fresh, null), Uint8Array.of(43));
  ring.removeKey(key(1));
  throwsDecrypt(() => decryptPayload(ring.getKeys(), old, null));
  assert.equal(decryptPayload(ring.getKeys(), fresh, null), Uint8Array.of(43));
});

test.run();
