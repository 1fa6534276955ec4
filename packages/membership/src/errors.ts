/**
 * Errors of `@clusteros/membership`. Each class has a literal `name` (also static) and an
 * `isX()` guard, so callers can match on `err.name` even when the CJS and the ESM build of the
 * package are both loaded.
 */

/**
 * Why bytes from the network could not be decoded.
 *
 * - `empty`: a message (or a compound part) with no type byte.
 * - `truncated`: the input ended inside a value, a header or a frame.
 * - `type`: a msgpack value of the wrong kind for its field (or the reserved byte 0xc1).
 * - `range`: an integer outside its field's Go type (negative for unsigned, overflow).
 * - `utf8`: a string field that is not valid UTF-8.
 * - `depth`: msgpack (or message) nesting deeper than the decoder allows.
 * - `unknownType`: a message type byte this decoder does not accept here.
 * - `compound`: a compound message whose header is cut short.
 * - `crc`: a CRC-framed packet whose checksum does not match.
 * - `lzw`: a malformed LZW stream (invalid code, missing end code) or an unknown algorithm.
 * - `tooLarge`: a size limit was exceeded, or a claimed length is above it.
 * - `decrypt`: no installed key opens the payload, or its version or length is invalid.
 * - `encryption`: encrypted input without a keyring, or plaintext where encryption is required.
 */
export type DecodeFailure =
  | 'empty'
  | 'truncated'
  | 'type'
  | 'range'
  | 'utf8'
  | 'depth'
  | 'unknownType'
  | 'compound'
  | 'crc'
  | 'lzw'
  | 'tooLarge'
  | 'decrypt'
  | 'encryption';

/** Bytes received from a peer could not be decoded; `reason` says which check failed. */
export class DecodeError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'DecodeError' as const;
  /** Always `'DecodeError'`, even after bundling renames the class. */
  override readonly name = 'DecodeError' as const;
  /** The machine-readable reason. */
  readonly reason: DecodeFailure;
  /** Creates the error with its reason and a human-readable detail. */
  constructor(reason: DecodeFailure, detail: string, options?: ErrorOptions) {
    super(`cannot decode (${reason}): ${detail}`, options);
    this.reason = reason;
  }
}

/** A value given to an encoder does not fit the Go type of its wire field. */
export class EncodeError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'EncodeError' as const;
  /** Always `'EncodeError'`, even after bundling renames the class. */
  override readonly name = 'EncodeError' as const;
  /** The wire field (Go name) or framing element that was rejected. */
  readonly field: string;
  /** Creates the error for `field`. */
  constructor(field: string, detail: string, options?: ErrorOptions) {
    super(`cannot encode ${field}: ${detail}`, options);
    this.field = field;
  }
}

/** Something to be sent is larger than its framing (or the caller's budget) allows. */
export class PayloadTooLargeError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'PayloadTooLargeError' as const;
  /** Always `'PayloadTooLargeError'`, even after bundling renames the class. */
  override readonly name = 'PayloadTooLargeError' as const;
  /** The size that was asked for, in bytes (or items, for counts). */
  readonly size: number;
  /** The largest size allowed. */
  readonly limit: number;
  /** Creates the error for `what` of `size` against `limit`. */
  constructor(what: string, size: number, limit: number) {
    super(`${what} is too large: ${size} > ${limit}`);
    this.size = size;
    this.limit = limit;
  }
}

/**
 * Why a keyring operation was refused.
 *
 * - `keySize`: keys must be 16, 24 or 32 bytes (AES-128/192/256).
 * - `noPrimaryKey`: keys were given without a primary key.
 * - `notInstalled`: the key to use is not in the keyring.
 * - `removePrimary`: the primary key cannot be removed (install and use another one first).
 */
export type KeyringFailure = 'keySize' | 'noPrimaryKey' | 'notInstalled' | 'removePrimary';

/** A `Keyring` operation broke one of memberlist's keyring rules. */
export class KeyringError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'KeyringError' as const;
  /** Always `'KeyringError'`, even after bundling renames the class. */
  override readonly name = 'KeyringError' as const;
  /** The machine-readable reason. */
  readonly reason: KeyringFailure;
  /** Creates the error with its reason and a human-readable detail. */
  constructor(reason: KeyringFailure, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

function hasName(error: unknown, name: string): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === name;
}

/** True when `error` is a {@link DecodeError} (from any copy of this package). */
export const isDecodeError = (error: unknown): error is DecodeError => hasName(error, DecodeError.name);
/** True when `error` is an {@link EncodeError}. */
export const isEncodeError = (error: unknown): error is EncodeError => hasName(error, EncodeError.name);
/** True when `error` is a {@link PayloadTooLargeError}. */
export const isPayloadTooLargeError = (error: unknown): error is PayloadTooLargeError =>
  hasName(error, PayloadTooLargeError.name);
/** True when `error` is a {@link KeyringError}. */
export const isKeyringError = (error: unknown): error is KeyringError => hasName(error, KeyringError.name);
