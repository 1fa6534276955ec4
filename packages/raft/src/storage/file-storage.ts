import { type Disk, type DiskLock, joinDiskPath, normalizeDiskDir } from '@clusteros/sim';
import { EMPTY_SNAPSHOT, type Entry, type HardState, type Snapshot } from '../core/types.js';
import {
  InvariantError,
  invariant,
  isDecodeError,
  isInvariantError,
  StorageCorruptError,
  StorageLockLostError,
} from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { MemoryLog, type MemoryLogPosition } from './memory-storage.js';
import type { LogReader, RaftStorage, StorageStats, StorageUpdate } from './storage.js';
import {
  decodeSnapshotFile,
  decodeWalRecord,
  encodeSnapshotFile,
  encodeWalRecord,
  encodeWalRecordAt,
  findNextValidFrame,
  frameRecord,
  MAX_RECORD_PAYLOAD_BYTES,
  readFrame,
  type SaveRecord,
  type SegmentHeaderRecord,
  type SnapshotRecord,
  type WalRecord,
} from './wal-format.js';

/** Options of {@link FileStorage}. */
export interface FileStorageOptions {
  /** Where the files live; durability follows the `Disk` contract of `@clusteros/sim`. */
  readonly disk: Disk;
  /**
   * Folder on the disk for this storage's `wal/` and `snap/` folders.
   * @defaultValue `'raft'`
   */
  readonly dir?: string;
  /**
   * A new WAL segment is started once the current one holds this many bytes. Smaller segments
   * are deleted sooner after a snapshot; larger ones mean fewer files.
   * @defaultValue 64 MiB
   */
  readonly segmentBytes?: number;
  /** Receives recovery events (torn tails, removed leftovers). Silent by default. */
  readonly logger?: Logger;
  /**
   * Take `dir` with the disk's `lock` (when the disk has one) in `open()` and hold it until
   * `close()`, so that a second process (or a second `FileStorage`) opened on the same folder
   * fails with `DiskLockedError` instead of interleaving its writes with this one's and losing
   * acknowledged entries. Turn it off only where something else guarantees a single writer.
   * @defaultValue true
   */
  readonly lock?: boolean;
}

/** The default {@link FileStorageOptions.segmentBytes}: 64 MiB. */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });

const SEGMENT_NAME = /^(\d{16})\.log$/;
const SNAPSHOT_NAME = /^(\d{16})-(\d{16})\.snap$/;

function pad16(n: number): string {
  return String(n).padStart(16, '0');
}

function snapshotName(index: number, term: number): string {
  return `${pad16(index)}-${pad16(term)}.snap`;
}

/** What the WAL says as of the last record written (or replayed): goes into segment headers. */
interface WrittenState {
  readonly hardState: HardState;
  readonly position: MemoryLogPosition;
}

/** One WAL file. */
interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Bytes of valid records. */
  size: number;
  /** Highest entry index written into it (0: none); it may go once the log starts above this. */
  maxIndex: number;
}

/** A record ready to be framed (the frame's checksum depends on where it lands). */
interface PendingRecord {
  readonly type: number;
  readonly payload: Uint8Array;
}

interface JobBase {
  /** State after this job, for the header of a segment started after it. */
  readonly after: WrittenState;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** A `save()`: records to append (none for an empty save, which only keeps its place in line). */
interface SaveJob extends JobBase {
  readonly kind: 'save';
  readonly records: readonly PendingRecord[];
  readonly maxIndex: number;
  readonly entries: number;
}

/** An `installSnapshot()` or `createSnapshot()`. */
interface SnapshotJob extends JobBase {
  readonly kind: 'snapshot';
  readonly name: string;
  readonly file: Uint8Array;
  readonly record: PendingRecord;
}

type Job = SaveJob | SnapshotJob;

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve: () => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Encodes a save as one record, so that a torn write loses whole saves. Only a save whose
 * encoding would exceed the record limit is split (entries first, the hard state last).
 */
function encodeSave(record: SaveRecord): PendingRecord[] {
  const encoded = encodeWalRecord(record);
  if (encoded.payload.length <= MAX_RECORD_PAYLOAD_BYTES) return [encoded];
  invariant(record.entries.length > 1, 'a single entry exceeds the 64 MiB record limit');
  const half = Math.ceil(record.entries.length / 2);
  return [
    ...encodeSave({ type: 'save', hardState: null, entries: record.entries.slice(0, half) }),
    ...encodeSave({ type: 'save', hardState: record.hardState, entries: record.entries.slice(half) }),
  ];
}

/**
 * Rebuilds the log from WAL records. Replay may start at any segment (older ones are deleted
 * after snapshots): the first segment's header gives the position, and entries written before
 * that segment are "claimed but absent" until a snapshot record compacts them away. At the end
 * the log must be complete from its first index, or the storage is corrupt.
 */
class Replay {
  /** Entries read so far, contiguous from `lo`; all at or above `first`. */
  entries: Entry[] = [];
  lo = 1;
  last = 0;
  first = 1;
  prevTerm = 0;
  snapIndex = 0;
  snapTerm = 0;
  hardState: HardState = EMPTY_HARD_STATE;
  started = false;

  position(): MemoryLogPosition {
    return {
      snapshotIndex: this.snapIndex,
      snapshotTerm: this.snapTerm,
      firstIndex: this.first,
      prevTerm: this.prevTerm,
      lastIndex: this.last,
    };
  }

  /** Whether every entry from `first` to `last` has been read. */
  complete(): boolean {
    return this.entries.length > 0 ? this.lo === this.first : this.last === this.first - 1;
  }

  /** Term at `index` if known from what was read. */
  termAt(index: number): number | undefined {
    if (index === this.first - 1) return this.prevTerm;
    if (this.entries.length === 0 || index < this.lo || index > this.last) return undefined;
    return this.entries[index - this.lo]?.term;
  }

  header(record: SegmentHeaderRecord, fail: (detail: string) => never): void {
    const p = record.position;
    if (!this.started) {
      this.started = true;
      this.hardState = record.hardState;
      this.snapIndex = p.snapshotIndex;
      this.snapTerm = p.snapshotTerm;
      this.first = p.firstIndex;
      this.prevTerm = p.prevTerm;
      this.last = p.lastIndex;
      this.lo = p.lastIndex + 1;
      return;
    }
    // A later header restates what the records before it established: a cheap consistency check.
    const mine = this.position();
    const same =
      mine.snapshotIndex === p.snapshotIndex &&
      mine.snapshotTerm === p.snapshotTerm &&
      mine.firstIndex === p.firstIndex &&
      mine.prevTerm === p.prevTerm &&
      mine.lastIndex === p.lastIndex &&
      sameHardState(this.hardState, record.hardState);
    if (!same) {
      fail(
        `segment header ${JSON.stringify(p)} disagrees with the records before it ${JSON.stringify(mine)}`,
      );
    }
  }

  save(record: SaveRecord, segment: Segment, fail: (detail: string) => never): void {
    const first = record.entries[0];
    if (first !== undefined) {
      const i0 = first.index;
      if (i0 <= this.snapIndex) fail(`entries from ${i0} rewrite the snapshot at ${this.snapIndex}`);
      if (i0 < this.first) fail(`entries from ${i0} rewrite compacted entries (first index ${this.first})`);
      if (i0 > this.last + 1) fail(`entries from ${i0} leave a gap after index ${this.last}`);
      if (this.entries.length === 0 || i0 < this.lo) {
        this.entries = [...record.entries];
        this.lo = i0;
      } else {
        this.entries.length = i0 - this.lo;
        for (const e of record.entries) this.entries.push(e);
      }
      this.last = i0 + record.entries.length - 1;
      segment.maxIndex = Math.max(segment.maxIndex, this.last);
    }
    if (record.hardState !== null) this.hardState = record.hardState;
  }

  snapshot(record: SnapshotRecord, fail: (detail: string) => never): void {
    const { index, term, firstIndex, prevTerm, keepEntries } = record;
    if (index <= this.snapIndex) fail(`snapshot at ${index} is not newer than the one at ${this.snapIndex}`);
    if (firstIndex < this.first) {
      fail(`snapshot moves the first index back from ${this.first} to ${firstIndex}`);
    }
    if (keepEntries && index > this.last) fail(`snapshot at ${index} keeps a log that ends at ${this.last}`);
    const known = this.termAt(index);
    if (keepEntries && known !== undefined && known !== term) {
      fail(`snapshot term ${term} at ${index} differs from the log's ${known}`);
    }
    const knownPrev = this.termAt(firstIndex - 1);
    if (keepEntries && knownPrev !== undefined && knownPrev !== prevTerm) {
      fail(`term ${prevTerm} at ${firstIndex - 1} differs from the log's ${knownPrev}`);
    }
    if (!keepEntries) {
      this.entries = [];
      this.last = index;
    } else if (this.entries.length > 0 && this.lo < firstIndex) {
      this.entries.splice(0, firstIndex - this.lo);
      this.lo = firstIndex;
    }
    if (this.entries.length === 0) this.lo = this.last + 1;
    this.first = firstIndex;
    this.prevTerm = prevTerm;
    this.snapIndex = index;
    this.snapTerm = term;
    if (this.hardState.commit < index) this.hardState = { ...this.hardState, commit: index };
  }
}

/**
 * A durable {@link RaftStorage} over an injected `Disk` (from `@clusteros/sim`): a segmented write-ahead log plus
 * snapshot files, with the live log kept in memory so reads are synchronous.
 *
 * Layout under `dir` (default `raft`):
 * - `wal/<16-digit sequence number>.log`: WAL segments, numbered 0, 1, 2, ... in write order
 *   (sequence numbers rather than first indexes, because a rewritten suffix can make a later
 *   segment start below an earlier one). Each starts with a header restating the hard state
 *   and log position, so older segments can be deleted. Record format: `wal-format.ts`.
 * - `snap/<16-digit index>-<16-digit term>.snap`: snapshots, the newest two kept.
 *
 * Writes:
 * - `save()` applies the update to the in-memory log at once (so reads see it; invalid updates
 *   throw `InvariantError` and change nothing) and queues one record. A single writer drains
 *   the queue: every save waiting in line goes out in one durable append (group commit), and
 *   each resolves once it is on the disk. The append is the disk's `appendDurable` where it has
 *   one (`NodeDisk`: a write on an `O_DSYNC` descriptor, one trip through Node's I/O threads
 *   instead of two), else `appendFile` then `sync`. Saves, snapshots and their promises
 *   complete in call order.
 * - A new segment is started when the current one has reached `segmentBytes`: header and
 *   records are written to the new file, synced, then the folder is synced.
 * - `installSnapshot()`/`createSnapshot()` write the snapshot file atomically (temp file, sync,
 *   rename, folder sync), then append and sync a snapshot record; only then are segments whose
 *   entries all precede the new first index deleted (oldest first, folder synced after each),
 *   and snapshot files beyond the newest two.
 * - A failed disk write leaves the storage failed: every later write rejects, since what is on
 *   the disk is then unknown. Reopen to recover.
 *
 * Recovery (`open()`): segments are replayed in order; the newest snapshot record names the
 * snapshot file, which must exist and be intact. A damaged record at the end of the last
 * segment with nothing valid after it is a torn write: the file is truncated there and synced.
 * Damage anywhere else, a missing segment, a gap in the indexes or a bad referenced snapshot
 * rejects with `StorageCorruptError` naming the file and offset. Leftover temp files and
 * snapshot files no snapshot record refers to (a crash mid-snapshot) are deleted.
 *
 * Limitation: bit rot in the very last record of the log looks exactly like a torn write and is
 * truncated; every record before it is protected.
 */
export class FileStorage implements RaftStorage {
  readonly #disk: Disk;
  readonly #dir: string;
  readonly #lockFolder: boolean;
  #lock: DiskLock | undefined;
  readonly #walDir: string;
  readonly #snapDir: string;
  readonly #segmentBytes: number;
  readonly #logger: Logger;
  #log: MemoryLog = new MemoryLog({
    snapshot: EMPTY_SNAPSHOT,
    hardState: EMPTY_HARD_STATE,
    entries: [],
    firstIndex: 1,
    prevTerm: 0,
  });
  #segments: Segment[] = [];
  #written: WrittenState = { hardState: EMPTY_HARD_STATE, position: this.#log.position() };
  #queue: Job[] = [];
  #draining: Promise<void> | undefined;
  #state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  #failure: unknown;
  #failed = false;
  #saves = 0;
  #syncs = 0;
  #entriesAppended = 0;
  #bytesWritten = 0;
  #snapshotsSaved = 0;

  /** Creates the storage; does no I/O until {@link FileStorage.open}. */
  constructor(options: FileStorageOptions) {
    this.#disk = options.disk;
    const dir = normalizeDiskDir(options.dir ?? 'raft');
    this.#dir = dir;
    this.#lockFolder = options.lock ?? true;
    this.#walDir = joinDiskPath(dir, 'wal');
    this.#snapDir = joinDiskPath(dir, 'snap');
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
      throw new RangeError(`segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    this.#segmentBytes = segmentBytes;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Paths of the WAL segments, oldest first (for tests and tooling). */
  segmentPaths(): string[] {
    return this.#segments.map((s) => s.path);
  }

  // ------------------------------------------------------------------------------------------
  // LogReader

  initialState(): ReturnType<LogReader['initialState']> {
    return this.#log.initialState();
  }

  firstIndex(): number {
    return this.#log.firstIndex();
  }

  lastIndex(): number {
    return this.#log.lastIndex();
  }

  term(index: number): number {
    return this.#log.term(index);
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.#log.entries(lo, hi, maxBytes);
  }

  snapshot(): Snapshot {
    return this.#log.snapshot();
  }

  stats(): StorageStats {
    return {
      saves: this.#saves,
      syncs: this.#syncs,
      entriesAppended: this.#entriesAppended,
      bytesWritten: this.#bytesWritten,
      snapshotsSaved: this.#snapshotsSaved,
    };
  }

  // ------------------------------------------------------------------------------------------
  // Writes

  async save(update: StorageUpdate): Promise<void> {
    this.#checkWritable();
    const entries = update.entries;
    const wrote = entries.length > 0 || update.hardState !== undefined;
    // Encoded before the log changes: an entry too large for a record then changes nothing.
    const records = wrote
      ? encodeSave({ type: 'save', hardState: update.hardState ?? null, entries: [...entries] })
      : [];
    this.#log.save(update);
    const d = deferred();
    this.#enqueue({
      kind: 'save',
      records,
      maxIndex: entries[entries.length - 1]?.index ?? 0,
      entries: entries.length,
      after: this.#current(),
      resolve: d.resolve,
      reject: d.reject,
    });
    return d.promise;
  }

  async installSnapshot(snapshot: Snapshot): Promise<void> {
    this.#checkWritable();
    // Encoded before the log changes, so a snapshot that cannot be encoded changes nothing.
    const file = encodeSnapshotFile(snapshot);
    const keepEntries = this.#log.installSnapshot(snapshot);
    return this.#enqueueSnapshot(snapshot, file, keepEntries);
  }

  async createSnapshot(snapshot: Snapshot, retainEntries: number): Promise<void> {
    this.#checkWritable();
    const file = encodeSnapshotFile(snapshot);
    this.#log.createSnapshot(snapshot, retainEntries);
    return this.#enqueueSnapshot(snapshot, file, true);
  }

  /** Waits for queued writes, then refuses new ones. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    while (this.#draining !== undefined) await this.#draining;
    await this.#releaseLock();
    // Release the disk's cached descriptors (a NodeDisk keeps the WAL segment open).
    await this.#disk.close?.();
  }

  #enqueueSnapshot(snapshot: Snapshot, file: Uint8Array, keepEntries: boolean): Promise<void> {
    const after = this.#current();
    const record: SnapshotRecord = {
      type: 'snapshot',
      index: snapshot.meta.index,
      term: snapshot.meta.term,
      firstIndex: after.position.firstIndex,
      prevTerm: after.position.prevTerm,
      keepEntries,
    };
    const d = deferred();
    this.#enqueue({
      kind: 'snapshot',
      name: snapshotName(snapshot.meta.index, snapshot.meta.term),
      file,
      record: encodeWalRecord(record),
      after,
      resolve: d.resolve,
      reject: d.reject,
    });
    return d.promise;
  }

  #current(): WrittenState {
    return { hardState: this.#log.hardState(), position: this.#log.position() };
  }

  #checkWritable(): void {
    if (this.#state === 'new' || this.#state === 'opening') {
      throw new InvariantError('FileStorage.open() must complete before writes');
    }
    if (this.#state === 'closed') throw new Error('FileStorage is closed');
    if (this.#failed) {
      throw new Error(`FileStorage failed earlier and accepts no writes: ${describe(this.#failure)}`, {
        cause: this.#failure,
      });
    }
    if (this.#lock !== undefined && !this.#lock.held) {
      // Lost, not released (close() would have set 'closed'): another process may own the folder.
      this.#failed = true;
      this.#failure = new StorageLockLostError(this.#dir);
      throw this.#failure;
    }
  }

  #enqueue(job: Job): void {
    this.#queue.push(job);
    if (this.#draining === undefined) this.#draining = this.#drain();
  }

  /** The single writer: runs queued jobs in order, coalescing consecutive saves. */
  async #drain(): Promise<void> {
    // One microtask hop, so saves issued in the same tick share the first write and sync.
    await Promise.resolve();
    for (;;) {
      const head = this.#queue[0];
      if (head === undefined) {
        // No await between the empty check and this reset: an enqueue cannot slip in between.
        this.#draining = undefined;
        return;
      }
      if (head.kind === 'snapshot') {
        this.#queue.shift();
        await this.#runSnapshot(head);
        continue;
      }
      const batch: SaveJob[] = [];
      let bytes = 0;
      for (let job = this.#queue[0]; job?.kind === 'save'; job = this.#queue[0]) {
        const size = job.records.reduce((n, r) => n + r.payload.length, 0);
        if (batch.length > 0 && bytes + size > MAX_RECORD_PAYLOAD_BYTES) break;
        batch.push(job);
        bytes += size;
        this.#queue.shift();
      }
      await this.#runSaves(batch);
    }
  }

  async #runSaves(batch: readonly SaveJob[]): Promise<void> {
    const last = batch[batch.length - 1];
    if (last === undefined) return;
    const records = batch.flatMap((job) => job.records);
    try {
      if (this.#failed) throw this.#failure;
      if (records.length > 0) {
        const maxIndex = batch.reduce((max, job) => Math.max(max, job.maxIndex), 0);
        await this.#append(records, maxIndex, last.after);
      }
    } catch (error) {
      this.#fail(error, batch);
      return;
    }
    for (const job of batch) {
      if (job.records.length > 0) this.#saves++;
      this.#entriesAppended += job.entries;
      job.resolve();
    }
  }

  async #runSnapshot(job: SnapshotJob): Promise<void> {
    try {
      if (this.#failed) throw this.#failure;
      const final = joinDiskPath(this.#snapDir, job.name);
      const temp = `${final}.tmp`;
      await this.#disk.writeFile(temp, job.file);
      await this.#sync(temp);
      await this.#disk.rename(temp, final);
      await this.#syncDir(this.#snapDir);
      await this.#append([job.record], 0, job.after);
      this.#snapshotsSaved++;
    } catch (error) {
      this.#fail(error, [job]);
      return;
    }
    try {
      await this.#collectGarbage();
    } catch (error) {
      // Leftover files cost space, not correctness; the next snapshot or open retries.
      this.#logger.warn({ error: describe(error) }, 'raft storage: could not delete old files');
    }
    job.resolve();
  }

  /** Marks the storage failed and rejects `jobs` and everything queued behind them. */
  #fail(error: unknown, jobs: readonly Job[]): void {
    if (!this.#failed) {
      this.#failed = true;
      this.#failure = error;
      this.#logger.error(
        { error: describe(error) },
        'raft storage: write failed; storage is unusable until reopened',
      );
    }
    for (const job of jobs) job.reject(error);
    for (const job of this.#queue.splice(0)) job.reject(error);
  }

  /**
   * Appends records to the current segment (or a new one, when the current is full) and makes
   * them durable: one append, one sync, and for a new segment one folder sync.
   */
  async #append(records: readonly PendingRecord[], maxIndex: number, after: WrittenState): Promise<void> {
    let segment = this.#segments[this.#segments.length - 1];
    const parts: Uint8Array[] = [];
    let fresh = false;
    let offset = segment?.size ?? 0;
    if (segment === undefined || segment.size >= this.#segmentBytes) {
      const seq = segment === undefined ? 0 : segment.seq + 1;
      segment = { seq, path: joinDiskPath(this.#walDir, `${pad16(seq)}.log`), size: 0, maxIndex: 0 };
      fresh = true;
      const header = encodeWalRecordAt(
        { type: 'segmentHeader', seq, hardState: this.#written.hardState, position: this.#written.position },
        0,
      );
      parts.push(header);
      offset = header.length;
    }
    for (const record of records) {
      const framed = frameRecord(record.type, record.payload, offset);
      parts.push(framed);
      offset += framed.length;
    }
    const bytes = concat(parts);
    if (fresh) {
      await this.#disk.writeFile(segment.path, bytes);
      await this.#sync(segment.path);
    } else if (this.#disk.appendDurable !== undefined) {
      await this.#disk.appendDurable(segment.path, bytes);
      this.#syncs++;
    } else {
      await this.#disk.appendFile(segment.path, bytes);
      await this.#sync(segment.path);
    }
    if (fresh) {
      await this.#syncDir(this.#walDir);
      this.#segments.push(segment);
    }
    segment.size += bytes.length;
    segment.maxIndex = Math.max(segment.maxIndex, maxIndex);
    this.#bytesWritten += bytes.length;
    this.#written = after;
  }

  /** Deletes segments wholly below the first index (never the current one) and old snapshots. */
  async #collectGarbage(): Promise<void> {
    const first = this.#written.position.firstIndex;
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0];
      if (oldest === undefined || oldest.maxIndex >= first) break;
      await this.#disk.remove(oldest.path);
      // One folder sync per segment: removals then become durable oldest first, so a crash
      // can never leave a hole in the sequence.
      await this.#syncDir(this.#walDir);
      this.#segments.shift();
    }
    const snapshots = await this.#listSnapshots();
    const surplus = snapshots.slice(0, Math.max(0, snapshots.length - 2));
    for (const s of surplus) await this.#disk.remove(joinDiskPath(this.#snapDir, s.name));
    if (surplus.length > 0) await this.#syncDir(this.#snapDir);
  }

  async #sync(path: string): Promise<void> {
    await this.#disk.sync(path);
    this.#syncs++;
  }

  async #syncDir(dir: string): Promise<void> {
    await this.#disk.syncDir(dir);
    this.#syncs++;
  }

  /** Snapshot files, oldest first; temp and foreign names are left out. */
  async #listSnapshots(): Promise<{ name: string; index: number; term: number }[]> {
    const out: { name: string; index: number; term: number }[] = [];
    for (const name of await this.#disk.list(this.#snapDir)) {
      const m = SNAPSHOT_NAME.exec(name);
      if (m !== null) out.push({ name, index: Number(m[1]), term: Number(m[2]) });
    }
    return out.sort((a, b) => a.index - b.index || a.term - b.term);
  }

  // ------------------------------------------------------------------------------------------
  // Recovery

  /**
   * Takes the folder (see {@link FileStorageOptions.lock}), then loads the stored state,
   * repairing a torn tail (see the class comment). Rejects with `DiskLockedError` (from
   * `@clusteros/sim`) when another process or storage holds the folder, and with
   * `StorageCorruptError` when the files are damaged anywhere but the tail; either way the
   * folder is not held afterwards. Call once, before anything else.
   */
  async open(): Promise<void> {
    invariant(this.#state === 'new', 'FileStorage.open() called twice');
    this.#state = 'opening';
    if (this.#lockFolder && this.#disk.lock !== undefined) {
      await this.#disk.mkdir(this.#dir);
      this.#lock = await this.#disk.lock(this.#dir);
    }
    try {
      await this.#recover();
    } catch (error) {
      await this.#releaseLock();
      throw error;
    }
    // A close() during the open found no lock to release yet.
    if (this.#closed()) await this.#releaseLock();
  }

  /** A method, not an inline test: TypeScript keeps `#state` narrowed to 'opening' across awaits. */
  #closed(): boolean {
    return this.#state === 'closed';
  }

  async #releaseLock(): Promise<void> {
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  async #recover(): Promise<void> {
    const disk = this.#disk;
    await disk.mkdir(this.#walDir);
    await disk.mkdir(this.#snapDir);

    // Temp files are snapshots that were never renamed into place: never durable, never used.
    let snapFolderChanged = false;
    for (const name of await disk.list(this.#snapDir)) {
      if (!name.endsWith('.tmp')) continue;
      await disk.remove(joinDiskPath(this.#snapDir, name));
      snapFolderChanged = true;
      this.#logger.info({ file: name }, 'raft storage: removed an unfinished snapshot');
    }

    const segments = await this.#listSegments();
    const replay = new Replay();
    const kept: Segment[] = [];
    for (const [i, segment] of segments.entries()) {
      const isLast = i === segments.length - 1;
      const records = await this.#replaySegment(segment, replay, isLast);
      if (records > 0) {
        kept.push(segment);
        continue;
      }
      if (!isLast) throw new StorageCorruptError(segment.path, 0, 'segment holds no records');
      // A segment created just before a crash, whose header never became durable.
      await disk.remove(segment.path);
      await this.#syncDir(this.#walDir);
      this.#logger.warn({ file: segment.path }, 'raft storage: removed an empty last segment');
    }
    if (!replay.complete()) {
      throw new StorageCorruptError(
        kept[0]?.path ?? this.#walDir,
        0,
        `log entries ${replay.first}..${replay.last} are not all present (a segment is missing)`,
      );
    }

    const snapshot = await this.#loadSnapshot(replay.snapIndex, replay.snapTerm, kept[kept.length - 1]?.path);
    // Snapshot files no record refers to, or beyond the newest two, are leftovers.
    const files = await this.#listSnapshots();
    const referenced = snapshotName(replay.snapIndex, replay.snapTerm);
    const older = files.filter((f) => f.index < replay.snapIndex);
    for (const f of files) {
      const keep = f.name === referenced || f === older[older.length - 1];
      if (keep) continue;
      await disk.remove(joinDiskPath(this.#snapDir, f.name));
      snapFolderChanged = true;
      this.#logger.info({ file: f.name }, 'raft storage: removed an unreferenced snapshot');
    }
    if (snapFolderChanged) await this.#syncDir(this.#snapDir);

    try {
      this.#log = new MemoryLog({
        snapshot,
        hardState: replay.hardState,
        entries: replay.entries,
        firstIndex: replay.first,
        prevTerm: replay.prevTerm,
      });
    } catch (error) {
      if (!isInvariantError(error)) throw error;
      throw new StorageCorruptError(kept[kept.length - 1]?.path ?? this.#walDir, 0, error.message, {
        cause: error,
      });
    }
    this.#segments = kept;
    this.#written = this.#current();
    // close() may have been called meanwhile; it wins.
    if (this.#state === 'opening') this.#state = 'open';
  }

  /** WAL segments in sequence order; a hole in the numbering is corruption. */
  async #listSegments(): Promise<Segment[]> {
    const segments: Segment[] = [];
    for (const name of await this.#disk.list(this.#walDir)) {
      const m = SEGMENT_NAME.exec(name);
      if (m === null) {
        this.#logger.warn({ file: name }, 'raft storage: ignoring a foreign file in the WAL folder');
        continue;
      }
      segments.push({ seq: Number(m[1]), path: joinDiskPath(this.#walDir, name), size: 0, maxIndex: 0 });
    }
    segments.sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < segments.length; i++) {
      const prev = segments[i - 1];
      const cur = segments[i];
      if (prev !== undefined && cur !== undefined && cur.seq !== prev.seq + 1) {
        throw new StorageCorruptError(cur.path, 0, `segment ${prev.seq + 1} is missing`);
      }
    }
    return segments;
  }

  /** Replays one segment into `replay`; returns how many records it holds (after any repair). */
  async #replaySegment(segment: Segment, replay: Replay, isLast: boolean): Promise<number> {
    const data = await this.#disk.readFile(segment.path);
    let offset = 0;
    let records = 0;
    for (;;) {
      const frame = readFrame(data, offset);
      if (frame.status === 'end') break;
      const at = offset;
      const fail = (detail: string, cause?: unknown): never => {
        throw new StorageCorruptError(segment.path, at, detail, cause === undefined ? undefined : { cause });
      };
      if (frame.status === 'ok') {
        let record: WalRecord;
        try {
          record = decodeWalRecord(frame.type, frame.payload);
        } catch (error) {
          if (!isDecodeError(error)) throw error;
          return fail(error.message, error);
        }
        this.#applyRecord(record, records === 0, segment, replay, fail);
        offset = frame.end;
        records++;
        continue;
      }
      if (!isLast) fail(`${frame.detail}, in a segment that is not the last`);
      const next = findNextValidFrame(data, offset);
      if (next !== undefined) fail(`${frame.detail}, followed by a valid record at byte ${next}`);
      // A torn write: nothing after it was ever acknowledged. Cut it off for good.
      this.#logger.warn(
        { file: segment.path, offset, dropped: data.length - offset, detail: frame.detail },
        'raft storage: truncating a torn write at the end of the log',
      );
      await this.#disk.truncate(segment.path, offset);
      await this.#sync(segment.path);
      break;
    }
    segment.size = offset;
    return records;
  }

  #applyRecord(
    record: WalRecord,
    first: boolean,
    segment: Segment,
    replay: Replay,
    fail: (detail: string) => never,
  ): void {
    if (first !== (record.type === 'segmentHeader')) {
      fail(first ? 'segment does not start with a header' : 'segment header in the middle of a segment');
    }
    switch (record.type) {
      case 'segmentHeader':
        if (record.seq !== segment.seq) {
          fail(`header of segment ${record.seq} in the file of segment ${segment.seq}`);
        }
        replay.header(record, fail);
        return;
      case 'save':
        replay.save(record, segment, fail);
        return;
      case 'snapshot':
        replay.snapshot(record, fail);
        return;
    }
  }

  /** Reads the snapshot the WAL refers to; it must be there and intact. */
  async #loadSnapshot(index: number, term: number, walFile: string | undefined): Promise<Snapshot> {
    if (index === 0) return EMPTY_SNAPSHOT;
    const path = joinDiskPath(this.#snapDir, snapshotName(index, term));
    if ((await this.#disk.stat(path)) === undefined) {
      throw new StorageCorruptError(
        path,
        0,
        `snapshot ${index}/${term} is missing though ${walFile ?? 'the WAL'} records it as durable`,
      );
    }
    let snapshot: Snapshot;
    try {
      snapshot = decodeSnapshotFile(await this.#disk.readFile(path));
    } catch (error) {
      if (!isDecodeError(error)) throw error;
      throw new StorageCorruptError(path, 0, error.message, { cause: error });
    }
    if (snapshot.meta.index !== index || snapshot.meta.term !== term) {
      throw new StorageCorruptError(
        path,
        0,
        `file holds snapshot ${snapshot.meta.index}/${snapshot.meta.term}, expected ${index}/${term}`,
      );
    }
    return snapshot;
  }
}
