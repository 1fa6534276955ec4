/**
 * The cluster's munge key: created once by the first controller (1,024 random bytes, as
 * `mungekey --create` makes them), stored in the Raft KV, and written by every node to its own
 * key file before munged starts. munged refuses a key file that others can read, so the file is
 * written with mode 0400 through a temporary file and a rename (never half-written, never
 * briefly readable by others).
 *
 * The key is a secret: nothing here logs it, and {@link MungeKey} prints as `[munge key]`.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Bytes of a key this package creates (what `mungekey --create` writes). */
export const MUNGE_KEY_BYTES = 1024;
/** Smallest key munged accepts. */
export const MIN_MUNGE_KEY_BYTES = 32;
/** Largest key accepted (munged reads at most this much). */
export const MAX_MUNGE_KEY_BYTES = 1024;

/** A key that cannot be used (wrong size), or a key file that cannot be written safely. */
export class MungeKeyError extends Error {
  /** Always `'MungeKeyError'`. */
  override readonly name = 'MungeKeyError';
}

/** A munge key. Its bytes are only reachable through {@link MungeKey.bytes}; printing it shows no key material. */
export class MungeKey {
  readonly #bytes: Uint8Array;

  /** Wraps (a copy of) `bytes`; throws {@link MungeKeyError} for a size munged would refuse. */
  constructor(bytes: Uint8Array) {
    if (bytes.byteLength < MIN_MUNGE_KEY_BYTES || bytes.byteLength > MAX_MUNGE_KEY_BYTES)
      throw new MungeKeyError(
        `a munge key has ${MIN_MUNGE_KEY_BYTES} to ${MAX_MUNGE_KEY_BYTES} bytes, got ${bytes.byteLength}`,
      );
    this.#bytes = new Uint8Array(bytes);
  }

  /** A new random key of {@link MUNGE_KEY_BYTES} bytes. */
  static generate(
    random: (size: number) => Uint8Array = (size) => new Uint8Array(randomBytes(size)),
  ): MungeKey {
    return new MungeKey(random(MUNGE_KEY_BYTES));
  }

  /** A copy of the key bytes (for the KV and the key file only). */
  bytes(): Uint8Array {
    return new Uint8Array(this.#bytes);
  }

  /** Its size in bytes. */
  get size(): number {
    return this.#bytes.byteLength;
  }

  /** Whether `other` holds the same bytes (constant time in the key size). */
  equals(other: MungeKey): boolean {
    const a = this.#bytes;
    const b = other.#bytes;
    let diff = a.byteLength ^ b.byteLength;
    for (let i = 0; i < Math.max(a.byteLength, b.byteLength); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
    return diff === 0;
  }

  /** Never the key. */
  toString(): string {
    return '[munge key]';
  }

  /** Never the key. */
  toJSON(): string {
    return '[munge key]';
  }

  /** Never the key (`util.inspect`, `console.log`). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[munge key]';
  }
}

/**
 * Writes `key` to `path` with mode 0400: a temporary file in the same directory (created 0600,
 * exclusively), fsync, chmod 0400, rename over `path`. Replaces an existing key file, so a
 * rotated key lands the same way. Throws {@link MungeKeyError} naming the path (never the key).
 */
export async function writeMungeKeyFile(path: string, key: MungeKey): Promise<void> {
  const temp = join(dirname(path), `.${Date.now().toString(36)}-${process.pid}.munge-key.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(key.bytes());
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, 0o400);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    const code = (error as { code?: unknown }).code;
    throw new MungeKeyError(
      `cannot write the munge key file ${path} (${typeof code === 'string' ? code : 'write error'})`,
    );
  }
}

/** Whether the key file at `path` exists with no permission bits for group or others. */
export async function mungeKeyFileIsPrivate(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    return info.isFile() && (info.mode & 0o077) === 0;
  } catch {
    return false;
  }
}
