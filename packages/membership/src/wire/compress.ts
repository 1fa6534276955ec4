/**
 * The `compress` wrapper (MEMBERLIST-WIRE.md §4.12, §5.4, §6.1): `[9]` followed by the msgpack
 * struct `{Algo: 0, Buf: lzw(message)}`, where `message` is a whole message with its type byte
 * (a single message, a compound, or a stream's plaintext).
 */
import { DecodeError } from '../errors.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, lzwCompress, lzwDecompress } from './lzw.js';
import { CompressionType } from './message-types.js';
import { type Compress, decodeCompress, encodeCompress } from './messages.js';

/** `[9]{Algo: 0, Buf: lzw(message)}`, byte for byte what memberlist's `compressPayload` sends. */
export function compressMessage(message: Uint8Array): Uint8Array {
  return encodeCompress({ algo: CompressionType.lzw, buf: lzwCompress(message) });
}

/** Options of {@link decompressMessage}. */
export interface DecompressOptions {
  /**
   * Largest decompressed message accepted (`tooLarge` beyond it).
   * @default 10 MiB ({@link DEFAULT_MAX_DECOMPRESSED_BYTES})
   */
  readonly maxOutputBytes?: number;
}

/**
 * Expands a decoded {@link Compress} struct. Throws {@link DecodeError}: `lzw` for an algorithm
 * other than LZW or a malformed stream, `tooLarge` above the output limit.
 */
export function decompressBody(compress: Compress, options: DecompressOptions = {}): Uint8Array {
  if (compress.algo !== CompressionType.lzw) {
    throw new DecodeError('lzw', `unknown compression algorithm ${compress.algo}`);
  }
  return lzwDecompress(compress.buf ?? new Uint8Array(0), {
    maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES,
  });
}

/** The message inside a `[9]` compress message. Throws {@link DecodeError}. */
export function decompressMessage(message: Uint8Array, options: DecompressOptions = {}): Uint8Array {
  return decompressBody(decodeCompress(message), options);
}
