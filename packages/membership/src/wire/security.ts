/**
 * Payload encryption exactly as memberlist 0.2.2 does it (MEMBERLIST-WIRE.md §7):
 *
 * ```
 * vsn:u8 | nonce: 12 bytes | AES-GCM-Seal(key, nonce, plaintext', aad)   (ciphertext ‖ 16-byte tag)
 * ```
 *
 * Version 1 (sent by nodes at protocol version ≥ 2, the default) seals the plaintext as it is;
 * version 0 (protocol version 1) first pads it PKCS#7-style to a multiple of 16 bytes. UDP
 * packets carry no additional data; TCP streams authenticate their 5-byte `[10][length]` header.
 *
 * Nonces come from an injectable {@link NonceSource}, so a simulation can make every byte of
 * its traffic reproducible; the default draws them from `crypto.randomBytes`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecodeError, EncodeError } from '../errors.js';
import { concatBytes, plainBytes } from './bytes.js';
import { Keyring } from './keyring.js';

/** The encryption versions memberlist knows: 0 (padded) and 1. */
export type EncryptionVersion = 0 | 1;

/** The highest encryption version a receiver accepts. */
export const MAX_ENCRYPTION_VERSION = 1;

/** Bytes of an AES-GCM nonce. */
export const NONCE_BYTES = 12;

/** Bytes of an AES-GCM tag. */
export const TAG_BYTES = 16;

const BLOCK_BYTES = 16;

/** Returns `size` fresh random bytes for a nonce. */
export type NonceSource = (size: number) => Uint8Array;

/** The default {@link NonceSource}: `crypto.randomBytes`. */
export const randomNonce: NonceSource = (size) => plainBytes(randomBytes(size));

/** Bytes encryption adds to a payload at most: 29 for version 1, 45 for version 0 (memberlist `encryptOverhead`). */
export function encryptOverhead(version: EncryptionVersion): number {
  return version === 0 ? 1 + NONCE_BYTES + BLOCK_BYTES + TAG_BYTES : 1 + NONCE_BYTES + TAG_BYTES;
}

/** Size of an encrypted payload for a plaintext of `length` bytes (memberlist `encryptedLength`). */
export function encryptedLength(version: EncryptionVersion, length: number): number {
  if (version === 1) return 1 + NONCE_BYTES + length + TAG_BYTES;
  const pad = BLOCK_BYTES - (length % BLOCK_BYTES);
  return 1 + NONCE_BYTES + length + pad + TAG_BYTES;
}

function gcmAlgorithm(key: Uint8Array): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  Keyring.validateKey(key);
  return key.length === 16 ? 'aes-128-gcm' : key.length === 24 ? 'aes-192-gcm' : 'aes-256-gcm';
}

/**
 * Encrypts `plaintext` with `key` in memberlist's format. `aad` is the additional
 * authenticated data (`null` for UDP packets). Throws {@link EncodeError} if `nonce` returns
 * the wrong number of bytes, `KeyringError` for a key of the wrong size.
 */
export function encryptPayload(
  version: EncryptionVersion,
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array | null,
  nonce: NonceSource = randomNonce,
): Uint8Array {
  const algorithm = gcmAlgorithm(key);
  const iv = nonce(NONCE_BYTES);
  if (iv.length !== NONCE_BYTES)
    throw new EncodeError('nonce', `expected ${NONCE_BYTES} bytes, got ${iv.length}`);
  let sealed = plaintext;
  if (version === 0) {
    const pad = BLOCK_BYTES - (plaintext.length % BLOCK_BYTES);
    sealed = new Uint8Array(plaintext.length + pad);
    sealed.set(plaintext);
    sealed.fill(pad, plaintext.length);
  }
  const cipher = createCipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES });
  if (aad !== null) cipher.setAAD(aad);
  const body = cipher.update(sealed);
  const rest = cipher.final();
  return concatBytes([Uint8Array.of(version), iv, body, rest, cipher.getAuthTag()]);
}

function open(
  key: Uint8Array,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array | null,
): Uint8Array | null {
  const decipher = createDecipheriv(gcmAlgorithm(key), key, iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  if (aad !== null) decipher.setAAD(aad);
  const body = decipher.update(ciphertext);
  try {
    return concatBytes([body, decipher.final()]);
  } catch {
    return null;
  }
}

/**
 * Decrypts a payload made by {@link encryptPayload} (or by a Go node), trying each key in turn.
 * Throws {@link DecodeError} (`decrypt`) when the payload is empty or too short, its version is
 * above 1, no key opens it, or a version-0 padding is impossible.
 */
export function decryptPayload(
  keys: readonly Uint8Array[],
  payload: Uint8Array,
  aad: Uint8Array | null,
): Uint8Array {
  const bytes = plainBytes(payload);
  if (bytes.length === 0) throw new DecodeError('decrypt', 'cannot decrypt an empty payload');
  const version = bytes[0] ?? 0;
  if (version > MAX_ENCRYPTION_VERSION) {
    throw new DecodeError('decrypt', `unsupported encryption version ${version}`);
  }
  const minimum = encryptedLength(version === 0 ? 0 : 1, 0);
  if (bytes.length < minimum) {
    throw new DecodeError('decrypt', `payload of ${bytes.length} bytes is shorter than ${minimum}`);
  }
  if (keys.length === 0) throw new DecodeError('decrypt', 'no keys installed');
  const iv = bytes.subarray(1, 1 + NONCE_BYTES);
  const ciphertext = bytes.subarray(1 + NONCE_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  for (const key of keys) {
    const plain = open(key, iv, ciphertext, tag, aad);
    if (plain === null) continue;
    if (version === 1) return plain;
    // Version 0: drop as many bytes as the last byte says (memberlist checks nothing more).
    const pad = plain[plain.length - 1] ?? 0;
    if (plain.length === 0 || pad > plain.length) {
      throw new DecodeError('decrypt', 'version-0 payload has impossible padding');
    }
    return plain.slice(0, plain.length - pad);
  }
  throw new DecodeError('decrypt', 'no installed key could decrypt the message');
}
