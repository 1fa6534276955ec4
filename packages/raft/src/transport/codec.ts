/**
 * The wire encoding of Raft messages: one MessagePack array per message, led by a numeric tag.
 *
 * Everything a peer sends is untrusted, even after authentication (a buggy or newer peer is as
 * likely as a hostile one), so decoding checks every field's type and range and never returns
 * an object with a missing or extra field. The only exception it throws is {@link DecodeError},
 * whose `reason` the transports use as a drop counter key.
 *
 * Layout (positional, so the field names cost nothing on the wire):
 * - message: `[tag, from, to, term, ...fields of that type]`, tags in {@link MESSAGE_TAGS};
 * - entry: `[index, term, kind (0 normal, 1 config), data (bin)]`;
 * - conf: `[voters[], learners[], votersOutgoing[], learnersNext[], autoLeave]`;
 * - addresses: a flat `[id, address, id, address, ...]` array (no MessagePack maps, which would
 *   invite `__proto__` keys and key-order questions);
 * - snapshot chunk (stream transport only): `[16, from, to, term, index, term, conf, addresses,
 *   offset, total, data]`.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type {
  ConfState,
  Entry,
  EntryKind,
  Message,
  MessageType,
  NodeId,
  Snapshot,
  SnapshotMeta,
  SnapshotRequest,
} from '../core/types.js';
import { DecodeError } from '../errors.js';

/**
 * Bounds that decoding enforces (and encoding checks, so that whatever encodes also decodes).
 * Byte lengths are UTF-8 bytes.
 */
export const CODEC_LIMITS = Object.freeze({
  /** Longest node id. */
  maxIdBytes: 256,
  /** Longest read context (heartbeat, readIndex). */
  maxContextBytes: 1024,
  /** Longest peer address string in snapshot metadata (as `parseAddress` accepts). */
  maxAddressBytes: 300,
  /** Most entries in one `append` or `propose`. */
  maxEntries: 262_144,
  /** Most members in one list of a configuration, and most address pairs. */
  maxMembers: 4096,
  /** Deepest array nesting of any valid message (message → conf → voters, message → entries → entry). */
  maxDepth: 3,
});

/** The numeric tag of each message type on the wire. Never renumber: peers of other versions rely on these. */
export const MESSAGE_TAGS: Readonly<Record<MessageType, number>> = Object.freeze({
  vote: 1,
  voteResponse: 2,
  append: 3,
  appendResponse: 4,
  heartbeat: 5,
  heartbeatResponse: 6,
  snapshot: 7,
  timeoutNow: 8,
  propose: 9,
  readIndex: 10,
  readIndexResponse: 11,
});

/** Tag of a {@link SnapshotChunk}, outside the message tag range. */
export const SNAPSHOT_CHUNK_TAG = 16;

/**
 * One piece of a snapshot as the stream transport sends it: the snapshot message's envelope and
 * metadata (repeated in every chunk, so each chunk can be checked against the first) and the
 * bytes `[offset, offset + data.length)` of a `total`-byte snapshot.
 */
export interface SnapshotChunk {
  /** Sender. */
  readonly from: NodeId;
  /** Receiver. */
  readonly to: NodeId;
  /** Sender's term. */
  readonly term: number;
  /** Metadata of the snapshot being sent. */
  readonly meta: SnapshotMeta;
  /** Where `data` starts in the snapshot. */
  readonly offset: number;
  /** Size of the whole snapshot data. */
  readonly total: number;
  /** This chunk's bytes. After {@link decodeWire} it is a view into the input, not a copy. */
  readonly data: Uint8Array;
}

/** What one stream frame carries after the handshake: a whole message, or a snapshot chunk. */
export type WireItem =
  | { readonly kind: 'message'; readonly message: Message }
  | { readonly kind: 'chunk'; readonly chunk: SnapshotChunk };

const ENTRY_KINDS: readonly EntryKind[] = ['normal', 'config'];

// One encoder for the module: `encode` clones itself when re-entered, and each call returns a
// fresh copy of its output, so sharing is safe and saves growing a buffer per message.
const encoder = new Encoder({ ignoreUndefined: false });
// Limits on what MessagePack itself will materialise; maps are rejected before we get here.
const decoder = new Decoder({
  maxStrLength: CODEC_LIMITS.maxContextBytes,
  maxArrayLength: Math.max(CODEC_LIMITS.maxEntries, CODEC_LIMITS.maxMembers * 2),
  maxMapLength: 0,
  maxExtLength: 0,
});

// ---------------------------------------------------------------------------------------------
// Encoding

function encodeFail(detail: string): never {
  throw new RangeError(`cannot encode message: ${detail}`);
}

function checkUint(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) encodeFail(`${what} must be a non-negative safe integer`);
  return value;
}

function checkString(value: string, what: string, maxBytes: number, allowEmpty: boolean): string {
  if (typeof value !== 'string') encodeFail(`${what} must be a string`);
  if (!allowEmpty && value.length === 0) encodeFail(`${what} must not be empty`);
  if (utf8Length(value) > maxBytes) encodeFail(`${what} is longer than ${maxBytes} bytes`);
  return value;
}

function checkId(value: NodeId, what: string): NodeId {
  return checkString(value, what, CODEC_LIMITS.maxIdBytes, false);
}

function checkBool(value: boolean, what: string): boolean {
  if (typeof value !== 'boolean') encodeFail(`${what} must be a boolean`);
  return value;
}

function checkBytes(value: Uint8Array, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) encodeFail(`${what} must be a Uint8Array`);
  return value;
}

function rawEntries(entries: readonly Entry[]): unknown[] {
  if (!Array.isArray(entries)) encodeFail('entries must be an array');
  if (entries.length > CODEC_LIMITS.maxEntries) encodeFail(`more than ${CODEC_LIMITS.maxEntries} entries`);
  return entries.map((e) => {
    const kind = ENTRY_KINDS.indexOf(e.kind);
    if (kind < 0) encodeFail('entry kind must be normal or config');
    return [
      checkUint(e.index, 'entry index'),
      checkUint(e.term, 'entry term'),
      kind,
      checkBytes(e.data, 'entry data'),
    ];
  });
}

function rawMembers(ids: readonly NodeId[], what: string): NodeId[] {
  if (!Array.isArray(ids)) encodeFail(`${what} must be an array`);
  if (ids.length > CODEC_LIMITS.maxMembers)
    encodeFail(`${what} has more than ${CODEC_LIMITS.maxMembers} members`);
  return ids.map((id) => checkId(id, what));
}

function rawConf(conf: ConfState): unknown[] {
  return [
    rawMembers(conf.voters, 'voters'),
    rawMembers(conf.learners, 'learners'),
    rawMembers(conf.votersOutgoing, 'votersOutgoing'),
    rawMembers(conf.learnersNext, 'learnersNext'),
    checkBool(conf.autoLeave, 'autoLeave'),
  ];
}

function rawAddresses(addresses: Readonly<Record<NodeId, string>>): string[] {
  const pairs = Object.entries(addresses);
  if (pairs.length > CODEC_LIMITS.maxMembers) encodeFail(`more than ${CODEC_LIMITS.maxMembers} addresses`);
  const flat: string[] = [];
  for (const [id, address] of pairs) {
    flat.push(
      checkId(id, 'address id'),
      checkString(address, 'address', CODEC_LIMITS.maxAddressBytes, false),
    );
  }
  return flat;
}

function rawMeta(meta: SnapshotMeta): unknown[] {
  return [
    checkUint(meta.index, 'snapshot index'),
    checkUint(meta.term, 'snapshot term'),
    rawConf(meta.conf),
    rawAddresses(meta.addresses),
  ];
}

function rawMessage(m: Message): unknown[] {
  const head = [checkId(m.from, 'from'), checkId(m.to, 'to'), checkUint(m.term, 'term')];
  switch (m.type) {
    case 'vote':
      return [
        MESSAGE_TAGS.vote,
        ...head,
        checkBool(m.preVote, 'preVote'),
        checkUint(m.lastIndex, 'lastIndex'),
        checkUint(m.lastTerm, 'lastTerm'),
        checkBool(m.transfer, 'transfer'),
      ];
    case 'voteResponse':
      return [
        MESSAGE_TAGS.voteResponse,
        ...head,
        checkBool(m.preVote, 'preVote'),
        checkBool(m.granted, 'granted'),
      ];
    case 'append':
      return [
        MESSAGE_TAGS.append,
        ...head,
        checkUint(m.prevIndex, 'prevIndex'),
        checkUint(m.prevTerm, 'prevTerm'),
        rawEntries(m.entries),
        checkUint(m.commit, 'commit'),
      ];
    case 'appendResponse':
      return [
        MESSAGE_TAGS.appendResponse,
        ...head,
        checkBool(m.reject, 'reject'),
        checkUint(m.index, 'index'),
        checkUint(m.hintIndex, 'hintIndex'),
        checkUint(m.hintTerm, 'hintTerm'),
      ];
    case 'heartbeat':
      return [
        MESSAGE_TAGS.heartbeat,
        ...head,
        checkUint(m.commit, 'commit'),
        checkString(m.context, 'context', CODEC_LIMITS.maxContextBytes, true),
      ];
    case 'heartbeatResponse':
      return [
        MESSAGE_TAGS.heartbeatResponse,
        ...head,
        checkString(m.context, 'context', CODEC_LIMITS.maxContextBytes, true),
      ];
    case 'snapshot':
      return [
        MESSAGE_TAGS.snapshot,
        ...head,
        ...rawMeta(m.snapshot.meta),
        checkBytes(m.snapshot.data, 'snapshot data'),
      ];
    case 'timeoutNow':
      // The condition is optional on the wire too: a plain timeoutNow keeps its short form.
      if (m.index === undefined && m.logTerm === undefined) return [MESSAGE_TAGS.timeoutNow, ...head];
      return [
        MESSAGE_TAGS.timeoutNow,
        ...head,
        checkUint(m.index as number, 'index'),
        checkUint(m.logTerm as number, 'logTerm'),
      ];
    case 'propose':
      return [MESSAGE_TAGS.propose, ...head, rawEntries(m.entries)];
    case 'readIndex':
      return [
        MESSAGE_TAGS.readIndex,
        ...head,
        checkString(m.context, 'context', CODEC_LIMITS.maxContextBytes, true),
      ];
    case 'readIndexResponse':
      return [
        MESSAGE_TAGS.readIndexResponse,
        ...head,
        checkUint(m.index, 'index'),
        checkString(m.context, 'context', CODEC_LIMITS.maxContextBytes, true),
      ];
    default:
      return encodeFail(`unknown message type ${JSON.stringify((m as { type?: unknown }).type)}`);
  }
}

/**
 * Encodes `m` for the wire. Throws RangeError when `m` breaks a {@link CODEC_LIMITS} bound or has
 * a field of the wrong type, so that everything this returns also decodes. The result is owned
 * by the caller.
 */
export function encodeMessage(m: Message): Uint8Array {
  return encoder.encode(rawMessage(m));
}

/**
 * Encodes one {@link SnapshotChunk} (stream transport). Same checks as {@link encodeMessage}; the
 * offset and total must describe a range inside the snapshot.
 */
export function encodeSnapshotChunk(chunk: SnapshotChunk): Uint8Array {
  const offset = checkUint(chunk.offset, 'chunk offset');
  const total = checkUint(chunk.total, 'chunk total');
  const data = checkBytes(chunk.data, 'chunk data');
  if (offset + data.byteLength > total) encodeFail('chunk extends past the snapshot total');
  return encoder.encode([
    SNAPSHOT_CHUNK_TAG,
    checkId(chunk.from, 'from'),
    checkId(chunk.to, 'to'),
    checkUint(chunk.term, 'term'),
    ...rawMeta(chunk.meta),
    offset,
    total,
    data,
  ]);
}

/**
 * Splits a snapshot message into chunks of at most `chunkBytes` data bytes each (at least one
 * chunk, even for empty data). The chunks' data are views of the message's data, not copies.
 */
export function splitSnapshot(message: SnapshotRequest, chunkBytes: number): SnapshotChunk[] {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1)
    throw new RangeError('chunkBytes must be a positive integer');
  const data = message.snapshot.data;
  const total = data.byteLength;
  const chunks: SnapshotChunk[] = [];
  let offset = 0;
  do {
    const end = Math.min(total, offset + chunkBytes);
    chunks.push({
      from: message.from,
      to: message.to,
      term: message.term,
      meta: message.snapshot.meta,
      offset,
      total,
      data: data.subarray(offset, end),
    });
    offset = end;
  } while (offset < total);
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function fail(reason: string, detail: string): never {
  throw new DecodeError(reason, detail);
}

/** UTF-8 length of `s` without allocating (lone surrogates count 3, as TextEncoder writes U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Walks the MessagePack structure once before the library decodes it, because the library has
 * no depth limit (a frame of nested one-element arrays would cost it a heap object per byte) and
 * pre-sizes arrays from the claimed length. Rejects maps and extension types, which no message
 * uses, nesting deeper than any message needs, arrays claiming more items than bytes remain,
 * truncation, and trailing bytes.
 */
function scan(bytes: Uint8Array): void {
  const end = bytes.byteLength;
  const view = new DataView(bytes.buffer, bytes.byteOffset, end);
  const stack: number[] = [];
  let top = 1; // values still to read at the current level; the top level holds exactly one
  let pos = 0;
  for (;;) {
    if (pos >= end) fail('truncated', `input ends at byte ${pos} inside a value`);
    const b = view.getUint8(pos);
    let size: number; // header plus payload bytes of a scalar, header bytes of an array
    let count = -1; // array length when this value is an array
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) size = 1;
    else if (b >= 0x90 && b <= 0x9f) {
      size = 1;
      count = b & 0x0f;
    } else if (b >= 0xa0 && b <= 0xbf) size = 1 + (b & 0x1f);
    else {
      const need = (n: number): void => {
        if (pos + n > end) fail('truncated', `input ends inside the header at byte ${pos}`);
      };
      switch (b) {
        case 0xc4:
        case 0xd9:
          need(2);
          size = 2 + view.getUint8(pos + 1);
          break;
        case 0xc5:
        case 0xda:
          need(3);
          size = 3 + view.getUint16(pos + 1);
          break;
        case 0xc6:
        case 0xdb:
          need(5);
          size = 5 + view.getUint32(pos + 1);
          break;
        case 0xca:
          size = 5;
          break;
        case 0xcb:
          size = 9;
          break;
        case 0xcc:
        case 0xd0:
          size = 2;
          break;
        case 0xcd:
        case 0xd1:
          size = 3;
          break;
        case 0xce:
        case 0xd2:
          size = 5;
          break;
        case 0xcf:
        case 0xd3:
          size = 9;
          break;
        case 0xdc:
          need(3);
          size = 3;
          count = view.getUint16(pos + 1);
          break;
        case 0xdd:
          need(5);
          size = 5;
          count = view.getUint32(pos + 1);
          break;
        default:
          // 0x80-0x8f, 0xde, 0xdf maps; 0xc7-0xc9, 0xd4-0xd8 extensions; 0xc1 never used.
          fail('unsupportedType', `MessagePack type byte 0x${b.toString(16)} at ${pos}`);
      }
    }
    if (pos + size > end) fail('truncated', `a value at byte ${pos} runs past the end of the input`);
    pos += size;
    top--;
    if (count > 0) {
      if (stack.length >= CODEC_LIMITS.maxDepth)
        fail('tooDeep', `arrays nested deeper than ${CODEC_LIMITS.maxDepth}`);
      // Every item takes at least one byte, so a longer claim is a lie; refuse before anything is sized by it.
      if (count > end - pos) fail('badLength', `array at byte ${pos - size} claims ${count} items`);
      stack.push(top);
      top = count;
    }
    while (top === 0) {
      const outer = stack.pop();
      if (outer === undefined) {
        if (pos !== end) fail('trailingBytes', `${end - pos} bytes after the message`);
        return;
      }
      top = outer;
    }
  }
}

function toRaw(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) fail('badInput', 'input is not a Uint8Array');
  scan(bytes);
  try {
    return decoder.decode(bytes);
  } catch (error) {
    // The library throws its own DecodeError, RangeError and plain Errors; only ours may escape.
    return fail('malformed', error instanceof Error ? error.message.slice(0, 200) : 'invalid MessagePack');
  }
}

function asArray(value: unknown, what: string, length?: number): unknown[] {
  if (!Array.isArray(value)) fail('badField', `${what} is not an array`);
  if (length !== undefined && value.length !== length) {
    fail('badField', `${what} has ${value.length} items, expected ${length}`);
  }
  return value;
}

function uintAt(a: unknown[], i: number, what: string): number {
  const v = a[i];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    fail('badField', `${what} is not a non-negative safe integer`);
  }
  return v;
}

function boolAt(a: unknown[], i: number, what: string): boolean {
  const v = a[i];
  if (typeof v !== 'boolean') fail('badField', `${what} is not a boolean`);
  return v;
}

function stringAt(a: unknown[], i: number, what: string, maxBytes: number, allowEmpty: boolean): string {
  const v = a[i];
  if (typeof v !== 'string') fail('badField', `${what} is not a string`);
  if (!allowEmpty && v.length === 0) fail('badField', `${what} is empty`);
  if (utf8Length(v) > maxBytes) fail('tooLong', `${what} is longer than ${maxBytes} bytes`);
  return v;
}

function idAt(a: unknown[], i: number, what: string): NodeId {
  return stringAt(a, i, what, CODEC_LIMITS.maxIdBytes, false);
}

function contextAt(a: unknown[], i: number): string {
  return stringAt(a, i, 'context', CODEC_LIMITS.maxContextBytes, true);
}

/** The bin at `a[i]`: a view into the input when `copy` is false, else a copy the caller owns. */
function bytesAt(a: unknown[], i: number, what: string, copy: boolean): Uint8Array {
  const v = a[i];
  if (!(v instanceof Uint8Array)) fail('badField', `${what} is not binary`);
  return copy ? v.slice() : v;
}

function entriesAt(a: unknown[], i: number): Entry[] {
  const list = asArray(a[i], 'entries');
  if (list.length > CODEC_LIMITS.maxEntries) fail('tooMany', `more than ${CODEC_LIMITS.maxEntries} entries`);
  const out: Entry[] = new Array(list.length);
  for (let k = 0; k < list.length; k++) {
    const e = asArray(list[k], 'entry', 4);
    const kindCode = uintAt(e, 2, 'entry kind');
    const kind = ENTRY_KINDS[kindCode];
    if (kind === undefined) fail('badField', `entry kind ${kindCode} is unknown`);
    out[k] = {
      index: uintAt(e, 0, 'entry index'),
      term: uintAt(e, 1, 'entry term'),
      kind,
      // Copied: an entry lives in the log for long, and must not pin (or alias) a whole frame.
      data: bytesAt(e, 3, 'entry data', true),
    };
  }
  return out;
}

function membersAt(a: unknown[], i: number, what: string): NodeId[] {
  const list = asArray(a[i], what);
  if (list.length > CODEC_LIMITS.maxMembers)
    fail('tooMany', `${what} has more than ${CODEC_LIMITS.maxMembers} members`);
  return list.map((_, k) => idAt(list, k, what));
}

function confAt(a: unknown[], i: number): ConfState {
  const c = asArray(a[i], 'conf', 5);
  return {
    voters: membersAt(c, 0, 'voters'),
    learners: membersAt(c, 1, 'learners'),
    votersOutgoing: membersAt(c, 2, 'votersOutgoing'),
    learnersNext: membersAt(c, 3, 'learnersNext'),
    autoLeave: boolAt(c, 4, 'autoLeave'),
  };
}

function addressesAt(a: unknown[], i: number): Record<NodeId, string> {
  const flat = asArray(a[i], 'addresses');
  if (flat.length % 2 !== 0) fail('badField', 'addresses has an odd number of items');
  if (flat.length > CODEC_LIMITS.maxMembers * 2)
    fail('tooMany', `more than ${CODEC_LIMITS.maxMembers} addresses`);
  const pairs: [NodeId, string][] = [];
  const seen = new Set<NodeId>();
  for (let k = 0; k < flat.length; k += 2) {
    const id = idAt(flat, k, 'address id');
    if (seen.has(id)) fail('badField', 'addresses names a member twice');
    seen.add(id);
    pairs.push([id, stringAt(flat, k + 1, 'address', CODEC_LIMITS.maxAddressBytes, false)]);
  }
  // fromEntries defines own properties, so an id such as `__proto__` cannot reach the prototype.
  return Object.fromEntries(pairs);
}

/** Snapshot metadata stored at `a[i..i+3]`. */
function metaAt(a: unknown[], i: number): SnapshotMeta {
  return {
    index: uintAt(a, i, 'snapshot index'),
    term: uintAt(a, i + 1, 'snapshot term'),
    conf: confAt(a, i + 2),
    addresses: addressesAt(a, i + 3),
  };
}

/** Field count of each tag, including the tag and the `from, to, term` head. */
const ARITY: Readonly<Record<number, number>> = {
  1: 8,
  2: 6,
  3: 8,
  4: 8,
  5: 6,
  6: 5,
  7: 9,
  8: 4,
  9: 5,
  10: 5,
  11: 6,
  [SNAPSHOT_CHUNK_TAG]: 11,
};

/** Tags whose messages may carry trailing fields beyond their arity: all of them or none. */
const OPTIONAL_FIELDS: Readonly<Record<number, number>> = {
  8: 2, // timeoutNow's condition: index, logTerm
};

function tagOf(a: unknown[]): number {
  if (a.length === 0) fail('badField', 'empty array');
  const tag = a[0];
  if (typeof tag !== 'number' || !Number.isInteger(tag)) fail('badField', 'the tag is not an integer');
  const arity = ARITY[tag];
  if (arity === undefined) fail('unknownTag', `tag ${tag} is unknown`);
  const optional = OPTIONAL_FIELDS[tag] ?? 0;
  if (a.length !== arity && a.length !== arity + optional) {
    const expected = optional === 0 ? `${arity}` : `${arity} or ${arity + optional}`;
    fail('badField', `tag ${tag} needs ${expected} fields, got ${a.length}`);
  }
  return tag;
}

function messageFrom(a: unknown[], tag: number): Message {
  const from = idAt(a, 1, 'from');
  const to = idAt(a, 2, 'to');
  const term = uintAt(a, 3, 'term');
  switch (tag) {
    case 1:
      return {
        type: 'vote',
        from,
        to,
        term,
        preVote: boolAt(a, 4, 'preVote'),
        lastIndex: uintAt(a, 5, 'lastIndex'),
        lastTerm: uintAt(a, 6, 'lastTerm'),
        transfer: boolAt(a, 7, 'transfer'),
      };
    case 2:
      return {
        type: 'voteResponse',
        from,
        to,
        term,
        preVote: boolAt(a, 4, 'preVote'),
        granted: boolAt(a, 5, 'granted'),
      };
    case 3:
      return {
        type: 'append',
        from,
        to,
        term,
        prevIndex: uintAt(a, 4, 'prevIndex'),
        prevTerm: uintAt(a, 5, 'prevTerm'),
        entries: entriesAt(a, 6),
        commit: uintAt(a, 7, 'commit'),
      };
    case 4:
      return {
        type: 'appendResponse',
        from,
        to,
        term,
        reject: boolAt(a, 4, 'reject'),
        index: uintAt(a, 5, 'index'),
        hintIndex: uintAt(a, 6, 'hintIndex'),
        hintTerm: uintAt(a, 7, 'hintTerm'),
      };
    case 5:
      return { type: 'heartbeat', from, to, term, commit: uintAt(a, 4, 'commit'), context: contextAt(a, 5) };
    case 6:
      return { type: 'heartbeatResponse', from, to, term, context: contextAt(a, 4) };
    case 7: {
      const snapshot: Snapshot = { meta: metaAt(a, 4), data: bytesAt(a, 8, 'snapshot data', true) };
      return { type: 'snapshot', from, to, term, snapshot };
    }
    case 8:
      if (a.length === ARITY[8]) return { type: 'timeoutNow', from, to, term };
      return {
        type: 'timeoutNow',
        from,
        to,
        term,
        index: uintAt(a, 4, 'index'),
        logTerm: uintAt(a, 5, 'logTerm'),
      };
    case 9:
      return { type: 'propose', from, to, term, entries: entriesAt(a, 4) };
    case 10:
      return { type: 'readIndex', from, to, term, context: contextAt(a, 4) };
    case 11:
      return {
        type: 'readIndexResponse',
        from,
        to,
        term,
        index: uintAt(a, 4, 'index'),
        context: contextAt(a, 5),
      };
    default:
      return fail('unknownTag', `tag ${tag} is not a message`);
  }
}

function chunkFrom(a: unknown[]): SnapshotChunk {
  const from = idAt(a, 1, 'from');
  const to = idAt(a, 2, 'to');
  const term = uintAt(a, 3, 'term');
  const meta = metaAt(a, 4);
  const offset = uintAt(a, 8, 'chunk offset');
  const total = uintAt(a, 9, 'chunk total');
  const data = bytesAt(a, 10, 'chunk data', false);
  if (offset + data.byteLength > total) fail('badField', 'chunk extends past the snapshot total');
  return { from, to, term, meta, offset, total, data };
}

/**
 * Decodes one message from untrusted bytes. Throws {@link DecodeError} (and nothing else) for
 * anything that is not exactly a valid encoded message; binary fields of the result are copies,
 * so `bytes` may be reused afterwards.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  const a = asArray(toRaw(bytes), 'message');
  const tag = tagOf(a);
  if (tag === SNAPSHOT_CHUNK_TAG) fail('unknownTag', 'a snapshot chunk is not a message');
  return messageFrom(a, tag);
}

/**
 * Decodes one post-handshake stream frame: a message or a {@link SnapshotChunk}. Throws only
 * {@link DecodeError}. A chunk's `data` is a view into `bytes` (the receiver copies it into its
 * reassembly buffer anyway); message fields are copies.
 */
export function decodeWire(bytes: Uint8Array): WireItem {
  const a = asArray(toRaw(bytes), 'frame');
  const tag = tagOf(a);
  if (tag === SNAPSHOT_CHUNK_TAG) return { kind: 'chunk', chunk: chunkFrom(a) };
  return { kind: 'message', message: messageFrom(a, tag) };
}
