import { invariant, LogCompactedError } from '../errors.js';
import type { LogReader } from '../storage/storage.js';
import type { Entry, Snapshot } from './types.js';
import { Unstable } from './unstable.js';

/** Keeps entries while their data stays within `maxBytes`; the first entry is always kept. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    total += entries[i]?.data.byteLength ?? 0;
    if (total > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}

/** Bytes of entry data in `entries`. */
export function payloadSize(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entry.data.byteLength;
  return total;
}

/**
 * The log as the core sees it: durable entries read through the {@link LogReader}, followed by
 * the {@link Unstable} tail, plus the commit and applied indexes.
 *
 * Index 0 is the empty log's "before the first entry" with term 0; after compaction, the index
 * just before `firstIndex()` still has a known term (the snapshot's).
 */
export class RaftLog {
  /** Durable storage. */
  readonly storage: LogReader;
  /** Entries not yet persisted. */
  readonly unstable: Unstable;
  /** Highest index known committed. Never decreases. */
  committed: number;
  /** Highest index the driver has applied (acknowledged through `advance`). */
  applied: number;

  /** Opens the log over `storage`. */
  constructor(storage: LogReader) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const snapshotIndex = storage.snapshot().meta.index;
    this.committed = snapshotIndex;
    this.applied = snapshotIndex;
  }

  /** The first index still held (after a snapshot: the snapshot's index + 1). */
  firstIndex(): number {
    const pending = this.unstable.snapshot;
    return pending !== undefined ? pending.meta.index + 1 : this.storage.firstIndex();
  }

  /** The last index of the log. */
  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  /**
   * The term of the entry at `index`, or `undefined` when it is compacted away or beyond the
   * end. The index just before the first one answers with the snapshot's term.
   */
  term(index: number): number | undefined {
    if (!Number.isSafeInteger(index) || index < 0) return undefined;
    const first = this.firstIndex();
    if (index < first - 1 || index > this.lastIndex()) return undefined;
    const unstable = this.unstable.maybeTerm(index);
    if (unstable !== undefined) return unstable;
    if (index === 0) return 0;
    try {
      return this.storage.term(index);
    } catch {
      // Compacted or truncated concurrently by the driver: treat as unknown.
      return undefined;
    }
  }

  /** Term of the last entry. */
  lastTerm(): number {
    const term = this.term(this.lastIndex());
    invariant(term !== undefined, `log: no term for the last index ${this.lastIndex()}`);
    return term;
  }

  /** True when the entry at `index` exists and has term `term`. */
  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /**
   * Whether a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as this one:
   * a later last term wins, and with equal last terms the longer log.
   */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in `[lo, hi)`, at most `maxBytes` of data (at least one entry). Throws
   * `LogCompactedError` when `lo` is compacted.
   */
  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    const first = this.firstIndex();
    if (lo < first) throw new LogCompactedError(lo, first);
    const end = Math.min(hi, this.lastIndex() + 1);
    if (lo >= end) return [];
    const offset = this.unstable.offset;
    let result: Entry[] = [];
    if (lo < offset) {
      const storedHi = Math.min(end, offset);
      const stored = this.storage.entries(lo, storedHi, maxBytes);
      if (stored.length < storedHi - lo) return limitSize(stored, maxBytes);
      result = stored;
    }
    if (end > offset) result = result.concat(this.unstable.slice(Math.max(lo, offset), end));
    return limitSize(result, maxBytes);
  }

  /** Entries the driver has not persisted yet. */
  unstableEntries(): Entry[] {
    return [...this.unstable.entries];
  }

  /** Committed entries not yet handed out for applying, at most `maxBytes` (at least one). */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (lo > this.committed) return [];
    return this.entries(lo, this.committed + 1, maxBytes);
  }

  /** True when committed entries wait to be applied. */
  hasNextCommitted(): boolean {
    return Math.max(this.applied + 1, this.firstIndex()) <= this.committed;
  }

  /** Raises the commit index (never lowers it). */
  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), `log: commit ${index} beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Records that the driver applied up to `index`. */
  appliedTo(index: number): void {
    if (index <= this.applied) return;
    invariant(index <= this.committed, `log: applied ${index} beyond commit ${this.committed}`);
    this.applied = index;
  }

  /**
   * Appends entries (replacing any suffix from `entries[0].index`) and returns the new last
   * index. Replacing a committed entry is a broken invariant.
   */
  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    invariant(
      first.index > this.committed,
      `log: appending at ${first.index} would overwrite committed entries (commit ${this.committed})`,
    );
    invariant(
      first.index <= this.lastIndex() + 1,
      `log: gap before ${first.index} (last ${this.lastIndex()})`,
    );
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * The index of the first of `entries` that is not in the log with the same term, or 0 when all
   * of them are (entries past the end count as conflicting: they are new).
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index at or below `index` whose term is at most `term`: the logs cannot match
   * anywhere above it, so a probe can skip there (fast backtracking). Stops at the compaction
   * boundary.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) return i;
    }
    return 0;
  }

  /**
   * Follower side of AppendEntries: if the log has (`prevIndex`, `prevTerm`), appends the
   * entries that are new, commits up to min(`commit`, last new index), and returns that index;
   * otherwise returns `undefined` (a rejection).
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      invariant(
        conflict > this.committed,
        `log: entry ${conflict} conflicts with committed entries (commit ${this.committed})`,
      );
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Replaces the log with `snapshot` (received from the leader); the snapshot is committed. */
  restore(snapshot: Snapshot): void {
    invariant(
      snapshot.meta.index >= this.committed,
      `log: snapshot ${snapshot.meta.index} is behind commit ${this.committed}`,
    );
    this.unstable.restore(snapshot);
    this.committed = snapshot.meta.index;
  }

  /** The driver persisted entries up to `index` with term `term`. */
  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  /** The driver persisted the snapshot at `index`. */
  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }
}
