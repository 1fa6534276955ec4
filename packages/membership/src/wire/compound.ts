/**
 * Compound messages (MEMBERLIST-WIRE.md §5.2): several complete messages in one packet.
 *
 * ```
 * 0x07 | n:u8 | len_1:u16 BE | ... | len_n:u16 BE | msg_1 | ... | msg_n
 * ```
 *
 * Decoding follows memberlist: a header cut short is an error, while a part whose length runs
 * past the end is dropped together with every later part and counted as `truncated`; the
 * earlier parts are still returned. Bytes after the last part are ignored.
 */
import { DecodeError, PayloadTooLargeError } from '../errors.js';
import { copyBytes, plainBytes, readU16 } from './bytes.js';
import { MessageType } from './message-types.js';

/** Most parts one compound can hold (the count is one byte). */
export const MAX_COMPOUND_PARTS = 255;

/** Largest part a compound can hold (lengths are two bytes). */
export const MAX_COMPOUND_PART_BYTES = 0xffff;

/** Bytes of a compound before its length table: type and count (memberlist `compoundHeaderOverhead`). */
export const COMPOUND_HEADER_OVERHEAD = 2;

/** Extra bytes each part costs inside a compound: its length (memberlist `compoundOverhead`). */
export const COMPOUND_PART_OVERHEAD = 2;

/** The parts of a decoded compound. */
export interface CompoundParts {
  /** The complete parts, in order, each starting with its own type byte. */
  readonly parts: readonly Uint8Array[];
  /** How many parts were announced but did not fit in the bytes received. */
  readonly truncated: number;
}

/** Size in bytes of a compound holding parts of these lengths. */
export function compoundSize(partLengths: readonly number[]): number {
  let size = COMPOUND_HEADER_OVERHEAD;
  for (const length of partLengths) size += COMPOUND_PART_OVERHEAD + length;
  return size;
}

/**
 * `[7]` compound of `parts` (each a complete message with its type byte). Throws
 * {@link PayloadTooLargeError} for more than 255 parts or a part above 65535 bytes, which
 * the one- and two-byte fields cannot describe.
 */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length > MAX_COMPOUND_PARTS) {
    throw new PayloadTooLargeError('compound part count', parts.length, MAX_COMPOUND_PARTS);
  }
  const out = new Uint8Array(compoundSize(parts.map((p) => p.length)));
  out[0] = MessageType.compound;
  out[1] = parts.length;
  let table = COMPOUND_HEADER_OVERHEAD;
  let body = COMPOUND_HEADER_OVERHEAD + COMPOUND_PART_OVERHEAD * parts.length;
  for (const part of parts) {
    if (part.length > MAX_COMPOUND_PART_BYTES) {
      throw new PayloadTooLargeError('compound part', part.length, MAX_COMPOUND_PART_BYTES);
    }
    out[table++] = part.length >>> 8;
    out[table++] = part.length & 0xff;
    out.set(part, body);
    body += part.length;
  }
  return out;
}

/**
 * Packs `messages`, in order, into as few packets of at most `maxPacketBytes` as a greedy fill
 * allows: a packet with one message is that message, bare; with several, a compound. Throws
 * {@link PayloadTooLargeError} if one message alone is larger than `maxPacketBytes`.
 */
export function packCompounds(messages: readonly Uint8Array[], maxPacketBytes: number): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let group: Uint8Array[] = [];
  let groupSize = COMPOUND_HEADER_OVERHEAD;
  const flush = (): void => {
    if (group.length === 1 && group[0] !== undefined) packets.push(group[0]);
    else if (group.length > 1) packets.push(encodeCompound(group));
    group = [];
    groupSize = COMPOUND_HEADER_OVERHEAD;
  };
  for (const message of messages) {
    if (message.length > maxPacketBytes) {
      throw new PayloadTooLargeError('message', message.length, maxPacketBytes);
    }
    if (message.length > MAX_COMPOUND_PART_BYTES) {
      // Too long for a compound's length field: it can only travel alone.
      flush();
      group.push(message);
      flush();
      continue;
    }
    const fits =
      group.length < MAX_COMPOUND_PARTS &&
      groupSize + COMPOUND_PART_OVERHEAD + message.length <= maxPacketBytes;
    if (!fits) flush();
    group.push(message);
    groupSize += COMPOUND_PART_OVERHEAD + message.length;
  }
  flush();
  return packets;
}

/**
 * Splits a `[7]` compound into its parts (copies). Throws {@link DecodeError} (`compound`) when
 * the count byte or the length table is cut short; parts that run past the end are counted in
 * `truncated` instead.
 */
export function decodeCompound(message: Uint8Array): CompoundParts {
  const bytes = plainBytes(message);
  if (bytes.length === 0) throw new DecodeError('empty', 'compound: no type byte');
  if (bytes[0] !== MessageType.compound) {
    throw new DecodeError('unknownType', `compound: expected type 7, found ${String(bytes[0])}`);
  }
  if (bytes.length < 2) throw new DecodeError('compound', 'compound: missing part count');
  const count = bytes[1] ?? 0;
  let at = COMPOUND_HEADER_OVERHEAD + COMPOUND_PART_OVERHEAD * count;
  if (bytes.length < at) {
    throw new DecodeError('compound', `compound: ${count} parts announced, length table cut short`);
  }
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const length = readU16(bytes, COMPOUND_HEADER_OVERHEAD + COMPOUND_PART_OVERHEAD * i);
    if (bytes.length - at < length) return { parts, truncated: count - i };
    parts.push(copyBytes(bytes, at, at + length));
    at += length;
  }
  return { parts, truncated: 0 };
}
