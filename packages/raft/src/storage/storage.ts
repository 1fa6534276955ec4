import type { ConfState, Entry, HardState, Snapshot } from '../core/types.js';

/** What a store recovered: the persisted hard state and the configuration of its latest snapshot. */
export interface InitialState {
  /** Term, vote and commit as last saved. */
  readonly hardState: HardState;
  /** The configuration as of the latest snapshot (later config entries are replayed from the log). */
  readonly conf: ConfState;
}

/**
 * What the Raft core reads, synchronously. Implementations keep the live part of the log (from
 * the last snapshot on) in memory, so reads never wait on a disk.
 *
 * Errors (part of the contract): reading below `firstIndex()` throws `LogCompactedError`;
 * reading above `lastIndex()` throws `LogUnavailableError`.
 */
export interface LogReader {
  /** The persisted hard state and the configuration as of the last snapshot. */
  initialState(): InitialState;
  /** Index of the first entry still in the log (the snapshot's index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot's index when the log is empty). */
  lastIndex(): number;
  /** Term of the entry at `index`; valid from the snapshot's index to `lastIndex()`. */
  term(index: number): number;
  /** Entries in `[lo, hi)`, stopping early once `maxBytes` of data is exceeded (at least one entry is returned). */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** The latest snapshot (index 0 when there is none). */
  snapshot(): Snapshot;
}

/** One durable write: the hard state and log entries of a `Ready`. */
export interface StorageUpdate {
  /** New hard state, if it changed. */
  readonly hardState?: HardState;
  /** Entries to append; any stored entries from `entries[0].index` on are replaced. */
  readonly entries: readonly Entry[];
}

/** Counters a storage exposes for status pages and benchmarks. */
export interface StorageStats {
  /** Number of `save` calls that wrote something. */
  readonly saves: number;
  /** Number of fsyncs issued (group commit makes this smaller than the number of entries). */
  readonly syncs: number;
  /** Entries appended. */
  readonly entriesAppended: number;
  /** Bytes written to the log. */
  readonly bytesWritten: number;
  /** Snapshots written. */
  readonly snapshotsSaved: number;
}

/**
 * Raft's durable storage: {@link LogReader} plus the writes the driver performs.
 *
 * Contract:
 * - `open()` is called once before anything else; it recovers from a crash: a torn record at the
 *   tail of the log is truncated, while corruption anywhere before the tail makes `open()` reject
 *   with `StorageCorruptError` rather than serve wrong data.
 * - `save()` resolves only once the update is durable (fsync), so the driver may then send the
 *   messages that depend on it. Calls are serialised: a later save never completes before an
 *   earlier one.
 * - `installSnapshot()` durably replaces the state with a snapshot from the leader: entries the
 *   snapshot covers are dropped; entries after it are kept only if the log agrees with the
 *   snapshot's index and term.
 * - `createSnapshot()` records a snapshot of applied state and compacts the log up to
 *   `index - retainEntries`, keeping a tail for slow followers.
 * - Snapshot files are replaced atomically (temp file, fsync, rename, fsync of the folder).
 */
export interface RaftStorage extends LogReader {
  /** Loads (and, after a crash, repairs) the stored state. */
  open(): Promise<void>;
  /** Durably appends entries and/or records a hard state. */
  save(update: StorageUpdate): Promise<void>;
  /** Durably installs a snapshot received from the leader. */
  installSnapshot(snapshot: Snapshot): Promise<void>;
  /** Durably records a local snapshot at `meta.index` and compacts the log before it. */
  createSnapshot(snapshot: Snapshot, retainEntries: number): Promise<void>;
  /** Counters. */
  stats(): StorageStats;
  /** Flushes and releases files; idempotent. */
  close(): Promise<void>;
}
