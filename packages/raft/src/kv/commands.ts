/**
 * Commands, queries and results of the KV state machine, and their msgpack encoding.
 *
 * Every command travels inside an envelope `{ v: 1, now, client?, seq?, command }`:
 *
 * - `now` is the proposer's clock in milliseconds. The machine's time is the maximum `now` seen
 *   so far, so time never runs backwards across leader changes; leases expire when it passes
 *   their deadline. Clients encode `now: 0` and the leader stamps its own clock with
 *   {@link restampKvCommand} before proposing.
 * - `client` + `seq` (both or neither) identify a client session for duplicate detection.
 *
 * The bytes are untrusted: they may come from any client and are committed before anyone looks
 * at them. The decoders therefore accept exactly the shapes below (no unknown fields, safe
 * integers only, bounded sizes) and throw {@link KvDecodeError} otherwise, and the machine turns
 * that into an error result — the same one on every replica.
 *
 * Keys and values are bytes (`Uint8Array`, msgpack `bin`); keys sort byte-wise.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { KvDecodeError, type KvErrorData } from './errors.js';

/** Wire-format version carried in every envelope as `v`. */
export const KV_COMMAND_VERSION = 1;

/**
 * Largest key, in bytes (64 KiB). etcd bounds only whole requests; a separate, smaller key bound
 * keeps the sorted key index, range scans and the snapshot cheap while leaving room for long
 * hierarchical names.
 */
export const KV_MAX_KEY_BYTES = 64 * 1024;

/** Largest value, in bytes: 1.5 MiB, etcd's default request limit. */
export const KV_MAX_VALUE_BYTES = 1.5 * 1024 * 1024;

/**
 * Largest encoded command (2 MiB): room for one maximal value plus its key and the envelope.
 * It also bounds a transaction's total payload, so one entry can never carry gigabytes.
 */
export const KV_MAX_COMMAND_BYTES = 2 * 1024 * 1024;

/** Most compares, and most operations per branch, in one transaction (etcd's default `max-txn-ops`). */
export const KV_MAX_TXN_OPS = 128;

/** Longest client session id, in UTF-8 bytes. */
export const KV_MAX_CLIENT_ID_BYTES = 256;

/** Longest lease TTL: 10^12 ms (about 31 years). Keeps `now + ttl` a safe integer. */
export const KV_MAX_LEASE_TTL_MS = 1_000_000_000_000;

/** Largest accepted `now` (2^52 ms). With {@link KV_MAX_LEASE_TTL_MS} every deadline stays a safe integer. */
export const KV_MAX_TIME_MS = 2 ** 52;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Store a value under a key (creating or replacing it). */
export interface KvPut {
  /** Discriminator. */
  readonly type: 'put';
  /** The key (1 to {@link KV_MAX_KEY_BYTES} bytes). */
  readonly key: Uint8Array;
  /** The value (0 to {@link KV_MAX_VALUE_BYTES} bytes). */
  readonly value: Uint8Array;
  /** Attach the key to this lease (it is deleted when the lease ends); absent or 0: no lease. */
  readonly lease?: number;
  /** Return the previous key-value, if any, in the result. */
  readonly prevKv?: boolean;
}

/**
 * Delete one key or a range. `rangeEnd` follows etcd: absent or empty → just `key`; a single zero
 * byte → every key `>= key`; otherwise the half-open range `[key, rangeEnd)`.
 */
export interface KvDelete {
  /** Discriminator. */
  readonly type: 'delete';
  /** The key, or the start of the range. */
  readonly key: Uint8Array;
  /** The end of the range (see the type's description). */
  readonly rangeEnd?: Uint8Array;
  /** Return the deleted key-values in the result. */
  readonly prevKv?: boolean;
}

/** Read one key or a range (`rangeEnd` as in {@link KvDelete}). Used as a query and as a txn op. */
export interface KvRange {
  /** Discriminator. */
  readonly type: 'range';
  /** The key, or the start of the range. */
  readonly key: Uint8Array;
  /** The end of the range (see {@link KvDelete}). */
  readonly rangeEnd?: Uint8Array;
  /** Return at most this many key-values (0 or absent: no limit); `count` still counts all. */
  readonly limit?: number;
  /** Return keys and metadata with empty values. */
  readonly keysOnly?: boolean;
  /** Return only the count, no key-values. */
  readonly countOnly?: boolean;
  /**
   * Read at this revision. Only the current one is kept: absent, 0 or the current revision read
   * the current state, older ones fail with `KvCompactedError`, newer with `KvFutureRevisionError`.
   */
  readonly revision?: number;
}

/** What a transaction compare looks at. */
export type KvCompareTarget = 'value' | 'modRevision' | 'createRevision' | 'version' | 'lease';

/** How a transaction compare compares (the key's side is on the left: `actual op value`). */
export type KvCompareOp = '=' | '!=' | '<' | '>';

/**
 * One transaction guard. It holds when every key in the range satisfies `actual op value`. On a
 * missing key the numeric targets read as 0, and a `value` compare always fails (etcd's rule:
 * a missing value is not the empty value).
 */
export type KvCompare =
  | {
      /** The key, or the start of the range. */
      readonly key: Uint8Array;
      /** The end of the range (see {@link KvDelete}). */
      readonly rangeEnd?: Uint8Array;
      /** Compares the value bytes, byte-wise. */
      readonly target: 'value';
      /** The comparison. */
      readonly op: KvCompareOp;
      /** The bytes to compare against. */
      readonly value: Uint8Array;
    }
  | {
      /** The key, or the start of the range. */
      readonly key: Uint8Array;
      /** The end of the range (see {@link KvDelete}). */
      readonly rangeEnd?: Uint8Array;
      /** Compares a revision, the version or the lease id. */
      readonly target: Exclude<KvCompareTarget, 'value'>;
      /** The comparison. */
      readonly op: KvCompareOp;
      /** The number to compare against. */
      readonly value: number;
    };

/** An operation inside a transaction branch. */
export type KvTxnOp = KvPut | KvDelete | KvRange;

/**
 * An atomic transaction: if every compare holds, the `success` ops run, else the `failure` ops,
 * in order (a later op sees the writes of earlier ones). All its writes share one revision.
 */
export interface KvTxn {
  /** Discriminator. */
  readonly type: 'txn';
  /** The guards (at most {@link KV_MAX_TXN_OPS}). */
  readonly compare: readonly KvCompare[];
  /** Ops when every guard holds (at most {@link KV_MAX_TXN_OPS}). */
  readonly success: readonly KvTxnOp[];
  /** Ops otherwise (at most {@link KV_MAX_TXN_OPS}). */
  readonly failure: readonly KvTxnOp[];
}

/** Create a lease that lives `ttlMs` from the machine's time unless kept alive. */
export interface KvLeaseGrant {
  /** Discriminator. */
  readonly type: 'leaseGrant';
  /** The id to use; absent or 0: the machine picks the next free one. */
  readonly id?: number;
  /** Time to live in ms (1 to {@link KV_MAX_LEASE_TTL_MS}). */
  readonly ttlMs: number;
}

/** End a lease now, deleting every key attached to it. */
export interface KvLeaseRevoke {
  /** Discriminator. */
  readonly type: 'leaseRevoke';
  /** The lease. */
  readonly id: number;
}

/** Push a lease's deadline to the machine's time plus its TTL. */
export interface KvLeaseKeepAlive {
  /** Discriminator. */
  readonly type: 'leaseKeepAlive';
  /** The lease. */
  readonly id: number;
}

/** Does nothing but advance the machine's time to the envelope's `now` (expiring leases). */
export interface KvTick {
  /** Discriminator. */
  readonly type: 'tick';
}

/** Any KV command. */
export type KvCommand = KvPut | KvDelete | KvTxn | KvLeaseGrant | KvLeaseRevoke | KvLeaseKeepAlive | KvTick;

/** A command with the proposer's time and, optionally, a client session for duplicate detection. */
export interface KvEnvelope {
  /** The proposer's clock in ms (0 to {@link KV_MAX_TIME_MS}); the machine's time never goes below its maximum. */
  readonly now: number;
  /** Client session id (1 to {@link KV_MAX_CLIENT_ID_BYTES} UTF-8 bytes); requires `seq`. */
  readonly client?: string;
  /** The client's request number, increasing per new request (retries reuse it); requires `client`. */
  readonly seq?: number;
  /** The command. */
  readonly command: KvCommand;
}

/** Time-to-live of a lease, as a query. */
export interface KvLeaseTimeToLiveQuery {
  /** Discriminator. */
  readonly type: 'leaseTimeToLive';
  /** The lease. */
  readonly id: number;
  /** Also list the attached keys. */
  readonly keys?: boolean;
}

/** Lists every live lease id. */
export interface KvLeasesQuery {
  /** Discriminator. */
  readonly type: 'leases';
}

/** Any read against the machine (run after a ReadIndex round for linearizable reads). */
export type KvQuery = KvRange | KvLeaseTimeToLiveQuery | KvLeasesQuery;

/** A stored key with its metadata. */
export interface KvKeyValue {
  /** The key. */
  readonly key: Uint8Array;
  /** The value (empty for `keysOnly` reads). */
  readonly value: Uint8Array;
  /** Revision of the put that created the key (since its last deletion). */
  readonly createRevision: number;
  /** Revision of the latest put to the key. */
  readonly modRevision: number;
  /** Number of puts since the key was created (1 after creation). */
  readonly version: number;
  /** The attached lease, or 0. */
  readonly lease: number;
}

/** Result of a put. */
export interface KvPutResult {
  /** Discriminator. */
  readonly type: 'put';
  /** The store's revision after the command. */
  readonly revision: number;
  /** The key-value before the put, when asked for and the key existed. */
  readonly prevKv?: KvKeyValue;
}

/** Result of a delete. */
export interface KvDeleteResult {
  /** Discriminator. */
  readonly type: 'delete';
  /** The store's revision after the command (unchanged when nothing was deleted). */
  readonly revision: number;
  /** How many keys were deleted. */
  readonly deleted: number;
  /** The deleted key-values, in key order, when asked for. */
  readonly prevKvs?: readonly KvKeyValue[];
}

/** Result of a range read. */
export interface KvRangeResult {
  /** Discriminator. */
  readonly type: 'range';
  /** The store's revision the read saw. */
  readonly revision: number;
  /** The key-values in key order (empty for `countOnly`). */
  readonly kvs: readonly KvKeyValue[];
  /** How many keys are in the range, regardless of `limit`. */
  readonly count: number;
  /** Whether `limit` cut keys off. */
  readonly more: boolean;
}

/** The result of one transaction op. */
export type KvTxnOpResult = KvPutResult | KvDeleteResult | KvRangeResult;

/** Result of a transaction. */
export interface KvTxnResult {
  /** Discriminator. */
  readonly type: 'txn';
  /** The store's revision after the command (one more than before iff anything changed). */
  readonly revision: number;
  /** Whether every compare held (the `success` branch ran). */
  readonly succeeded: boolean;
  /** One result per op of the branch that ran. */
  readonly responses: readonly KvTxnOpResult[];
}

/** Result of a lease grant. */
export interface KvLeaseGrantResult {
  /** Discriminator. */
  readonly type: 'leaseGrant';
  /** The store's revision (unchanged). */
  readonly revision: number;
  /** The lease id. */
  readonly id: number;
  /** The granted TTL in ms. */
  readonly ttlMs: number;
  /** Machine time at which the lease expires. */
  readonly deadline: number;
}

/** Result of a lease revoke. */
export interface KvLeaseRevokeResult {
  /** Discriminator. */
  readonly type: 'leaseRevoke';
  /** The store's revision after the command. */
  readonly revision: number;
  /** The revoked lease. */
  readonly id: number;
  /** How many attached keys were deleted. */
  readonly deleted: number;
}

/** Result of a lease keep-alive. */
export interface KvLeaseKeepAliveResult {
  /** Discriminator. */
  readonly type: 'leaseKeepAlive';
  /** The store's revision (unchanged). */
  readonly revision: number;
  /** The lease. */
  readonly id: number;
  /** The lease's TTL in ms. */
  readonly ttlMs: number;
  /** The new deadline (machine time). */
  readonly deadline: number;
}

/** Result of a tick. */
export interface KvTickResult {
  /** Discriminator. */
  readonly type: 'tick';
  /** The store's revision (changed only if expiring leases deleted keys). */
  readonly revision: number;
  /** The machine's time after the tick. */
  readonly now: number;
}

/** Result of an empty entry (the no-op a new Raft leader appends): nothing happens. */
export interface KvNoopResult {
  /** Discriminator. */
  readonly type: 'noop';
  /** The store's revision. */
  readonly revision: number;
}

/** A command or query that failed; the state is as if it had not been applied. */
export interface KvErrorResult {
  /** Discriminator. */
  readonly type: 'error';
  /** What failed; `kvErrorFromData` turns it into the error class. */
  readonly error: KvErrorData;
}

/** The result of applying a command. */
export type KvResult =
  | KvPutResult
  | KvDeleteResult
  | KvTxnResult
  | KvLeaseGrantResult
  | KvLeaseRevokeResult
  | KvLeaseKeepAliveResult
  | KvTickResult
  | KvNoopResult
  | KvErrorResult;

/** Result of a lease time-to-live query. */
export interface KvLeaseTimeToLiveResult {
  /** Discriminator. */
  readonly type: 'leaseTimeToLive';
  /** The store's revision. */
  readonly revision: number;
  /** The lease. */
  readonly id: number;
  /** The lease's TTL in ms. */
  readonly ttlMs: number;
  /** Machine time at which it expires. */
  readonly deadline: number;
  /** `deadline` minus the machine's time (positive: an expired lease is already gone). */
  readonly remainingMs: number;
  /** The attached keys in key order, when asked for. */
  readonly keys?: readonly Uint8Array[];
}

/** Result of a leases query. */
export interface KvLeasesResult {
  /** Discriminator. */
  readonly type: 'leases';
  /** The store's revision. */
  readonly revision: number;
  /** Live lease ids, ascending. */
  readonly leases: readonly number[];
}

/** The result of a query. */
export type KvQueryResult = KvRangeResult | KvLeaseTimeToLiveResult | KvLeasesResult | KvErrorResult;

/** True when `result` is an error result. */
export function isKvErrorResult(result: KvResult | KvQueryResult): result is KvErrorResult {
  return result.type === 'error';
}

// ---------------------------------------------------------------------------------------------
// Bytes helpers
// ---------------------------------------------------------------------------------------------

/** Byte-wise comparison of two keys: negative, zero or positive like `Array.prototype.sort` wants. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * The `rangeEnd` that selects every key starting with `prefix`: the prefix with its last
 * non-0xff byte incremented (trailing 0xff bytes dropped); `[0]` (every key `>= prefix`) when the
 * prefix is empty or all 0xff.
 */
export function kvPrefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] ?? 0xff;
    if (byte < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = byte + 1;
      return end;
    }
  }
  return new Uint8Array([0]);
}

const utf8 = new TextEncoder();

/** Encodes a string key or value as UTF-8; passes bytes through. */
export function kvBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? utf8.encode(data) : data;
}

// ---------------------------------------------------------------------------------------------
// Validation (shared by commands, queries, results and snapshots)
// ---------------------------------------------------------------------------------------------

/** Throws the decode error for `path`. */
function kvFail(reason: string, path: string, what: string): never {
  throw new KvDecodeError(reason, `${path}: ${what}`);
}

/**
 * Checks that `value` is a plain map with exactly the `required` fields and a subset of
 * the `optional` ones. A msgpack map decodes into a plain object; arrays, bytes, or extension
 * values (a msgpack timestamp decodes into a `Date`) are refused here.
 */
function kvRecord(
  value: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    kvFail('shape', path, 'expected a map');
  }
  for (const field of Object.keys(value)) {
    if (!required.includes(field) && !optional.includes(field))
      kvFail('shape', path, `unknown field "${field}"`);
  }
  for (const field of required) {
    if (!Object.hasOwn(value, field)) kvFail('shape', path, `missing field "${field}"`);
  }
  return value as Record<string, unknown>;
}

/** A safe integer in `[min, max]`. */
function kvInt(value: unknown, path: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    kvFail('shape', path, 'expected a safe integer');
  if (value < min || value > max) kvFail('range', path, `${value} is outside [${min}, ${max}]`);
  return value;
}

/** A boolean. */
function kvBool(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') kvFail('shape', path, 'expected a boolean');
  return value;
}

/** A string of `minBytes` to `maxBytes` UTF-8 bytes. */
function kvString(value: unknown, path: string, minBytes: number, maxBytes: number): string {
  if (typeof value !== 'string') kvFail('shape', path, 'expected a string');
  // A UTF-16 unit takes 1 to 3 UTF-8 bytes, so short strings need no encoding to be measured.
  if (value.length >= minBytes && value.length * 3 <= maxBytes) return value;
  const size = utf8.encode(value).length;
  if (size < minBytes || size > maxBytes)
    kvFail('range', path, `${size} bytes is outside [${minBytes}, ${maxBytes}]`);
  return value;
}

/** Bytes of length `[min, max]`. */
function kvBin(value: unknown, path: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) kvFail('shape', path, 'expected bytes');
  if (value.length < min || value.length > max) {
    kvFail(
      value.length > max ? 'too-large' : 'too-small',
      path,
      `${value.length} bytes is outside [${min}, ${max}]`,
    );
  }
  return value;
}

/** An array of at most `max` elements. */
function kvArray(value: unknown, path: string, max: number): readonly unknown[] {
  if (!Array.isArray(value)) kvFail('shape', path, 'expected an array');
  if (value.length > max) kvFail('range', path, `${value.length} elements exceed ${max}`);
  return value;
}

/** One of `options`. */
function kvOneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    kvFail('shape', path, `expected one of ${options.join(', ')}`);
  }
  return value as T;
}

function key(value: unknown, path: string): Uint8Array {
  return kvBin(value, path, 1, KV_MAX_KEY_BYTES);
}

// `rangeEnd` may be empty, meaning "just the key".
function rangeEnd(value: unknown, path: string): Uint8Array {
  return kvBin(value, path, 0, KV_MAX_KEY_BYTES);
}

function validatePut(value: unknown, path: string): KvPut {
  const r = kvRecord(value, path, ['type', 'key', 'value'], ['lease', 'prevKv']);
  return {
    type: 'put',
    key: key(r.key, `${path}.key`),
    value: kvBin(r.value, `${path}.value`, 0, KV_MAX_VALUE_BYTES),
    ...(r.lease !== undefined ? { lease: kvInt(r.lease, `${path}.lease`, 0) } : {}),
    ...(r.prevKv !== undefined ? { prevKv: kvBool(r.prevKv, `${path}.prevKv`) } : {}),
  };
}

function validateDelete(value: unknown, path: string): KvDelete {
  const r = kvRecord(value, path, ['type', 'key'], ['rangeEnd', 'prevKv']);
  return {
    type: 'delete',
    key: key(r.key, `${path}.key`),
    ...(r.rangeEnd !== undefined ? { rangeEnd: rangeEnd(r.rangeEnd, `${path}.rangeEnd`) } : {}),
    ...(r.prevKv !== undefined ? { prevKv: kvBool(r.prevKv, `${path}.prevKv`) } : {}),
  };
}

function validateRange(value: unknown, path: string): KvRange {
  const r = kvRecord(
    value,
    path,
    ['type', 'key'],
    ['rangeEnd', 'limit', 'keysOnly', 'countOnly', 'revision'],
  );
  return {
    type: 'range',
    key: key(r.key, `${path}.key`),
    ...(r.rangeEnd !== undefined ? { rangeEnd: rangeEnd(r.rangeEnd, `${path}.rangeEnd`) } : {}),
    ...(r.limit !== undefined ? { limit: kvInt(r.limit, `${path}.limit`, 0) } : {}),
    ...(r.keysOnly !== undefined ? { keysOnly: kvBool(r.keysOnly, `${path}.keysOnly`) } : {}),
    ...(r.countOnly !== undefined ? { countOnly: kvBool(r.countOnly, `${path}.countOnly`) } : {}),
    ...(r.revision !== undefined ? { revision: kvInt(r.revision, `${path}.revision`, 0) } : {}),
  };
}

const COMPARE_TARGETS: readonly KvCompareTarget[] = [
  'value',
  'modRevision',
  'createRevision',
  'version',
  'lease',
];
const COMPARE_OPS: readonly KvCompareOp[] = ['=', '!=', '<', '>'];

function validateCompare(value: unknown, path: string): KvCompare {
  const r = kvRecord(value, path, ['key', 'target', 'op', 'value'], ['rangeEnd']);
  const base = {
    key: key(r.key, `${path}.key`),
    ...(r.rangeEnd !== undefined ? { rangeEnd: rangeEnd(r.rangeEnd, `${path}.rangeEnd`) } : {}),
    op: kvOneOf(r.op, `${path}.op`, COMPARE_OPS),
  };
  const target = kvOneOf(r.target, `${path}.target`, COMPARE_TARGETS);
  if (target === 'value')
    return { ...base, target, value: kvBin(r.value, `${path}.value`, 0, KV_MAX_VALUE_BYTES) };
  return { ...base, target, value: kvInt(r.value, `${path}.value`, 0) };
}

function validateTxnOp(value: unknown, path: string): KvTxnOp {
  const type = kvOneOf(
    kvRecord(
      value,
      path,
      ['type'],
      ['key', 'value', 'lease', 'prevKv', 'rangeEnd', 'limit', 'keysOnly', 'countOnly', 'revision'],
    ).type,
    `${path}.type`,
    ['put', 'delete', 'range'] as const,
  );
  if (type === 'put') return validatePut(value, path);
  if (type === 'delete') return validateDelete(value, path);
  return validateRange(value, path);
}

function validateCommand(value: unknown, path: string): KvCommand {
  const loose = kvRecord(
    value,
    path,
    ['type'],
    ['key', 'value', 'lease', 'prevKv', 'rangeEnd', 'compare', 'success', 'failure', 'id', 'ttlMs'],
  );
  const type = kvOneOf(loose.type, `${path}.type`, [
    'put',
    'delete',
    'txn',
    'leaseGrant',
    'leaseRevoke',
    'leaseKeepAlive',
    'tick',
  ] as const);
  switch (type) {
    case 'put':
      return validatePut(value, path);
    case 'delete':
      return validateDelete(value, path);
    case 'txn': {
      const r = kvRecord(value, path, ['type', 'compare', 'success', 'failure']);
      const list = <T>(field: string, check: (v: unknown, p: string) => T): T[] =>
        kvArray(r[field], `${path}.${field}`, KV_MAX_TXN_OPS).map((item, i) =>
          check(item, `${path}.${field}[${i}]`),
        );
      return {
        type: 'txn',
        compare: list('compare', validateCompare),
        success: list('success', validateTxnOp),
        failure: list('failure', validateTxnOp),
      };
    }
    case 'leaseGrant': {
      const r = kvRecord(value, path, ['type', 'ttlMs'], ['id']);
      return {
        type: 'leaseGrant',
        ttlMs: kvInt(r.ttlMs, `${path}.ttlMs`, 1, KV_MAX_LEASE_TTL_MS),
        ...(r.id !== undefined ? { id: kvInt(r.id, `${path}.id`, 0) } : {}),
      };
    }
    case 'leaseRevoke':
    case 'leaseKeepAlive': {
      const r = kvRecord(value, path, ['type', 'id'], []);
      return { type, id: kvInt(r.id, `${path}.id`, 1) };
    }
    case 'tick':
      kvRecord(value, path, ['type'], []);
      return { type: 'tick' };
  }
}

/** Validates an envelope-shaped value (without the `v` field) and returns a clean copy. */
function validateEnvelope(value: unknown, path: string, wire: boolean): KvEnvelope {
  const r = kvRecord(value, path, wire ? ['v', 'now', 'command'] : ['now', 'command'], ['client', 'seq']);
  if (wire && r.v !== KV_COMMAND_VERSION)
    kvFail('version', `${path}.v`, `unsupported version ${String(r.v)}`);
  const now = kvInt(r.now, `${path}.now`, 0, KV_MAX_TIME_MS);
  if ((r.client === undefined) !== (r.seq === undefined)) {
    kvFail('shape', path, '"client" and "seq" must be given together');
  }
  const session =
    r.client !== undefined
      ? {
          client: kvString(r.client, `${path}.client`, 1, KV_MAX_CLIENT_ID_BYTES),
          seq: kvInt(r.seq, `${path}.seq`, 1),
        }
      : {};
  return { now, ...session, command: validateCommand(r.command, `${path}.command`) };
}

/** Validates a query object (from a trusted or decoded source) and returns a clean copy. */
export function validateKvQuery(value: unknown): KvQuery {
  const path = 'query';
  const type = kvOneOf(
    kvRecord(
      value,
      path,
      ['type'],
      ['key', 'rangeEnd', 'limit', 'keysOnly', 'countOnly', 'revision', 'id', 'keys'],
    ).type,
    `${path}.type`,
    ['range', 'leaseTimeToLive', 'leases'] as const,
  );
  if (type === 'range') return validateRange(value, path);
  if (type === 'leases') {
    kvRecord(value, path, ['type'], []);
    return { type };
  }
  const r = kvRecord(value, path, ['type', 'id'], ['keys']);
  return {
    type,
    id: kvInt(r.id, `${path}.id`, 1),
    ...(r.keys !== undefined ? { keys: kvBool(r.keys, `${path}.keys`) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

// Decoder limits: refuse absurd lengths before allocating anything for them. Strings are only
// type names, op names and client ids; maps have at most 10 fields.
const commandDecoder = new Decoder({
  maxStrLength: KV_MAX_CLIENT_ID_BYTES,
  maxBinLength: KV_MAX_VALUE_BYTES,
  maxArrayLength: KV_MAX_TXN_OPS,
  maxMapLength: 16,
  maxExtLength: 0,
});
// Results may be large (a range or a delete with prevKv); extensions are still refused.
const resultDecoder = new Decoder({ maxExtLength: 0 });

function decodeBytes(bytes: Uint8Array, decoder: Decoder): unknown {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new KvDecodeError('msgpack', cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/**
 * One encoder for every command, query and result: `encode()` would build a new Encoder (and its
 * 2 KiB buffer) per call. `Encoder.encode` returns a copy of exactly the encoded bytes, and clones
 * itself if ever entered again while encoding, so sharing it is safe.
 */
const valueEncoder = new Encoder({ ignoreUndefined: true });

function encodeValue(value: unknown): Uint8Array {
  return valueEncoder.encode(value);
}

/**
 * Encodes an envelope into command bytes, validating it first so that whatever is proposed
 * decodes on every replica.
 * @throws {KvDecodeError} when the envelope is not valid (bad sizes, shapes or numbers).
 */
export function encodeKvCommand(envelope: KvEnvelope): Uint8Array {
  const clean = validateEnvelope(envelope, 'envelope', false);
  const bytes = encodeValue({ v: KV_COMMAND_VERSION, ...clean });
  if (bytes.length > KV_MAX_COMMAND_BYTES) {
    kvFail('too-large', 'envelope', `${bytes.length} bytes exceed ${KV_MAX_COMMAND_BYTES}`);
  }
  return bytes;
}

/**
 * Decodes and validates command bytes. The returned keys and values may share memory with
 * `bytes`; copy them before keeping them.
 * @throws {KvDecodeError} on anything but a well-formed envelope.
 */
export function decodeKvCommand(bytes: Uint8Array): KvEnvelope {
  if (!(bytes instanceof Uint8Array)) kvFail('shape', 'command', 'expected bytes');
  if (bytes.length > KV_MAX_COMMAND_BYTES) {
    kvFail('too-large', 'command', `${bytes.length} bytes exceed ${KV_MAX_COMMAND_BYTES}`);
  }
  return validateEnvelope(decodeBytes(bytes, commandDecoder), 'command', true);
}

/**
 * Re-encodes command bytes with the proposer's time: a leader calls this on client-built bytes
 * (which carry `now: 0`) just before proposing them.
 * @throws {KvDecodeError} when `bytes` is not a valid command or `now` is out of range.
 */
export function restampKvCommand(bytes: Uint8Array, now: number): Uint8Array {
  return encodeKvCommand({ ...decodeKvCommand(bytes), now });
}

/**
 * Re-encodes command bytes in client session `client`/`seq`, replacing any they had.
 * @throws {KvDecodeError} when `bytes` are not a command or the session is invalid.
 */
export function inClientSession(bytes: Uint8Array, client: string, seq: number): Uint8Array {
  return encodeKvCommand({ ...decodeKvCommand(bytes), client, seq });
}

/**
 * Encodes a query (for sending it to the member that will run it).
 * @throws {KvDecodeError} when the query is not valid.
 */
export function encodeKvQuery(query: KvQuery): Uint8Array {
  return encodeValue({ v: KV_COMMAND_VERSION, query: validateKvQuery(query) });
}

/**
 * Decodes and validates query bytes.
 * @throws {KvDecodeError} on anything but a well-formed query.
 */
export function decodeKvQuery(bytes: Uint8Array): KvQuery {
  if (bytes.length > KV_MAX_COMMAND_BYTES) {
    kvFail('too-large', 'query', `${bytes.length} bytes exceed ${KV_MAX_COMMAND_BYTES}`);
  }
  const r = kvRecord(decodeBytes(bytes, commandDecoder), 'query', ['v', 'query']);
  if (r.v !== KV_COMMAND_VERSION) kvFail('version', 'query.v', `unsupported version ${String(r.v)}`);
  return validateKvQuery(r.query);
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/** Validates a key-value record. */
function validateKvKeyValue(value: unknown, path: string): KvKeyValue {
  const r = kvRecord(value, path, ['key', 'value', 'createRevision', 'modRevision', 'version', 'lease']);
  const createRevision = kvInt(r.createRevision, `${path}.createRevision`, 1);
  return {
    key: key(r.key, `${path}.key`),
    value: kvBin(r.value, `${path}.value`, 0, KV_MAX_VALUE_BYTES),
    createRevision,
    modRevision: kvInt(r.modRevision, `${path}.modRevision`, createRevision),
    version: kvInt(r.version, `${path}.version`, 1),
    lease: kvInt(r.lease, `${path}.lease`, 0),
  };
}

const ERROR_FIELDS: Record<KvErrorData['name'], readonly string[]> = {
  KvDecodeError: ['reason', 'detail'],
  KvLeaseNotFoundError: ['leaseId'],
  KvLeaseExistsError: ['leaseId'],
  KvCompactedError: ['revision', 'compactRevision'],
  KvFutureRevisionError: ['revision', 'currentRevision'],
  KvStaleRequestError: ['client', 'seq', 'lastSeq'],
};

function validateErrorData(value: unknown, path: string): KvErrorData {
  const name = kvOneOf(
    kvRecord(
      value,
      path,
      ['name', 'message'],
      [
        'reason',
        'detail',
        'leaseId',
        'revision',
        'compactRevision',
        'currentRevision',
        'client',
        'seq',
        'lastSeq',
      ],
    ).name,
    `${path}.name`,
    Object.keys(ERROR_FIELDS) as KvErrorData['name'][],
  );
  const r = kvRecord(value, path, ['name', 'message', ...ERROR_FIELDS[name]]);
  const message = kvString(r.message, `${path}.message`, 0, 1 << 20);
  const str = (field: string) => kvString(r[field], `${path}.${field}`, 0, 1 << 20);
  const int = (field: string) => kvInt(r[field], `${path}.${field}`, 0);
  switch (name) {
    case 'KvDecodeError':
      return { name, message, reason: str('reason'), detail: str('detail') };
    case 'KvLeaseNotFoundError':
    case 'KvLeaseExistsError':
      return { name, message, leaseId: int('leaseId') };
    case 'KvCompactedError':
      return { name, message, revision: int('revision'), compactRevision: int('compactRevision') };
    case 'KvFutureRevisionError':
      return { name, message, revision: int('revision'), currentRevision: int('currentRevision') };
    case 'KvStaleRequestError':
      return { name, message, client: str('client'), seq: int('seq'), lastSeq: int('lastSeq') };
  }
}

function validateKvList(value: unknown, path: string): KvKeyValue[] {
  return kvArray(value, path, Number.MAX_SAFE_INTEGER).map((kv, i) =>
    validateKvKeyValue(kv, `${path}[${i}]`),
  );
}

function validateOpResult(value: unknown, path: string, types: readonly string[]): KvResult | KvQueryResult {
  const loose = kvRecord(
    value,
    path,
    ['type'],
    [
      'revision',
      'prevKv',
      'deleted',
      'prevKvs',
      'kvs',
      'count',
      'more',
      'succeeded',
      'responses',
      'id',
      'ttlMs',
      'deadline',
      'now',
      'error',
      'remainingMs',
      'keys',
      'leases',
    ],
  );
  const type = kvOneOf(loose.type, `${path}.type`, types);
  if (type === 'error') {
    const r = kvRecord(value, path, ['type', 'error']);
    return { type, error: validateErrorData(r.error, `${path}.error`) };
  }
  const revision = kvInt(loose.revision, `${path}.revision`, 0);
  const int = (r: Record<string, unknown>, field: string, min = 0) =>
    kvInt(r[field], `${path}.${field}`, min);
  switch (type) {
    case 'put': {
      const r = kvRecord(value, path, ['type', 'revision'], ['prevKv']);
      return {
        type,
        revision,
        ...(r.prevKv !== undefined ? { prevKv: validateKvKeyValue(r.prevKv, `${path}.prevKv`) } : {}),
      };
    }
    case 'delete': {
      const r = kvRecord(value, path, ['type', 'revision', 'deleted'], ['prevKvs']);
      return {
        type,
        revision,
        deleted: int(r, 'deleted'),
        ...(r.prevKvs !== undefined ? { prevKvs: validateKvList(r.prevKvs, `${path}.prevKvs`) } : {}),
      };
    }
    case 'range': {
      const r = kvRecord(value, path, ['type', 'revision', 'kvs', 'count', 'more']);
      return {
        type,
        revision,
        kvs: validateKvList(r.kvs, `${path}.kvs`),
        count: int(r, 'count'),
        more: kvBool(r.more, `${path}.more`),
      };
    }
    case 'txn': {
      const r = kvRecord(value, path, ['type', 'revision', 'succeeded', 'responses']);
      return {
        type,
        revision,
        succeeded: kvBool(r.succeeded, `${path}.succeeded`),
        responses: kvArray(r.responses, `${path}.responses`, KV_MAX_TXN_OPS).map(
          (item, i) =>
            validateOpResult(item, `${path}.responses[${i}]`, ['put', 'delete', 'range']) as KvTxnOpResult,
        ),
      };
    }
    case 'leaseGrant':
    case 'leaseKeepAlive': {
      const r = kvRecord(value, path, ['type', 'revision', 'id', 'ttlMs', 'deadline']);
      return { type, revision, id: int(r, 'id', 1), ttlMs: int(r, 'ttlMs', 1), deadline: int(r, 'deadline') };
    }
    case 'leaseRevoke': {
      const r = kvRecord(value, path, ['type', 'revision', 'id', 'deleted']);
      return { type, revision, id: int(r, 'id', 1), deleted: int(r, 'deleted') };
    }
    case 'tick': {
      const r = kvRecord(value, path, ['type', 'revision', 'now']);
      return { type, revision, now: int(r, 'now') };
    }
    case 'noop':
      kvRecord(value, path, ['type', 'revision']);
      return { type, revision };
    case 'leaseTimeToLive': {
      const r = kvRecord(
        value,
        path,
        ['type', 'revision', 'id', 'ttlMs', 'deadline', 'remainingMs'],
        ['keys'],
      );
      return {
        type,
        revision,
        id: int(r, 'id', 1),
        ttlMs: int(r, 'ttlMs', 1),
        deadline: int(r, 'deadline'),
        remainingMs: int(r, 'remainingMs'),
        ...(r.keys !== undefined
          ? {
              keys: kvArray(r.keys, `${path}.keys`, Number.MAX_SAFE_INTEGER).map((k, i) =>
                key(k, `${path}.keys[${i}]`),
              ),
            }
          : {}),
      };
    }
    case 'leases': {
      const r = kvRecord(value, path, ['type', 'revision', 'leases']);
      return {
        type,
        revision,
        leases: kvArray(r.leases, `${path}.leases`, Number.MAX_SAFE_INTEGER).map((id, i) =>
          kvInt(id, `${path}.leases[${i}]`, 1),
        ),
      };
    }
    default:
      return kvFail('shape', `${path}.type`, `unexpected type ${type}`);
  }
}

const RESULT_TYPES = [
  'put',
  'delete',
  'txn',
  'leaseGrant',
  'leaseRevoke',
  'leaseKeepAlive',
  'tick',
  'noop',
  'error',
];
const QUERY_RESULT_TYPES = ['range', 'leaseTimeToLive', 'leases', 'error'];

/** Validates a command result (also used for session results in snapshots). */
function validateKvResult(value: unknown, path: string): KvResult {
  return validateOpResult(value, path, RESULT_TYPES) as KvResult;
}

/** Encodes a command result (for returning it to a client over the network). */
export function encodeKvResult(result: KvResult): Uint8Array {
  return encodeValue(result);
}

/**
 * Decodes and validates a command result.
 * @throws {KvDecodeError} on anything but a well-formed result.
 */
export function decodeKvResult(bytes: Uint8Array): KvResult {
  return validateKvResult(decodeBytes(bytes, resultDecoder), 'result');
}

/** Encodes a query result. */
export function encodeKvQueryResult(result: KvQueryResult): Uint8Array {
  return encodeValue(result);
}

/**
 * Decodes and validates a query result.
 * @throws {KvDecodeError} on anything but a well-formed query result.
 */
export function decodeKvQueryResult(bytes: Uint8Array): KvQueryResult {
  return validateOpResult(decodeBytes(bytes, resultDecoder), 'result', QUERY_RESULT_TYPES) as KvQueryResult;
}

/**
 * @internal The shape checks behind the decoders, shared with the state machine's snapshot
 * restore. Each throws {@link KvDecodeError} naming the offending path. Not part of the API.
 */
export const kvValidation = {
  fail: kvFail,
  record: kvRecord,
  int: kvInt,
  bool: kvBool,
  string: kvString,
  bin: kvBin,
  array: kvArray,
  oneOf: kvOneOf,
  keyValue: validateKvKeyValue,
  result: validateKvResult,
} as const;
