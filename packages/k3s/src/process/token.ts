/**
 * The cluster's k3s token: the shared secret servers and agents join with. Created once (by the
 * bootstrapping server's role), kept in the cluster store, and written by every node to its own
 * token file, which k3s reads through `--token-file`. It never goes on a command line (argv is
 * readable by every local user) nor into k3s's environment, logs or error messages:
 * {@link K3sToken} prints as `[k3s token]` everywhere, and only {@link K3sToken.reveal} gives the
 * value, for the store and the token file.
 */
import { randomBytes } from 'node:crypto';
import { K3sConfigError, K3sFileError } from './errors.js';
import { writePrivateFile } from './private-file.js';

/** Random bytes in a generated token (hex-encoded: 64 characters). */
export const K3S_TOKEN_BYTES = 32;
/** Shortest token accepted by {@link K3sToken.fromString}. */
export const MIN_K3S_TOKEN_LENGTH = 16;
/** Longest token accepted by {@link K3sToken.fromString}. */
export const MAX_K3S_TOKEN_LENGTH = 512;

const SHOWN = '[k3s token]';

/** A k3s token. The value is only reachable through {@link K3sToken.reveal}. */
export class K3sToken {
  readonly #value: string;

  private constructor(value: string) {
    this.#value = value;
  }

  /**
   * A new token: {@link K3S_TOKEN_BYTES} random bytes as lowercase hex. `random` is injectable
   * for tests; it defaults to node:crypto's `randomBytes`.
   */
  static generate(
    random: (size: number) => Uint8Array = (size) => new Uint8Array(randomBytes(size)),
  ): K3sToken {
    const bytes = random(K3S_TOKEN_BYTES);
    if (bytes.byteLength !== K3S_TOKEN_BYTES)
      throw new K3sConfigError('invalid-value', 'random', `must return ${K3S_TOKEN_BYTES} bytes`);
    return new K3sToken(Buffer.from(bytes).toString('hex'));
  }

  /**
   * A token read back (from the cluster store, or a token an operator supplies, including k3s's
   * `K10<hash>::server:<secret>` form). It must be printable ASCII without whitespace, of
   * {@link MIN_K3S_TOKEN_LENGTH} to {@link MAX_K3S_TOKEN_LENGTH} characters; otherwise
   * {@link K3sConfigError} with field `token`, whose message never contains the value.
   */
  static fromString(value: string): K3sToken {
    if (typeof value !== 'string' || value.length === 0)
      throw new K3sConfigError('missing-field', 'token', 'an empty k3s token');
    if (value.length < MIN_K3S_TOKEN_LENGTH || value.length > MAX_K3S_TOKEN_LENGTH)
      throw new K3sConfigError(
        'invalid-value',
        'token',
        `a k3s token has ${MIN_K3S_TOKEN_LENGTH} to ${MAX_K3S_TOKEN_LENGTH} characters, got ${value.length}`,
      );
    if (!/^[\x21-\x7e]+$/.test(value))
      throw new K3sConfigError(
        'invalid-value',
        'token',
        'a k3s token is printable ASCII without whitespace or line breaks',
      );
    return new K3sToken(value);
  }

  /** The secret value, for the cluster store and the token file only. */
  reveal(): string {
    return this.#value;
  }

  /** Whether `other` holds the same value (time independent of where they differ). */
  equals(other: K3sToken): boolean {
    const a = Buffer.from(this.#value);
    const b = Buffer.from(other.#value);
    let diff = a.length ^ b.length;
    for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
    return diff === 0;
  }

  /** Never the token. */
  toString(): string {
    return SHOWN;
  }

  /** Never the token. */
  toJSON(): string {
    return SHOWN;
  }

  /** Never the token (string concatenation and template literals). */
  [Symbol.toPrimitive](): string {
    return SHOWN;
  }

  /** Never the token (`util.inspect`, `console.log`). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return SHOWN;
  }
}

/**
 * Writes `token` to `path` with mode 0600 so that k3s can read it with `--token-file`: a
 * temporary file in the same directory (created 0600, exclusively), fsync, rename over `path`.
 * Never half-written and never readable by others, even for a moment. The parent directory is
 * created with mode 0700 when missing (an existing one is left as it is). No trailing newline.
 * Throws {@link K3sFileError} naming the path (never the token).
 */
export async function writeTokenFile(path: string, token: K3sToken): Promise<void> {
  await writePrivateFile(path, token.reveal());
}
