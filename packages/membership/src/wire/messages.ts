/**
 * memberlist's message structs (MEMBERLIST-WIRE.md §4) and their codecs: one type byte, then
 * the struct as go-msgpack writes it. Properties are the Go fields in camelCase; `[]byte`
 * fields are `Uint8Array | null` so that Go's nil (msgpack nil) and empty (a zero-length
 * string) both survive a round trip byte for byte.
 */
import { DecodeError } from '../errors.js';
import { copyBytes, plainBytes } from './bytes.js';
import { type CompoundParts, decodeCompound, encodeCompound } from './compound.js';
import { MessageType } from './message-types.js';
import { defineStruct, MsgpackReader, MsgpackWriter, type StructSpec, writeStruct } from './msgpack.js';

/** `ping` (type 0): a probe. */
export interface Ping {
  /** Sequence number the ack must echo (uint32). */
  readonly seqNo: number;
  /** Name of the intended target; a receiver with another name drops the ping ('' = anyone). */
  readonly node: string;
  /** Sender's advertise IP (4 or 16 bytes); the ack goes here when set (omitted when empty). */
  readonly sourceAddr: Uint8Array | null;
  /** Sender's advertise port (uint16; omitted when 0). */
  readonly sourcePort: number;
  /** Sender's name (omitted when empty). */
  readonly sourceNode: string;
}

/** `indirectPingReq` (type 1): asks a relay to ping `node` for the requester. */
export interface IndirectPingReq {
  /** The requester's probe sequence number (uint32), echoed in the relayed ack or nack. */
  readonly seqNo: number;
  /** Target IP (4 or 16 bytes). */
  readonly target: Uint8Array | null;
  /** Target port (uint16). */
  readonly port: number;
  /** Target name (put into the relayed ping's `node`). */
  readonly node: string;
  /** Whether the requester wants a nack if the target does not answer. */
  readonly nack: boolean;
  /** Requester IP, where the ack or nack is relayed (omitted when empty). */
  readonly sourceAddr: Uint8Array | null;
  /** Requester port (uint16; omitted when 0). */
  readonly sourcePort: number;
  /** Requester name (omitted when empty). */
  readonly sourceNode: string;
}

/** `ackResp` (type 2): the answer to a ping. */
export interface AckResp {
  /** The ping's sequence number (uint32). */
  readonly seqNo: number;
  /** The ping delegate's payload; `null` (msgpack nil) without one, and always on TCP. */
  readonly payload: Uint8Array | null;
}

/** `nackResp` (type 11): a relay could not reach the target of an indirect ping. */
export interface NackResp {
  /** The requester's sequence number (uint32). */
  readonly seqNo: number;
}

/** `errResp` (type 13): a TCP responder's error. */
export interface ErrResp {
  /** The error text. */
  readonly error: string;
}

/** `suspect` (type 3): `from` suspects that `node` has failed. */
export interface Suspect {
  /** Incarnation of the suspected node as the accuser knows it (uint32). */
  readonly incarnation: number;
  /** The suspected node. */
  readonly node: string;
  /** The accuser; each distinct accuser is one Lifeguard confirmation. */
  readonly from: string;
}

/** `alive` (type 4): `node` is alive at `incarnation`, reachable at `addr:port`. */
export interface Alive {
  /** The node's incarnation (uint32). */
  readonly incarnation: number;
  /** The node's name. */
  readonly node: string;
  /** Advertise IP (4 bytes for IPv4 from Go, or 16). */
  readonly addr: Uint8Array | null;
  /** Advertise port (uint16). */
  readonly port: number;
  /** Delegate metadata (at most 512 bytes from Go); `null` when there is none. */
  readonly meta: Uint8Array | null;
  /**
   * `[PMin, PMax, PCur, DMin, DMax, DCur]`. Always send all six bytes: a Go node that accepts
   * an alive with 1 to 5 of them indexes past the end and crashes.
   */
  readonly vsn: Uint8Array | null;
}

/** `dead` (type 5): `from` declares `node` dead; `from === node` is a voluntary leave. */
export interface Dead {
  /** Incarnation of the dead node (uint32). */
  readonly incarnation: number;
  /** The dead (or leaving) node. */
  readonly node: string;
  /** Who declares it. */
  readonly from: string;
}

/** `pushPullHeader`: starts a push/pull stream (after type byte 6). */
export interface PushPullHeader {
  /** How many {@link PushNodeState} maps follow (Go `int`). */
  readonly nodes: number;
  /** Length of the delegate state after the node maps (Go `int`; 0 = none). */
  readonly userStateLen: number;
  /** True for the push/pull of a join; the responder echoes it. */
  readonly join: boolean;
}

/** `pushNodeState`: one entry of a push/pull node table (no type byte of its own). */
export interface PushNodeState {
  /** The node's name. */
  readonly name: string;
  /** Advertise IP. */
  readonly addr: Uint8Array | null;
  /** Advertise port (uint16). */
  readonly port: number;
  /** Delegate metadata. */
  readonly meta: Uint8Array | null;
  /** The node's incarnation (uint32). */
  readonly incarnation: number;
  /** A {@link NodeState} number (Go `int`; other values are ignored by Go's merge). */
  readonly state: number;
  /** Six version bytes, as in {@link Alive.vsn}; required by Go's protocol check. */
  readonly vsn: Uint8Array | null;
}

/** `userMsgHeader`: starts a TCP user message (after type byte 8). */
export interface UserMsgHeader {
  /** Length of the payload that follows (Go `int`). */
  readonly userMsgLen: number;
}

/** `compress` (type 9): a compressed message. */
export interface Compress {
  /** A {@link CompressionType}; only 0 (LZW) can be decompressed (uint8). */
  readonly algo: number;
  /** The compressed bytes. */
  readonly buf: Uint8Array | null;
}

/** Codec of {@link Ping}. */
export const pingSpec: StructSpec<Ping> = defineStruct<Ping>('ping', [
  { go: 'SeqNo', prop: 'seqNo', kind: 'uint32' },
  { go: 'Node', prop: 'node', kind: 'string' },
  { go: 'SourceAddr', prop: 'sourceAddr', kind: 'bytes', omitEmpty: true },
  { go: 'SourcePort', prop: 'sourcePort', kind: 'uint16', omitEmpty: true },
  { go: 'SourceNode', prop: 'sourceNode', kind: 'string', omitEmpty: true },
]);

const indirectPingSpec: StructSpec<IndirectPingReq> = defineStruct<IndirectPingReq>('indirectPingReq', [
  { go: 'SeqNo', prop: 'seqNo', kind: 'uint32' },
  { go: 'Target', prop: 'target', kind: 'bytes' },
  { go: 'Port', prop: 'port', kind: 'uint16' },
  { go: 'Node', prop: 'node', kind: 'string' },
  { go: 'Nack', prop: 'nack', kind: 'bool' },
  { go: 'SourceAddr', prop: 'sourceAddr', kind: 'bytes', omitEmpty: true },
  { go: 'SourcePort', prop: 'sourcePort', kind: 'uint16', omitEmpty: true },
  { go: 'SourceNode', prop: 'sourceNode', kind: 'string', omitEmpty: true },
]);

/** Codec of {@link AckResp}. */
export const ackSpec: StructSpec<AckResp> = defineStruct<AckResp>('ackResp', [
  { go: 'SeqNo', prop: 'seqNo', kind: 'uint32' },
  { go: 'Payload', prop: 'payload', kind: 'bytes' },
]);

const nackSpec: StructSpec<NackResp> = defineStruct<NackResp>('nackResp', [
  { go: 'SeqNo', prop: 'seqNo', kind: 'uint32' },
]);

/** Codec of {@link ErrResp}. */
export const errSpec: StructSpec<ErrResp> = defineStruct<ErrResp>('errResp', [
  { go: 'Error', prop: 'error', kind: 'string' },
]);

const suspectSpec: StructSpec<Suspect> = defineStruct<Suspect>('suspect', [
  { go: 'Incarnation', prop: 'incarnation', kind: 'uint32' },
  { go: 'Node', prop: 'node', kind: 'string' },
  { go: 'From', prop: 'from', kind: 'string' },
]);

const aliveSpec: StructSpec<Alive> = defineStruct<Alive>('alive', [
  { go: 'Incarnation', prop: 'incarnation', kind: 'uint32' },
  { go: 'Node', prop: 'node', kind: 'string' },
  { go: 'Addr', prop: 'addr', kind: 'bytes' },
  { go: 'Port', prop: 'port', kind: 'uint16' },
  { go: 'Meta', prop: 'meta', kind: 'bytes' },
  { go: 'Vsn', prop: 'vsn', kind: 'bytes' },
]);

const deadSpec: StructSpec<Dead> = defineStruct<Dead>('dead', [
  { go: 'Incarnation', prop: 'incarnation', kind: 'uint32' },
  { go: 'Node', prop: 'node', kind: 'string' },
  { go: 'From', prop: 'from', kind: 'string' },
]);

/** Codec of {@link PushPullHeader} (used by the stream framing). */
export const pushPullHeaderSpec: StructSpec<PushPullHeader> = defineStruct<PushPullHeader>('pushPullHeader', [
  { go: 'Nodes', prop: 'nodes', kind: 'int' },
  { go: 'UserStateLen', prop: 'userStateLen', kind: 'int' },
  { go: 'Join', prop: 'join', kind: 'bool' },
]);

/** Codec of {@link PushNodeState} (used by the stream framing). */
export const pushNodeStateSpec: StructSpec<PushNodeState> = defineStruct<PushNodeState>('pushNodeState', [
  { go: 'Name', prop: 'name', kind: 'string' },
  { go: 'Addr', prop: 'addr', kind: 'bytes' },
  { go: 'Port', prop: 'port', kind: 'uint16' },
  { go: 'Meta', prop: 'meta', kind: 'bytes' },
  { go: 'Incarnation', prop: 'incarnation', kind: 'uint32' },
  { go: 'State', prop: 'state', kind: 'int' },
  { go: 'Vsn', prop: 'vsn', kind: 'bytes' },
]);

/** Codec of {@link UserMsgHeader} (used by the stream framing). */
export const userMsgHeaderSpec: StructSpec<UserMsgHeader> = defineStruct<UserMsgHeader>('userMsgHeader', [
  { go: 'UserMsgLen', prop: 'userMsgLen', kind: 'int' },
]);

/** Codec of {@link Compress}. */
export const compressSpec: StructSpec<Compress> = defineStruct<Compress>('compress', [
  { go: 'Algo', prop: 'algo', kind: 'uint8' },
  { go: 'Buf', prop: 'buf', kind: 'bytes' },
]);

function encodeTyped<T>(type: MessageType, spec: StructSpec<T>, value: T): Uint8Array {
  const writer = new MsgpackWriter();
  writer.byte(type);
  writeStruct(writer, spec, value);
  return writer.finish();
}

/** Checks the type byte and returns a reader positioned on the body. */
function bodyReader(bytes: Uint8Array, type: MessageType, what: string): MsgpackReader {
  if (bytes.length === 0) throw new DecodeError('empty', `${what}: no type byte`);
  if (bytes[0] !== type) {
    throw new DecodeError('unknownType', `${what}: expected type ${type}, found ${String(bytes[0])}`);
  }
  return new MsgpackReader(bytes, 1);
}

function decodeTyped<T>(bytes: Uint8Array, type: MessageType, spec: StructSpec<T>): T {
  // Like memberlist, bytes after the msgpack body are ignored.
  return bodyReader(bytes, type, spec.name).struct(spec);
}

/** `[0] ping` as memberlist sends it. */
export const encodePing = (ping: Ping): Uint8Array => encodeTyped(MessageType.ping, pingSpec, ping);
/** Decodes `[0] ping`; throws {@link DecodeError}. */
export const decodePing = (bytes: Uint8Array): Ping => decodeTyped(bytes, MessageType.ping, pingSpec);

/** `[1] indirectPingReq` as memberlist sends it. */
export const encodeIndirectPingReq = (req: IndirectPingReq): Uint8Array =>
  encodeTyped(MessageType.indirectPing, indirectPingSpec, req);
/** Decodes `[1] indirectPingReq`; throws {@link DecodeError}. */
export const decodeIndirectPingReq = (bytes: Uint8Array): IndirectPingReq =>
  decodeTyped(bytes, MessageType.indirectPing, indirectPingSpec);

/** `[2] ackResp` as memberlist sends it. */
export const encodeAckResp = (ack: AckResp): Uint8Array => encodeTyped(MessageType.ackResp, ackSpec, ack);
/**
 * Decodes `[2] ackResp`; throws {@link DecodeError}. An empty payload string gives an empty
 * array (Go turns it into nil), so that re-encoding reproduces the input.
 */
export const decodeAckResp = (bytes: Uint8Array): AckResp => decodeTyped(bytes, MessageType.ackResp, ackSpec);

/** `[11] nackResp` as memberlist sends it. */
export const encodeNackResp = (nack: NackResp): Uint8Array =>
  encodeTyped(MessageType.nackResp, nackSpec, nack);
/** Decodes `[11] nackResp`; throws {@link DecodeError}. */
export const decodeNackResp = (bytes: Uint8Array): NackResp =>
  decodeTyped(bytes, MessageType.nackResp, nackSpec);

/** `[13] errResp` as memberlist sends it. */
export const encodeErrResp = (err: ErrResp): Uint8Array => encodeTyped(MessageType.err, errSpec, err);
/** Decodes `[13] errResp`; throws {@link DecodeError}. */
export const decodeErrResp = (bytes: Uint8Array): ErrResp => decodeTyped(bytes, MessageType.err, errSpec);

/** `[3] suspect` as memberlist sends it. */
export const encodeSuspect = (suspect: Suspect): Uint8Array =>
  encodeTyped(MessageType.suspect, suspectSpec, suspect);
/** Decodes `[3] suspect`; throws {@link DecodeError}. */
export const decodeSuspect = (bytes: Uint8Array): Suspect =>
  decodeTyped(bytes, MessageType.suspect, suspectSpec);

/** `[4] alive` as memberlist sends it. */
export const encodeAlive = (alive: Alive): Uint8Array => encodeTyped(MessageType.alive, aliveSpec, alive);
/** Decodes `[4] alive`; throws {@link DecodeError}. */
export const decodeAlive = (bytes: Uint8Array): Alive => decodeTyped(bytes, MessageType.alive, aliveSpec);

/** `[5] dead` as memberlist sends it. */
export const encodeDead = (dead: Dead): Uint8Array => encodeTyped(MessageType.dead, deadSpec, dead);
/** Decodes `[5] dead`; throws {@link DecodeError}. */
export const decodeDead = (bytes: Uint8Array): Dead => decodeTyped(bytes, MessageType.dead, deadSpec);

/** `[6] pushPullHeader`: the start of a push/pull stream. */
export const encodePushPullHeader = (header: PushPullHeader): Uint8Array =>
  encodeTyped(MessageType.pushPull, pushPullHeaderSpec, header);
/** Decodes `[6] pushPullHeader` (and nothing after it); throws {@link DecodeError}. */
export const decodePushPullHeader = (bytes: Uint8Array): PushPullHeader =>
  decodeTyped(bytes, MessageType.pushPull, pushPullHeaderSpec);

/** One `pushNodeState` map, without a type byte (on the wire it follows the header). */
export function encodePushNodeState(state: PushNodeState): Uint8Array {
  const writer = new MsgpackWriter();
  writeStruct(writer, pushNodeStateSpec, state);
  return writer.finish();
}
/** Decodes one `pushNodeState` map (no type byte); throws {@link DecodeError}. */
export const decodePushNodeState = (bytes: Uint8Array): PushNodeState =>
  new MsgpackReader(bytes).struct(pushNodeStateSpec);

/** `[8] userMsgHeader`: the start of a TCP user message (the payload follows it). */
export const encodeUserMsgHeader = (header: UserMsgHeader): Uint8Array =>
  encodeTyped(MessageType.user, userMsgHeaderSpec, header);
/** Decodes `[8] userMsgHeader` (and nothing after it); throws {@link DecodeError}. */
export const decodeUserMsgHeader = (bytes: Uint8Array): UserMsgHeader =>
  decodeTyped(bytes, MessageType.user, userMsgHeaderSpec);

/** `[9] compress` with the given algorithm and buffer (see `compressMessage` to build one). */
export const encodeCompress = (compress: Compress): Uint8Array =>
  encodeTyped(MessageType.compress, compressSpec, compress);
/** Decodes `[9] compress` (without decompressing it); throws {@link DecodeError}. */
export const decodeCompress = (bytes: Uint8Array): Compress =>
  decodeTyped(bytes, MessageType.compress, compressSpec);

/** `[8]` followed by the payload: a user message as sent in a packet (raw, no header). */
export function encodeUserPacket(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = MessageType.user;
  out.set(payload, 1);
  return out;
}

/** A decoded message: its type byte and its body. */
export interface TypedMessage<T extends MessageType, B> {
  /** The {@link MessageType} byte. */
  readonly type: T;
  /** The decoded body. */
  readonly body: B;
}

/** Any message memberlist accepts inside a UDP packet, decoded one level deep. */
export type PacketMessage =
  | TypedMessage<typeof MessageType.ping, Ping>
  | TypedMessage<typeof MessageType.indirectPing, IndirectPingReq>
  | TypedMessage<typeof MessageType.ackResp, AckResp>
  | TypedMessage<typeof MessageType.nackResp, NackResp>
  | TypedMessage<typeof MessageType.suspect, Suspect>
  | TypedMessage<typeof MessageType.alive, Alive>
  | TypedMessage<typeof MessageType.dead, Dead>
  | TypedMessage<typeof MessageType.user, Uint8Array>
  | TypedMessage<typeof MessageType.compound, CompoundParts>
  | TypedMessage<typeof MessageType.compress, Compress>;

/**
 * Decodes one packet-level message by its type byte. Compound parts and compressed buffers
 * are returned as they are, not decoded further (the packet pipeline does that). Types that
 * memberlist does not handle in a packet (push/pull, encrypt, a CRC header below the
 * outermost layer, err) are `unknownType`. Throws {@link DecodeError}.
 */
export function decodePacketMessage(bytes: Uint8Array): PacketMessage {
  const input = plainBytes(bytes);
  if (input.length === 0) throw new DecodeError('empty', 'message has no type byte');
  const type = input[0];
  switch (type) {
    case MessageType.ping:
      return { type, body: decodeTyped(input, type, pingSpec) };
    case MessageType.indirectPing:
      return { type, body: decodeTyped(input, type, indirectPingSpec) };
    case MessageType.ackResp:
      return { type, body: decodeTyped(input, type, ackSpec) };
    case MessageType.nackResp:
      return { type, body: decodeTyped(input, type, nackSpec) };
    case MessageType.suspect:
      return { type, body: decodeTyped(input, type, suspectSpec) };
    case MessageType.alive:
      return { type, body: decodeTyped(input, type, aliveSpec) };
    case MessageType.dead:
      return { type, body: decodeTyped(input, type, deadSpec) };
    case MessageType.user:
      return { type, body: copyBytes(input, 1) };
    case MessageType.compound:
      return { type, body: decodeCompound(input) };
    case MessageType.compress:
      return { type, body: decodeTyped(input, type, compressSpec) };
    default:
      throw new DecodeError('unknownType', `message type ${String(type)} is not handled in packets`);
  }
}

/** Encodes any {@link PacketMessage} (the inverse of {@link decodePacketMessage}). */
export function encodePacketMessage(message: PacketMessage): Uint8Array {
  switch (message.type) {
    case MessageType.ping:
      return encodePing(message.body);
    case MessageType.indirectPing:
      return encodeIndirectPingReq(message.body);
    case MessageType.ackResp:
      return encodeAckResp(message.body);
    case MessageType.nackResp:
      return encodeNackResp(message.body);
    case MessageType.suspect:
      return encodeSuspect(message.body);
    case MessageType.alive:
      return encodeAlive(message.body);
    case MessageType.dead:
      return encodeDead(message.body);
    case MessageType.user:
      return encodeUserPacket(message.body);
    case MessageType.compound:
      return encodeCompound(message.body.parts);
    case MessageType.compress:
      return encodeCompress(message.body);
  }
}
