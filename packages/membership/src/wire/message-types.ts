/**
 * The one-byte message types that start every memberlist packet, compound part and stream
 * (MEMBERLIST-WIRE.md §2; memberlist `net.go`, iota order).
 */

/**
 * Message type bytes, numbered exactly as memberlist 0.2.2 numbers them.
 * @enum
 */
export const MessageType = Object.freeze({
  /** `pingMsg`: a probe (UDP, or the TCP fallback ping). */
  ping: 0,
  /** `indirectPingMsg`: ask a relay to probe a node for us. */
  indirectPing: 1,
  /** `ackRespMsg`: the answer to a ping. */
  ackResp: 2,
  /** `suspectMsg`: gossip that a node is suspected to have failed. */
  suspect: 3,
  /** `aliveMsg`: gossip that a node is alive (join, refute, update). */
  alive: 4,
  /** `deadMsg`: gossip that a node is dead, or left when `From == Node`. */
  dead: 5,
  /** `pushPullMsg`: full state exchange over TCP. */
  pushPull: 6,
  /** `compoundMsg`: several messages in one packet. */
  compound: 7,
  /** `userMsg`: opaque delegate data. */
  user: 8,
  /** `compressMsg`: an LZW-compressed message. */
  compress: 9,
  /** `encryptMsg`: an encrypted TCP stream (type byte used on streams only). */
  encrypt: 10,
  /** `nackRespMsg`: a relay's negative answer to an indirect ping. */
  nackResp: 11,
  /** `hasCrcMsg`: a CRC-32 header in front of a UDP packet. */
  hasCrc: 12,
  /** `errMsg`: a TCP responder's error reply. */
  err: 13,
} as const);

/** One of the {@link MessageType} numbers. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * `compressionType` values: LZW (0) is the only algorithm memberlist has.
 * @enum
 */
export const CompressionType = Object.freeze({
  /** `lzwAlgo`: Go `compress/lzw`, LSB bit order, 8-bit literals. */
  lzw: 0,
} as const);

/** One of the {@link CompressionType} numbers. */
export type CompressionType = (typeof CompressionType)[keyof typeof CompressionType];

/**
 * The `State` of a `pushNodeState`, as memberlist numbers `NodeStateType`.
 * @enum
 */
export const NodeState = Object.freeze({
  /** `StateAlive`. */
  alive: 0,
  /** `StateSuspect`. */
  suspect: 1,
  /** `StateDead`. */
  dead: 2,
  /** `StateLeft`: left voluntarily. */
  left: 3,
} as const);

/** One of the {@link NodeState} numbers. */
export type NodeState = (typeof NodeState)[keyof typeof NodeState];
