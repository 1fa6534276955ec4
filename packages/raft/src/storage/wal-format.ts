/**
 * The on-disk formats of `FileStorage`: write-ahead-log records and snapshot files.
 *
 * ## WAL record
 *
 * ```text
 * offset  size  field
 * 0       4     payload length L, u32 little-endian (at most MAX_RECORD_PAYLOAD_BYTES = 64 MiB)
 * 4       4     CRC-32C, u32 LE, over: the record's file offset as u64 LE, then bytes 8 .. 9+L
 * 8       1     record type
 * 9       L     payload: one MessagePack array, shaped by the type (below)
 * ```
 *
 * The checksum covers the record's own byte offset in its segment although the offset is not
 * stored. That costs nothing and makes a record valid only where it was written: a copy of a
 * record inside an entry's data, or a block written to the wrong place, fails its checksum.
 * Recovery relies on that when it asks whether anything valid follows a damaged record (which
 * tells a torn tail from corruption in the middle).
 *
 * Record types and payloads (every number a non-negative safe integer):
 * - `1` segment header: `[version=1, seq, [term, vote|null, commit],
 *   [snapshotIndex, snapshotTerm, firstIndex, prevTerm, lastIndex]]`. The first record of every
 *   segment: the segment's sequence number, and the hard state and log position as of the end
 *   of the previous segment, so a segment can be replayed without the ones before it (which
 *   is what allows deleting them after a snapshot).
 * - `2` save: `[[term, vote|null, commit] | null, firstIndex, [[term, kind, data], ...]]`. One
 *   `save()`: its hard state (if any) and its entries, indexes `firstIndex`, `firstIndex+1`, ...
 *   (`firstIndex` is 0 when there are none). `kind` is 0 (normal) or 1 (config); `data` is a
 *   MessagePack bin. A save is one record, so a torn write loses whole saves, never half of
 *   one. At replay, entries whose index is at or below the log's last index replace the log
 *   from `firstIndex` on: the last writer of an index wins and everything after it is dropped.
 * - `3` snapshot: `[index, term, firstIndex, prevTerm, keepEntries]`. A snapshot at
 *   `index`/`term` became durable (its file is `snap/<index>-<term>.snap`); entries below
 *   `firstIndex` are compacted away (`prevTerm` is the term at `firstIndex - 1`), and unless
 *   `keepEntries` every entry after `index` is discarded too (a leader's snapshot that
 *   disagreed with the log).
 *
 * ## Snapshot file
 *
 * ```text
 * 0       8     magic "RAFTSNP1" (the 1 is the format version)
 * 8       4     CRC-32C, u32 LE, over every byte from offset 12 to the end of the file
 * 12      4     meta length M, u32 LE (at most 64 MiB)
 * 16      8     data length D, u64 LE (two u32 halves, low first)
 * 24      M     meta: MessagePack `[index, term, [voters, learners, votersOutgoing,
 *               learnersNext, autoLeave], [[id, address], ...]]`
 * 24+M    D     the state machine's snapshot bytes
 * ```
 * The file must be exactly 24 + M + D bytes long.
 *
 * Decoding never trusts a length before checking it against the bytes present and the limits,
 * MessagePack is decoded with every length capped by the payload size, and every field's shape
 * is checked, so damaged or hostile input yields a typed result or a {@link DecodeError}, never
 * another exception, a hang or a huge allocation.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type { ConfState, Entry, EntryKind, HardState, NodeId, Snapshot } from '../core/types.js';
import { DecodeError } from '../errors.js';
import { crc32c } from './crc32c.js';

/** Bytes before a record's payload: length (4), checksum (4), type (1). */
export const RECORD_HEADER_BYTES = 9;

/** Largest payload a WAL record (and a snapshot file's meta) may have: 64 MiB. */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** Version written in segment headers; a different one is rejected rather than misread. */
export const WAL_FORMAT_VERSION = 1;

/** The record type bytes. */
export const WAL_RECORD_TYPE = Object.freeze({
  /** {@link SegmentHeaderRecord}. */
  segmentHeader: 1,
  /** {@link SaveRecord}. */
  save: 2,
  /** {@link SnapshotRecord}. */
  snapshot: 3,
} as const);

/** Bytes before a snapshot file's meta. */
export const SNAPSHOT_FILE_HEADER_BYTES = 24;

/** The first 8 bytes of every snapshot file, as ASCII. */
export const SNAPSHOT_MAGIC = 'RAFTSNP1';

const MAGIC_BYTES = new TextEncoder().encode(SNAPSHOT_MAGIC);

/** Where the log stood: snapshot, compaction point and last index. */
export interface WalLogPosition {
  /** Index of the latest durable snapshot (0: none). */
  readonly snapshotIndex: number;
  /** Term of that snapshot. */
  readonly snapshotTerm: number;
  /** First index kept in the log; entries below it were compacted. */
  readonly firstIndex: number;
  /** Term of the entry at `firstIndex - 1`. */
  readonly prevTerm: number;
  /** Last index of the log. */
  readonly lastIndex: number;
}

/** First record of each segment: see the module comment. */
export interface SegmentHeaderRecord {
  /** Discriminator. */
  readonly type: 'segmentHeader';
  /** The segment's sequence number; must match its file name. */
  readonly seq: number;
  /** The hard state when the segment was started. */
  readonly hardState: HardState;
  /** The log position when the segment was started. */
  readonly position: WalLogPosition;
}

/** One `save()`: see the module comment. */
export interface SaveRecord {
  /** Discriminator. */
  readonly type: 'save';
  /** New hard state, or `null` when unchanged. */
  readonly hardState: HardState | null;
  /** Contiguous entries (may be empty). */
  readonly entries: readonly Entry[];
}

/** A snapshot became durable and the log was compacted: see the module comment. */
export interface SnapshotRecord {
  /** Discriminator. */
  readonly type: 'snapshot';
  /** Snapshot index. */
  readonly index: number;
  /** Snapshot term. */
  readonly term: number;
  /** The log's first index from now on. */
  readonly firstIndex: number;
  /** Term at `firstIndex - 1`. */
  readonly prevTerm: number;
  /** False when every entry after `index` was discarded. */
  readonly keepEntries: boolean;
}

/** Every WAL record. */
export type WalRecord = SegmentHeaderRecord | SaveRecord | SnapshotRecord;

/** {@link readFrame} found a complete record whose checksum matches. */
export interface FrameOk {
  /** Discriminator. */
  readonly status: 'ok';
  /** The record type byte (not yet checked against the known types). */
  readonly type: number;
  /** The payload, a view of the file. */
  readonly payload: Uint8Array;
  /** Offset just after the record: where the next one starts. */
  readonly end: number;
}

/** {@link readFrame} was called at the end of the file. */
export interface FrameEnd {
  /** Discriminator. */
  readonly status: 'end';
}

/** {@link readFrame} found a record whose header or payload runs past the end of the file: what a torn write leaves. */
export interface FrameIncomplete {
  /** Discriminator. */
  readonly status: 'incomplete';
  /** What is missing. */
  readonly detail: string;
}

/** {@link readFrame} found an impossible length or a checksum mismatch: damage, or garbage from a torn write. */
export interface FrameInvalid {
  /** Discriminator. */
  readonly status: 'invalid';
  /** What is wrong. */
  readonly detail: string;
}

/** What {@link readFrame} found at an offset. */
export type FrameReadResult = FrameOk | FrameEnd | FrameIncomplete | FrameInvalid;

/** A record's type byte and MessagePack payload, before framing. */
export interface EncodedRecord {
  /** One of {@link WAL_RECORD_TYPE}. */
  readonly type: number;
  /** The MessagePack payload. */
  readonly payload: Uint8Array;
}

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(WAL_RECORD_TYPE));

const encoder = new Encoder({ ignoreUndefined: false });

function fail(reason: string, detail: string): never {
  throw new DecodeError(reason, detail);
}

/** CRC-32C of a record's offset as u64 LE: the seed of the record's checksum. */
function offsetSeed(offset: number): number {
  const prefix = new Uint8Array(8);
  const view = new DataView(prefix.buffer);
  view.setUint32(0, offset % 0x1_0000_0000, true);
  view.setUint32(4, Math.floor(offset / 0x1_0000_0000), true);
  return crc32c(prefix);
}

/**
 * Frames a payload as a record written at `offset` of its segment (the offset is part of the
 * checksum). Throws `RangeError` for a payload above {@link MAX_RECORD_PAYLOAD_BYTES} or a bad
 * offset or type: those are caller bugs.
 */
export function frameRecord(type: number, payload: Uint8Array, offset: number): Uint8Array {
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError(`bad record type ${type}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad record offset ${offset}`);
  if (payload.length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(`record payload of ${payload.length} bytes exceeds ${MAX_RECORD_PAYLOAD_BYTES}`);
  }
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length, true);
  out[8] = type;
  out.set(payload, RECORD_HEADER_BYTES);
  view.setUint32(4, crc32c(out.subarray(8), offsetSeed(offset)), true);
  return out;
}

/**
 * Reads the record framed at `offset` of `file` (the whole segment, so that positions in it are
 * file offsets). Checks the length bound and the checksum but not the payload's shape (see
 * {@link decodeWalRecord}). Never throws for any content; throws `RangeError` only when
 * `offset` is not a position in `file`.
 */
export function readFrame(file: Uint8Array, offset: number): FrameReadResult {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > file.length) {
    throw new RangeError(`offset ${offset} is outside a file of ${file.length} bytes`);
  }
  const available = file.length - offset;
  if (available === 0) return { status: 'end' };
  if (available < RECORD_HEADER_BYTES) {
    return {
      status: 'incomplete',
      detail: `record header cut short (${available} of ${RECORD_HEADER_BYTES} bytes)`,
    };
  }
  const view = new DataView(file.buffer, file.byteOffset + offset, RECORD_HEADER_BYTES);
  const length = view.getUint32(0, true);
  if (length > MAX_RECORD_PAYLOAD_BYTES) {
    return { status: 'invalid', detail: `record length ${length} exceeds ${MAX_RECORD_PAYLOAD_BYTES}` };
  }
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > file.length) {
    return {
      status: 'incomplete',
      detail: `record of ${length} bytes cut short at ${file.length - offset - RECORD_HEADER_BYTES}`,
    };
  }
  const stored = view.getUint32(4, true);
  const actual = crc32c(file.subarray(offset + 8, end), offsetSeed(offset));
  if (stored !== actual) {
    return {
      status: 'invalid',
      detail: `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`,
    };
  }
  return {
    status: 'ok',
    type: file[offset + 8] ?? 0,
    payload: file.subarray(offset + RECORD_HEADER_BYTES, end),
    end,
  };
}

/**
 * The first offset after `from` where a complete record of a known type with a matching
 * checksum starts, or `undefined`. Recovery uses it to tell a torn tail (nothing valid after
 * the damage) from corruption in the middle of the log. Worst case quadratic in the bytes
 * after `from`, which after a torn write are at most one group commit's worth.
 */
export function findNextValidFrame(file: Uint8Array, from: number): number | undefined {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let offset = Math.max(0, from + 1); offset + RECORD_HEADER_BYTES <= file.length; offset++) {
    const length = view.getUint32(offset, true);
    if (length > MAX_RECORD_PAYLOAD_BYTES || offset + RECORD_HEADER_BYTES + length > file.length) continue;
    if (!KNOWN_TYPES.has(file[offset + 8] ?? 0)) continue;
    if (readFrame(file, offset).status === 'ok') return offset;
  }
  return undefined;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Payload encoding

function kindCode(kind: EntryKind): number {
  return kind === 'config' ? 1 : 0;
}

function hardStateTuple(hs: HardState): unknown[] {
  return [hs.term, hs.vote, hs.commit];
}

/** The type byte and MessagePack payload of a record. */
export function encodeWalRecord(record: WalRecord): EncodedRecord {
  switch (record.type) {
    case 'segmentHeader': {
      const p = record.position;
      return {
        type: WAL_RECORD_TYPE.segmentHeader,
        payload: encoder.encode([
          WAL_FORMAT_VERSION,
          record.seq,
          hardStateTuple(record.hardState),
          [p.snapshotIndex, p.snapshotTerm, p.firstIndex, p.prevTerm, p.lastIndex],
        ]),
      };
    }
    case 'save':
      return {
        type: WAL_RECORD_TYPE.save,
        payload: encoder.encode([
          record.hardState === null ? null : hardStateTuple(record.hardState),
          record.entries[0]?.index ?? 0,
          record.entries.map((e) => [e.term, kindCode(e.kind), e.data]),
        ]),
      };
    case 'snapshot':
      return {
        type: WAL_RECORD_TYPE.snapshot,
        payload: encoder.encode([
          record.index,
          record.term,
          record.firstIndex,
          record.prevTerm,
          record.keepEntries,
        ]),
      };
  }
}

/** Encodes and frames a record written at `offset`: {@link encodeWalRecord} plus {@link frameRecord}. */
export function encodeWalRecordAt(record: WalRecord, offset: number): Uint8Array {
  const { type, payload } = encodeWalRecord(record);
  return frameRecord(type, payload, offset);
}

// ---------------------------------------------------------------------------------------------
// Payload decoding: every field is checked, nothing is trusted.

/** Decodes one MessagePack value with every length capped by the input size. */
function unpack(bytes: Uint8Array, what: string): unknown {
  // Each array element, map entry, string byte or bin byte takes at least one input byte, so
  // these caps cannot reject valid input but stop a forged length from allocating memory.
  const cap = bytes.length;
  const decoder = new Decoder({
    maxArrayLength: cap,
    maxMapLength: cap,
    maxStrLength: cap,
    maxBinLength: cap,
    maxExtLength: cap,
  });
  try {
    return decoder.decode(bytes);
  } catch (error) {
    throw new DecodeError('msgpack', `${what}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

function tuple(value: unknown, length: number, what: string): readonly unknown[] {
  if (!Array.isArray(value)) fail('shape', `${what} is not an array`);
  if (value.length !== length) fail('shape', `${what} has ${value.length} fields, expected ${length}`);
  return value;
}

function list(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) fail('shape', `${what} is not an array`);
  return value;
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail('shape', `${what} is not a non-negative safe integer`);
  }
  return value;
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') fail('shape', `${what} is not a string`);
  return value;
}

function bool(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') fail('shape', `${what} is not a boolean`);
  return value;
}

function bytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) fail('shape', `${what} is not binary`);
  // A copy: the decoder hands out views of the whole segment, which would keep it in memory.
  return value.slice();
}

function strings(value: unknown, what: string): NodeId[] {
  return list(value, what).map((v, i) => str(v, `${what}[${i}]`));
}

function decodeHardState(value: unknown, what: string): HardState {
  const [term, vote, commit] = tuple(value, 3, what);
  return {
    term: uint(term, `${what}.term`),
    vote: vote === null ? null : str(vote, `${what}.vote`),
    commit: uint(commit, `${what}.commit`),
  };
}

function decodeKind(value: unknown, what: string): EntryKind {
  if (value === 0) return 'normal';
  if (value === 1) return 'config';
  return fail('shape', `${what} is not an entry kind`);
}

function decodeSegmentHeader(payload: Uint8Array): SegmentHeaderRecord {
  const [version, seq, hs, position] = tuple(unpack(payload, 'segment header'), 4, 'segment header');
  if (version !== WAL_FORMAT_VERSION) {
    fail('version', `segment format version ${String(version)} is not supported`);
  }
  const [snapshotIndex, snapshotTerm, firstIndex, prevTerm, lastIndex] = tuple(position, 5, 'position');
  const record: SegmentHeaderRecord = {
    type: 'segmentHeader',
    seq: uint(seq, 'seq'),
    hardState: decodeHardState(hs, 'hardState'),
    position: {
      snapshotIndex: uint(snapshotIndex, 'snapshotIndex'),
      snapshotTerm: uint(snapshotTerm, 'snapshotTerm'),
      firstIndex: uint(firstIndex, 'firstIndex'),
      prevTerm: uint(prevTerm, 'prevTerm'),
      lastIndex: uint(lastIndex, 'lastIndex'),
    },
  };
  const p = record.position;
  if (p.firstIndex < 1 || p.firstIndex > p.snapshotIndex + 1 || p.lastIndex < p.firstIndex - 1) {
    fail('shape', `inconsistent log position ${JSON.stringify(p)}`);
  }
  if (p.lastIndex < p.snapshotIndex) {
    fail('shape', `last index ${p.lastIndex} below snapshot ${p.snapshotIndex}`);
  }
  return record;
}

function decodeSave(payload: Uint8Array): SaveRecord {
  const [hs, first, items] = tuple(unpack(payload, 'save'), 3, 'save');
  const hardState = hs === null ? null : decodeHardState(hs, 'hardState');
  const firstIndex = uint(first, 'firstIndex');
  const raw = list(items, 'entries');
  if (raw.length === 0 && firstIndex !== 0) fail('shape', 'firstIndex set without entries');
  if (raw.length > 0 && firstIndex === 0) fail('shape', 'entries start at index 0');
  if (raw.length === 0 && hardState === null) fail('shape', 'save record with nothing in it');
  if (!Number.isSafeInteger(firstIndex + raw.length)) fail('shape', 'entry indexes overflow');
  const entries = raw.map((item, i): Entry => {
    const [term, kind, data] = tuple(item, 3, `entries[${i}]`);
    return {
      index: firstIndex + i,
      term: uint(term, `entries[${i}].term`),
      kind: decodeKind(kind, `entries[${i}].kind`),
      data: bytes(data, `entries[${i}].data`),
    };
  });
  return { type: 'save', hardState, entries };
}

function decodeSnapshotRecord(payload: Uint8Array): SnapshotRecord {
  const [index, term, first, prevTerm, keep] = tuple(unpack(payload, 'snapshot'), 5, 'snapshot');
  const record: SnapshotRecord = {
    type: 'snapshot',
    index: uint(index, 'index'),
    term: uint(term, 'term'),
    firstIndex: uint(first, 'firstIndex'),
    prevTerm: uint(prevTerm, 'prevTerm'),
    keepEntries: bool(keep, 'keepEntries'),
  };
  if (record.index < 1) fail('shape', 'snapshot index 0');
  if (record.firstIndex < 1 || record.firstIndex > record.index + 1) {
    fail('shape', `first index ${record.firstIndex} is outside 1..${record.index + 1}`);
  }
  if (!record.keepEntries && record.firstIndex !== record.index + 1) {
    fail('shape', 'a snapshot that discards the log must start it right after the snapshot');
  }
  return record;
}

/**
 * Decodes a record's payload (from a frame whose checksum matched). Throws {@link DecodeError}
 * for an unknown type, a format version it does not know, or any field of the wrong shape;
 * never any other exception.
 */
export function decodeWalRecord(type: number, payload: Uint8Array): WalRecord {
  if (payload.length > MAX_RECORD_PAYLOAD_BYTES) fail('length', `payload of ${payload.length} bytes`);
  switch (type) {
    case WAL_RECORD_TYPE.segmentHeader:
      return decodeSegmentHeader(payload);
    case WAL_RECORD_TYPE.save:
      return decodeSave(payload);
    case WAL_RECORD_TYPE.snapshot:
      return decodeSnapshotRecord(payload);
    default:
      return fail('type', `unknown record type ${type}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Snapshot files

/** Encodes a snapshot as a snapshot file (see the module comment). */
export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const { meta, data } = snapshot;
  const c = meta.conf;
  const metaBytes = encoder.encode([
    meta.index,
    meta.term,
    [[...c.voters], [...c.learners], [...c.votersOutgoing], [...c.learnersNext], c.autoLeave],
    Object.entries(meta.addresses),
  ]);
  if (metaBytes.length > MAX_RECORD_PAYLOAD_BYTES) throw new RangeError('snapshot meta exceeds 64 MiB');
  const out = new Uint8Array(SNAPSHOT_FILE_HEADER_BYTES + metaBytes.length + data.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC_BYTES, 0);
  view.setUint32(12, metaBytes.length, true);
  view.setUint32(16, data.length % 0x1_0000_0000, true);
  view.setUint32(20, Math.floor(data.length / 0x1_0000_0000), true);
  out.set(metaBytes, SNAPSHOT_FILE_HEADER_BYTES);
  out.set(data, SNAPSHOT_FILE_HEADER_BYTES + metaBytes.length);
  view.setUint32(8, crc32c(out.subarray(12)), true);
  return out;
}

function decodeConf(value: unknown): ConfState {
  const [voters, learners, votersOutgoing, learnersNext, autoLeave] = tuple(value, 5, 'conf');
  return {
    voters: strings(voters, 'conf.voters'),
    learners: strings(learners, 'conf.learners'),
    votersOutgoing: strings(votersOutgoing, 'conf.votersOutgoing'),
    learnersNext: strings(learnersNext, 'conf.learnersNext'),
    autoLeave: bool(autoLeave, 'conf.autoLeave'),
  };
}

/**
 * Decodes a snapshot file, checking magic, lengths, checksum and meta shape. Throws
 * {@link DecodeError} for anything wrong; never any other exception. The returned data is a
 * view of `file`.
 */
export function decodeSnapshotFile(file: Uint8Array): Snapshot {
  if (file.length < SNAPSHOT_FILE_HEADER_BYTES) fail('length', `snapshot file of ${file.length} bytes`);
  for (let i = 0; i < MAGIC_BYTES.length; i++) {
    if (file[i] !== MAGIC_BYTES[i]) fail('magic', 'not a snapshot file (bad magic)');
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const metaLength = view.getUint32(12, true);
  const dataLength = view.getUint32(16, true) + view.getUint32(20, true) * 0x1_0000_0000;
  if (metaLength > MAX_RECORD_PAYLOAD_BYTES) fail('length', `snapshot meta length ${metaLength}`);
  if (SNAPSHOT_FILE_HEADER_BYTES + metaLength + dataLength !== file.length) {
    fail(
      'length',
      `snapshot file is ${file.length} bytes, header says ${SNAPSHOT_FILE_HEADER_BYTES + metaLength + dataLength}`,
    );
  }
  const stored = view.getUint32(8, true);
  const actual = crc32c(file.subarray(12));
  if (stored !== actual) {
    fail('checksum', `snapshot checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`);
  }
  const metaEnd = SNAPSHOT_FILE_HEADER_BYTES + metaLength;
  const [index, term, conf, addresses] = tuple(
    unpack(file.subarray(SNAPSHOT_FILE_HEADER_BYTES, metaEnd), 'snapshot meta'),
    4,
    'snapshot meta',
  );
  // fromEntries defines own properties, so an id such as `__proto__` stays an ordinary key.
  const addressMap: Record<NodeId, string> = Object.fromEntries(
    list(addresses, 'addresses').map((pair, i) => {
      const [id, address] = tuple(pair, 2, `addresses[${i}]`);
      return [str(id, `addresses[${i}].id`), str(address, `addresses[${i}].address`)];
    }),
  );
  return {
    meta: {
      index: uint(index, 'meta.index'),
      term: uint(term, 'meta.term'),
      conf: decodeConf(conf),
      addresses: addressMap,
    },
    data: file.subarray(metaEnd),
  };
}
