/**
 * LZW as Go's `compress/lzw` writes and reads it with `LSB` bit order and 8-bit literals
 * (MEMBERLIST-WIRE.md §8), which is what memberlist's `compress` messages carry.
 *
 * - Codes are packed least-significant bit first; the last partial byte is zero-padded.
 * - Literals are 0..255, 256 clears the table, 257 ends the stream, new entries start at 258.
 * - Codes start 9 bits wide and widen by one bit as soon as the next code to assign reaches
 *   `1 << width` (no early change), up to 12 bits.
 * - The writer starts with a clear code, and when the next code to assign reaches 4095 it
 *   sends a clear code and starts over; it ends with the pending code and the end code 257.
 *   Go's reader refuses a stream without the end code, and so does {@link lzwDecompress}.
 */
import { DecodeError } from '../errors.js';
import { plainBytes } from './bytes.js';

const CLEAR = 256;
const EOF = 257;
const FIRST_WIDTH = 9;
const MAX_WIDTH = 12;
/** The writer resets when its next code would be this one. */
const LAST_CODE = (1 << MAX_WIDTH) - 1;
const TABLE_SIZE = 1 << MAX_WIDTH;

/** Default ceiling for {@link lzwDecompress} output: 10 MiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 10 * 1024 * 1024;

/** Slots of the compressor's hash table: a power of two, at least twice the 4096 codes. */
const DICT_BITS = 13;
const DICT_SHIFT = 32 - DICT_BITS;
const DICT_MASK = (1 << DICT_BITS) - 1;
const DICT_KEYS = new Int32Array(1 << DICT_BITS);
const DICT_CODES = new Uint16Array(1 << DICT_BITS);

/**
 * The decompressor's string table, reused across calls (allocating and zeroing it per datagram
 * cost more than decoding a small one). Entries from 258 on are written before they can be
 * referenced (a code must be below the next code to assign), so nothing needs clearing.
 */
const PREFIX = new Uint16Array(TABLE_SIZE);
const SUFFIX = new Uint8Array(TABLE_SIZE);
const LENGTHS = new Uint16Array(TABLE_SIZE);
const FIRSTS = new Uint8Array(TABLE_SIZE);
for (let i = 0; i < 256; i++) {
  LENGTHS[i] = 1;
  FIRSTS[i] = i;
}

/** A byte buffer that doubles as it fills. */
class ByteSink {
  bytes: Uint8Array;
  length = 0;
  constructor(initial: number) {
    this.bytes = new Uint8Array(Math.max(16, initial));
  }
  ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  push(byte: number): void {
    this.ensure(1);
    this.bytes[this.length++] = byte;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/** Compresses `input` into exactly the bytes Go's `lzw.NewWriter(w, lzw.LSB, 8)` produces. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const data = plainBytes(input);
  const out = new ByteSink(data.length + 16);
  let acc = 0;
  let accBits = 0;
  let width = FIRST_WIDTH;
  let next = EOF; // the last code assigned so far; the next entry gets next + 1
  let widen = 1 << FIRST_WIDTH;
  // Dictionary of (prefix code, byte) -> code, keyed prefix * 256 + byte: an open-addressing
  // hash table reused across calls (a Map costs far more per byte than the rest of the loop).
  const keys = DICT_KEYS;
  const codes = DICT_CODES;
  keys.fill(-1);

  const emit = (code: number): void => {
    acc |= code << accBits;
    accBits += width;
    while (accBits >= 8) {
      out.push(acc & 0xff);
      acc >>>= 8;
      accBits -= 8;
    }
  };
  /** Counts one more assigned code; true when that exhausted the table and it was reset. */
  const assign = (): boolean => {
    next++;
    if (next === widen) {
      width++;
      widen <<= 1;
    }
    if (next === LAST_CODE) {
      emit(CLEAR);
      width = FIRST_WIDTH;
      next = EOF;
      widen = 1 << FIRST_WIDTH;
      keys.fill(-1);
      return true;
    }
    return false;
  };

  emit(CLEAR);
  if (data.length > 0) {
    let code = data[0] ?? 0;
    for (let i = 1; i < data.length; i++) {
      const byte = data[i] ?? 0;
      const key = code * 256 + byte;
      let slot = Math.imul(key, 0x9e3779b1) >>> DICT_SHIFT;
      let found = keys[slot] ?? -1;
      while (found !== key && found !== -1) {
        slot = (slot + 1) & DICT_MASK;
        found = keys[slot] ?? -1;
      }
      if (found === key) {
        code = codes[slot] ?? 0;
        continue;
      }
      emit(code);
      code = byte;
      if (!assign()) {
        keys[slot] = key;
        codes[slot] = next;
      }
    }
    emit(code);
    assign();
  }
  emit(EOF);
  if (accBits > 0) out.push(acc & 0xff);
  return out.result();
}

/** Options of {@link lzwDecompress}. */
export interface LzwDecompressOptions {
  /**
   * Largest output accepted; a stream that would expand beyond it is refused as `tooLarge`.
   * @default 10 MiB ({@link DEFAULT_MAX_DECOMPRESSED_BYTES})
   */
  readonly maxOutputBytes?: number;
}

/**
 * Decompresses a Go LZW (LSB, 8-bit literal) stream. Throws {@link DecodeError}: `lzw` for an
 * invalid code or a stream that ends without the end code, `tooLarge` when the output would
 * pass `maxOutputBytes`. Bytes after the end code are ignored, as Go's reader does.
 */
export function lzwDecompress(input: Uint8Array, options: LzwDecompressOptions = {}): Uint8Array {
  const data = plainBytes(input);
  const limit = options.maxOutputBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const out = new ByteSink(Math.min(limit, data.length * 4));
  const prefix = PREFIX;
  const suffix = SUFFIX;
  const lengths = LENGTHS;
  const firsts = FIRSTS;
  let width = FIRST_WIDTH;
  let hi = EOF;
  let widen = 1 << FIRST_WIDTH;
  let last = -1;
  let acc = 0;
  let accBits = 0;
  let pos = 0;

  const room = (count: number): void => {
    if (out.length + count > limit) {
      throw new DecodeError('tooLarge', `LZW output exceeds ${limit} bytes`);
    }
    out.ensure(count);
  };
  /** Writes the string of table entry `code` (whose length is known) at the end of the output. */
  const expand = (code: number): void => {
    const length = lengths[code] ?? 0;
    room(length);
    let at = out.length + length - 1;
    let c = code;
    while (c >= CLEAR) {
      out.bytes[at--] = suffix[c] ?? 0;
      c = prefix[c] ?? 0;
    }
    out.bytes[at] = c;
    out.length += length;
  };
  const remember = (first: number): void => {
    if (last < 0) return;
    prefix[hi] = last;
    suffix[hi] = first;
    lengths[hi] = (lengths[last] ?? 0) + 1;
    firsts[hi] = firsts[last] ?? 0;
  };

  for (;;) {
    while (accBits < width) {
      if (pos >= data.length) throw new DecodeError('lzw', 'LZW stream ends without its end code');
      acc |= (data[pos++] ?? 0) << accBits;
      accBits += 8;
    }
    const code = acc & ((1 << width) - 1);
    acc >>>= width;
    accBits -= width;

    if (code < CLEAR) {
      room(1);
      out.bytes[out.length++] = code;
      remember(code);
    } else if (code === CLEAR) {
      width = FIRST_WIDTH;
      hi = EOF;
      widen = 1 << FIRST_WIDTH;
      last = -1;
      continue;
    } else if (code === EOF) {
      return out.result();
    } else if (code <= hi) {
      if (code === hi && last >= 0) {
        // The code being defined right now: the previous string plus its own first byte.
        const first = firsts[last] ?? 0;
        expand(last);
        room(1);
        out.bytes[out.length++] = first;
        remember(first);
      } else {
        expand(code);
        remember(firsts[code] ?? 0);
      }
    } else {
      throw new DecodeError('lzw', `invalid LZW code ${code} (next code ${hi})`);
    }
    last = code;
    hi++;
    if (hi >= widen) {
      if (width === MAX_WIDTH) {
        // Table full: keep decoding, add no entries until a clear code arrives.
        last = -1;
        hi--;
      } else {
        width++;
        widen <<= 1;
      }
    }
  }
}
