/**
 * A memberlist-compatible keyring (MEMBERLIST-WIRE.md §7): AES keys of 16, 24 or 32 bytes,
 * one of them primary. Outgoing messages are encrypted with the primary key; incoming ones are
 * tried against every installed key, primary first, which is how a cluster rotates keys:
 * install the new key everywhere, make it primary everywhere, then remove the old one.
 */
import { KeyringError } from '../errors.js';
import { bytesEqual, copyBytes } from './bytes.js';

/** Key sizes AES accepts: AES-128, AES-192 and AES-256. */
export const KEY_SIZES: readonly number[] = Object.freeze([16, 24, 32]);

/** Installed AES keys with one primary key. Encryption is on when at least one key is installed. */
export class Keyring {
  /** Installed keys, the primary first. */
  private installed: Uint8Array[] = [];

  /**
   * Creates a keyring from `primaryKey` and optional extra `keys` (as memberlist's
   * `NewKeyring`). With neither, the keyring is empty and encryption is off. Throws
   * {@link KeyringError}: `noPrimaryKey` for extra keys without a primary, `keySize` for a
   * key that is not 16, 24 or 32 bytes.
   */
  constructor(primaryKey?: Uint8Array | null, keys: readonly Uint8Array[] = []) {
    const hasPrimary = primaryKey !== undefined && primaryKey !== null && primaryKey.length > 0;
    if (!hasPrimary) {
      if (keys.length > 0) throw new KeyringError('noPrimaryKey', 'an empty primary key is not allowed');
      return;
    }
    this.addKey(primaryKey);
    for (const key of keys) this.addKey(key);
  }

  /** Throws {@link KeyringError} (`keySize`) unless `key` is 16, 24 or 32 bytes long. */
  static validateKey(key: Uint8Array): void {
    if (!KEY_SIZES.includes(key.length)) {
      throw new KeyringError('keySize', `key size must be 16, 24 or 32 bytes, got ${key.length}`);
    }
  }

  /**
   * Installs `key` for decryption (a copy is kept). The first key installed becomes primary;
   * installing a key that is already there does nothing.
   */
  addKey(key: Uint8Array): void {
    Keyring.validateKey(key);
    if (this.indexOf(key) >= 0) return;
    this.installed.push(copyBytes(key));
  }

  /** Makes the installed `key` primary. Throws {@link KeyringError} (`notInstalled`) if it is not installed. */
  useKey(key: Uint8Array): void {
    const index = this.indexOf(key);
    if (index < 0) throw new KeyringError('notInstalled', 'the requested key is not in the keyring');
    const [chosen] = this.installed.splice(index, 1);
    if (chosen !== undefined) this.installed.unshift(chosen);
  }

  /**
   * Removes `key` (a key that is not installed is ignored). Throws {@link KeyringError}
   * (`removePrimary`) for the primary key: make another key primary first.
   */
  removeKey(key: Uint8Array): void {
    const index = this.indexOf(key);
    if (index === 0) throw new KeyringError('removePrimary', 'removing the primary key is not allowed');
    if (index > 0) this.installed.splice(index, 1);
  }

  /** Alias of {@link Keyring.addKey}: installs `key` for decryption. */
  install(key: Uint8Array): void {
    this.addKey(key);
  }

  /** Alias of {@link Keyring.useKey}: makes the installed `key` primary. */
  use(key: Uint8Array): void {
    this.useKey(key);
  }

  /** Alias of {@link Keyring.removeKey}: removes a key that is not primary. */
  remove(key: Uint8Array): void {
    this.removeKey(key);
  }

  /** Copies of the installed keys, the primary first. */
  getKeys(): Uint8Array[] {
    return this.installed.map((key) => copyBytes(key));
  }

  /** A copy of the primary key, or `null` when the keyring is empty. */
  getPrimaryKey(): Uint8Array | null {
    const primary = this.installed[0];
    return primary === undefined ? null : copyBytes(primary);
  }

  /** Number of installed keys. */
  get size(): number {
    return this.installed.length;
  }

  /** True when at least one key is installed (memberlist's `EncryptionEnabled`). */
  get enabled(): boolean {
    return this.installed.length > 0;
  }

  private indexOf(key: Uint8Array): number {
    return this.installed.findIndex((k) => bytesEqual(k, key));
  }
}
