/**
 * The whole UDP packet pipeline (MEMBERLIST-WIRE.md §5.1), from the outside in:
 *
 * ```
 * encrypt(  hasCrc(  compress(  compound | single message  )  )  )
 * ```
 *
 * {@link decodePacket} does what memberlist's `ingestPacket` and `handleCommand` do: decrypt
 * if keys are installed, check and strip an outermost CRC header, then unwrap compress and
 * compound layers recursively and decode each message. It never throws on bad input: what it
 * cannot use is reported as counted drops, each with a reason, beside whatever did decode (a
 * compound can be partly good). {@link encodePacket} is memberlist's `rawSendMsgPacket`:
 * compress only if that is strictly shorter, then the CRC header, then encryption.
 */
import { type DecodeFailure, isDecodeError } from '../errors.js';
import { plainBytes } from './bytes.js';
import { type CompoundParts, decodeCompound } from './compound.js';
import { decompressBody } from './compress.js';
import { hasCrcHeader, unwrapCrc, wrapCrc } from './crc.js';
import type { Keyring } from './keyring.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, lzwCompress } from './lzw.js';
import { CompressionType, MessageType } from './message-types.js';
import {
  type Compress,
  decodeCompress,
  decodePacketMessage,
  encodeCompress,
  type PacketMessage,
  type TypedMessage,
} from './messages.js';
import {
  decryptPayload,
  type EncryptionVersion,
  encryptPayload,
  type NonceSource,
  randomNonce,
} from './security.js';

/**
 * Why (part of) a packet was dropped, as a counter name.
 *
 * - `empty`: an empty datagram, or a message or compound part with no type byte.
 * - `decrypt`: keys are installed and none of them opens the packet.
 * - `crc`: the CRC header does not match the bytes after it.
 * - `decode`: a message body is not the msgpack its type calls for.
 * - `compound`: a compound header cut short, or a part that runs past the end.
 * - `lzw`: a compressed message with an unknown algorithm or a malformed LZW stream.
 * - `unknownType`: a type byte that is not handled in packets.
 * - `tooLarge`: decompression would pass the packet's output budget.
 * - `nested`: compound and compress layers nested deeper than allowed.
 */
export type DropReason =
  | 'empty'
  | 'decrypt'
  | 'crc'
  | 'decode'
  | 'compound'
  | 'lzw'
  | 'unknownType'
  | 'tooLarge'
  | 'nested';

/** One dropped packet, message or compound part. */
export interface PacketDrop {
  /** The counter to increment. */
  readonly reason: DropReason;
  /** A human-readable description, for logs. */
  readonly detail: string;
}

/** A message delivered by the packet pipeline: compound and compress layers already unwrapped. */
export type InboundMessage = Exclude<
  PacketMessage,
  | TypedMessage<typeof MessageType.compound, CompoundParts>
  | TypedMessage<typeof MessageType.compress, Compress>
>;

/** What {@link decodePacket} got out of one datagram. */
export interface DecodedPacket {
  /** The messages, in the order they appear in the packet. */
  readonly messages: readonly InboundMessage[];
  /** What was dropped; empty when everything decoded. */
  readonly dropped: readonly PacketDrop[];
}

/** Default limit on compound/compress layers inside one packet (Go's nodes use at most 2). */
export const DEFAULT_MAX_PACKET_NESTING = 4;

/** Options of {@link decodePacket}. */
export interface PacketDecodeOptions {
  /** Keys to decrypt with; encryption is expected when it holds at least one key. */
  readonly keyring?: Keyring | null;
  /**
   * memberlist's `GossipVerifyIncoming`: when false, a packet no key opens is read as plaintext
   * (only for migrating a running cluster to encryption).
   * @default true
   */
  readonly verifyIncoming?: boolean;
  /**
   * Total decompressed bytes one packet may expand to, over all its compress layers.
   * @default 10 MiB
   */
  readonly maxDecompressedBytes?: number;
  /**
   * How many compound/compress layers may nest; deeper ones are dropped as `nested`.
   * @default 4 ({@link DEFAULT_MAX_PACKET_NESTING})
   */
  readonly maxNesting?: number;
}

/** The drop counter for a {@link DecodeError}'s reason. */
export function dropReasonOf(reason: DecodeFailure): DropReason {
  switch (reason) {
    case 'empty':
    case 'crc':
    case 'compound':
    case 'lzw':
    case 'unknownType':
    case 'tooLarge':
      return reason;
    case 'decrypt':
    case 'encryption':
      return 'decrypt';
    case 'truncated':
    case 'type':
    case 'range':
    case 'utf8':
    case 'depth':
      return 'decode';
  }
}

/**
 * Decodes one received datagram into its messages, never throwing on bad input. An empty
 * `messages` with one drop means the whole packet was refused (failed decryption or CRC).
 */
export function decodePacket(packet: Uint8Array, options: PacketDecodeOptions = {}): DecodedPacket {
  const messages: InboundMessage[] = [];
  const dropped: PacketDrop[] = [];
  const drop = (reason: DropReason, detail: string): void => {
    dropped.push({ reason, detail });
  };
  const fail = (error: unknown): void => {
    if (!isDecodeError(error)) throw error;
    drop(dropReasonOf(error.reason), error.message);
  };
  let budget = options.maxDecompressedBytes ?? DEFAULT_MAX_DECOMPRESSED_BYTES;
  const maxNesting = options.maxNesting ?? DEFAULT_MAX_PACKET_NESTING;

  let buf = plainBytes(packet);
  if (buf.length === 0) {
    drop('empty', 'empty packet');
    return { messages, dropped };
  }
  const keyring = options.keyring ?? null;
  if (keyring?.enabled) {
    try {
      buf = decryptPayload(keyring.getKeys(), buf, null);
    } catch (error) {
      if (options.verifyIncoming ?? true) {
        fail(error);
        return { messages, dropped };
      }
      // Not verifying: the packet is taken as plaintext.
    }
  }
  if (hasCrcHeader(buf)) {
    try {
      buf = unwrapCrc(buf);
    } catch (error) {
      fail(error);
      return { messages, dropped };
    }
  }

  const handle = (message: Uint8Array, depth: number): void => {
    if (message.length === 0) {
      drop('empty', 'message has no type byte');
      return;
    }
    const type = message[0];
    try {
      if (type === MessageType.compound || type === MessageType.compress) {
        if (depth >= maxNesting) {
          drop('nested', `more than ${maxNesting} compound/compress layers`);
          return;
        }
        if (type === MessageType.compound) {
          const { parts, truncated } = decodeCompound(message);
          for (const part of parts) handle(part, depth + 1);
          for (let i = 0; i < truncated; i++)
            drop('compound', 'compound part runs past the end of the packet');
        } else {
          const inner = decompressBody(decodeCompress(message), { maxOutputBytes: budget });
          budget -= inner.length;
          handle(inner, depth + 1);
        }
        return;
      }
      if (type === MessageType.hasCrc) {
        drop('unknownType', 'a CRC header is only supported on the outermost layer');
        return;
      }
      const decoded = decodePacketMessage(message);
      if (decoded.type !== MessageType.compound && decoded.type !== MessageType.compress)
        messages.push(decoded);
    } catch (error) {
      fail(error);
    }
  };
  handle(buf, 0);
  return { messages, dropped };
}

/** Options of {@link encodePacket}. */
export interface PacketEncodeOptions {
  /**
   * memberlist's `EnableCompression`: compress, and keep the result only if strictly shorter.
   * @default true
   */
  readonly compress?: boolean;
  /**
   * Add the CRC header. Go adds it for packets to a known node whose protocol max is ≥ 5
   * (its gossip); pings, acks, indirect pings and nacks go without.
   * @default false
   */
  readonly crc?: boolean;
  /** Encrypt with this keyring's primary key when it holds at least one key. */
  readonly keyring?: Keyring | null;
  /**
   * memberlist's `GossipVerifyOutgoing`: when false, packets are sent in plaintext even with keys.
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

/**
 * Frames `message` (one message or a compound, with its type byte) for a datagram: compress if
 * that is strictly shorter, add the CRC header if asked, then encrypt if keys are installed.
 */
export function encodePacket(message: Uint8Array, options: PacketEncodeOptions = {}): Uint8Array {
  let buf = plainBytes(message);
  if (options.compress ?? true) {
    const compressed = encodeCompress({ algo: CompressionType.lzw, buf: lzwCompress(buf) });
    if (compressed.length < buf.length) buf = compressed;
  }
  if (options.crc ?? false) buf = wrapCrc(buf);
  const primary = options.keyring?.getPrimaryKey() ?? null;
  if (primary !== null && (options.verifyOutgoing ?? true)) {
    buf = encryptPayload(options.encryptionVersion ?? 1, primary, buf, null, options.nonce ?? randomNonce);
  }
  return buf;
}
