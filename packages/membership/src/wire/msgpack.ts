/**
 * msgpack exactly as memberlist's codec (go-msgpack 0.5.5 with a zero-value `MsgpackHandle`)
 * writes it, and as leniently as that codec reads it.
 *
 * Writing (MEMBERLIST-WIRE.md §3): structs are maps keyed by the Go field name in byte-wise
 * sorted order; strings and byte slices are both raw strings, `fixstr`/`str16`/`str32` only
 * (never `str8`, never `bin`); a nil byte slice is msgpack nil; integers take the smallest form
 * for their value, unsigned forms for non-negative values whatever the Go type.
 *
 * Reading: any key order, unknown keys skipped, missing keys and nil values give the zero
 * value, `str8` and `bin` accepted for byte fields, any integer width, booleans from 0/1,
 * byte fields also from arrays of small integers, and structs also from arrays (declaration
 * order). Every length is checked against the bytes that are left before anything is allocated,
 * so hostile input costs at most its own size.
 */
import { DecodeError, EncodeError } from '../errors.js';
import { copyBytes, plainBytes } from './bytes.js';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** How deep unknown values (arrays and maps inside arrays and maps) may nest before decoding gives up. */
export const MAX_MSGPACK_DEPTH = 64;

const TWO_32 = 0x1_0000_0000;

/** Longest Go field name a map key is compared with; longer keys are skipped unread. */
const MAX_FIELD_NAME_BYTES = 64;

/** Appends msgpack values, in go-msgpack's forms, to a growing buffer. */
export class MsgpackWriter {
  private buffer: Uint8Array;
  private length = 0;

  /** Creates an empty writer; `initialSize` is only a hint. */
  constructor(initialSize = 128) {
    this.buffer = new Uint8Array(Math.max(16, initialSize));
  }

  private reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  /** Appends one byte. */
  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value & 0xff;
  }

  /** Appends bytes as they are (no msgpack header). */
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  private bigEndian(value: number, size: 1 | 2 | 4): void {
    this.reserve(size);
    for (let i = size - 1; i >= 0; i--) this.buffer[this.length++] = (value >>> (i * 8)) & 0xff;
  }

  /** Appends msgpack nil (0xc0). */
  nil(): void {
    this.byte(0xc0);
  }

  /** Appends a boolean (0xc2 / 0xc3). */
  bool(value: boolean): void {
    this.byte(value ? 0xc3 : 0xc2);
  }

  /** Appends a non-negative safe integer in the smallest unsigned form for its value. */
  uint(value: number): void {
    if (value < 0x80) {
      this.byte(value);
    } else if (value < 0x100) {
      this.byte(0xcc);
      this.byte(value);
    } else if (value < 0x10000) {
      this.byte(0xcd);
      this.bigEndian(value, 2);
    } else if (value < TWO_32) {
      this.byte(0xce);
      this.bigEndian(value, 4);
    } else {
      this.byte(0xcf);
      this.bigEndian(Math.floor(value / TWO_32), 4);
      this.bigEndian(value % TWO_32, 4);
    }
  }

  /** Appends a safe integer as go-msgpack does for a signed Go type. */
  int(value: number): void {
    if (value >= 0) {
      this.uint(value);
    } else if (value >= -32) {
      this.byte(0xe0 | (value + 32));
    } else if (value >= -0x80) {
      this.byte(0xd0);
      this.byte(value & 0xff);
    } else if (value >= -0x8000) {
      this.byte(0xd1);
      this.bigEndian(value & 0xffff, 2);
    } else if (value >= -0x8000_0000) {
      this.byte(0xd2);
      this.bigEndian(value >>> 0, 4);
    } else {
      const bits = BigInt.asUintN(64, BigInt(value));
      this.byte(0xd3);
      this.bigEndian(Number(bits >> 32n), 4);
      this.bigEndian(Number(bits & 0xffff_ffffn), 4);
    }
  }

  /** Appends bytes as a raw string: `fixstr` below 32 bytes, else `str16`, else `str32`. */
  rawString(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n < 32) {
      this.byte(0xa0 | n);
    } else if (n < 0x10000) {
      this.byte(0xda);
      this.bigEndian(n, 2);
    } else {
      this.byte(0xdb);
      this.bigEndian(n, 4);
    }
    this.raw(bytes);
  }

  /** Appends a string as UTF-8 raw string bytes. */
  string(value: string): void {
    const n = value.length;
    if (n < 32) {
      // Short ASCII (field keys, node names): the bytes are the char codes, written in place
      // without an encoder call and a temporary array per string.
      let ascii = true;
      for (let i = 0; i < n; i++) {
        if (value.charCodeAt(i) > 0x7f) {
          ascii = false;
          break;
        }
      }
      if (ascii) {
        this.reserve(n + 1);
        this.buffer[this.length++] = 0xa0 | n;
        for (let i = 0; i < n; i++) this.buffer[this.length++] = value.charCodeAt(i);
        return;
      }
    }
    this.rawString(utf8Encoder.encode(value));
  }

  /** Appends a Go byte slice: nil for `null`, else a raw string. */
  bytesOrNil(value: Uint8Array | null): void {
    if (value === null) this.nil();
    else this.rawString(value);
  }

  /** Appends a map header for `count` entries (`fixmap`, `map16` or `map32`). */
  mapHeader(count: number): void {
    if (count < 16) {
      this.byte(0x80 | count);
    } else if (count < 0x10000) {
      this.byte(0xde);
      this.bigEndian(count, 2);
    } else {
      this.byte(0xdf);
      this.bigEndian(count, 4);
    }
  }

  /** The bytes written so far, as a new array. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** Reads msgpack values one at a time, validating kinds and bounds as go-msgpack does. */
export class MsgpackReader {
  private readonly bytes: Uint8Array;
  private pos: number;
  private readonly maxLength: number;

  /**
   * Reads `bytes` from `offset`. A string, byte or container length above `maxLength` is
   * refused as `tooLarge` even when the bytes are not there (yet).
   */
  constructor(bytes: Uint8Array, offset = 0, maxLength = Number.POSITIVE_INFINITY) {
    this.bytes = plainBytes(bytes);
    this.pos = offset;
    this.maxLength = maxLength;
  }

  /** Position of the next unread byte. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes left after the read position. */
  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(count: number, what: string): void {
    if (count > this.remaining) {
      throw new DecodeError('truncated', `${what} needs ${count} bytes, ${this.remaining} left`);
    }
  }

  private u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++] ?? 0;
  }

  private uintBE(size: 1 | 2 | 4, what: string): number {
    this.need(size, what);
    let value = 0;
    for (let i = 0; i < size; i++) value = value * 256 + (this.bytes[this.pos++] ?? 0);
    return value;
  }

  private claimed(length: number, what: string): number {
    if (length > this.maxLength) {
      throw new DecodeError('tooLarge', `${what} claims ${length} bytes, limit ${this.maxLength}`);
    }
    this.need(length, what);
    return length;
  }

  /** The next byte, not consumed. */
  peek(what = 'value'): number {
    this.need(1, what);
    return this.bytes[this.pos] ?? 0;
  }

  /** Consumes a msgpack nil if one is next; true if it did. */
  takeNil(): boolean {
    if (this.remaining > 0 && this.bytes[this.pos] === 0xc0) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Consumes `count` raw bytes and returns a copy of them. */
  rawBytes(count: number, what: string): Uint8Array {
    this.claimed(count, what);
    const out = copyBytes(this.bytes, this.pos, this.pos + count);
    this.pos += count;
    return out;
  }

  /**
   * Reads any msgpack integer as a safe integer (`range` when it is outside
   * `[-(2^53-1), 2^53-1]`; go-msgpack would hold up to 64 bits, which no memberlist field needs).
   */
  integer(field: string): number {
    const b = this.u8(field);
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xcc:
        return this.uintBE(1, field);
      case 0xcd:
        return this.uintBE(2, field);
      case 0xce:
        return this.uintBE(4, field);
      case 0xcf: {
        const hi = this.uintBE(4, field);
        const lo = this.uintBE(4, field);
        if (hi >= 0x20_0000) throw new DecodeError('range', `${field}: integer above 2^53`);
        return hi * TWO_32 + lo;
      }
      case 0xd0: {
        const v = this.uintBE(1, field);
        return v >= 0x80 ? v - 0x100 : v;
      }
      case 0xd1: {
        const v = this.uintBE(2, field);
        return v >= 0x8000 ? v - 0x10000 : v;
      }
      case 0xd2: {
        const v = this.uintBE(4, field);
        return v >= 0x8000_0000 ? v - TWO_32 : v;
      }
      case 0xd3: {
        const hi = this.uintBE(4, field);
        const lo = this.uintBE(4, field);
        const value = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(-Number.MAX_SAFE_INTEGER)) {
          throw new DecodeError('range', `${field}: integer outside ±2^53`);
        }
        return Number(value);
      }
      default:
        throw new DecodeError('type', `${field}: expected an integer, found byte 0x${hex(b)}`);
    }
  }

  /** Reads an unsigned integer of `bits` bits; nil gives 0. */
  uint(bits: 8 | 16 | 32 | 64, field: string): number {
    if (this.takeNil()) return 0;
    const value = this.integer(field);
    if (value < 0) throw new DecodeError('range', `${field}: negative value ${value} for an unsigned field`);
    if (bits < 64 && value >= 2 ** bits) {
      throw new DecodeError('range', `${field}: ${value} overflows uint${bits}`);
    }
    return value;
  }

  /** Reads a signed integer (Go `int`, 64 bits); nil gives 0. */
  int(field: string): number {
    if (this.takeNil()) return 0;
    return this.integer(field);
  }

  /** Reads a boolean: 0xc2/0xc3, or the integers 0/1; nil gives false. */
  bool(field: string): boolean {
    if (this.takeNil()) return false;
    const b = this.u8(field);
    if (b === 0xc3 || b === 0x01) return true;
    if (b === 0xc2 || b === 0x00) return false;
    throw new DecodeError('type', `${field}: expected a boolean, found byte 0x${hex(b)}`);
  }

  /** Reads the length of a raw string (`fixstr`, `str8`, `str16`, `str32`), or -1 if the next value is not one. */
  private strLength(field: string): number {
    const b = this.peek(field);
    if (b >= 0xa0 && b <= 0xbf) {
      this.pos++;
      return b & 0x1f;
    }
    if (b === 0xd9 || b === 0xda || b === 0xdb) {
      this.pos++;
      return this.uintBE(b === 0xd9 ? 1 : b === 0xda ? 2 : 4, field);
    }
    return -1;
  }

  /** Reads the length of a `bin8/16/32`, or -1 if the next value is not one. */
  private binLength(field: string): number {
    const b = this.peek(field);
    if (b === 0xc4 || b === 0xc5 || b === 0xc6) {
      this.pos++;
      return this.uintBE(b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4, field);
    }
    return -1;
  }

  /** Reads an array header, or -1 if the next value is not an array. */
  private arrayLength(field: string): number {
    const b = this.peek(field);
    if (b >= 0x90 && b <= 0x9f) {
      this.pos++;
      return b & 0x0f;
    }
    if (b === 0xdc || b === 0xdd) {
      this.pos++;
      return this.uintBE(b === 0xdc ? 2 : 4, field);
    }
    return -1;
  }

  /** Reads a map header and returns its entry count; throws `type` unless the next value is a map. */
  mapHeader(field: string): number {
    const b = this.peek(field);
    const length = this.mapLength(field);
    if (length < 0) throw new DecodeError('type', `${field}: expected a map, found byte 0x${hex(b)}`);
    // Every entry takes at least two bytes, so a count above the limit cannot be honest.
    if (length > this.maxLength)
      throw new DecodeError('tooLarge', `${field} claims ${length} entries, limit ${this.maxLength}`);
    return length;
  }

  /** Reads a map header, or -1 if the next value is not a map. */
  private mapLength(field: string): number {
    const b = this.peek(field);
    if (b >= 0x80 && b <= 0x8f) {
      this.pos++;
      return b & 0x0f;
    }
    if (b === 0xde || b === 0xdf) {
      this.pos++;
      return this.uintBE(b === 0xde ? 2 : 4, field);
    }
    return -1;
  }

  /** Reads a Go string: a raw string of UTF-8 bytes (bin is refused, as go-msgpack does); nil gives ''. */
  string(field: string): string {
    if (this.takeNil()) return '';
    const b = this.peek(field);
    const length = this.strLength(field);
    if (length < 0) throw new DecodeError('type', `${field}: expected a string, found byte 0x${hex(b)}`);
    this.claimed(length, field);
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    try {
      return utf8Decoder.decode(view);
    } catch (error) {
      throw new DecodeError('utf8', `${field}: not valid UTF-8`, { cause: error });
    }
  }

  /**
   * Reads a Go byte slice: a raw string or bin (copied), or an array of integers 0..255;
   * nil gives `null`.
   */
  bytesOrNil(field: string): Uint8Array | null {
    if (this.takeNil()) return null;
    const b = this.peek(field);
    let length = this.strLength(field);
    if (length < 0) length = this.binLength(field);
    if (length >= 0) return this.rawBytes(length, field);
    const count = this.arrayLength(field);
    if (count < 0) throw new DecodeError('type', `${field}: expected bytes, found byte 0x${hex(b)}`);
    this.claimed(count, field);
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = this.uint(8, `${field}[${i}]`);
    return out;
  }

  /**
   * Reads a map key (raw string only) as a binary string, one char per byte, with no UTF-8
   * check. Keys longer than {@link MAX_FIELD_NAME_BYTES} cannot name a field: they are skipped
   * and `null` is returned.
   */
  private key(): string | null {
    const b = this.peek('map key');
    const length = this.strLength('map key');
    if (length < 0) throw new DecodeError('type', `map key: expected a string, found byte 0x${hex(b)}`);
    this.claimed(length, 'map key');
    const start = this.pos;
    this.pos += length;
    if (length > MAX_FIELD_NAME_BYTES) return null;
    let key = '';
    for (let i = start; i < start + length; i++) key += String.fromCharCode(this.bytes[i] ?? 0);
    return key;
  }

  /** Skips one value of any kind, nested at most {@link MAX_MSGPACK_DEPTH} deep. */
  skip(depth = 0): void {
    if (depth > MAX_MSGPACK_DEPTH)
      throw new DecodeError('depth', `values nest deeper than ${MAX_MSGPACK_DEPTH}`);
    const b = this.u8('value');
    if (b >= 0x80 && b <= 0x8f) {
      this.skipEntries(b & 0x0f, 2, depth);
    } else if (b >= 0x90 && b <= 0x9f) {
      this.skipEntries(b & 0x0f, 1, depth);
    } else if (b >= 0xdc && b <= 0xdf) {
      const count = this.uintBE(b === 0xdc || b === 0xde ? 2 : 4, 'value');
      this.skipEntries(count, b >= 0xde ? 2 : 1, depth);
    } else {
      this.skipBytes(this.scalarSize(b));
    }
  }

  /** Bytes that follow the first byte `b` of a value that is not a container. */
  private scalarSize(b: number): number {
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return 0;
    if (b >= 0xa0 && b <= 0xbf) return b & 0x1f;
    switch (b) {
      case 0xc4:
      case 0xd9:
        return this.uintBE(1, 'value');
      case 0xc5:
      case 0xda:
        return this.uintBE(2, 'value');
      case 0xc6:
      case 0xdb:
        return this.uintBE(4, 'value');
      case 0xc7:
        return this.uintBE(1, 'value') + 1;
      case 0xc8:
        return this.uintBE(2, 'value') + 1;
      case 0xc9:
        return this.uintBE(4, 'value') + 1;
      case 0xcc:
      case 0xd0:
        return 1;
      case 0xcd:
      case 0xd1:
        return 2;
      case 0xca:
      case 0xce:
      case 0xd2:
        return 4;
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return 8;
      case 0xd4:
        return 2;
      case 0xd5:
        return 3;
      case 0xd6:
        return 5;
      case 0xd7:
        return 9;
      case 0xd8:
        return 17;
      default:
        throw new DecodeError('type', `byte 0x${hex(b)} is not a msgpack value`);
    }
  }

  private skipBytes(count: number): void {
    this.claimed(count, 'value');
    this.pos += count;
  }

  private skipEntries(count: number, perEntry: 1 | 2, depth: number): void {
    // Every value takes at least one byte: a count the input cannot hold is refused up front.
    this.need(count * perEntry, 'container');
    for (let i = 0; i < count * perEntry; i++) this.skip(depth + 1);
  }

  /**
   * Reads a struct described by `spec`: a map keyed by Go field names (any order, unknown keys
   * skipped, later duplicates win), an array in declaration order, or nil (all zero values).
   */
  struct<T>(spec: StructSpec<T>): T {
    const out = spec.zero();
    const record = out as Record<string, unknown>;
    if (this.takeNil()) return out;
    const b = this.peek(spec.name);
    const entries = this.mapLength(spec.name);
    if (entries >= 0) {
      this.need(entries * 2, spec.name);
      for (let i = 0; i < entries; i++) {
        const name = this.key();
        const field = name === null ? undefined : spec.byKey.get(name);
        if (field === undefined) this.skip(1);
        else record[field.prop] = this.field(field, spec.name);
      }
      return out;
    }
    const items = this.arrayLength(spec.name);
    if (items < 0) throw new DecodeError('type', `${spec.name}: expected a map, found byte 0x${hex(b)}`);
    this.need(items, spec.name);
    for (let i = 0; i < items; i++) {
      const field = spec.fields[i];
      if (field === undefined) this.skip(1);
      else record[field.prop] = this.field(field, spec.name);
    }
    return out;
  }

  private field<T>(field: FieldSpec<T>, struct: string): unknown {
    const name = `${struct}.${field.go}`;
    switch (field.kind) {
      case 'bool':
        return this.bool(name);
      case 'uint8':
        return this.uint(8, name);
      case 'uint16':
        return this.uint(16, name);
      case 'uint32':
        return this.uint(32, name);
      case 'int':
        return this.int(name);
      case 'string':
        return this.string(name);
      case 'bytes':
        return this.bytesOrNil(name);
    }
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/** The Go types that memberlist's wire structs use, as the codec sees them. */
export type FieldKind = 'bool' | 'uint8' | 'uint16' | 'uint32' | 'int' | 'string' | 'bytes';

/** One field of a Go struct: its Go name (the map key), the JS property and the Go type. */
export interface FieldSpec<T> {
  /** The Go field name, used as the map key. */
  readonly go: string;
  /** The property of the JS struct that holds the value. */
  readonly prop: keyof T & string;
  /** The Go type. */
  readonly kind: FieldKind;
  /** Go's `codec:",omitempty"`: left out of the map when zero or empty. */
  readonly omitEmpty?: boolean;
}

/** A Go struct's codec: its fields in declaration order and in wire (sorted) order. */
export interface StructSpec<T> {
  /** The Go type name, for error messages. */
  readonly name: string;
  /** Fields in Go declaration order (used when a struct arrives as an array). */
  readonly fields: readonly FieldSpec<T>[];
  /** Fields in the byte-wise order of their Go names: the order go-msgpack writes. */
  readonly sorted: readonly FieldSpec<T>[];
  /** Fields by Go name (as a binary string), for decoding. */
  readonly byKey: ReadonlyMap<string, FieldSpec<T>>;
  /** A new struct with every field at its Go zero value. */
  zero(): T;
}

function zeroOf(kind: FieldKind): unknown {
  switch (kind) {
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return null;
    default:
      return 0;
  }
}

function compareBytewise(a: string, b: string): number {
  const x = utf8Encoder.encode(a);
  const y = utf8Encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** Describes a Go struct for {@link writeStruct} and {@link MsgpackReader.struct}. */
export function defineStruct<T>(name: string, fields: readonly FieldSpec<T>[]): StructSpec<T> {
  const sorted = [...fields].sort((a, b) => compareBytewise(a.go, b.go));
  const byKey = new Map(fields.map((f) => [f.go, f] as const));
  return {
    name,
    fields,
    sorted,
    byKey,
    zero: () => {
      const out: Record<string, unknown> = {};
      for (const f of fields) out[f.prop] = zeroOf(f.kind);
      return out as T;
    },
  };
}

const UINT_LIMITS = { uint8: 0xff, uint16: 0xffff, uint32: 0xffff_ffff } as const;

function isEmpty(kind: FieldKind, value: unknown): boolean {
  if (value === null || value === 0 || value === false || value === '') return true;
  return kind === 'bytes' && value instanceof Uint8Array && value.length === 0;
}

/** Writes `value` as go-msgpack writes the Go struct: a map of its fields in sorted key order. */
export function writeStruct<T>(writer: MsgpackWriter, spec: StructSpec<T>, value: T): void {
  const record = value as Record<string, unknown>;
  const present = spec.sorted.filter((f) => !(f.omitEmpty === true && isEmpty(f.kind, record[f.prop])));
  writer.mapHeader(present.length);
  for (const field of present) {
    writer.string(field.go);
    const v = record[field.prop];
    switch (field.kind) {
      case 'bool':
        if (typeof v !== 'boolean') throw new EncodeError(`${spec.name}.${field.go}`, 'expected a boolean');
        writer.bool(v);
        break;
      case 'uint8':
      case 'uint16':
      case 'uint32':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > UINT_LIMITS[field.kind]) {
          throw new EncodeError(
            `${spec.name}.${field.go}`,
            `expected an integer in [0, ${UINT_LIMITS[field.kind]}], got ${String(v)}`,
          );
        }
        writer.uint(v);
        break;
      case 'int':
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
          throw new EncodeError(`${spec.name}.${field.go}`, `expected a safe integer, got ${String(v)}`);
        }
        writer.int(v);
        break;
      case 'string':
        if (typeof v !== 'string') throw new EncodeError(`${spec.name}.${field.go}`, 'expected a string');
        writer.string(v);
        break;
      case 'bytes':
        if (v !== null && !(v instanceof Uint8Array))
          throw new EncodeError(`${spec.name}.${field.go}`, 'expected a Uint8Array or null');
        writer.bytesOrNil(v);
        break;
    }
  }
}
