/**
 * Cluster membership for ClusterOS: a TypeScript port of HashiCorp memberlist 0.2.2 (SWIM
 * with the Lifeguard extensions) that is wire-compatible with Go nodes.
 *
 * - {@link Memberlist}: the runtime. Join through seeds, probe members round-robin with
 *   direct, indirect and TCP pings, suspect with Lifeguard's dynamic timeouts, refute,
 *   gossip piggybacked broadcasts, exchange full state by push/pull, leave gracefully,
 *   carry node metadata and user messages, encrypt with a rotating keyring.
 * - {@link lanConfig}, {@link wanConfig}, {@link localConfig}: memberlist's presets.
 * - {@link NetTransport} (UDP + TCP on one port) and {@link SimTransport} (on
 *   `@clusteros/sim`): the same protocol code runs on real sockets and in simulation.
 * - {@link encodeTags}/{@link decodeTags}: node tags in Serf's metadata format.
 * - The wire layer, checked byte for byte against memberlist's own encoders: messages,
 *   compound, CRC, LZW, AES-GCM keyring, the packet pipeline with counted drop reasons, the
 *   stream framing, and the Lifeguard timing math.
 *
 * memberlist 0.2.2 has no label header (labels arrived in later versions), so there is none
 * here.
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
export { AckTable, type AckWaiter } from './runtime/ack-table.js';
export { BroadcastQueue, type BroadcastQueueOptions, type QueueOptions } from './runtime/broadcast-queue.js';
export {
  lanConfig,
  localConfig,
  META_MAX_SIZE,
  type MemberlistTuning,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  validateTuning,
  wanConfig,
} from './runtime/config.js';
export type { MemberlistDelegate } from './runtime/delegate.js';
export {
  BroadcastTimeoutError,
  ConfigError,
  isBroadcastTimeoutError,
  isConfigError,
  isJoinError,
  isMemberlistClosedError,
  isStreamExchangeError,
  isUnknownNodeError,
  type JoinAttempt,
  JoinError,
  MemberlistClosedError,
  StreamExchangeError,
  type StreamFailure,
  UnknownNodeError,
} from './runtime/errors.js';
export { ipFromBytes, ipToBytes, isIpLiteral } from './runtime/ip.js';
export type { Logger } from './runtime/logger.js';
export { silentLogger } from './runtime/logger.js';
export type { Member, MemberState, MemberVersions } from './runtime/member.js';
export { type KeyringControl, Memberlist, type MemberlistEvents } from './runtime/memberlist.js';
export type { DelegateVersions, HostResolver, MemberlistOptions } from './runtime/options.js';
export type { DroppedReason, MemberlistStats, RuntimeDropReason } from './runtime/stats.js';
export { decodeTags, encodeTags, TAG_MAGIC_BYTE } from './runtime/tags.js';
export {
  NetTransport,
  NetworkTransport,
  type PacketHandler,
  SimTransport,
  type StreamHandler,
  type Transport,
} from './runtime/transport.js';
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
