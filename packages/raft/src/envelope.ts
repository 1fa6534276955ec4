import { DecodeError } from './errors.js';

/**
 * The driver's wrapper around every non-empty entry: a request id (so the member that proposed
 * a command can recognise it when it is applied, even if a follower forwarded it) and the
 * payload (a state machine command, or an encoded configuration change).
 *
 * Layout: `[0x01 version][u8 id length][id bytes (UTF-8)][payload]`.
 */
export interface Envelope {
  /** Request id: unique per proposal across restarts (`<node>.<random>.<counter>`). */
  readonly requestId: string;
  /** The wrapped bytes. */
  readonly payload: Uint8Array;
}

const VERSION = 1;
const MAX_ID_BYTES = 255;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Wraps `payload` with `requestId`. Throws RangeError for ids over 255 bytes. */
export function encodeEnvelope(requestId: string, payload: Uint8Array): Uint8Array {
  const id = encoder.encode(requestId);
  if (id.byteLength > MAX_ID_BYTES) throw new RangeError(`request id longer than ${MAX_ID_BYTES} bytes`);
  const out = new Uint8Array(2 + id.byteLength + payload.byteLength);
  out[0] = VERSION;
  out[1] = id.byteLength;
  out.set(id, 2);
  out.set(payload, 2 + id.byteLength);
  return out;
}

/** Unwraps an entry's data. Throws {@link DecodeError} for anything malformed. */
export function decodeEnvelope(data: Uint8Array): Envelope {
  if (data.byteLength < 2) throw new DecodeError('envelopeTruncated', `${data.byteLength} bytes`);
  if (data[0] !== VERSION) throw new DecodeError('envelopeVersion', `version ${data[0]}`);
  const idLength = data[1] ?? 0;
  if (data.byteLength < 2 + idLength) throw new DecodeError('envelopeTruncated', 'id runs past the end');
  let requestId: string;
  try {
    requestId = decoder.decode(data.subarray(2, 2 + idLength));
  } catch (cause) {
    throw new DecodeError('envelopeId', 'request id is not UTF-8', { cause });
  }
  return { requestId, payload: data.subarray(2 + idLength) };
}
