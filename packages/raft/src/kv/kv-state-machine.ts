/**
 * The KV state machine: an etcd-like key-value store with revisions, transactions, leases and
 * client sessions, replicated by Raft.
 *
 * Determinism: `apply`, `query` and `snapshot` read nothing but their arguments and the state —
 * no clock, no randomness, no I/O. Time comes from the commands: each envelope carries the
 * proposer's `now`; the machine's time is the largest `now` applied so far. Before a command runs,
 * every lease whose deadline is at or below that time expires (in deadline, then id, order), so
 * every replica deletes the same keys at the same log position.
 *
 * Data structures and costs (n keys, k keys in a range, B = 512):
 * - keys live in a `Map` (point lookups O(1)) plus a chunked sorted list of the keys — sorted
 *   chunks of at most B keys, found by binary search — so a range costs O(log n + k) and adding
 *   or removing a key O(log n + B + n/B), which stays small up to millions of keys;
 * - keys are indexed as "byte strings" (one UTF-16 unit per byte, 0–255), whose native string
 *   order is exactly the byte-wise order etcd uses;
 * - lease deadlines sit in a binary min-heap (stale entries from keep-alives are skipped on pop
 *   and the heap is rebuilt once they outnumber the leases), so expiry costs O(log L) per lease;
 * - sessions sit in a `Map` kept in least-recently-used order (re-inserted on every use), so
 *   eviction of the oldest is O(1) and identical on every replica.
 */
import { Decoder, encode } from '@msgpack/msgpack';
import type { StateMachine } from '../state-machine.js';
import {
  compareKeys,
  decodeKvCommand,
  encodeKvCommand,
  inClientSession,
  KV_MAX_CLIENT_ID_BYTES,
  KV_MAX_LEASE_TTL_MS,
  KV_MAX_TIME_MS,
  type KvCommand,
  type KvCompare,
  type KvCompareOp,
  type KvCompareTarget,
  type KvDelete,
  type KvDeleteResult,
  type KvEnvelope,
  type KvErrorResult,
  type KvKeyValue,
  type KvLeasesQuery,
  type KvLeaseTimeToLiveQuery,
  type KvPut,
  type KvPutResult,
  type KvQuery,
  type KvQueryResult,
  type KvRange,
  type KvRangeResult,
  type KvResult,
  type KvTxn,
  type KvTxnOp,
  type KvTxnOpResult,
  kvBytes,
  kvPrefixEnd,
  kvValidation,
  restampKvCommand,
  validateKvQuery,
} from './commands.js';

const { array: kvArray, int: kvInt, record: kvRecord, string: kvString } = kvValidation;
// Annotated so that TypeScript treats calls as never returning.
const kvFail: (reason: string, path: string, what: string) => never = kvValidation.fail;
const { keyValue: validateKvKeyValue, result: validateKvResult } = kvValidation;

import {
  KvCompactedError,
  KvDecodeError,
  type KvError,
  KvFutureRevisionError,
  KvLeaseExistsError,
  KvLeaseNotFoundError,
  KvSnapshotError,
  KvStaleRequestError,
  kvErrorToData,
} from './errors.js';

/** Default bound on remembered client sessions. */
export const KV_DEFAULT_MAX_SESSIONS = 10_000;

/** Snapshot format tag, checked on restore. */
const SNAPSHOT_KIND = 'clusteros-kv';
/** Snapshot format version. */
const SNAPSHOT_VERSION = 1;

/** Options of {@link KvStateMachine}. Every replica must use the same values. */
export interface KvStateMachineOptions {
  /**
   * Most client sessions remembered; beyond it the session used longest ago (by log index) is
   * forgotten, and a retry from that client is applied again. Default {@link KV_DEFAULT_MAX_SESSIONS}.
   */
  readonly maxSessions?: number;
}

/** A lease as seen by {@link KvStateMachine.leaseInfo}. */
export interface KvLeaseInfo {
  /** The lease id. */
  readonly id: number;
  /** Its TTL in ms. */
  readonly ttlMs: number;
  /** Machine time at which it expires. */
  readonly deadline: number;
  /** `deadline` minus the machine's time. */
  readonly remainingMs: number;
  /** The attached keys, in key order. */
  readonly keys: readonly Uint8Array[];
}

/** Options of {@link KvStateMachine.range}. */
export interface KvRangeOptions {
  /** End of the range, etcd-style (see {@link KvRange}). */
  readonly rangeEnd?: Uint8Array | string;
  /** Return at most this many (0: no limit). */
  readonly limit?: number;
  /** Leave values empty. */
  readonly keysOnly?: boolean;
  /** Return only the count. */
  readonly countOnly?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Internal structures
// ---------------------------------------------------------------------------------------------

/** A stored key. Immutable: a put replaces the record, so a previous one can still be reported. */
interface Entry {
  readonly id: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

interface Lease {
  readonly id: number;
  readonly ttlMs: number;
  deadline: number;
  /** Attached keys, as byte strings. */
  readonly keys: Set<string>;
}

interface Session {
  readonly seq: number;
  readonly result: KvResult;
  /**
   * Log index of the last use. Eviction follows the map's order (every use moves a session to
   * the end), which equals lastIndex order when indices increase as Raft's do; the index is kept
   * for diagnostics and is not trusted for ordering.
   */
  readonly lastIndex: number;
}

/** Converts key bytes to a byte string: one UTF-16 unit per byte, so `<` on strings is byte order. */
function byteString(bytes: Uint8Array): string {
  if (bytes.length <= 4096) return String.fromCharCode(...bytes);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4096) out += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return out;
}

const CHUNK = 512;

function lowerBound(list: readonly string[], key: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] ?? '') < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The sorted key index: a list of sorted chunks of at most {@link CHUNK} keys. */
class SortedKeys {
  private chunks: string[][] = [];

  /** Builds the index from keys already in ascending order. */
  static fromSorted(keys: readonly string[]): SortedKeys {
    const index = new SortedKeys();
    for (let i = 0; i < keys.length; i += CHUNK / 2) index.chunks.push(keys.slice(i, i + CHUNK / 2));
    return index;
  }

  /** Index of the first chunk whose last key is `>= key` (`chunks.length` if none). */
  private findChunk(key: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid] ?? [];
      if ((chunk[chunk.length - 1] ?? '') < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds a key that is not present. */
  insert(key: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      return;
    }
    const ci = Math.min(this.findChunk(key), this.chunks.length - 1);
    const chunk = this.chunks[ci] ?? [];
    chunk.splice(lowerBound(chunk, key), 0, key);
    // Split a full chunk in two so inserts stay O(B) and the chunk list stays short.
    if (chunk.length > CHUNK) this.chunks.splice(ci + 1, 0, chunk.splice(CHUNK / 2));
  }

  /** Removes a key that is present. */
  remove(key: string): void {
    const ci = this.findChunk(key);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const pos = lowerBound(chunk, key);
    if (chunk[pos] !== key) return;
    chunk.splice(pos, 1);
    if (chunk.length === 0) this.chunks.splice(ci, 1);
  }

  /** Calls `visit` on every key `>= start` in order until it returns false. Do not mutate meanwhile. */
  forEachFrom(start: string, visit: (key: string) => boolean): void {
    let ci = this.findChunk(start);
    let pos = lowerBound(this.chunks[ci] ?? [], start);
    for (; ci < this.chunks.length; ci++, pos = 0) {
      const chunk = this.chunks[ci] ?? [];
      for (; pos < chunk.length; pos++) if (!visit(chunk[pos] ?? '')) return;
    }
  }
}

/** A binary min-heap of `[deadline, leaseId]`, ordered by deadline then id. */
class DeadlineHeap {
  private items: [number, number][] = [];

  get size(): number {
    return this.items.length;
  }

  private less(a: [number, number], b: [number, number]): boolean {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  push(deadline: number, id: number): void {
    const items = this.items;
    items.push([deadline, id]);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const a = items[i];
      const b = items[parent];
      if (a === undefined || b === undefined || !this.less(a, b)) break;
      items[i] = b;
      items[parent] = a;
      i = parent;
    }
  }

  peek(): [number, number] | undefined {
    return this.items[0];
  }

  pop(): void {
    const items = this.items;
    const last = items.pop();
    if (last === undefined || items.length === 0) return;
    // Sift a hole down from the root, then drop the former last item into it.
    let i = 0;
    for (;;) {
      let best = last;
      let bestIndex = -1;
      const left = items[2 * i + 1];
      const right = items[2 * i + 2];
      if (left !== undefined && this.less(left, best)) {
        best = left;
        bestIndex = 2 * i + 1;
      }
      if (right !== undefined && this.less(right, best)) {
        best = right;
        bestIndex = 2 * i + 2;
      }
      if (bestIndex < 0) break;
      items[i] = best;
      i = bestIndex;
    }
    items[i] = last;
  }

  clear(): void {
    this.items = [];
  }
}

function errorResult(error: KvError): KvErrorResult {
  return { type: 'error', error: kvErrorToData(error) };
}

function holds(order: number, op: KvCompareOp): boolean {
  switch (op) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '>':
      return order > 0;
  }
}

function numericTarget(entry: Entry | undefined, target: Exclude<KvCompareTarget, 'value'>): number {
  if (entry === undefined) return 0;
  switch (target) {
    case 'createRevision':
      return entry.createRevision;
    case 'modRevision':
      return entry.modRevision;
    case 'version':
      return entry.version;
    case 'lease':
      return entry.lease;
  }
}

/** Copies every byte array inside a decoded value, so it no longer shares the decoded buffer. */
function copyBytesDeep<T>(value: T): T {
  if (value instanceof Uint8Array) return value.slice() as T;
  if (Array.isArray(value)) return value.map((item: unknown) => copyBytesDeep(item)) as T;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = copyBytesDeep(v);
    return out as T;
  }
  return value;
}

const snapshotDecoder = new Decoder({ maxExtLength: 0 });

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

/**
 * An etcd-like KV store as a Raft {@link StateMachine}: commands are bytes built with {@link kv}
 * (or {@link encodeKvCommand}), results and query results are plain objects with `Uint8Array`
 * keys and values. Results share nothing with the state; treat them as read-only all the same,
 * since a session's result is also the cached answer for that client's retry.
 *
 * `apply` never throws on bad input: a malformed or refused command yields a
 * {@link KvErrorResult} and leaves the state as it was (only the time may advance, for commands
 * that decoded).
 */
export class KvStateMachine implements StateMachine<KvResult, KvQuery, KvQueryResult> {
  private readonly maxSessions: number;
  private entries = new Map<string, Entry>();
  private index = new SortedKeys();
  private leases = new Map<number, Lease>();
  private deadlines = new DeadlineHeap();
  private sessions = new Map<string, Session>();
  private rev = 0;
  private time = 0;
  private nextLeaseId = 1;

  /** Creates an empty store (revision 0, time 0). */
  constructor(options: KvStateMachineOptions = {}) {
    const maxSessions = options.maxSessions ?? KV_DEFAULT_MAX_SESSIONS;
    if (!Number.isSafeInteger(maxSessions) || maxSessions < 1) {
      throw new RangeError(`maxSessions must be a positive integer, got ${maxSessions}`);
    }
    this.maxSessions = maxSessions;
  }

  /** The store's revision: incremented once by every command that changes at least one key. */
  get revision(): number {
    return this.rev;
  }

  /** The machine's time in ms: the largest `now` of any applied command. */
  get now(): number {
    return this.time;
  }

  /** Number of keys stored. */
  get size(): number {
    return this.entries.size;
  }

  /** Number of client sessions remembered. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  // ----- StateMachine ---------------------------------------------------------------------

  /**
   * Applies a committed command at log `index`. An empty command (a leader's no-op entry) does
   * nothing. Otherwise: decode (a failure → error result, nothing changes), advance the time and
   * expire leases, answer duplicates from the client session, else run the command.
   */
  apply(command: Uint8Array, index: number): KvResult {
    if (command.length === 0) return { type: 'noop', revision: this.rev };
    let envelope: KvEnvelope;
    try {
      envelope = decodeKvCommand(command);
    } catch (cause) {
      return errorResult(
        cause instanceof KvDecodeError ? cause : new KvDecodeError('internal', String(cause), { cause }),
      );
    }
    this.advanceTime(envelope.now);
    const { client, seq } = envelope;
    if (client === undefined || seq === undefined) return this.execute(envelope.command);

    const session = this.sessions.get(client);
    if (session !== undefined && seq < session.seq) {
      return errorResult(new KvStaleRequestError(client, seq, session.seq));
    }
    if (session !== undefined && seq === session.seq) {
      // A retry of the last request: answer as before, without applying it again.
      this.remember(client, { ...session, lastIndex: index });
      return session.result;
    }
    const result = this.execute(envelope.command);
    this.remember(client, { seq, result, lastIndex: index });
    return result;
  }

  /** Answers a query against the current state; a malformed query yields an error result. */
  query(query: KvQuery): KvQueryResult {
    let clean: KvQuery;
    try {
      clean = validateKvQuery(query);
    } catch (cause) {
      return errorResult(
        cause instanceof KvDecodeError ? cause : new KvDecodeError('internal', String(cause), { cause }),
      );
    }
    switch (clean.type) {
      case 'range': {
        const refused = this.checkRevision(clean.revision, this.rev);
        return refused ?? this.rangeResult(clean, this.rev);
      }
      case 'leaseTimeToLive':
        return this.leaseTimeToLive(clean);
      case 'leases':
        return this.leaseList(clean);
    }
  }

  /**
   * Serialises the whole state as msgpack: revision, time, lease counter, keys (in key order),
   * leases (by id) and sessions (least recently used first). Equal states give equal bytes.
   */
  snapshot(): Uint8Array {
    const kvs: unknown[] = [];
    this.index.forEachFrom('', (id) => {
      const e = this.entries.get(id);
      if (e !== undefined) kvs.push([e.key, e.value, e.createRevision, e.modRevision, e.version, e.lease]);
      return true;
    });
    const leases = [...this.leases.values()]
      .sort((a, b) => a.id - b.id)
      .map((lease) => [lease.id, lease.ttlMs, lease.deadline]);
    const sessions = [...this.sessions].map(([client, s]) => [client, s.seq, s.lastIndex, s.result]);
    return encode(
      {
        v: SNAPSHOT_VERSION,
        kind: SNAPSHOT_KIND,
        revision: this.rev,
        now: this.time,
        nextLeaseId: this.nextLeaseId,
        kvs,
        leases,
        sessions,
      },
      // Sorted map keys: the bytes depend only on the state, not on how objects were built.
      { ignoreUndefined: true, sortKeys: true },
    );
  }

  /**
   * Replaces the state with a snapshot's. Everything is validated and built aside first, so on
   * failure the previous state is untouched. Sessions beyond this machine's `maxSessions` are
   * evicted, oldest first.
   * @throws {KvSnapshotError} when the data is not a consistent snapshot.
   */
  restore(data: Uint8Array): void {
    let raw: unknown;
    try {
      raw = snapshotDecoder.decode(data);
    } catch (cause) {
      throw new KvSnapshotError('msgpack', cause instanceof Error ? cause.message : String(cause), { cause });
    }
    try {
      this.restoreFrom(raw);
    } catch (cause) {
      if (cause instanceof KvDecodeError) throw new KvSnapshotError(cause.reason, cause.detail, { cause });
      throw cause;
    }
  }

  // ----- Read helpers ---------------------------------------------------------------------

  /** The key-value stored under `key`, or `undefined`. */
  get(key: Uint8Array | string): KvKeyValue | undefined {
    const entry = this.entries.get(byteString(kvBytes(key)));
    return entry === undefined ? undefined : this.output(entry, false);
  }

  /** Reads `key` or a range at the current revision (`rangeEnd` as in {@link KvRange}). */
  range(key: Uint8Array | string, options: KvRangeOptions = {}): KvRangeResult {
    return this.rangeResult(
      {
        type: 'range',
        key: kvBytes(key),
        ...(options.rangeEnd !== undefined ? { rangeEnd: kvBytes(options.rangeEnd) } : {}),
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
        ...(options.keysOnly !== undefined ? { keysOnly: options.keysOnly } : {}),
        ...(options.countOnly !== undefined ? { countOnly: options.countOnly } : {}),
      },
      this.rev,
    );
  }

  /** The lease `id`, or `undefined` if it does not exist (never granted, revoked or expired). */
  leaseInfo(id: number): KvLeaseInfo | undefined {
    const lease = this.leases.get(id);
    if (lease === undefined) return undefined;
    return {
      id,
      ttlMs: lease.ttlMs,
      deadline: lease.deadline,
      remainingMs: lease.deadline - this.time,
      keys: this.leaseKeys(lease),
    };
  }

  // ----- Time and leases ------------------------------------------------------------------

  /** Moves time forward to `now` (never back) and expires every lease whose deadline has come. */
  private advanceTime(now: number): void {
    if (now > this.time) this.time = now;
    for (;;) {
      const top = this.deadlines.peek();
      if (top === undefined || top[0] > this.time) break;
      this.deadlines.pop();
      const lease = this.leases.get(top[1]);
      // Skip entries made stale by a keep-alive (later deadline) or by a revoke.
      if (lease !== undefined && lease.deadline === top[0]) this.endLease(lease);
    }
  }

  /** Deletes a lease and its keys; one revision if any key went. Returns the number deleted. */
  private endLease(lease: Lease): number {
    const ids = [...lease.keys];
    this.leases.delete(lease.id);
    if (ids.length === 0) return 0;
    for (const id of ids) this.removeEntry(id);
    this.rev += 1;
    return ids.length;
  }

  private scheduleLease(lease: Lease): void {
    this.deadlines.push(lease.deadline, lease.id);
    // Keep-alives leave stale heap entries behind; rebuild once they dominate.
    if (this.deadlines.size > 2 * this.leases.size + 64) {
      this.deadlines.clear();
      for (const l of this.leases.values()) this.deadlines.push(l.deadline, l.id);
    }
  }

  private leaseKeys(lease: Lease): Uint8Array[] {
    return [...lease.keys].sort().map((id) => (this.entries.get(id)?.key ?? new Uint8Array()).slice());
  }

  // ----- Sessions -------------------------------------------------------------------------

  private remember(client: string, session: Session): void {
    // Delete then set moves the client to the end: the map stays in least-recently-used order.
    this.sessions.delete(client);
    this.sessions.set(client, session);
    for (const oldest of this.sessions.keys()) {
      if (this.sessions.size <= this.maxSessions) break;
      this.sessions.delete(oldest);
    }
  }

  // ----- Commands -------------------------------------------------------------------------

  private execute(command: KvCommand): KvResult {
    switch (command.type) {
      case 'put': {
        const refused = this.checkLease(command);
        if (refused !== undefined) return refused;
        const next = this.rev + 1;
        const result = this.put(command, next);
        this.rev = next;
        return { type: 'put', revision: next, ...result };
      }
      case 'delete': {
        const next = this.rev + 1;
        const result = this.deleteRange(command);
        if (result.deleted > 0) this.rev = next;
        return { type: 'delete', revision: this.rev, ...result };
      }
      case 'txn':
        return this.txn(command);
      case 'leaseGrant': {
        let id = command.id ?? 0;
        if (id === 0) {
          id = this.nextLeaseId;
          while (this.leases.has(id)) id++;
          this.nextLeaseId = id + 1;
        } else if (this.leases.has(id)) {
          return errorResult(new KvLeaseExistsError(id));
        }
        const lease: Lease = {
          id,
          ttlMs: command.ttlMs,
          deadline: this.time + command.ttlMs,
          keys: new Set(),
        };
        this.leases.set(id, lease);
        this.scheduleLease(lease);
        return { type: 'leaseGrant', revision: this.rev, id, ttlMs: lease.ttlMs, deadline: lease.deadline };
      }
      case 'leaseRevoke': {
        const lease = this.leases.get(command.id);
        if (lease === undefined) return errorResult(new KvLeaseNotFoundError(command.id));
        const deleted = this.endLease(lease);
        return { type: 'leaseRevoke', revision: this.rev, id: command.id, deleted };
      }
      case 'leaseKeepAlive': {
        const lease = this.leases.get(command.id);
        if (lease === undefined) return errorResult(new KvLeaseNotFoundError(command.id));
        lease.deadline = this.time + lease.ttlMs;
        this.scheduleLease(lease);
        return {
          type: 'leaseKeepAlive',
          revision: this.rev,
          id: lease.id,
          ttlMs: lease.ttlMs,
          deadline: lease.deadline,
        };
      }
      case 'tick':
        return { type: 'tick', revision: this.rev, now: this.time };
    }
  }

  private checkLease(put: KvPut): KvErrorResult | undefined {
    const lease = put.lease ?? 0;
    return lease !== 0 && !this.leases.has(lease) ? errorResult(new KvLeaseNotFoundError(lease)) : undefined;
  }

  private checkRevision(revision: number | undefined, current: number): KvErrorResult | undefined {
    if (revision === undefined || revision === 0 || revision === current) return undefined;
    return errorResult(
      revision < current
        ? new KvCompactedError(revision, current)
        : new KvFutureRevisionError(revision, current),
    );
  }

  /** Writes a put at revision `next` (the caller commits the revision). */
  private put(command: KvPut, next: number): { prevKv?: KvKeyValue } {
    const id = byteString(command.key);
    const old = this.entries.get(id);
    const lease = command.lease ?? 0;
    const entry: Entry = {
      id,
      key: old?.key ?? command.key.slice(),
      value: command.value.slice(),
      createRevision: old?.createRevision ?? next,
      modRevision: next,
      version: (old?.version ?? 0) + 1,
      lease,
    };
    if (old === undefined) this.index.insert(id);
    else if (old.lease !== 0 && old.lease !== lease) this.leases.get(old.lease)?.keys.delete(id);
    if (lease !== 0) this.leases.get(lease)?.keys.add(id);
    this.entries.set(id, entry);
    return command.prevKv === true && old !== undefined ? { prevKv: this.output(old, false) } : {};
  }

  /** Deletes a key or range (the caller bumps the revision if anything was deleted). */
  private deleteRange(command: KvDelete): { deleted: number; prevKvs?: KvKeyValue[] } {
    const doomed: Entry[] = [];
    this.scan(command.key, command.rangeEnd, (entry) => {
      doomed.push(entry);
      return true;
    });
    for (const entry of doomed) this.removeEntry(entry.id);
    return {
      deleted: doomed.length,
      ...(command.prevKv === true ? { prevKvs: doomed.map((e) => this.output(e, false)) } : {}),
    };
  }

  private removeEntry(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.index.remove(id);
    if (entry.lease !== 0) this.leases.get(entry.lease)?.keys.delete(id);
  }

  private txn(command: KvTxn): KvResult {
    const succeeded = command.compare.every((c) => this.compareHolds(c));
    const ops: readonly KvTxnOp[] = succeeded ? command.success : command.failure;
    // Refuse up front whatever would fail midway: a transaction applies entirely or not at all.
    for (const op of ops) {
      const refused =
        op.type === 'put'
          ? this.checkLease(op)
          : op.type === 'range'
            ? this.checkRevision(op.revision, this.rev)
            : undefined;
      if (refused !== undefined) return refused;
    }
    const next = this.rev + 1;
    let changed = false;
    // Every response carries the transaction's final revision, known only at the end.
    const pending: ((revision: number) => KvTxnOpResult)[] = [];
    for (const op of ops) {
      switch (op.type) {
        case 'put': {
          const result = this.put(op, next);
          changed = true;
          pending.push((revision): KvPutResult => ({ type: 'put', revision, ...result }));
          break;
        }
        case 'delete': {
          const result = this.deleteRange(op);
          if (result.deleted > 0) changed = true;
          pending.push((revision): KvDeleteResult => ({ type: 'delete', revision, ...result }));
          break;
        }
        case 'range': {
          const result = this.rangeResult(op, next);
          pending.push((revision) => ({ ...result, revision }));
          break;
        }
      }
    }
    if (changed) this.rev = next;
    const revision = this.rev;
    return { type: 'txn', revision, succeeded, responses: pending.map((build) => build(revision)) };
  }

  private compareHolds(compare: KvCompare): boolean {
    let matched = 0;
    let ok = true;
    this.scan(compare.key, compare.rangeEnd, (entry) => {
      matched++;
      ok =
        compare.target === 'value'
          ? holds(compareKeys(entry.value, compare.value), compare.op)
          : holds(Math.sign(numericTarget(entry, compare.target) - compare.value), compare.op);
      return ok;
    });
    if (matched > 0) return ok;
    // No key: a value compare fails (absent is not empty); numeric targets read as 0.
    if (compare.target === 'value') return false;
    return holds(Math.sign(0 - compare.value), compare.op);
  }

  // ----- Reads ----------------------------------------------------------------------------

  /**
   * Visits the entries of `key`/`rangeEnd` in key order until `visit` returns false. etcd's
   * rules: no or empty `rangeEnd` → the key alone; `[0]` → every key `>= key`; else `[key, rangeEnd)`.
   */
  private scan(key: Uint8Array, rangeEnd: Uint8Array | undefined, visit: (entry: Entry) => boolean): void {
    const start = byteString(key);
    if (rangeEnd === undefined || rangeEnd.length === 0) {
      const entry = this.entries.get(start);
      if (entry !== undefined) visit(entry);
      return;
    }
    const end = rangeEnd.length === 1 && rangeEnd[0] === 0 ? undefined : byteString(rangeEnd);
    if (end !== undefined && end <= start) return;
    this.index.forEachFrom(start, (id) => {
      if (end !== undefined && id >= end) return false;
      const entry = this.entries.get(id);
      return entry === undefined ? true : visit(entry);
    });
  }

  private rangeResult(range: KvRange, revision: number): KvRangeResult {
    const limit = range.limit ?? 0;
    const kvs: KvKeyValue[] = [];
    let count = 0;
    this.scan(range.key, range.rangeEnd, (entry) => {
      count++;
      if (range.countOnly !== true && (limit === 0 || kvs.length < limit)) {
        kvs.push(this.output(entry, range.keysOnly === true));
      }
      return true;
    });
    return { type: 'range', revision, kvs, count, more: limit > 0 && count > limit };
  }

  private leaseTimeToLive(query: KvLeaseTimeToLiveQuery): KvQueryResult {
    const lease = this.leases.get(query.id);
    if (lease === undefined) return errorResult(new KvLeaseNotFoundError(query.id));
    return {
      type: 'leaseTimeToLive',
      revision: this.rev,
      id: lease.id,
      ttlMs: lease.ttlMs,
      deadline: lease.deadline,
      remainingMs: lease.deadline - this.time,
      ...(query.keys === true ? { keys: this.leaseKeys(lease) } : {}),
    };
  }

  private leaseList(_query: KvLeasesQuery): KvQueryResult {
    return { type: 'leases', revision: this.rev, leases: [...this.leases.keys()].sort((a, b) => a - b) };
  }

  /** A fresh copy of an entry for a result, so callers can never reach the stored bytes. */
  private output(entry: Entry, keysOnly: boolean): KvKeyValue {
    return {
      key: entry.key.slice(),
      value: keysOnly ? new Uint8Array() : entry.value.slice(),
      createRevision: entry.createRevision,
      modRevision: entry.modRevision,
      version: entry.version,
      lease: entry.lease,
    };
  }

  // ----- Restore --------------------------------------------------------------------------

  private restoreFrom(raw: unknown): void {
    const r = kvRecord(raw, 'snapshot', [
      'v',
      'kind',
      'revision',
      'now',
      'nextLeaseId',
      'kvs',
      'leases',
      'sessions',
    ]);
    if (r.v !== SNAPSHOT_VERSION) kvFail('version', 'snapshot.v', `unsupported version ${String(r.v)}`);
    if (r.kind !== SNAPSHOT_KIND) kvFail('shape', 'snapshot.kind', `expected "${SNAPSHOT_KIND}"`);
    const revision = kvInt(r.revision, 'snapshot.revision', 0);
    const now = kvInt(r.now, 'snapshot.now', 0, KV_MAX_TIME_MS);
    const nextLeaseId = kvInt(r.nextLeaseId, 'snapshot.nextLeaseId', 1);
    const max = Number.MAX_SAFE_INTEGER;

    const leases = new Map<number, Lease>();
    let previousId = 0;
    kvArray(r.leases, 'snapshot.leases', max).forEach((item, i) => {
      const path = `snapshot.leases[${i}]`;
      const [id, ttlMs, deadline] = tuple(item, path, 3);
      const lease: Lease = {
        id: kvInt(id, `${path}[0]`, 1),
        ttlMs: kvInt(ttlMs, `${path}[1]`, 1, KV_MAX_LEASE_TTL_MS),
        // A live lease's deadline is after the time: it would have expired otherwise.
        deadline: kvInt(deadline, `${path}[2]`, now + 1, now + KV_MAX_LEASE_TTL_MS),
        keys: new Set(),
      };
      if (lease.id <= previousId) kvFail('order', path, 'lease ids must be strictly increasing');
      previousId = lease.id;
      leases.set(lease.id, lease);
    });

    const entries = new Map<string, Entry>();
    const ids: string[] = [];
    kvArray(r.kvs, 'snapshot.kvs', max).forEach((item, i) => {
      const path = `snapshot.kvs[${i}]`;
      const [key, value, createRevision, modRevision, version, lease] = tuple(item, path, 6);
      const kv = validateKvKeyValue({ key, value, createRevision, modRevision, version, lease }, path);
      if (kv.modRevision > revision)
        kvFail('order', path, `modRevision ${kv.modRevision} > revision ${revision}`);
      const id = byteString(kv.key);
      const previous = ids[ids.length - 1];
      if (previous !== undefined && previous >= id) kvFail('order', path, 'keys must be strictly increasing');
      if (kv.lease !== 0) {
        const owner = leases.get(kv.lease);
        if (owner === undefined) kvFail('reference', path, `lease ${kv.lease} does not exist`);
        owner.keys.add(id);
      }
      ids.push(id);
      entries.set(id, { id, ...kv, key: kv.key.slice(), value: kv.value.slice() });
    });

    const sessions = new Map<string, Session>();
    kvArray(r.sessions, 'snapshot.sessions', max).forEach((item, i) => {
      const path = `snapshot.sessions[${i}]`;
      const [client, seq, lastIndex, result] = tuple(item, path, 4);
      const name = kvString(client, `${path}[0]`, 1, KV_MAX_CLIENT_ID_BYTES);
      const session: Session = {
        seq: kvInt(seq, `${path}[1]`, 1),
        lastIndex: kvInt(lastIndex, `${path}[2]`, Number.MIN_SAFE_INTEGER),
        result: copyBytesDeep(validateKvResult(result, `${path}[3]`)),
      };
      if (sessions.has(name)) kvFail('order', path, `duplicate client ${JSON.stringify(name)}`);
      sessions.set(name, session);
    });
    // A snapshot from a machine allowed more sessions: keep the most recently used ones.
    for (const oldest of sessions.keys()) {
      if (sessions.size <= this.maxSessions) break;
      sessions.delete(oldest);
    }

    // Everything checked: switch over in one go.
    this.entries = entries;
    this.index = SortedKeys.fromSorted(ids);
    this.leases = leases;
    this.deadlines = new DeadlineHeap();
    for (const lease of leases.values()) this.deadlines.push(lease.deadline, lease.id);
    this.sessions = sessions;
    this.rev = revision;
    this.time = now;
    this.nextLeaseId = nextLeaseId;
  }
}

function tuple(value: unknown, path: string, length: number): unknown[] {
  const items = kvArray(value, path, length);
  if (items.length !== length) kvFail('shape', path, `expected ${length} elements`);
  return [...items];
}

// ---------------------------------------------------------------------------------------------
// Client-side helper
// ---------------------------------------------------------------------------------------------

/** Key or value: bytes, or a string taken as UTF-8. */
export type KvBytesLike = Uint8Array | string;

/**
 * Envelope options for {@link kv} builders. `now` defaults to 0: the leader stamps its own clock
 * with `kv.stamp` before proposing. Give `client` and `seq` together for duplicate detection.
 */
export interface KvProposeOptions {
  /** The proposer's time in ms; default 0. */
  readonly now?: number;
  /** Client session id. */
  readonly client?: string;
  /** Request number within the session (a retry reuses it). */
  readonly seq?: number;
}

function envelope(command: KvCommand, options: KvProposeOptions = {}): Uint8Array {
  return encodeKvCommand({
    now: options.now ?? 0,
    ...(options.client !== undefined ? { client: options.client } : {}),
    ...(options.seq !== undefined ? { seq: options.seq } : {}),
    command,
  });
}

function endOf(key: Uint8Array, options: { readonly rangeEnd?: KvBytesLike; readonly prefix?: boolean }) {
  if (options.prefix === true) return { rangeEnd: kvPrefixEnd(key) };
  return options.rangeEnd !== undefined ? { rangeEnd: kvBytes(options.rangeEnd) } : {};
}

function putOp(
  key: KvBytesLike,
  value: KvBytesLike,
  options: { readonly lease?: number; readonly prevKv?: boolean } = {},
): KvPut {
  return {
    type: 'put',
    key: kvBytes(key),
    value: kvBytes(value),
    ...(options.lease !== undefined ? { lease: options.lease } : {}),
    ...(options.prevKv !== undefined ? { prevKv: options.prevKv } : {}),
  };
}

function deleteOp(
  key: KvBytesLike,
  options: { readonly rangeEnd?: KvBytesLike; readonly prefix?: boolean; readonly prevKv?: boolean } = {},
): KvDelete {
  const k = kvBytes(key);
  return {
    type: 'delete',
    key: k,
    ...endOf(k, options),
    ...(options.prevKv !== undefined ? { prevKv: options.prevKv } : {}),
  };
}

function rangeOp(
  key: KvBytesLike,
  options: KvRangeOptions & { readonly prefix?: boolean; readonly revision?: number } = {},
): KvRange {
  const k = kvBytes(key);
  return {
    type: 'range',
    key: k,
    ...endOf(k, options),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.keysOnly !== undefined ? { keysOnly: options.keysOnly } : {}),
    ...(options.countOnly !== undefined ? { countOnly: options.countOnly } : {}),
    ...(options.revision !== undefined ? { revision: options.revision } : {}),
  };
}

/**
 * Builders for KV command bytes, transaction parts and queries, so callers never hand-build
 * objects. Builders validate and throw `KvDecodeError` on what no replica would accept.
 *
 * ```ts
 * sm.apply(kv.put('a', 'x', { client: 'c1', seq: 1 }), index);
 * kv.txn({ compare: [kv.compare('a', 'version', '=', 0)], success: [kv.op.put('a', 'x')] });
 * sm.query(kv.range('dir/', { prefix: true }));
 * ```
 */
export const kv = {
  /** Command bytes for a put (`lease`: attach to it; `prevKv`: return the previous key-value). */
  put(
    key: KvBytesLike,
    value: KvBytesLike,
    options: KvProposeOptions & { readonly lease?: number; readonly prevKv?: boolean } = {},
  ): Uint8Array {
    return envelope(putOp(key, value, options), options);
  },
  /** Command bytes for a delete of `key`, a range up to `rangeEnd`, or every key with the `prefix`. */
  delete(
    key: KvBytesLike,
    options: KvProposeOptions & {
      readonly rangeEnd?: KvBytesLike;
      readonly prefix?: boolean;
      readonly prevKv?: boolean;
    } = {},
  ): Uint8Array {
    return envelope(deleteOp(key, options), options);
  },
  /** Command bytes for a transaction (missing parts are empty). */
  txn(
    txn: {
      readonly compare?: readonly KvCompare[];
      readonly success?: readonly KvTxnOp[];
      readonly failure?: readonly KvTxnOp[];
    },
    options: KvProposeOptions = {},
  ): Uint8Array {
    return envelope(
      { type: 'txn', compare: txn.compare ?? [], success: txn.success ?? [], failure: txn.failure ?? [] },
      options,
    );
  },
  /** Command bytes for a lease grant (`id` absent or 0: the machine picks one). */
  leaseGrant(ttlMs: number, options: KvProposeOptions & { readonly id?: number } = {}): Uint8Array {
    return envelope(
      { type: 'leaseGrant', ttlMs, ...(options.id !== undefined ? { id: options.id } : {}) },
      options,
    );
  },
  /** Command bytes for a lease revoke. */
  leaseRevoke(id: number, options: KvProposeOptions = {}): Uint8Array {
    return envelope({ type: 'leaseRevoke', id }, options);
  },
  /** Command bytes for a lease keep-alive. */
  leaseKeepAlive(id: number, options: KvProposeOptions = {}): Uint8Array {
    return envelope({ type: 'leaseKeepAlive', id }, options);
  },
  /** Command bytes for a tick at the leader's time `now`. */
  tick(now: number): Uint8Array {
    return envelope({ type: 'tick' }, { now });
  },
  /** Re-encodes command bytes with the leader's time (see {@link restampKvCommand}). */
  stamp(command: Uint8Array, now: number): Uint8Array {
    return restampKvCommand(command, now);
  },
  /**
   * Re-encodes command bytes in client session `client`/`seq` (replacing any session they had),
   * so that a copy committed twice is applied once: what `RaftNode`'s `retryForwardedProposals`
   * asks of a state machine. Throws `KvDecodeError` for bytes that are not a command. A proposer
   * with commands in flight at once gets sessions from a {@link KvSessionPool} instead.
   */
  inSession(command: Uint8Array, client: string, seq: number): Uint8Array {
    return inClientSession(command, client, seq);
  },
  /** The `rangeEnd` covering every key that starts with `prefix`. */
  prefixEnd(prefix: KvBytesLike): Uint8Array {
    return kvPrefixEnd(kvBytes(prefix));
  },
  /** Transaction operations. */
  op: {
    /** A put inside a transaction. */
    put: putOp,
    /** A delete inside a transaction. */
    delete: deleteOp,
    /** A range read inside a transaction. */
    range: rangeOp,
  },
  /** A transaction guard on a numeric target: `actual op value`. */
  compare(
    key: KvBytesLike,
    target: Exclude<KvCompareTarget, 'value'>,
    op: KvCompareOp,
    value: number,
    options: { readonly rangeEnd?: KvBytesLike; readonly prefix?: boolean } = {},
  ): KvCompare {
    const k = kvBytes(key);
    return { key: k, ...endOf(k, options), target, op, value };
  },
  /** A transaction guard on the value bytes: `actual op value` (byte-wise). */
  compareValue(
    key: KvBytesLike,
    op: KvCompareOp,
    value: KvBytesLike,
    options: { readonly rangeEnd?: KvBytesLike; readonly prefix?: boolean } = {},
  ): KvCompare {
    const k = kvBytes(key);
    return { key: k, ...endOf(k, options), target: 'value', op, value: kvBytes(value) };
  },
  /** A range query (also usable as a transaction op). */
  range: rangeOp,
  /** A lease time-to-live query (`keys`: list attached keys). */
  leaseTimeToLive(id: number, options: { readonly keys?: boolean } = {}): KvLeaseTimeToLiveQuery {
    return { type: 'leaseTimeToLive', id, ...(options.keys !== undefined ? { keys: options.keys } : {}) };
  },
  /** A query listing every lease. */
  leases(): KvLeasesQuery {
    return { type: 'leases' };
  },
} as const;
