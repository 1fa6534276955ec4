/**
 * Cluster membership for ClusterOS: a TypeScript port of HashiCorp memberlist 0.2.2 (SWIM
 * with the Lifeguard extensions) that is wire-compatible with Go nodes.
 *
 * This release provides the **wire layer**, checked byte for byte against vectors produced by
 * memberlist's own encoders:
 *
 * - messages ({@link encodePing}, {@link decodePacketMessage}, …): the type byte and the
 *   msgpack structs exactly as go-msgpack writes them, decoded as leniently as Go reads them;
 * - {@link encodeCompound}/{@link decodeCompound}, {@link wrapCrc}/{@link unwrapCrc},
 *   {@link lzwCompress}/{@link lzwDecompress} (Go's `compress/lzw`) and
 *   {@link compressMessage};
 * - {@link Keyring} and {@link encryptPayload}/{@link decryptPayload} (AES-GCM, encryption
 *   versions 0 and 1, injectable nonces);
 * - the UDP pipeline ({@link encodePacket}/{@link decodePacket}, with counted drop reasons)
 *   and the TCP stream framing ({@link encodeStream}/{@link decodeStream}, bounded sizes);
 * - the pure Lifeguard and timing math ({@link suspicionTimeout},
 *   {@link remainingSuspicionTime}, {@link retransmitLimit}, {@link pushPullScale},
 *   {@link scaleTimeout}).
 *
 * memberlist 0.2.2 has no label header (labels arrived in later versions), so there is none
 * here. The `Memberlist` runtime (probing, gossip, push/pull, events) arrives next, on the
 * injected clock, randomness and network of `@clusteros/sim`.
 *
 * @packageDocumentation
 */

export {
  DecodeError,
  type DecodeFailure,
  EncodeError,
  isDecodeError,
  isEncodeError,
  isKeyringError,
  isPayloadTooLargeError,
  KeyringError,
  type KeyringFailure,
  PayloadTooLargeError,
} from './errors.js';
export {
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  type CompoundParts,
  compoundSize,
  decodeCompound,
  encodeCompound,
  MAX_COMPOUND_PART_BYTES,
  MAX_COMPOUND_PARTS,
  packCompounds,
} from './wire/compound.js';
export {
  compressMessage,
  type DecompressOptions,
  decompressBody,
  decompressMessage,
} from './wire/compress.js';
export { CRC_HEADER_BYTES, crc32, hasCrcHeader, unwrapCrc, wrapCrc } from './wire/crc.js';
export { KEY_SIZES, Keyring } from './wire/keyring.js';
export {
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  type LzwDecompressOptions,
  lzwCompress,
  lzwDecompress,
} from './wire/lzw.js';
export { CompressionType, MessageType, NodeState } from './wire/message-types.js';
export {
  type AckResp,
  type Alive,
  type Compress,
  type Dead,
  decodeAckResp,
  decodeAlive,
  decodeCompress,
  decodeDead,
  decodeErrResp,
  decodeIndirectPingReq,
  decodeNackResp,
  decodePacketMessage,
  decodePing,
  decodePushNodeState,
  decodePushPullHeader,
  decodeSuspect,
  decodeUserMsgHeader,
  type ErrResp,
  encodeAckResp,
  encodeAlive,
  encodeCompress,
  encodeDead,
  encodeErrResp,
  encodeIndirectPingReq,
  encodeNackResp,
  encodePacketMessage,
  encodePing,
  encodePushNodeState,
  encodePushPullHeader,
  encodeSuspect,
  encodeUserMsgHeader,
  encodeUserPacket,
  type IndirectPingReq,
  type NackResp,
  type PacketMessage,
  type Ping,
  type PushNodeState,
  type PushPullHeader,
  type Suspect,
  type TypedMessage,
  type UserMsgHeader,
} from './wire/messages.js';
export {
  DEFAULT_MAX_PACKET_NESTING,
  type DecodedPacket,
  type DropReason,
  decodePacket,
  dropReasonOf,
  encodePacket,
  type InboundMessage,
  type PacketDecodeOptions,
  type PacketDrop,
  type PacketEncodeOptions,
} from './wire/packet.js';
export {
  decryptPayload,
  type EncryptionVersion,
  encryptedLength,
  encryptOverhead,
  encryptPayload,
  MAX_ENCRYPTION_VERSION,
  NONCE_BYTES,
  type NonceSource,
  randomNonce,
  TAG_BYTES,
} from './wire/security.js';
export {
  decodeStream,
  ENCRYPTED_STREAM_HEADER_BYTES,
  encodePushPull,
  encodeStream,
  encodeStreamMessage,
  encodeUserStream,
  MAX_PUSH_STATE_BYTES,
  type PushPull,
  type StreamDecodeOptions,
  type StreamDecodeResult,
  type StreamEncodeOptions,
  type StreamMessage,
} from './wire/stream.js';
export {
  applyAwarenessDelta,
  PUSH_PULL_SCALE_THRESHOLD,
  pushPullScale,
  remainingSuspicionTime,
  retransmitLimit,
  scaleTimeout,
  suspicionConfirmations,
  suspicionTimeout,
} from './wire/timing.js';
