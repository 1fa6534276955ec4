/**
 * The CRC header of UDP packets (MEMBERLIST-WIRE.md §5.3):
 *
 * ```
 * 0x0c | crc:u32 BE | msg
 * ```
 *
 * where the checksum is CRC-32/IEEE (the zlib/PNG CRC, Go `crc32.ChecksumIEEE`) of `msg`.
 */
import { DecodeError } from '../errors.js';
import { copyBytes, plainBytes, readU32, writeU32 } from './bytes.js';
import { MessageType } from './message-types.js';

/** Bytes the CRC header adds: type and checksum. */
export const CRC_HEADER_BYTES = 5;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32/IEEE (reflected polynomial 0xEDB88320) of `bytes`, as an unsigned integer. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = (TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** `[12][crc32(message)][message]`. */
export function wrapCrc(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(CRC_HEADER_BYTES + message.length);
  out[0] = MessageType.hasCrc;
  writeU32(out, 1, crc32(message));
  out.set(message, CRC_HEADER_BYTES);
  return out;
}

/** True when `packet` starts with a CRC header, by memberlist's test: type 12 and at least 5 bytes. */
export function hasCrcHeader(packet: Uint8Array): boolean {
  return packet.length >= CRC_HEADER_BYTES && packet[0] === MessageType.hasCrc;
}

/**
 * The message inside a CRC-framed packet (a copy), after checking its checksum. Throws
 * {@link DecodeError}: `crc` on a mismatch, `truncated` if there is no complete header,
 * `unknownType` if `packet` does not start with type 12.
 */
export function unwrapCrc(packet: Uint8Array): Uint8Array {
  const bytes = plainBytes(packet);
  if (bytes.length > 0 && bytes[0] !== MessageType.hasCrc) {
    throw new DecodeError('unknownType', `expected a CRC header (12), found type ${String(bytes[0])}`);
  }
  if (bytes.length < CRC_HEADER_BYTES) throw new DecodeError('truncated', 'CRC header cut short');
  const message = bytes.subarray(CRC_HEADER_BYTES);
  const expected = readU32(bytes, 1);
  const actual = crc32(message);
  if (expected !== actual) {
    throw new DecodeError(
      'crc',
      `checksum mismatch: header ${expected.toString(16)}, computed ${actual.toString(16)}`,
    );
  }
  return copyBytes(message);
}
