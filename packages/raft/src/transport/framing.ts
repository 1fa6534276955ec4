/**
 * Length-prefixed framing over a byte stream: each frame is a u32 big-endian payload length
 * followed by the payload. Streams do not preserve chunk boundaries, so the decoder accepts
 * bytes cut anywhere and reassembles whole frames.
 */

/** Largest frame payload accepted by default: 4 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** Largest length a u32 prefix can express. */
const MAX_U32 = 0xffff_ffff;

/** A frame's length prefix exceeds the decoder's limit (or a payload is too big to frame). */
export class FrameTooLargeError extends Error {
  /** The class's name, for matching with `err.name` across copies of the package. */
  static override readonly name = 'FrameTooLargeError' as const;
  /** Always `'FrameTooLargeError'`. */
  override readonly name = 'FrameTooLargeError' as const;
  /** The length that was claimed or asked for. */
  readonly length: number;
  /** The limit in force. */
  readonly max: number;
  /** Creates the error for a `length`-byte frame against a limit of `max`. */
  constructor(length: number, max: number) {
    super(`frame of ${length} bytes exceeds the maximum of ${max}`);
    this.length = length;
    this.max = max;
  }
}

/** True when `error` is a {@link FrameTooLargeError}. */
export const isFrameTooLargeError = (error: unknown): error is FrameTooLargeError =>
  typeof error === 'object' &&
  error !== null &&
  (error as { name?: unknown }).name === FrameTooLargeError.name;

function checkLimit(max: number): number {
  if (!Number.isSafeInteger(max) || max < 0 || max > MAX_U32) {
    throw new RangeError(`maxFrameBytes must be an integer in 0..${MAX_U32}, got ${max}`);
  }
  return max;
}

/**
 * Returns `payload` framed: a new array holding the 4-byte big-endian length and a copy of the
 * payload, followed by `trailerBytes` zero bytes that the length counts (room for a MAC, filled
 * in later). Throws {@link FrameTooLargeError} when payload and trailer exceed `maxFrameBytes`.
 */
export function encodeFrame(
  payload: Uint8Array,
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  trailerBytes = 0,
): Uint8Array {
  if (!Number.isSafeInteger(trailerBytes) || trailerBytes < 0) {
    throw new RangeError(`trailerBytes must be a non-negative integer, got ${trailerBytes}`);
  }
  const length = payload.byteLength + trailerBytes;
  if (length > checkLimit(maxFrameBytes)) throw new FrameTooLargeError(length, maxFrameBytes);
  const out = new Uint8Array(FRAME_HEADER_BYTES + length);
  new DataView(out.buffer).setUint32(0, length);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest payload accepted; a bigger length prefix makes `push` throw {@link FrameTooLargeError}.
   * @defaultValue {@link DEFAULT_MAX_FRAME_BYTES}
   */
  readonly maxFrameBytes?: number;
}

/**
 * Streaming frame decoder. Feed it chunks with {@link FrameDecoder.push}; it calls back with each
 * whole payload, in order.
 *
 * Memory: it holds at most the unfinished tail, which is under one header plus one maximum
 * payload, and it allocates for a frame only as its bytes arrive (a peer that claims 4 MiB and
 * sends 10 bytes costs 10 bytes). Payloads that lie whole inside one pushed chunk are handed
 * out as views of that chunk, without copying.
 *
 * The limit may change between frames (the transport accepts only small frames until the peer
 * has authenticated): {@link FrameDecoder.maxFrameBytes} is read before each frame's header is
 * checked, including frames later in the chunk being processed.
 *
 * After `push` throws, the decoder is poisoned and every later `push` throws the same error: a
 * stream whose framing is lost cannot be resynchronised.
 */
export class FrameDecoder {
  #max: number;
  /** Partial length prefix (only while fewer than 4 header bytes have arrived). */
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** Payload length of the frame being assembled, or -1 while reading a header. */
  #need = -1;
  /** Pieces of the frame being assembled, and their total length. */
  #parts: Uint8Array[] = [];
  #partsBytes = 0;
  #failed: FrameTooLargeError | undefined;

  /** Creates a decoder with an empty buffer. */
  constructor(options: FrameDecoderOptions = {}) {
    this.#max = checkLimit(options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  }

  /** The current payload limit. */
  get maxFrameBytes(): number {
    return this.#max;
  }

  /** Changes the payload limit for frames whose header has not been read yet. */
  set maxFrameBytes(max: number) {
    this.#max = checkLimit(max);
  }

  /** Bytes held for the unfinished frame: a partial length prefix, or the payload bytes received so far. */
  get bufferedBytes(): number {
    return this.#headerFill + this.#partsBytes;
  }

  /**
   * Consumes `chunk`, calling `onFrame` with each payload completed by it. When `onFrame`
   * returns `false`, decoding stops at once and the rest of the chunk is discarded (the
   * connection is being closed). Throws {@link FrameTooLargeError} for an oversized prefix.
   * Payloads are valid until the caller returns; copy what must be kept.
   */
  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => boolean | undefined): void {
    if (this.#failed !== undefined) throw this.#failed;
    let pos = 0;
    const end = chunk.byteLength;
    while (pos < end) {
      if (this.#need < 0) {
        // Fast path: a whole header in the chunk, nothing pending.
        if (this.#headerFill === 0 && end - pos >= FRAME_HEADER_BYTES) {
          const length =
            ((chunk[pos] as number) * 0x1000000 +
              ((chunk[pos + 1] as number) << 16) +
              ((chunk[pos + 2] as number) << 8) +
              (chunk[pos + 3] as number)) >>>
            0;
          pos += FRAME_HEADER_BYTES;
          this.#begin(length);
        } else {
          const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, end - pos);
          this.#header.set(chunk.subarray(pos, pos + take), this.#headerFill);
          this.#headerFill += take;
          pos += take;
          if (this.#headerFill < FRAME_HEADER_BYTES) return;
          this.#headerFill = 0;
          this.#begin(new DataView(this.#header.buffer).getUint32(0));
        }
        if (this.#need === 0) {
          this.#need = -1;
          if (onFrame(new Uint8Array(0)) === false) return;
        }
        continue;
      }
      const missing = this.#need - this.#partsBytes;
      if (this.#partsBytes === 0 && end - pos >= missing) {
        // The whole payload is in this chunk: hand out a view.
        const payload = chunk.subarray(pos, pos + missing);
        pos += missing;
        this.#need = -1;
        if (onFrame(payload) === false) return;
        continue;
      }
      const take = Math.min(missing, end - pos);
      // Copied: the caller may reuse its chunk once push returns.
      this.#parts.push(chunk.slice(pos, pos + take));
      this.#partsBytes += take;
      pos += take;
      if (this.#partsBytes < this.#need) return;
      const payload = concat(this.#parts, this.#partsBytes);
      this.#parts = [];
      this.#partsBytes = 0;
      this.#need = -1;
      if (onFrame(payload) === false) return;
    }
  }

  /** Drops any partial frame (after the stream closed). */
  reset(): void {
    this.#headerFill = 0;
    this.#need = -1;
    this.#parts = [];
    this.#partsBytes = 0;
  }

  #begin(length: number): void {
    if (length > this.#max) {
      this.reset();
      this.#failed = new FrameTooLargeError(length, this.#max);
      throw this.#failed;
    }
    this.#need = length;
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
