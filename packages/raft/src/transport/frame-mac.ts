/**
 * Per-frame authentication after the handshake of `auth.ts`.
 *
 * The handshake ends with two session keys per connection, one per direction (see
 * `ClusterAuthKey.sessionKeys`). Every frame sent afterwards carries, after its payload, a tag of
 * {@link FRAME_MAC_BYTES} bytes:
 *
 * ```
 * frame = u32 BE length (payload + tag) ‖ payload ‖ tag
 * tag   = HMAC-SHA256(sessionKey_direction, u64 BE sequence ‖ payload)[0..16)
 * ```
 *
 * The sequence number is implicit: a counter per direction that starts at 0 with the first frame
 * after the handshake and counts every frame. Nothing of it is sent, so a frame verifies only at
 * its own position on its own connection in its own direction: a modified, injected, replayed,
 * reordered or deleted frame, and a frame reflected back or spliced in from another connection,
 * fails at the receiver, which must then close the connection (the stream cannot be trusted any
 * further; a reconnect runs a fresh handshake and starts new keys and counters).
 *
 * A tag is checked with `timingSafeEqual` before anything of the payload is decoded.
 */
import { createHmac, type KeyObject, timingSafeEqual } from 'node:crypto';
import { FRAME_HEADER_BYTES } from './framing.js';

/** Bytes of the MAC at the end of every frame after the handshake: HMAC-SHA256 truncated to 128 bits. */
export const FRAME_MAC_BYTES = 16;

/** Frames one direction of a connection may carry: sequence numbers stay exact in a double. */
const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/** Computes the full 32-byte HMAC over `u64 BE sequence ‖ payload`. */
function hmac(key: KeyObject, scratch: Buffer, sequence: number, payload: Uint8Array): Buffer {
  scratch.writeUInt32BE(Math.floor(sequence / 0x1_0000_0000), 0);
  scratch.writeUInt32BE(sequence >>> 0, 4);
  return createHmac('sha256', key).update(scratch).update(payload).digest();
}

/**
 * Adds the tags to the frames of one direction of a connection, counting the sequence. Holds the
 * session key inside a `KeyObject` (never exposed).
 */
export class FrameSealer {
  readonly #key: KeyObject;
  readonly #scratch = Buffer.alloc(8);
  #sequence = 0;

  /** Creates a sealer for the direction whose session key is `key`; the first frame is number 0. */
  constructor(key: KeyObject) {
    this.#key = key;
  }

  /** The sequence number the next sealed frame gets (= frames sealed so far). */
  get sequence(): number {
    return this.#sequence;
  }

  /**
   * Seals a whole frame in place: `frame` is a length header, the payload and
   * {@link FRAME_MAC_BYTES} reserved bytes at the end (as `encodeFrame(payload, max,
   * FRAME_MAC_BYTES)` makes it), which receive the tag. Returns `frame`. Throws RangeError for a
   * frame too short to hold a tag, or after 2^53 - 1 frames.
   */
  seal(frame: Uint8Array): Uint8Array {
    if (frame.byteLength < FRAME_HEADER_BYTES + FRAME_MAC_BYTES)
      throw new RangeError('frame too short to carry a MAC');
    if (this.#sequence >= MAX_SEQUENCE) throw new RangeError('frame sequence exhausted; reconnect');
    const end = frame.byteLength - FRAME_MAC_BYTES;
    const mac = hmac(this.#key, this.#scratch, this.#sequence, frame.subarray(FRAME_HEADER_BYTES, end));
    frame.set(mac.subarray(0, FRAME_MAC_BYTES), end);
    this.#sequence++;
    return frame;
  }

  /** Never reveals anything: what `JSON.stringify` shows. */
  toJSON(): string {
    return '[FrameSealer]';
  }
}

/**
 * Checks the tags of the frames of one direction of a connection, in order. After one frame fails,
 * every later one fails too: the connection must be closed.
 */
export class FrameOpener {
  readonly #key: KeyObject;
  readonly #scratch = Buffer.alloc(8);
  #sequence = 0;
  #failed = false;

  /** Creates an opener for the direction whose session key is `key`; the first frame is number 0. */
  constructor(key: KeyObject) {
    this.#key = key;
  }

  /** The sequence number the next frame must carry (= frames accepted so far). */
  get sequence(): number {
    return this.#sequence;
  }

  /** True once a frame has failed: nothing more is accepted. */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Verifies a received frame payload (the message followed by its tag) as the next frame of this
   * direction. Returns the message bytes (a view of `payload`) when the tag is right, undefined
   * otherwise. Nothing of the payload is interpreted before the tag is checked.
   */
  open(payload: Uint8Array): Uint8Array | undefined {
    if (this.#failed || payload.byteLength < FRAME_MAC_BYTES || this.#sequence >= MAX_SEQUENCE) {
      this.#failed = true;
      return undefined;
    }
    const end = payload.byteLength - FRAME_MAC_BYTES;
    const body = payload.subarray(0, end);
    const expected = hmac(this.#key, this.#scratch, this.#sequence, body).subarray(0, FRAME_MAC_BYTES);
    if (!timingSafeEqual(expected, payload.subarray(end))) {
      this.#failed = true;
      return undefined;
    }
    this.#sequence++;
    return body;
  }

  /** Never reveals anything: what `JSON.stringify` shows. */
  toJSON(): string {
    return '[FrameOpener]';
  }
}

/**
 * The frame authentication of one authenticated connection, from one side's point of view: what
 * we send is sealed with our direction's key, what we receive is opened with the peer's.
 */
export interface FrameSession {
  /** Seals the frames we send. */
  readonly sealer: FrameSealer;
  /** Opens the frames the peer sends. */
  readonly opener: FrameOpener;
}
