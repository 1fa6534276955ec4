/**
 * TCP stream framing (MEMBERLIST-WIRE.md §6): one request, and at most one reply, per
 * connection. The plaintext is `[type]` and msgpack values that delimit themselves:
 *
 * ```
 * push/pull:    [6] pushPullHeader{Join, Nodes=K, UserStateLen=U} | K × pushNodeState | U bytes
 * user message: [8] userMsgHeader{UserMsgLen=U} | U bytes
 * ping / ack / error: [0] ping | [2] ackResp | [13] errResp
 * ```
 *
 * The sender wraps it in `[9] compress` (always, with compression on: no size test) and then,
 * with keys installed, in `[10] | L:u32 BE | encryptPayload(plaintext, aad = [10, L])`.
 *
 * {@link decodeStream} is a pure function over the bytes received so far: it says whether a
 * whole message is there yet, and refuses a claimed size above the stream limit (20 MiB, Go's
 * `maxPushStateBytes`) before waiting for, or allocating, that many bytes.
 */
import { DecodeError, PayloadTooLargeError } from '../errors.js';
import { concatBytes, plainBytes, readU32, writeU32 } from './bytes.js';
import { compressMessage, decompressBody } from './compress.js';
import type { Keyring } from './keyring.js';
import { MessageType } from './message-types.js';
import {
  type AckResp,
  ackSpec,
  type Compress,
  compressSpec,
  type ErrResp,
  encodeAckResp,
  encodeErrResp,
  encodePing,
  errSpec,
  type Ping,
  type PushNodeState,
  pingSpec,
  pushNodeStateSpec,
  pushPullHeaderSpec,
  type TypedMessage,
  userMsgHeaderSpec,
} from './messages.js';
import { MsgpackReader, MsgpackWriter, writeStruct } from './msgpack.js';
import {
  decryptPayload,
  type EncryptionVersion,
  encryptedLength,
  encryptPayload,
  type NonceSource,
  randomNonce,
} from './security.js';

/** Largest encrypted stream memberlist reads, and the default limit of every size here: 20 MiB. */
export const MAX_PUSH_STATE_BYTES = 20 * 1024 * 1024;

/** Bytes before the ciphertext of an encrypted stream: type 10 and the u32 length. */
export const ENCRYPTED_STREAM_HEADER_BYTES = 5;

/** A push/pull state exchange: the whole node table of the sender and its delegate state. */
export interface PushPull {
  /** True for the exchange of a join; a responder echoes the request's flag. */
  readonly join: boolean;
  /** Every entry of the sender's node table, itself and unreaped dead/left nodes included. */
  readonly nodes: readonly PushNodeState[];
  /** The delegate's `LocalState` bytes (empty: none). */
  readonly userState: Uint8Array;
}

/** A message memberlist sends or accepts on a TCP stream. */
export type StreamMessage =
  | TypedMessage<typeof MessageType.pushPull, PushPull>
  | TypedMessage<typeof MessageType.ping, Ping>
  | TypedMessage<typeof MessageType.ackResp, AckResp>
  | TypedMessage<typeof MessageType.user, Uint8Array>
  | TypedMessage<typeof MessageType.err, ErrResp>;

/** The plaintext of a push/pull: `[6]`, the header, the node states, the user state. */
export function encodePushPull(pushPull: PushPull): Uint8Array {
  const writer = new MsgpackWriter(256 + pushPull.userState.length);
  writer.byte(MessageType.pushPull);
  writeStruct(writer, pushPullHeaderSpec, {
    join: pushPull.join,
    nodes: pushPull.nodes.length,
    userStateLen: pushPull.userState.length,
  });
  for (const node of pushPull.nodes) writeStruct(writer, pushNodeStateSpec, node);
  writer.raw(pushPull.userState);
  return writer.finish();
}

/** The plaintext of a TCP user message: `[8]`, the header, the payload. */
export function encodeUserStream(payload: Uint8Array): Uint8Array {
  const writer = new MsgpackWriter(16 + payload.length);
  writer.byte(MessageType.user);
  writeStruct(writer, userMsgHeaderSpec, { userMsgLen: payload.length });
  writer.raw(payload);
  return writer.finish();
}

/** The plaintext of any {@link StreamMessage}. */
export function encodeStreamMessage(message: StreamMessage): Uint8Array {
  switch (message.type) {
    case MessageType.pushPull:
      return encodePushPull(message.body);
    case MessageType.ping:
      return encodePing(message.body);
    case MessageType.ackResp:
      return encodeAckResp(message.body);
    case MessageType.user:
      return encodeUserStream(message.body);
    case MessageType.err:
      return encodeErrResp(message.body);
  }
}

/** Options of {@link encodeStream}. */
export interface StreamEncodeOptions {
  /**
   * memberlist's `EnableCompression`: wrap the plaintext in `[9] compress`, whatever its size.
   * @default true
   */
  readonly compress?: boolean;
  /** Encrypt with this keyring's primary key when it holds at least one key. */
  readonly keyring?: Keyring | null;
  /**
   * memberlist's `GossipVerifyOutgoing`: when false, streams are sent in plaintext even with keys.
   * @default true
   */
  readonly verifyOutgoing?: boolean;
  /**
   * Encryption version: 1 for protocol version ≥ 2 (Go's default), 0 for protocol version 1.
   * @default 1
   */
  readonly encryptionVersion?: EncryptionVersion;
  /** Where nonces come from. @default crypto.randomBytes */
  readonly nonce?: NonceSource;
}

/** Frames a stream plaintext for the wire: compress, then encrypt (memberlist's `rawSendMsgStream`). */
export function encodeStream(plaintext: Uint8Array, options: StreamEncodeOptions = {}): Uint8Array {
  let buf = plainBytes(plaintext);
  if (options.compress ?? true) buf = compressMessage(buf);
  const primary = options.keyring?.getPrimaryKey() ?? null;
  if (primary === null || !(options.verifyOutgoing ?? true)) return buf;
  const version = options.encryptionVersion ?? 1;
  const length = encryptedLength(version, buf.length);
  if (length > 0xffff_ffff) throw new PayloadTooLargeError('encrypted stream', length, 0xffff_ffff);
  const header = new Uint8Array(ENCRYPTED_STREAM_HEADER_BYTES);
  header[0] = MessageType.encrypt;
  writeU32(header, 1, length);
  const sealed = encryptPayload(version, primary, buf, header, options.nonce ?? randomNonce);
  return concatBytes([header, sealed]);
}

/** Options of {@link decodeStream}. */
export interface StreamDecodeOptions {
  /** Keys to decrypt with; encryption is required when it holds at least one key. */
  readonly keyring?: Keyring | null;
  /**
   * memberlist's `GossipVerifyIncoming`: when false, a plaintext stream is accepted even with keys.
   * @default true
   */
  readonly verifyIncoming?: boolean;
  /**
   * Limit on every size in the stream: the encrypted length, the decompressed plaintext, the
   * user state, and the bytes buffered while waiting for a message to complete.
   * @default 20 MiB ({@link MAX_PUSH_STATE_BYTES})
   */
  readonly maxStreamBytes?: number;
}

/** What {@link decodeStream} found in the bytes received so far. */
export type StreamDecodeResult =
  | {
      /** More bytes are needed. */
      readonly complete: false;
    }
  | {
      /** A whole message is there. */
      readonly complete: true;
      /** The message. */
      readonly message: StreamMessage;
      /** Bytes of the input it took; memberlist ignores anything after them. */
      readonly consumed: number;
    };

const INCOMPLETE: StreamDecodeResult = Object.freeze({ complete: false });

/**
 * Decodes a stream message from the bytes received so far, undoing encryption and compression
 * as memberlist's `readStream` does. Returns `{ complete: false }` while the message is cut
 * short; throws {@link DecodeError} when it can never be decoded: `encryption` when the stream
 * is encrypted without keys (or plaintext when keys are required), `decrypt`, `lzw`,
 * `tooLarge` for any size above `maxStreamBytes`, `unknownType`, or a msgpack reason.
 */
export function decodeStream(bytes: Uint8Array, options: StreamDecodeOptions = {}): StreamDecodeResult {
  const input = plainBytes(bytes);
  const limit = options.maxStreamBytes ?? MAX_PUSH_STATE_BYTES;
  if (input.length === 0) return INCOMPLETE;
  const keyring = options.keyring ?? null;
  const keyed = keyring?.enabled ?? false;

  if (input[0] === MessageType.encrypt) {
    if (keyring === null || !keyed) {
      throw new DecodeError('encryption', 'remote state is encrypted and encryption is not configured');
    }
    if (input.length < ENCRYPTED_STREAM_HEADER_BYTES) return INCOMPLETE;
    const length = readU32(input, 1);
    if (length > limit)
      throw new DecodeError('tooLarge', `encrypted stream claims ${length} bytes, limit ${limit}`);
    const end = ENCRYPTED_STREAM_HEADER_BYTES + length;
    if (input.length < end) return INCOMPLETE;
    const aad = input.subarray(0, ENCRYPTED_STREAM_HEADER_BYTES);
    const plain = decryptPayload(keyring.getKeys(), input.subarray(ENCRYPTED_STREAM_HEADER_BYTES, end), aad);
    const inner = readPlain(plain, limit, true);
    if (!inner.complete) throw new DecodeError('truncated', 'encrypted stream ends inside its message');
    return { complete: true, message: inner.message, consumed: end };
  }
  if (keyed && (options.verifyIncoming ?? true)) {
    throw new DecodeError('encryption', 'encryption is configured but remote state is not encrypted');
  }
  const result = readPlain(input, limit, false);
  if (!result.complete && input.length >= limit) {
    throw new DecodeError('tooLarge', `no complete message in the first ${limit} bytes`);
  }
  return result;
}

/**
 * Reads a plaintext stream: a compress wrapper or a message. `final` means the bytes are all
 * there will be (decrypted or decompressed), so running out is an error, not "incomplete".
 */
function readPlain(buf: Uint8Array, limit: number, final: boolean): StreamDecodeResult {
  if (buf.length === 0) {
    if (final) throw new DecodeError('empty', 'stream message has no type byte');
    return INCOMPLETE;
  }
  if (buf[0] !== MessageType.compress) return readMessage(buf, limit, final);
  const reader = new MsgpackReader(buf, 1, limit);
  let compress: Compress;
  try {
    compress = reader.struct(compressSpec);
  } catch (error) {
    if (!final && error instanceof DecodeError && error.reason === 'truncated') return INCOMPLETE;
    throw error;
  }
  const consumed = reader.offset;
  const plain = decompressBody(compress, { maxOutputBytes: limit });
  const inner = readMessage(plain, limit, true);
  if (!inner.complete) throw new DecodeError('truncated', 'compressed stream ends inside its message');
  return { complete: true, message: inner.message, consumed };
}

/** Reads one stream message (no compression or encryption left). */
function readMessage(buf: Uint8Array, limit: number, final: boolean): StreamDecodeResult {
  if (buf.length === 0) throw new DecodeError('empty', 'stream message has no type byte');
  const reader = new MsgpackReader(buf, 1, limit);
  try {
    const message = readBody(buf[0] ?? 0, reader, limit);
    return { complete: true, message, consumed: reader.offset };
  } catch (error) {
    if (!final && error instanceof DecodeError && error.reason === 'truncated') return INCOMPLETE;
    throw error;
  }
}

function checkLength(value: number, what: string, limit: number): number {
  if (value < 0) throw new DecodeError('range', `${what} is negative: ${value}`);
  if (value > limit) throw new DecodeError('tooLarge', `${what} claims ${value}, limit ${limit}`);
  return value;
}

function readBody(type: number, reader: MsgpackReader, limit: number): StreamMessage {
  switch (type) {
    case MessageType.pushPull: {
      const header = reader.struct(pushPullHeaderSpec);
      // Every node state takes at least one byte, so a count above the limit cannot be honest.
      const count = checkLength(header.nodes, 'pushPullHeader.Nodes', limit);
      const userStateLen = checkLength(header.userStateLen, 'pushPullHeader.UserStateLen', limit);
      const nodes: PushNodeState[] = [];
      for (let i = 0; i < count; i++) nodes.push(reader.struct(pushNodeStateSpec));
      const userState = reader.rawBytes(userStateLen, 'push/pull user state');
      return { type, body: { join: header.join, nodes, userState } };
    }
    case MessageType.user: {
      const header = reader.struct(userMsgHeaderSpec);
      const length = checkLength(header.userMsgLen, 'userMsgHeader.UserMsgLen', limit);
      return { type, body: reader.rawBytes(length, 'user message') };
    }
    case MessageType.ping:
      return { type, body: reader.struct(pingSpec) };
    case MessageType.ackResp:
      return { type, body: reader.struct(ackSpec) };
    case MessageType.err:
      return { type, body: reader.struct(errSpec) };
    default:
      throw new DecodeError('unknownType', `message type ${type} is not handled on streams`);
  }
}
